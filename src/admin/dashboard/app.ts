// The dashboard page's script (served as /_/dashboard/app.js, bundled by scripts/build-dashboard.mjs).
// It lives on one admin stream (GET /_/admin/events: `hello` with the last minutes, then a `tick`
// a second) and asks the admin API only for what a person asks for: a search, a room's detail
// (refreshed while it is open), a kick. Requests carry the session cookie (same origin) and the
// X-Multisocket-Dashboard header the server wants on anything that changes state.
import { bytes, count, duration, ms, rate, since } from './format.js';
import { drawChart, type Series } from './chart.js';

/** '' at the server's root; '/rt' when it is mounted under a prefix (docs/embedding.md): the page is <base>/_/dashboard. */
const BASE = location.pathname.replace(/\/_\/dashboard\/?$/, '');

interface Connections { gunWebsocket: number; nativeWebsocket: number; nativeSse: number; nativeTcp?: number; nativeIpc?: number; nativeInproc?: number; total: number }
interface NodeTotals {
  node: string; startedAt: number; connections: Connections; rooms: number; members: number; gunPeers: number;
  messagesInPerSec: number; messagesOutPerSec: number; deliveriesPerSec: number;
  loopLagMs: { mean: number; p99: number; max: number }; rssBytes: number; heapUsedBytes: number;
}
interface RoomSummary {
  room: string; members: number; gunPeers: number; graphNodes: number; graphBytes: number; historyBytes: number; bytes: number;
  messagesIn: number; messagesOut: number; rate: number; owned: boolean; createdAt: string; emptySince: string | null; nodes?: string[];
}
interface MemberView { cid: string; user?: string; transport: string; address?: string; connectedSince: string; serving: boolean; owner: boolean; topics?: string[]; node?: string }
interface PeerView { id: string; address: string; node?: string }
interface RoomDetail extends RoomSummary { memberList: MemberView[]; peerList: PeerView[]; topics: Record<string, number>; lastSeq: number; owner: string | null }
interface Missing { node: string; error: string }
interface Tick {
  t: number;
  totals: { connections: Connections; rooms: number; members: number; gunPeers: number; messagesInPerSec: number; messagesOutPerSec: number; deliveriesPerSec: number; loopLagMs: number; rssBytes: number };
  nodes: NodeTotals[]; missing: Missing[]; topRooms: RoomSummary[];
}
interface HistoryPoint { t: number; connections: number; messagesInPerSec: number; deliveriesPerSec: number; loopLagMs: number }
interface Hello { node: string; version: string; clustered: boolean; tickMs: number; history: HistoryPoint[] }

const HISTORY_MS = 5 * 60_000;
const DETAIL_REFRESH_MS = 3000;
const SEARCH_LIMIT = 25;
const KICK_CONFIRM_MS = 4000;

const state = {
  hello: undefined as Hello | undefined,
  tick: undefined as Tick | undefined,
  history: [] as HistoryPoint[],
  query: '',
  searchResults: undefined as { rooms: RoomSummary[]; total: number } | undefined,
  selected: undefined as string | undefined,
  detail: undefined as RoomDetail | null | undefined,
  pendingKick: undefined as { key: string; until: number } | undefined,
};

const $ = (id: string) => document.getElementById(id)!;

