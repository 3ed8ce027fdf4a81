// Preloaded into a server under test for the idle-memory scenario (bench/run.ts):
//   node --expose-gc --require bench/targets/mem-probe.cjs <server script> ...
// On SIGUSR2 it runs a full GC (twice, when --expose-gc is on) and, 200 ms later, prints one JSON line:
//   {"probe":"mem","rss":..,"heapUsed":..,"heapTotal":..,"external":..,"arrayBuffers":..,"gc":true}
// It changes nothing else in the server.
'use strict';
// RSS is read 200 ms after the GC: V8 returns the pages a GC freed on a background thread within
// ~10 ms, and a reading taken at once randomly included 0-1.3 KB per connection of them.
process.on('SIGUSR2', () => {
  const gc = typeof globalThis.gc === 'function';
  if (gc) { globalThis.gc(); globalThis.gc(); }
  setTimeout(() => {
    const m = process.memoryUsage();
    process.stdout.write(JSON.stringify({ probe: 'mem', gc, rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers }) + '\n');
  }, 200);
});
