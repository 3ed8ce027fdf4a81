// What the soak offers the server, and why that much. "Half of capacity" is read as: each workload
// runs at its share of the load times the capacity the bench measured for that kind of traffic
// (docs/performance.md), and the shares add up to 1, so at --load 0.5 the mix asks the server for
// about half of what it could carry of that mix. The capacities are the p99 <= 50 ms figures of
// the bench on this kind of VM (2 cores, server pinned to one); change them here when a new full
// run moves them.

/** Capacities from docs/performance.md, in the unit each workload is paced in. */
export const CAPACITY = {
  // "SEA-signed puts", ours unsigned: 12,000 puts/s to 10 GUN-wire subscribers (2026-12-04).
  gunPutsPerSec: 12_000,
  // Scenario 6 (many rooms, 1,000 rooms x 10 members): 5,000 msgs/s = 50,000 deliveries/s.
  publishPerSec: 5_000,
  // Scenario 8 (request/reply): 7,755 round trips/s, closed loop with one outstanding (a lower bound).
  requestsPerSec: 7_755,
  // No scenario of its own: a job is a request/reply's two hops plus the pusher's ack and outcome,
  // so it is given the request/reply figure.
  jobsPerSec: 7_755,
} as const;

/** Shares of the load (they add up to 1). */
export const SHARES = { gun: 0.3, publish: 0.4, requests: 0.15, jobs: 0.15 } as const;

/** Room shapes: small rooms, as most deployments carry them. */
export interface Shape {
  gunRooms: number; gunSubscribers: number; gunKeys: number; // per GUN room: 1 writer + subscribers; puts cycle over gunKeys keys of one soul
  pubRooms: number; pubWsMembers: number; pubSseMembers: number; // per native room: 1 publisher + members
  rrRooms: number; rrServers: number; rrRequesters: number; // per request/reply room
  jobRooms: number; jobPullers: number; jobPrefetch: number; // per job room: 1 pusher + pullers
}
export const SHAPE: Shape = {
  gunRooms: 10, gunSubscribers: 4, gunKeys: 100,
  pubRooms: 20, pubWsMembers: 8, pubSseMembers: 2,
  // 16 requesters of ~36 requests/s each: a stall of the whole machine has to last ~2.7 s before
  // one of them has the 100 requests waiting that --max-pending-requests allows (too_many_requests).
  rrRooms: 4, rrServers: 2, rrRequesters: 4,
  jobRooms: 2, jobPullers: 3, jobPrefetch: 8,
};
/** The smoke run: the same kinds of traffic in fewer rooms (npm test runs it beside other tests). */
export const SMOKE_SHAPE: Shape = {
  gunRooms: 2, gunSubscribers: 2, gunKeys: 20,
  pubRooms: 3, pubWsMembers: 3, pubSseMembers: 1,
  rrRooms: 1, rrServers: 2, rrRequesters: 1,
  jobRooms: 1, jobPullers: 2, jobPrefetch: 4,
};

/** Rates of everything the load generator does, per second. */
export interface Rates {
  gunPuts: number; publish: number; requests: number; jobs: number;
  churn: number; // native members that connect, see their `connect` and leave (WebSocket and SSE in turn)
  lateJoiners: number; // GUN peers that join a GUN room, `get` the soul and check it
  badInputs: number; // malformed or refused inputs, each with its documented answer checked
  slowBytes: number; // bytes/s published into the slow-consumer room (its readers and the one that stops reading)
}

export interface PlanOptions { load: number; overrides: Partial<Rates> }

export function planRates({ load, overrides }: PlanOptions): Rates {
  const r = (share: number, capacity: number) => Math.max(1, Math.round(load * share * capacity));
  return {
    gunPuts: r(SHARES.gun, CAPACITY.gunPutsPerSec),
    publish: r(SHARES.publish, CAPACITY.publishPerSec),
    requests: r(SHARES.requests, CAPACITY.requestsPerSec),
    jobs: r(SHARES.jobs, CAPACITY.jobsPerSec),
    churn: 10,
    lateJoiners: 0.5,
    badInputs: 1,
    // 2 MB/s: the server's 16 MiB limit of unsent bytes (plus the kernel's buffers) trips in about
    // 10 s, well before the heartbeat would find the silent member dead (4009, after 20-40 s).
    slowBytes: 2_000_000,
    ...overrides,
  };
}

/** One line per workload: what runs and how it relates to the capacity it was derived from. */
export function describePlan(load: number, rates: Rates, shape: Shape): string[] {
  const pct = (rate: number, cap: number) => `${((100 * rate) / cap).toFixed(0)}% of ${cap.toLocaleString('en-US')}/s`;
  const pubDeliveries = rates.publish * (shape.pubWsMembers + shape.pubSseMembers);
  return [
    `load ${load} of capacity (shares: GUN ${SHARES.gun}, publish ${SHARES.publish}, request/reply ${SHARES.requests}, jobs ${SHARES.jobs}; capacities from docs/performance.md)`,
    `GUN: ${shape.gunRooms} rooms x (1 writer + ${shape.gunSubscribers} subscribers), ${rates.gunPuts} puts/s over ${shape.gunKeys} keys of one soul per room (${pct(rates.gunPuts, CAPACITY.gunPutsPerSec)}), every put acked; late joiners ${rates.lateJoiners}/s check the soul holds every acked value`,
    `publish: ${shape.pubRooms} native rooms x (1 publisher + ${shape.pubWsMembers} WebSocket + ${shape.pubSseMembers} SSE members), ${rates.publish} msgs/s = ${pubDeliveries.toLocaleString('en-US')} deliveries/s (${pct(rates.publish, CAPACITY.publishPerSec)})`,
    `request/reply: ${shape.rrRooms} rooms x (${shape.rrServers} serving + ${shape.rrRequesters} requesting), ${rates.requests} requests/s (${pct(rates.requests, CAPACITY.requestsPerSec)})`,
    `push/pull: ${shape.jobRooms} rooms x (1 pusher + ${shape.jobPullers} pullers, prefetch ${shape.jobPrefetch}), ${rates.jobs} jobs/s (${pct(rates.jobs, CAPACITY.jobsPerSec)}), each must be done exactly once`,
    `churn ${rates.churn} connections/s (WebSocket and SSE in turn, into the publish rooms); bad inputs ${rates.badInputs}/s; slow-consumer room ${Math.round(rates.slowBytes / 1000)} KB/s to 2 readers and 1 member that stops reading until the server closes it (4008)`,
  ];
}