/** A DOM element with attributes and children (text is always text: nothing is parsed as HTML). */
function h(tag: string, attrs: Record<string, string | undefined> = {}, ...children: (Node | string | null | undefined)[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) el.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

// ---------------------------------------------------------------------------------------------
// The stream

function connect(): void {
  const es = new EventSource(`${BASE}/_/admin/events`);
  es.addEventListener('hello', (ev) => {
    const hello = JSON.parse((ev as MessageEvent).data) as Hello;
    state.hello = hello;
    state.history = hello.history.slice();
    $('who').textContent = `node ${hello.node} · v${hello.version}`;
    setLive('live');
    renderCharts();
  });
  es.addEventListener('tick', (ev) => {
    const tick = JSON.parse((ev as MessageEvent).data) as Tick;
    state.tick = tick;
    state.history.push({ t: tick.t, connections: tick.totals.connections.total, messagesInPerSec: tick.totals.messagesInPerSec, deliveriesPerSec: tick.totals.deliveriesPerSec, loopLagMs: tick.totals.loopLagMs });
    while (state.history.length && state.history[0].t < tick.t - HISTORY_MS) state.history.shift();
    setLive('live');
    render();
  });
  es.addEventListener('error', () => {
    if (es.readyState === EventSource.CLOSED) {
      // Refused (the session ended, the server went away for good): say so, and try again later.
      setLive('down');
      banner('The live stream was refused — the session may have ended. ', 'Sign in again', `${BASE}/_/dashboard`);
      setTimeout(connect, 10_000);
    } else {
      setLive('reconnecting');
    }
  });
}

function setLive(s: 'live' | 'reconnecting' | 'down'): void {
  const el = $('live');
  el.className = `live ${s}`;
  el.title = s === 'live' ? 'live: updated every second' : s === 'reconnecting' ? 'reconnecting…' : 'disconnected';
  if (s === 'live') $('banner').hidden = true;
}

function banner(text: string, linkText?: string, href?: string): void {
  const b = $('banner');
  b.replaceChildren(text, linkText && href ? h('a', { href }, linkText) : '');
  b.hidden = false;
}

function toast(text: string, bad = false): void {
  const t = $('toast');
  t.textContent = text;
  t.className = bad ? 'toast bad' : 'toast';
  t.hidden = false;
  clearTimeout((toast as unknown as { timer?: number }).timer);
  (toast as unknown as { timer?: number }).timer = window.setTimeout(() => { t.hidden = true; }, 4000);
}

// ---------------------------------------------------------------------------------------------
// Rendering

function render(): void {
  renderTiles();
  renderCharts();
  renderRooms();
  renderNodes();
  const tick = state.tick;
  if (tick) $('updated').textContent = `updated ${new Date(tick.t).toLocaleTimeString()}`;
}

function tile(id: string, label: string, value: string, sub: string, tone = ''): HTMLElement {
  return h('div', { class: `tile ${tone}` },
    h('div', { class: 'tile-label' }, label),
    h('div', { class: 'tile-value', 'data-testid': `tile-${id}` }, value),
    h('div', { class: 'tile-sub' }, sub));
}

function renderTiles(): void {
  const t = state.tick?.totals;
  if (!t) return;
  const c = t.connections;
  const lagTone = t.loopLagMs >= 100 ? 'bad' : t.loopLagMs >= 20 ? 'warn' : '';
  const nodes = state.tick!.nodes.length;
  const tiles = [
    tile('connections', 'Connections', count(c.total), connectionsCaption(c)),
    tile('rooms', 'Rooms', count(t.rooms), `${count(t.members)} members · ${count(t.gunPeers)} GUN peers`),
    tile('messages-in', 'Messages in', rate(t.messagesInPerSec), 'from clients, per second'),
    tile('deliveries', 'Deliveries', rate(t.deliveriesPerSec), t.messagesOutPerSec === t.deliveriesPerSec ? 'to recipients, per second' : `to recipients · messages out ${rate(t.messagesOutPerSec)}`),
    tile('loop-lag', 'Event-loop lag', ms(t.loopLagMs), nodes > 1 ? 'p99, worst node' : 'p99 over the last second', lagTone),
    tile('memory', 'Memory', bytes(t.rssBytes), nodes > 1 ? `RSS of ${nodes} nodes` : 'resident set (RSS)'),
  ];
  $('tiles').replaceChildren(...tiles);
}

/** Axis labels: short (the grid values are round). */
const axisMs = (n: number) => `${count(n)} ms`;
const SERIES: { key: keyof Omit<HistoryPoint, 't'>; title: string; unit: (n: number) => string; axis: (n: number) => string; color: string }[] = [
  { key: 'connections', title: 'Connections', unit: count, axis: count, color: '#2563eb' },
  { key: 'messagesInPerSec', title: 'Messages in /s', unit: rate, axis: count, color: '#059669' },
  { key: 'deliveriesPerSec', title: 'Deliveries /s', unit: rate, axis: count, color: '#7c3aed' },
  { key: 'loopLagMs', title: 'Event-loop lag p99', unit: ms, axis: axisMs, color: '#d97706' },
];

function renderCharts(): void {
  const box = $('charts');
  if (box.children.length !== SERIES.length) {
    box.replaceChildren(...SERIES.map((s) => h('figure', { class: 'chart', 'data-series': s.key },
      h('figcaption', {}, h('span', { class: 'chart-title' }, s.title), h('span', { class: 'chart-now' }, '')),
      h('div', { class: 'chart-plot' }))));
  }
  const now = state.tick?.t ?? Date.now();
  // The chart spans what has been seen, in whole minutes from 1 to 5: a page opened on a node
  // that only just started watching still gets a readable chart.
  const seen = state.history.length ? now - state.history[0].t : 0;
  const spanMs = Math.min(HISTORY_MS, Math.max(60_000, Math.ceil(seen / 60_000) * 60_000));
  SERIES.forEach((s, i) => {
    const fig = box.children[i] as HTMLElement;
    const points = state.history.map((p) => ({ t: p.t, v: p[s.key] }));
    const last = points.length ? points[points.length - 1].v : undefined;
    (fig.querySelector('.chart-now') as HTMLElement).textContent = last === undefined ? '–' : s.unit(last);
    const series: Series = { points, color: s.color, format: s.axis };
    drawChart(fig.querySelector('.chart-plot') as HTMLElement, series, now, spanMs);
  });
}

function renderRooms(): void {
  const searching = state.query !== '';
  const clustered = state.hello?.clustered ?? false;
  const rooms = searching ? state.searchResults?.rooms ?? [] : state.tick?.topRooms ?? [];
  $('rooms-title').textContent = searching ? `Rooms starting with ${state.query}` : 'Busiest rooms';
  const head = h('tr', {}, h('th', {}, 'Room'), h('th', { class: 'num' }, 'Members'), h('th', { class: 'num' }, 'GUN peers'),
    h('th', { class: 'num', title: 'messages in + out per second, over the last 2 s' }, 'In+out /s'), h('th', { class: 'num' }, 'Memory'), clustered ? h('th', {}, 'Nodes') : null);
  const rows = rooms.map((r) => {
    const tr = h('tr', { class: `clickable${r.room === state.selected ? ' selected' : ''}`, 'data-room': r.room, tabindex: '0' },
      h('td', { class: 'room-name' }, r.room, r.owned ? h('span', { class: 'tag' }, 'owned') : null),
      h('td', { class: 'num' }, count(r.members)),
      h('td', { class: 'num' }, count(r.gunPeers)),
      h('td', { class: 'num strong' }, rate(r.rate, '')),
      h('td', { class: 'num' }, bytes(r.bytes)),
      clustered ? h('td', { class: 'small' }, (r.nodes ?? []).join(', ')) : null);
    tr.addEventListener('click', () => select(r.room));
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') select(r.room); });
    return tr;
  });
  if (rows.length === 0) rows.push(h('tr', {}, h('td', { colspan: '6', class: 'muted empty' }, searching ? (state.searchResults ? 'No room has a name starting with that.' : 'Searching…') : 'No rooms yet.')));
  $('rooms-table').replaceChildren(h('thead', {}, head), h('tbody', {}, ...rows));
  const total = searching ? state.searchResults?.total : state.tick?.totals.rooms;
  $('rooms-note').textContent = total === undefined ? '' : searching
    ? `${count(total)} matching · busiest first · press Enter to refresh`
    : `top ${rooms.length} of ${count(total)} rooms by messages in + out per second (over 2 s) · click a room for its members`;
}

function renderNodes(): void {
  const tick = state.tick;
  const panel = $('nodes-panel');
  if (!tick || !(state.hello?.clustered || tick.nodes.length > 1)) { panel.hidden = true; return; }
  panel.hidden = false;
  const head = h('tr', {}, h('th', {}, 'Node'), h('th', { class: 'num' }, 'Connections'), h('th', { class: 'num' }, 'Rooms'),
    h('th', { class: 'num' }, 'In/s'), h('th', { class: 'num' }, 'Deliveries/s'), h('th', { class: 'num' }, 'Loop lag p99'),
    h('th', { class: 'num' }, 'Memory'), h('th', { class: 'num' }, 'Up'));
  const rows = tick.nodes.map((n) => h('tr', { 'data-node': n.node },
    h('td', {}, n.node, n.node === state.hello?.node ? h('span', { class: 'tag' }, 'this page') : null),
    h('td', { class: 'num' }, count(n.connections.total)),
    h('td', { class: 'num' }, count(n.rooms)),
    h('td', { class: 'num' }, rate(n.messagesInPerSec, '')),
    h('td', { class: 'num' }, rate(n.deliveriesPerSec, '')),
    h('td', { class: `num ${n.loopLagMs.p99 >= 100 ? 'bad' : n.loopLagMs.p99 >= 20 ? 'warn' : ''}` }, ms(n.loopLagMs.p99)),
    h('td', { class: 'num' }, bytes(n.rssBytes)),
    h('td', { class: 'num' }, duration(tick.t - n.startedAt))));
  for (const m of tick.missing) rows.push(h('tr', { class: 'missing', 'data-node': m.node }, h('td', {}, m.node), h('td', { colspan: '7', class: 'bad' }, `no answer: ${m.error}`)));
  $('nodes-table').replaceChildren(h('thead', {}, head), h('tbody', {}, ...rows));
}

// ---------------------------------------------------------------------------------------------
// Search, detail, kick

async function api(path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const res = await fetch(path, { ...init, credentials: 'same-origin', headers: { 'X-Multisocket-Dashboard': '1', ...(init.body ? { 'Content-Type': 'application/json' } : {}), ...init.headers } });
  let body: unknown = null;
  try { body = await res.json(); } catch { /* empty */ }
  return { status: res.status, body };
}

function errorText(r: { status: number; body: unknown }): string {
  const e = (r.body as { error?: { message?: string } } | null)?.error;
  return e?.message ?? `HTTP ${r.status}`;
}

let searchSeq = 0;
async function search(): Promise<void> {
  const q = state.query;
  const mine = ++searchSeq;
  if (q === '') { state.searchResults = undefined; renderRooms(); return; }
  const r = await api(`${BASE}/_/rooms?sort=rate&limit=${SEARCH_LIMIT}&q=${encodeURIComponent(q)}`);
  if (mine !== searchSeq) return;
  if (r.status !== 200) { toast(`Search failed: ${errorText(r)}`, true); return; }
  state.searchResults = r.body as { rooms: RoomSummary[]; total: number };
  renderRooms();
}

let detailTimer: number | undefined;
function select(room: string): void {
  state.selected = room;
  state.detail = undefined;
  state.pendingKick = undefined;
  renderRooms();
  renderDetail();
  clearInterval(detailTimer);
  void loadDetail();
  detailTimer = window.setInterval(() => void loadDetail(), DETAIL_REFRESH_MS);
}

async function loadDetail(): Promise<void> {
  const room = state.selected;
  if (room === undefined) return;
  const r = await api(`${BASE}/_/rooms?room=${encodeURIComponent(room)}`);
  if (room !== state.selected) return;
  if (r.status === 404) state.detail = null;
  else if (r.status === 200) state.detail = r.body as RoomDetail;
  else { toast(`Could not load ${room}: ${errorText(r)}`, true); return; }
  renderDetail();
}

function kickButton(room: string, target: { cid: string } | { peer: string }): HTMLElement {
  const key = 'cid' in target ? `cid:${target.cid}` : `peer:${target.peer}`;
  const confirming = state.pendingKick?.key === key && state.pendingKick.until > Date.now();
  const b = h('button', { class: confirming ? 'kick confirm' : 'kick', type: 'button', 'data-kick': key }, confirming ? 'Confirm kick' : 'Kick');
  b.addEventListener('click', () => {
    if (!(state.pendingKick?.key === key && state.pendingKick.until > Date.now())) {
      state.pendingKick = { key, until: Date.now() + KICK_CONFIRM_MS };
      renderDetail();
      setTimeout(() => { if (state.pendingKick?.key === key) { state.pendingKick = undefined; renderDetail(); } }, KICK_CONFIRM_MS);
      return;
    }
    state.pendingKick = undefined;
    void kick(room, target);
  });
  return b;
}

async function kick(room: string, target: { cid: string } | { peer: string }): Promise<void> {
  const r = await api(`${BASE}/_/rooms/kick?room=${encodeURIComponent(room)}`, { method: 'POST', body: JSON.stringify({ ...target, reason: 'kicked from the dashboard' }) });
  const who = 'cid' in target ? `member ${target.cid}` : `GUN peer ${target.peer}`;
  if (r.status === 200) toast(`Kicked ${who} from ${room}`);
  else toast(`Kick failed: ${errorText(r)}`, true);
  await loadDetail();
}

function fact(label: string, value: string): HTMLElement {
  return h('div', { class: 'fact' }, h('div', { class: 'fact-label' }, label), h('div', { class: 'fact-value' }, value));
}

function renderDetail(): void {
  const panel = $('detail-panel');
  const room = state.selected;
  if (room === undefined) return;
  const close = h('button', { class: 'ghost', type: 'button', 'aria-label': 'close the room detail' }, '×');
  close.addEventListener('click', () => {
    state.selected = undefined;
    clearInterval(detailTimer);
    panel.replaceChildren(h('p', { class: 'muted empty' }, 'Pick a room to see its members.'));
    renderRooms();
  });
  const head = h('div', { class: 'panel-head' }, h('h2', { class: 'room-title' }, room), close);
  const d = state.detail;
  if (d === undefined) return panel.replaceChildren(head, h('p', { class: 'muted' }, 'Loading…'));
  if (d === null) return panel.replaceChildren(head, h('p', { class: 'muted' }, 'This room no longer exists (closed, or freed after its last member left).'));
  const clustered = state.hello?.clustered ?? false;
  const facts = h('div', { class: 'facts' },
    fact('Members', count(d.members)), fact('GUN peers', count(d.gunPeers)), fact('In+out /s', rate(d.rate, '')),
    fact('In / out', `${count(d.messagesIn)} / ${count(d.messagesOut)}`), fact('Graph', `${count(d.graphNodes)} nodes · ${bytes(d.graphBytes)}`),
    fact('History', bytes(d.historyBytes)), fact('Last seq', count(d.lastSeq)), fact('Created', since(d.createdAt)));
  const memberHead = h('tr', {}, h('th', {}, 'cid'), h('th', {}, 'User'), h('th', {}, 'Transport'), h('th', {}, 'Address'), h('th', {}, 'Connected'), clustered ? h('th', {}, 'Node') : null, h('th', {}, ''));
  const memberRows = d.memberList.map((m) => h('tr', { 'data-cid': m.cid },
    h('td', { class: 'mono' }, m.cid, m.owner ? h('span', { class: 'tag' }, 'owner') : null, m.serving ? h('span', { class: 'tag' }, 'serving') : null),
    h('td', {}, m.user ?? '–'),
    h('td', {}, m.transport === 'dropped' ? h('span', { class: 'warn' }, 'dropped (resume grace)') : m.transport),
    h('td', { class: 'mono small' }, m.address ?? '–'),
    h('td', { title: m.connectedSince }, since(m.connectedSince)),
    clustered ? h('td', { class: 'small' }, m.node ?? '') : null,
    h('td', { class: 'actions' }, kickButton(d.room, { cid: m.cid }))));
  const parts: (HTMLElement | null)[] = [head, facts, h('h3', {}, `Members (${count(d.members)})`)];
  parts.push(memberRows.length ? h('table', { class: 'grid', id: 'members-table' }, h('thead', {}, memberHead), h('tbody', {}, ...memberRows)) : h('p', { class: 'muted' }, 'No native members.'));
  if (d.peerList.length) {
    parts.push(h('h3', {}, `GUN peers (${count(d.gunPeers)})`));
    parts.push(h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, h('th', {}, 'Peer'), h('th', {}, 'Address'), clustered ? h('th', {}, 'Node') : null, h('th', {}, ''))),
      h('tbody', {}, ...d.peerList.map((p) => h('tr', { 'data-peer': p.id }, h('td', { class: 'mono' }, p.id), h('td', { class: 'mono small' }, p.address),
        clustered ? h('td', { class: 'small' }, p.node ?? '') : null, h('td', { class: 'actions' }, kickButton(d.room, { peer: p.id })))))));
  }
  const topics = Object.entries(d.topics).sort((a, b) => b[1] - a[1]);
  if (topics.length) {
    parts.push(h('h3', {}, 'Topics'));
    parts.push(h('div', { class: 'chips' }, ...topics.map(([t, n]) => h('span', { class: 'chip' }, t, h('b', {}, ` ${count(n)}`)))));
  }
  panel.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
}

// ---------------------------------------------------------------------------------------------

function start(): void {
  const input = $('room-search') as HTMLInputElement;
  let debounce: number | undefined;
  input.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = window.setTimeout(() => { state.query = normalize(input.value); state.searchResults = undefined; renderRooms(); void search(); }, 200);
  });
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { state.query = normalize(input.value); void search(); } });
  window.addEventListener('resize', () => renderCharts());
  renderCharts();
  connect();
}

/** Room names start with "/"; a search typed without one means the same. */
function normalize(q: string): string {
  const t = q.trim();
  return t === '' || t.startsWith('/') ? t : '/' + t;
}

start();

/** The connections tile's caption: every kind that has any (WebSocket, SSE and GUN always). */
function connectionsCaption(c: Connections): string {
  const parts = [`native ws ${count(c.nativeWebsocket)}`, `sse ${count(c.nativeSse)}`];
  if (c.nativeTcp) parts.push(`tcp ${count(c.nativeTcp)}`);
  if (c.nativeIpc) parts.push(`ipc ${count(c.nativeIpc)}`);
  if (c.nativeInproc) parts.push(`in-process ${count(c.nativeInproc)}`);
  parts.push(`GUN ${count(c.gunWebsocket)}`);
  return parts.join(' · ');
}
