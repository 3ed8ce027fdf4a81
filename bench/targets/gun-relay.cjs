// GUN's own relay peer (gun 0.2020.1241), as the baseline target for bench/run.ts.
// Memory only: no radisk/rfs/file storage, no AXE, no multicast, no stats files.
// Run it with a temporary cwd: gun still writes files there otherwise.
// Prints {"level":"info","msg":"listening","port":N} like our server, then runs until killed.
// Its WebSocket endpoint is exactly "/gun" (ws 7 compares the pathname, without query, to opt.ws.path).
// `require('gun')` loads SEA already (lib/server.js tries require('../sea')), so this relay checks
// SEA's rules either way; with --sea (target gun-sea) it also requires 'gun/sea' itself and exits
// if SEA did not load, so a signed-put benchmark never measures a relay that checks nothing.
'use strict';
const http = require('node:http');
const port = Number(process.argv[2] || 0);
const sea = process.argv.includes('--sea');
// gun prints a welcome banner with console.log; keep stdout for our JSON line only.
const log = console.log;
console.log = (...a) => console.error(...a);
const Gun = require('gun');
if (sea) {
  require('gun/sea');
  if (!Gun.SEA || typeof Gun.SEA.verify !== 'function') { console.error('gun-relay: SEA did not load'); process.exit(1); }
}
const web = http.createServer();
web.listen(port, '127.0.0.1', () => {
  log(JSON.stringify({ level: 'info', msg: 'listening', port: web.address().port, target: sea ? 'gun-sea' : 'gun', sea: !!Gun.SEA, path: '/gun' }));
});
Gun({ web, radisk: false, localStorage: false, file: false, rfs: false, axe: false, multicast: false, stats: false });
process.on('SIGTERM', () => process.exit(0));
