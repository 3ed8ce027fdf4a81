// One row of the soak's record, taken every sample interval (10 s): the server's memory, event
// loop and CPU, and what each flow of the load did in that window.
import type { Check } from './conn.js';
import type { FlowWindow } from './flow.js';

export interface SampleRow {
  t: number; // seconds since the load started (end of the window)
  rssMB: number | null; // /proc/<pid>/statm
  heapUsedMB: number | null; // /_/metrics nodejs_heap_size_used_bytes
  heapTotalMB: number | null; // nodejs_heap_size_total_bytes
  externalMB: number | null; // nodejs_external_memory_bytes (Buffers live there)
  loopLagP99Ms: number | null; // nodejs_eventloop_lag_p99_seconds (prom-client resets the histogram on each scrape: this window)
  loopLagMaxMs: number | null;
  serverCpuPct: number | null; // 100 = one core
  loadgenCpuPct: number;
  otherCpuPct: number | null; // the rest of the machine: noise
  connections: number | null; // multisocket_connections, summed
  rooms: number | null;
  sendLagMaxMs: number; // the generator's worst lateness against its schedule
  flows: Record<string, FlowWindow>;
}

/** What the load generator reports at the end. */
export interface Final {
  settled: boolean;
  drainMs: number;
  checks: Check[];
  errors: { flow: string; kind: string; n: number; first: string }[];
  totals: Record<string, { sent: number; done: number; errors: number }>;
}

/** Flows whose p99 is watched for a trend (the others are too sparse for a per-window p99). */
export const LATENCY_FLOWS = ['publish delivery', 'gun delivery', 'gun put->ack', 'request->reply', 'push->done'] as const;
