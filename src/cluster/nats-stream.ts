// Opening a JetStream stream for one of the NATS seams (room streams, GUN log): connect when given
// a URL (the caller then owns, and closes, the connection), then create the stream, or update it
// when its settings differ from those wanted (another node started with other limits).
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  jetstream, jetstreamManager, JetStreamApiError, StorageType,
  type JetStreamClient, type JetStreamManager, type StreamConfig,
} from '@nats-io/jetstream';

export interface OpenStream {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The connection was made here (from a URL): close it with the seam. */
  owned: boolean;
}

export async function openStream(
  source: NatsConnection | string, name: string, replicas: number, timeoutMs: number, wanted: Partial<StreamConfig>,
): Promise<OpenStream> {
  const owned = typeof source === 'string';
  const nc = typeof source === 'string' ? await connect({ servers: source, timeout: timeoutMs }) : source;
  const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
  const js = jetstream(nc, { timeout: timeoutMs });
  try {
    const c = (await jsm.streams.info(name)).config;
    const differs = (Object.keys(wanted) as (keyof StreamConfig)[]).some((k) => JSON.stringify(c[k]) !== JSON.stringify(wanted[k]));
    if (differs) await jsm.streams.update(name, { ...c, ...wanted });
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.status !== 404) throw err;
    await jsm.streams.add({ name, storage: StorageType.File, num_replicas: replicas, ...wanted });
  }
  return { nc, js, jsm, owned };
}
