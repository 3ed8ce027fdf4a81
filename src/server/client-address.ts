// The address a client connects from, as limits and logs see it. Behind --trust-proxy <hops>
// proxies it is taken from what those proxies appended to X-Forwarded-For (or `Forwarded: for=`),
// counted from the right: entries further left were written by the client and prove nothing.
import type { IncomingMessage } from 'node:http';
import { isIPv6 } from 'node:net';

export function clientAddress(req: IncomingMessage, trustProxy: number): string {
  const socketAddress = req.socket.remoteAddress ?? '';
  if (trustProxy <= 0) return normalize(socketAddress);
  const hops = forwardedFor(req);
  // hops[length - 1] was appended by the nearest proxy; with N trusted proxies the client is the
  // Nth entry from the right. Fewer entries than that: the request did not come through them all.
  const entry = hops.length >= trustProxy ? hops[hops.length - trustProxy] : undefined;
  return normalize(entry ?? socketAddress);
}

function forwardedFor(req: IncomingMessage): string[] {
  const out: string[] = [];
  const xff = req.headers['x-forwarded-for'];
  if (xff !== undefined) {
    for (const part of (Array.isArray(xff) ? xff.join(',') : xff).split(',')) {
      const a = part.trim();
      if (a) out.push(a);
    }
    return out;
  }
  const fwd = req.headers.forwarded;
  if (typeof fwd === 'string') {
    for (const element of fwd.split(',')) {
      const m = /(?:^|;)\s*for=("?)([^";]*)\1/i.exec(element);
      if (m && m[2]) out.push(m[2].replace(/^\[(.*)\](:\d+)?$/, '$1').replace(/^([\d.]+):\d+$/, '$1'));
    }
  }
  return out;
}

/** `::ffff:1.2.3.4` is 1.2.3.4; anything that is not an address is kept as text (bounded). */
function normalize(address: string): string {
  const a = address.trim().slice(0, 64);
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/**
 * The key per-address limits count under: an IPv4 address, or an IPv6 address's /64 network (one
 * subscriber usually holds a whole /64, so counting single IPv6 addresses would limit nothing).
 */
export function limitKey(address: string): string {
  if (!isIPv6(address)) return address;
  const [head, tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':') + '::/64';
}
