// Real GUN peers (gun 0.2020.1241) in child processes (test/fixtures/gun-client.cjs), driven with
// JSON lines on stdin; their JSON events are what tests assert on. GUN never exits on its own and
// patches globals, hence a process each. Every wait has a hard timeout, and a Session kills every
// child and server it started in t.after, so a failure never hangs the run.
import type { TestContext } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, lines, startServer, type RunningServer, type StartOptions } from './server.js';

export const CLIENT = path.join(ROOT, 'test/fixtures/gun-client.cjs');
export const WAIT_MS = 9_000; // hard limit for any single expected event
export const NO_ACK_MS = 9_000; // GUN's own "No ACK yet" deadline for put callbacks

export type Flavor = 'full' | 'core';

export interface ClientEvent {
  event: string;
  t: number;
  [field: string]: unknown;
}

/** One GUN peer in a child process. */
export class GunClient {
  readonly events: ClientEvent[] = [];
  readonly stderr: string[] = [];
  private readonly waiters = new Set<() => void>();
  private exitCode: number | null | undefined;

  constructor(
    readonly name: string,
    readonly url: string,
    readonly proc: ChildProcess,
    private readonly serverLogs: () => string[],
  ) {
    lines(proc.stdout!, (line) => {
      let ev: unknown;
      try { ev = JSON.parse(line); } catch { return; } // GUN's welcome banner and other chatter
      if (ev && typeof ev === 'object' && typeof (ev as ClientEvent).event === 'string') {
        this.events.push(ev as ClientEvent);
        for (const wake of this.waiters) wake();
      }
    });
    lines(proc.stderr!, (line) => { this.stderr.push(line); });
    proc.on('exit', (code, signal) => {
      this.exitCode = code ?? (signal ? -1 : null);
      for (const wake of this.waiters) wake();
    });
  }

  send(cmd: Record<string, unknown>): void {
    this.proc.stdin!.write(JSON.stringify(cmd) + '\n');
  }

  /** Resolves with the first event (already seen or future) that matches. */
  async waitFor(what: string, match: (ev: ClientEvent) => boolean, timeoutMs = WAIT_MS): Promise<ClientEvent> {
    let found: ClientEvent | undefined;
    await this.waitUntil(what, () => (found = this.events.find(match)) !== undefined, timeoutMs);
    return found!;
  }

  /** Resolves once `done()` holds, re-checking after every event from this client. */
  waitUntil(what: string, done: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (err) reject(err); else resolve();
      };
      const check = () => {
        if (done()) finish();
        else if (this.exitCode !== undefined) finish(this.failure(`exited (${this.exitCode}) while waiting for ${what}`));
      };
      const timer = setTimeout(() => finish(this.failure(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  saw(key: string): ClientEvent[] {
    return this.events.filter((e) => e.event === 'saw' && e.key === key);
  }

  failure(message: string): Error {
    return new Error([
      `[${this.name} ${this.url}] ${message}`,
      `client events:\n  ${this.events.map((e) => JSON.stringify(e)).join('\n  ') || '(none)'}`,
      `client stderr:\n  ${this.stderr.slice(-20).join('\n  ') || '(none)'}`,
      `server log (last 40 lines):\n  ${this.serverLogs().slice(-40).join('\n  ') || '(none)'}`,
    ].join('\n'));
  }

  async kill(): Promise<void> {
    if (this.exitCode !== undefined || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = once(this.proc, 'exit');
    this.proc.kill('SIGKILL');
    await exited;
  }
}

/** Everything one test starts; all of it is torn down in t.after, pass or fail. */
export class Session {
  private readonly clients: GunClient[] = [];
  private readonly servers: RunningServer[] = [];
  private readonly dirs: string[] = [];
  server: RunningServer | undefined;

  constructor(t: TestContext) {
    t.after(() => this.close());
  }

  async startServer(opts: StartOptions = {}): Promise<RunningServer> {
    const server = await startServer(opts);
    this.servers.push(server);
    this.server = server;
    return server;
  }

  /** Spawn a GUN peer for `url` in a fresh temp cwd (GUN may create files in its cwd). */
  client(name: string, url: string, flavor: Flavor = 'full'): GunClient {
    const cwd = mkdtempSync(path.join(os.tmpdir(), `gun-client-${name}-`));
    this.dirs.push(cwd);
    const proc = spawn(process.execPath, [CLIENT, url, flavor], {
      cwd,
      env: { ...process.env, GUN_CLIENT_LIFETIME_MS: '60000' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const client = new GunClient(name, url, proc, () => this.server?.logs ?? []);
    this.clients.push(client);
    return client;
  }

  /** Spawn a peer and wait until its socket to the server is open. */
  async connected(name: string, url: string, flavor: Flavor = 'full'): Promise<GunClient> {
    const client = this.client(name, url, flavor);
    await client.waitFor('connection (hi)', (e) => e.event === 'hi');
    return client;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.clients.map((c) => c.kill()));
    await Promise.allSettled(this.servers.map((s) => s.stop()));
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

export const isOnce = (id: string) => (e: ClientEvent) => e.event === 'once' && e.id === id;
export const isAck = (id: string) => (e: ClientEvent) => e.event === 'ack' && e.id === id && e.first === true;
