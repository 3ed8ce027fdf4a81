// GUN's own relay peer (gun 0.2020.1241), as the baseline target for bench/run.ts.
// Memory only: no radisk/rfs/file storage, no AXE, no multicast, no stats files.
// Run it with a temporary cwd: gun still writes files there otherwise.
// Prints {"level":"info","msg":"listening","port":N} like our server, then runs until killed.
// Its WebSocket endpoint is exactly "/gun" (ws 7 compares the pathname, without query, to opt.ws.path).
'use strict';
const http = require('node:http');
const port = Number(process.argv[2] || 0);
// gun prints a welcome banner with console.log; keep stdout for our JSON line only.
const log = console.log;
console.log = (...a) => console.error(...a);
const Gun = require('gun');
const web = http.createServer();
web.listen(port, '127.0.0.1', () => {
  log(JSON.stringify({ level: 'info', msg: 'listening', port: web.address().port, target: 'gun', path: '/gun' }));
});
Gun({ web, radisk: false, localStorage: false, file: false, rfs: false, axe: false, multicast: false, stats: false });
process.on('SIGTERM', () => process.exit(0));
