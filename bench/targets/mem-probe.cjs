// Preloaded into a server under test for the idle-memory scenario (bench/run.ts):
//   node --expose-gc --require bench/targets/mem-probe.cjs <server script> ...
// On SIGUSR2 it runs a full GC (twice, when --expose-gc is on) and prints one JSON line on stdout:
//   {"probe":"mem","rss":..,"heapUsed":..,"heapTotal":..,"external":..,"arrayBuffers":..,"gc":true}
// It changes nothing else in the server.
'use strict';
process.on('SIGUSR2', () => {
  const gc = typeof globalThis.gc === 'function';
  if (gc) { globalThis.gc(); globalThis.gc(); }
  const m = process.memoryUsage();
  process.stdout.write(JSON.stringify({ probe: 'mem', gc, rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers }) + '\n');
});
