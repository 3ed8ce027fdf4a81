// Screenshots of the dashboard for docs/operations.md: starts the built server (npm run build
// first) with --admin-token, fills a dozen rooms with native members and GUN peers, publishes at
// rates that rise and fall for DURATION_S seconds (default 75) so the charts have a shape, then
// writes docs/img/dashboard.png (the page) and docs/img/dashboard-room.png (a room's detail).
//   node --import tsx scripts/dashboard-screenshot.ts
// Needs Chromium at /usr/bin/chromium (bash scripts/ensure-chromium.sh).
import path from 'node:path';
import WebSocket from 'ws';
import { chromium } from 'playwright-core';
import { ROOT, startServer } from '../test/helpers/server.ts';
import { WsMember } from '../test/helpers/native.ts';

const TOKEN = 'screenshot-secret-0123456789abcdef';
const DURATION_S = Number(process.env.DURATION_S ?? 75);
const OUT = path.join(ROOT, 'docs/img');

const ROOMS: { name: string; members: number; perSecond: number; gunPeers?: number; topics?: string }[] = [
  { name: '/chat/lobby', members: 24, perSecond: 18 },
  { name: '/game/match-4411', members: 8, perSecond: 30, topics: 'moves,chat' },
  { name: '/chat/support', members: 6, perSecond: 4 },
  { name: '/docs/design-review', members: 3, perSecond: 2, gunPeers: 4 },
  { name: '/iot/floor-2/sensors', members: 12, perSecond: 9, topics: 'temp,humidity' },
  { name: '/chat/random', members: 9, perSecond: 3 },
  { name: '/game/match-4412', members: 4, perSecond: 12 },
  { name: '/board/sprint-31', members: 2, perSecond: 1, gunPeers: 3 },
  { name: '/chat/announcements', members: 15, perSecond: 0.5 },
  { name: '/iot/floor-3/sensors', members: 5, perSecond: 6, topics: 'temp' },
  { name: '/notes/alice', members: 1, perSecond: 0, gunPeers: 2 },
  { name: '/chat/dev', members: 7, perSecond: 5 },
];

const server = await startServer({ args: ['--admin-token', TOKEN] });
const members: WsMember[] = [];
const peers: WebSocket[] = [];
const timers: NodeJS.Timeout[] = [];
try {
  for (const r of ROOMS) {
    for (let i = 0; i < r.members; i++) {
      members.push(await WsMember.connect(server.ws, r.name, r.topics && i % 2 === 0 ? { query: `topics=${r.topics}` } : {}));
    }
    for (let i = 0; i < (r.gunPeers ?? 0); i++) {
      const ws = new WebSocket(server.ws + r.name);
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
      ws.send(JSON.stringify({ put: { [`note-${i}`]: { _: { '#': `note-${i}`, '>': { text: Date.now() } }, text: 'hello '.repeat(40) } }, '#': `p${i}` }));
      peers.push(ws);
    }
  }
  // Traffic that swells and ebbs (period 40 s), so the charts show movement.
  const started = Date.now();
  let offset = 0;
  for (const r of ROOMS) {
    if (r.perSecond === 0) continue;
    const senders = members.filter((m) => m.room === r.name);
    const at = offset;
    offset += senders.length;
    timers.push(setInterval(() => {
      const wave = 0.55 + 0.45 * Math.sin(((Date.now() - started) / 40_000) * 2 * Math.PI);
      if (Math.random() < (r.perSecond * wave) / 20) senders[(at + Math.floor(Math.random() * senders.length)) % senders.length].send({ type: 'publish', data: { text: 'hello', at: Date.now() } });
    }, 50));
  }

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 960 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    await page.goto(`${server.http}/_/dashboard?token=${TOKEN}`);
    await new Promise((r) => setTimeout(r, DURATION_S * 1000));
    await page.screenshot({ path: path.join(OUT, 'dashboard.png') });
    await page.click('#rooms-table tr[data-room="/game/match-4411"]');
    await page.waitForSelector('#members-table tr[data-cid]');
    const first = page.locator('#members-table tr[data-cid] button.kick').first();
    await first.click(); // the Kick button asks to confirm: shown in the screenshot, not confirmed
    await page.screenshot({ path: path.join(OUT, 'dashboard-room.png') });
    console.log(`wrote ${path.join(OUT, 'dashboard.png')} and dashboard-room.png`);
  } finally {
    await browser.close();
  }
} finally {
  for (const t of timers) clearInterval(t);
  for (const p of peers) p.terminate();
  await Promise.all(members.map((m) => m.close()));
  await server.stop();
}
