// The shape every workload of the soak has, so the load generator can run them side by side.
import type { Check } from './conn.js';
import type { Flow } from './flow.js';
import type { Pacer } from './pacer.js';

export interface Workload {
  /** Its kinds of traffic, sampled every window. */
  readonly flows: Flow[];
  /** Opens its connections; resolves once they are ready for traffic. */
  connect(): Promise<void>;
  /** Registers its open-loop streams (and starts any timers of its own). */
  start(pacer: Pacer): void;
  /** Stops timers of its own (the pacer is stopped by the caller). */
  stop(): void;
  /** Everything sent has come back (or failed): the drain can end. */
  settled(): boolean;
  /** The final accounting. */
  checks(): Check[];
  close(): void;
}

export const int = (n: number) => Math.round(n).toLocaleString('en-US');
