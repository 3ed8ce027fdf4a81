// gun-recv: the GUN-wire fan-out subscribers of bench/loadgen.ts, in C (one epoll loop, one core).
// A single Node process reads at most ~1.6M deliveries/s; this reads several million, so the
// servers' own ceilings can be measured. bench/loadgen.ts spawns it with --c-bin and keeps the
// publisher in Node.
//
//   gun-recv <host> <port> <path> <subs> <soul>
//
// Opens <subs> WebSocket connections (50 at a time), sends {"#":<id>,"get":{"#":<soul>}} on each,
// answers the relay's {"dam":"?"} greeting and pings, and counts deliveries the way loadgen.ts's
// scanSubMessage does: every `"k<n>":"<sched>"` in a data frame with base <= n < base+size is a
// delivery of key n (deduplicated per subscriber), with latency = CLOCK_MONOTONIC at the read()
// that brought it - sched (the publisher's process.hrtime.bigint(), the same clock). Every
// delivery goes into a log-linear histogram (<= 0.4% error), no sampling.
//
// Mode q (a 6th argument `q`, bench/loadgen-gunapps.ts --c-bin, issue 14's gun-souls): the
// connections are the room's peers and also write. <soul> may hold one %u (the peer's index) for
// its get. A delivery is `:"q<n>"` (a value) with base <= n < base+size, deduplicated per peer;
// its latency is against the scheduled time the `put` command gave for message n.
//   put <peer> <n> <sched_ns> <json> -> (no answer) sends <json> as a text frame on that peer
//
// Control: one line per command on stdin, one line per answer on stdout.
//   (startup)       -> "ready" once every subscriber is connected and its get was sent
//   step <base> <size> -> "ok"       resets the per-step counters and the histogram
//   count           -> "count <delivered>"
//   report          -> one JSON object (see report())
//   quit, or EOF    -> closes the sockets, exits 0
// Fatal errors (connect refused, handshake not 101, timeout): "error <message>", exit 1.
// The closed-subscriber count is cumulative over the run, like loadgen.ts's closedSubs.
//
// Build: cc -std=c11 -O2 -Wall -Wextra -o gun-recv gun-recv.c   (C11 + _GNU_SOURCE memmem, Linux, libc only)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 50                       // connections opened at a time (accept backlog)
#define HANDSHAKE_TIMEOUT_NS 10000000000ull
#define RBUF (256 * 1024)              // one read() at most
#define HEAD (64 * 1024)               // room before the read buffer for a pending partial frame
#define MAX_FRAME (64ull * 1024 * 1024)
#define MAX_HEAD 16384                 // HTTP response header limit
#define STDIN_TAG UINT32_MAX

enum { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSED };

typedef struct {
  int fd, state;
  uint32_t idx;
  uint8_t *in;                         // handshake head, or a partial frame kept between reads
  size_t inlen, incap;
  uint8_t *out;                        // bytes the socket did not take yet
  size_t outlen, outcap;
  uint64_t *got;                       // dedup bitmap of the current step's window
} conn_t;

static const char *g_host, *g_port, *g_path, *g_soul;
static uint32_t g_subs;
static int g_ep;
static conn_t *g_conns;
static struct addrinfo *g_addr;
static uint8_t *g_rbuf;                // HEAD + RBUF bytes

// Per-step state.
static uint64_t g_base, g_size;        // window: base <= n < base + size
static uint64_t g_delivered, g_dups, g_dam_errors, g_bad_frames, g_last_ns;
static uint64_t g_closed;              // cumulative
static uint64_t *g_bits;               // subs * g_words bitmap words
static int g_mode_q;                   // peers that write; deliveries are :"q<n>" (see the top)
static uint64_t *g_sched;              // mode q: scheduled ns of message base+j, 0 = not sent yet
static size_t g_words, g_bits_cap;

// ---- small helpers ----

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("error ", stdout);
  vfprintf(stdout, fmt, ap);
  fputc('\n', stdout);
  fflush(stdout);
  va_end(ap);
  exit(1);
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) die("out of memory (%zu bytes)", n);
  return q;
}

static uint64_t g_rng;
static uint64_t rnd(void) {            // xorshift64*: masks and ids only need to differ
  g_rng ^= g_rng >> 12;
  g_rng ^= g_rng << 25;
  g_rng ^= g_rng >> 27;
  return g_rng * 2685821657736338717ull;
}

static const char ALPHA[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXZabcdefghijklmnopqrstuvwxyz"; // as loadgen.ts
static void rid(char out[10]) {
  for (int i = 0; i < 9; i++) out[i] = ALPHA[rnd() % (sizeof ALPHA - 1)];
  out[9] = 0;
}

static void base64_16(const uint8_t in[16], char out[25]) {
  static const char B[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  int o = 0;
  for (int i = 0; i < 15; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = B[v >> 18 & 63]; out[o++] = B[v >> 12 & 63]; out[o++] = B[v >> 6 & 63]; out[o++] = B[v & 63];
  }
  uint32_t v = (uint32_t)in[15] << 16;
  out[o++] = B[v >> 18 & 63]; out[o++] = B[v >> 12 & 63]; out[o++] = '='; out[o++] = '=';
  out[o] = 0;
}

// ---- latency histogram (ns): exact below 256 ns, then 128 buckets per power of two ----

#define HBUCKETS (256 + 56 * 128)
static uint64_t g_hist[HBUCKETS];
static uint64_t g_lat_n, g_lat_sum, g_lat_max;

static inline unsigned hidx(uint64_t v) {
  if (v < 256) return (unsigned)v;
  unsigned m = 63u - (unsigned)__builtin_clzll(v); // 8..63
  return 256u + (m - 8u) * 128u + (unsigned)((v >> (m - 7u)) - 128u);
}
static uint64_t hlow(unsigned i, uint64_t *width) {
  if (i < 256) { *width = 1; return i; }
  unsigned k = (i - 256u) / 128u, r = (i - 256u) % 128u, sh = k + 1u;
  *width = 1ull << sh;
  return (uint64_t)(128u + r) << sh;
}
static inline void hrecord(uint64_t v) {
  g_hist[hidx(v)]++;
  g_lat_n++;
  g_lat_sum += v;
  if (v > g_lat_max) g_lat_max = v;
}
// Same rank rule as Samples.summary() in bench/stats.ts: s[min(n-1, ceil(p*n)-1)].
static double hquantile_ms(double p) {
  double rd = p * (double)g_lat_n;
  uint64_t rank = (uint64_t)rd;
  if ((double)rank < rd) rank++;
  rank = rank ? rank - 1 : 0;
  if (rank > g_lat_n - 1) rank = g_lat_n - 1;
  uint64_t seen = 0;
  for (unsigned i = 0; i < HBUCKETS; i++) {
    seen += g_hist[i];
    if (seen > rank) {
      uint64_t w, lo = hlow(i, &w);
      uint64_t v = lo + w / 2;           // bucket middle: within 1/256 of any value in it
      if (v > g_lat_max) v = g_lat_max;
      return (double)v / 1e6;
    }
  }
  return (double)g_lat_max / 1e6;
}

// ---- sockets ----

static void ep_set(conn_t *c, uint32_t events, int op) {
  struct epoll_event ev = { .events = events, .data.u32 = c->idx };
  if (epoll_ctl(g_ep, op, c->fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
}

static void conn_close(conn_t *c, int counted) {
  if (c->state == ST_CLOSED) return;
  epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  c->state = ST_CLOSED;
  c->inlen = c->outlen = 0;
  if (counted) g_closed++;
}

static void queue_write(conn_t *c, const uint8_t *p, size_t n) {
  if (c->state == ST_CLOSED) return;
  if (c->outlen == 0) {
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        fprintf(stderr, "gun-recv: sub %u: send: %s\n", c->idx, strerror(errno));
        conn_close(c, 1);
        return;
      }
      w = 0;
    }
    if ((size_t)w == n) return;
    p += w; n -= (size_t)w;
    ep_set(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
  }
  if (c->outlen + n > c->outcap) { c->outcap = (c->outlen + n) * 2; c->out = xrealloc(c->out, c->outcap); }
  memcpy(c->out + c->outlen, p, n);
  c->outlen += n;
}

static void flush_out(conn_t *c) {
  if (c->outlen == 0) return;
  ssize_t w = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
  if (w < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    fprintf(stderr, "gun-recv: sub %u: send: %s\n", c->idx, strerror(errno));
    conn_close(c, 1);
    return;
  }
  memmove(c->out, c->out + w, c->outlen - (size_t)w);
  c->outlen -= (size_t)w;
  if (c->outlen == 0) ep_set(c, EPOLLIN, EPOLL_CTL_MOD);
}

/** One masked client frame (payloads here are small: pongs, the get, greeting answers). */
static void send_frame(conn_t *c, unsigned opcode, const uint8_t *payload, size_t len) {
  uint8_t f[14 + 4096];
  if (len > 4096) len = 4096;
  size_t h = 0;
  f[h++] = (uint8_t)(0x80 | opcode);
  if (len < 126) f[h++] = (uint8_t)(0x80 | len);
  else { f[h++] = 0x80 | 126; f[h++] = (uint8_t)(len >> 8); f[h++] = (uint8_t)len; }
  uint32_t m = (uint32_t)rnd();
  uint8_t mk[4] = { (uint8_t)(m >> 24), (uint8_t)(m >> 16), (uint8_t)(m >> 8), (uint8_t)m };
  memcpy(f + h, mk, 4);
  h += 4;
  for (size_t i = 0; i < len; i++) f[h + i] = payload[i] ^ mk[i & 3];
  queue_write(c, f, h + len);
}

static void send_text(conn_t *c, const char *s) { send_frame(c, 0x1, (const uint8_t *)s, strlen(s)); }

static void conn_open(conn_t *c) {
  int fd = socket(g_addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: %s", strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, g_addr->ai_addr, g_addr->ai_addrlen) < 0 && errno != EINPROGRESS)
    die("connect %s:%s: %s", g_host, g_port, strerror(errno));
  c->fd = fd;
  c->state = ST_CONNECTING;
  ep_set(c, EPOLLOUT | EPOLLIN, EPOLL_CTL_ADD);
}

// ---- GUN-wire scanning ----

/** Mesh messages: answers {"dam":"?"} greetings (without "@") and counts {"dam":"!"}.
 *  A tiny JSON walk over the objects at the top level (or inside a top-level array batch), only
 *  for frames that contain "dam: it looks at the keys dam, # and @ of each such object. */
static void dam_walk(conn_t *c, const uint8_t *p, size_t n) {
  size_t i = 0;
  int depth = 0, level = (n && p[0] == '[') ? 2 : 1, want_key = 0;
  int dam = 0, has_at = 0;
  const uint8_t *hash = NULL;
  size_t hashlen = 0;
  while (i < n) {
    uint8_t ch = p[i];
    if (ch == '"') {
      size_t s = ++i;
      while (i < n && p[i] != '"') i += (p[i] == '\\') ? 2 : 1;
      if (i >= n) { g_bad_frames++; return; }
      size_t e = i++;
      if (depth != level || !want_key) continue;
      want_key = 0;
      while (i < n && (p[i] == ' ' || p[i] == ':' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n')) i++;
      const uint8_t *v = NULL;
      size_t vlen = 0;
      if (i < n && p[i] == '"') {     // string value
        size_t vs = ++i;
        while (i < n && p[i] != '"') i += (p[i] == '\\') ? 2 : 1;
        if (i >= n) { g_bad_frames++; return; }
        v = p + vs; vlen = i - vs; i++;
      }
      size_t kl = e - s;
      if (kl == 3 && !memcmp(p + s, "dam", 3)) dam = (v && vlen == 1) ? v[0] : '-';
      else if (kl == 1 && p[s] == '@') has_at = 1;
      else if (kl == 1 && p[s] == '#' && v) { hash = v; hashlen = vlen; }
      continue;
    }
    if (ch == '{' || ch == '[') {
      depth++;
      if (depth == level) { want_key = ch == '{'; dam = has_at = 0; hash = NULL; hashlen = 0; }
    } else if (ch == '}' || ch == ']') {
      if (depth == level && ch == '}') {
        if (dam == '!') g_dam_errors++;
        if (dam == '?' && !has_at) {
          char a[10], b[10], msg[600];
          rid(a); rid(b);
          if (hashlen > 256) hashlen = 256;
          // m['#'] may be missing: JSON.stringify then drops "@" too.
          if (hash) snprintf(msg, sizeof msg, "{\"dam\":\"?\",\"pid\":\"%s\",\"@\":\"%.*s\",\"#\":\"%s\"}", a, (int)hashlen, (const char *)hash, b);
          else snprintf(msg, sizeof msg, "{\"dam\":\"?\",\"pid\":\"%s\",\"#\":\"%s\"}", a, b);
          send_text(c, msg);
        }
        dam = 0;
      }
      depth--;
    } else if (ch == ',' && depth == level) {
      want_key = 1;
    }
    i++;
  }
  if (depth != 0) g_bad_frames++;
}

/** Message base+j reached this subscriber: 1 the first time (a delivery), 0 after (a duplicate). */
static inline int first_sight(uint64_t *got, uint64_t j) {
  if (got[j >> 6] >> (j & 63) & 1) { g_dups++; return 0; }
  got[j >> 6] |= 1ull << (j & 63);
  g_delivered++;
  return 1;
}

/** Counts `"k<digits>":"<digits>"` like loadgen.ts's scanSubMessage; returns 1 if it saw `"dam`. */
static int scan(conn_t *c, const uint8_t *p, size_t n, uint64_t now) {
  const uint8_t *e = p + n, *q = p;
  const uint64_t base = g_base, size = g_size;
  uint64_t *got = c->got;
  int dam = 0, hit = 0;
  while (e - q > 3) {
    if (*q != '"') { q++; continue; }
    uint8_t c1 = q[1];
    if (c1 == 'd') { if (q[2] == 'a' && q[3] == 'm') dam = 1; q++; continue; }
    if (c1 != 'k') { q++; continue; }
    const uint8_t *d = q + 2;
    uint64_t k = 0;
    while (d < e && (unsigned)(*d - '0') < 10u && d - q < 21) k = k * 10 + (uint64_t)(*d++ - '0');
    if (d > q + 2 && e - d > 2 && d[0] == '"' && d[1] == ':' && d[2] == '"') {
      uint64_t j = k - base;           // unsigned: also rejects k < base
      if (j < size && first_sight(got, j)) {
        hit = 1;
        const uint8_t *t = d + 3;
        uint64_t sched = 0;
        while (t < e && (unsigned)(*t - '0') < 10u && t - d < 23) sched = sched * 10 + (uint64_t)(*t++ - '0');
        if (t > d + 3 && t < e && *t == '"') hrecord(now > sched ? now - sched : 0);
        else g_bad_frames++;
      }
      q = d + 3;
    } else q = d;
  }
  if (hit) g_last_ns = now;
  return dam;
}

/** Mode q: counts `:"q<digits>"` values; returns 1 if the frame has `"dam`. */
static int scan_q(conn_t *c, const uint8_t *p, size_t n, uint64_t now) {
  const uint8_t *e = p + n, *q = p;
  const uint64_t base = g_base, size = g_size;
  uint64_t *got = c->got;
  int hit = 0;
  while ((q = memmem(q, (size_t)(e - q), ":\"q", 3)) != NULL) {
    const uint8_t *d = q + 3;
    uint64_t k = 0;
    while (d < e && (unsigned)(*d - '0') < 10u && d - q < 23) k = k * 10 + (uint64_t)(*d++ - '0');
    if (d > q + 3 && d < e && *d == '"') {
      uint64_t j = k - base;
      if (j < size && first_sight(got, j)) {
        hit = 1;
        uint64_t sched = g_sched[j];
        if (sched) hrecord(now > sched ? now - sched : 0);
        else g_bad_frames++;           // a delivery of a message never sent: counted as bad
      }
    }
    q = d;
  }
  if (hit) g_last_ns = now;
  return memmem(p, n, "\"dam", 4) != NULL;
}

static void on_frame(conn_t *c, unsigned fin, unsigned op, const uint8_t *p, size_t len, uint64_t now) {
  (void)fin; // servers here do not fragment; a continuation's payload is scanned on its own
  switch (op) {
    case 0x0: case 0x1: case 0x2:
      if (op != 0 && (len == 0 || (p[0] != '{' && p[0] != '['))) { g_bad_frames++; return; }
      if (g_mode_q ? scan_q(c, p, len, now) : scan(c, p, len, now)) dam_walk(c, p, len);
      return;
    case 0x8:
      conn_close(c, 1);
      return;
    case 0x9:
      send_frame(c, 0xa, p, len);
      return;
    default: // pong, reserved
      return;
  }
}

/** Parses whole frames in d[0..n); returns the bytes consumed (a partial frame stays). */
static size_t parse_frames(conn_t *c, const uint8_t *d, size_t n, uint64_t now) {
  size_t off = 0;
  while (n - off >= 2) {
    uint8_t b0 = d[off], b1 = d[off + 1];
    if (b1 & 0x80) {
      fprintf(stderr, "gun-recv: sub %u: masked server frame\n", c->idx);
      g_bad_frames++;
      conn_close(c, 1);
      return n;
    }
    uint64_t len = b1 & 0x7f;
    size_t hdr = 2;
    if (len == 126) {
      if (n - off < 4) break;
      len = (uint64_t)d[off + 2] << 8 | d[off + 3];
      hdr = 4;
    } else if (len == 127) {
      if (n - off < 10) break;
      len = 0;
      for (int i = 0; i < 8; i++) len = len << 8 | d[off + 2 + i];
      hdr = 10;
      if (len > MAX_FRAME) {
        fprintf(stderr, "gun-recv: sub %u: frame of %llu bytes\n", c->idx, (unsigned long long)len);
        g_bad_frames++;
        conn_close(c, 1);
        return n;
      }
    }
    if (n - off < hdr + len) break;
    on_frame(c, b0 >> 7, b0 & 0x0f, d + off + hdr, (size_t)len, now);
    off += hdr + (size_t)len;
    if (c->state == ST_CLOSED) return n;
  }
  return off;
}

static void keep_partial(conn_t *c, const uint8_t *p, size_t n) {
  if (n > c->incap) { c->incap = n < 4096 ? 4096 : n * 2; c->in = xrealloc(c->in, c->incap); }
  memmove(c->in, p, n);
  c->inlen = n;
}

static void on_readable_open(conn_t *c) {
  const uint8_t *d;
  size_t n;
  uint64_t now;
  if (c->inlen <= HEAD) {
    // Usual case: put the (small) partial frame right before the read buffer, read after it,
    // parse it all in place.
    uint8_t *r = g_rbuf + HEAD;
    ssize_t got = read(c->fd, r, RBUF);
    now = now_ns();
    if (got <= 0) {
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
      if (got < 0) fprintf(stderr, "gun-recv: sub %u: read: %s\n", c->idx, strerror(errno));
      conn_close(c, 1);
      return;
    }
    memcpy(r - c->inlen, c->in, c->inlen);
    d = r - c->inlen;
    n = c->inlen + (size_t)got;
    c->inlen = 0;
  } else {
    // A big frame is being received: append to it.
    if (c->incap - c->inlen < RBUF) { c->incap = c->inlen * 2 + RBUF; c->in = xrealloc(c->in, c->incap); }
    ssize_t got = read(c->fd, c->in + c->inlen, RBUF);
    now = now_ns();
    if (got <= 0) {
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
      conn_close(c, 1);
      return;
    }
    c->inlen += (size_t)got;
    d = c->in;
    n = c->inlen;
  }
  size_t used = parse_frames(c, d, n, now);
  if (c->state == ST_CLOSED) return;
  keep_partial(c, d + used, n - used);
}

// ---- connecting ----

static uint32_t g_next, g_pending, g_open;
static uint64_t g_deadline;
static int g_ready;

static void start_batch(void) {
  g_deadline = now_ns() + HANDSHAKE_TIMEOUT_NS;
  for (; g_next < g_subs && g_pending < BATCH; g_next++, g_pending++) conn_open(&g_conns[g_next]);
}

static void handshake_done(conn_t *c, size_t head_end, uint64_t now) {
  const char *h = (const char *)c->in;
  if (c->inlen < 12 || memcmp(h, "HTTP/1.1 101", 12) != 0) {
    const char *eol = memchr(h, '\r', c->inlen);
    die("handshake failed on %s:%s%s: %.*s", g_host, g_port, g_path, (int)(eol ? eol - h : (ptrdiff_t)c->inlen), h);
  }
  c->state = ST_OPEN;
  char id[10], msg[512];
  rid(id);
  char soul[256];
  if (strstr(g_soul, "%u")) snprintf(soul, sizeof soul, g_soul, c->idx);
  else snprintf(soul, sizeof soul, "%s", g_soul);
  snprintf(msg, sizeof msg, "{\"#\":\"%s\",\"get\":{\"#\":\"%s\"}}", id, soul);
  send_text(c, msg);
  size_t rest = c->inlen - head_end;
  memmove(c->in, c->in + head_end, rest);
  c->inlen = rest;
  if (rest) {                          // frames in the same packet as the 101
    size_t used = parse_frames(c, c->in, rest, now);
    if (c->state != ST_CLOSED) keep_partial(c, c->in + used, rest - used);
  }
  g_open++;
  if (--g_pending == 0) {
    if (g_next < g_subs) start_batch();
    else {
      g_ready = 1;
      fputs("ready\n", stdout);
      fflush(stdout);
    }
  }
}

static void on_conn_event(conn_t *c, uint32_t ev) {
  if (c->state == ST_CONNECTING) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) die("connect %s:%s: %s", g_host, g_port, strerror(err));
    if (!(ev & EPOLLOUT)) return;
    uint8_t k[16];
    char key[25], req[2048];
    for (int i = 0; i < 16; i++) k[i] = (uint8_t)rnd();
    base64_16(k, key);
    int n = snprintf(req, sizeof req,
      "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", g_path, g_host, g_port, key);
    if (n < 0 || (size_t)n >= sizeof req) die("request too long");
    c->state = ST_HANDSHAKE;
    ep_set(c, EPOLLIN, EPOLL_CTL_MOD);
    queue_write(c, (const uint8_t *)req, (size_t)n);
    if (c->state == ST_CLOSED) die("connection to %s:%s closed during handshake", g_host, g_port);
    return;
  }
  if (ev & EPOLLOUT) { flush_out(c); if (c->state == ST_CLOSED) return; }
  if (c->state == ST_HANDSHAKE) {
    if (c->incap - c->inlen < 4096) { c->incap = c->incap * 2 + 4096; c->in = xrealloc(c->in, c->incap); }
    ssize_t got = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
    uint64_t now = now_ns();
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (got <= 0) die("connection to %s:%s closed during handshake%s%s", g_host, g_port, got < 0 ? ": " : "", got < 0 ? strerror(errno) : "");
    size_t from = c->inlen >= 3 ? c->inlen - 3 : 0;
    c->inlen += (size_t)got;
    for (size_t i = from; i + 4 <= c->inlen; i++)
      if (!memcmp(c->in + i, "\r\n\r\n", 4)) { handshake_done(c, i + 4, now); return; }
    if (c->inlen > MAX_HEAD) die("handshake headers too long");
    return;
  }
  if (c->state != ST_OPEN) return;
  if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable_open(c);
}

// ---- control ----

static void do_step(uint64_t base, uint64_t size) {
  g_base = base;
  g_size = size;
  g_delivered = g_dups = g_dam_errors = g_bad_frames = g_last_ns = 0;
  memset(g_hist, 0, sizeof g_hist);
  g_lat_n = g_lat_sum = g_lat_max = 0;
  g_words = (size + 63) / 64;
  size_t total = g_words * g_subs;
  if (total > g_bits_cap || !g_bits) {
    free(g_bits);
    g_bits_cap = total ? total : 1;
    g_bits = malloc(g_bits_cap * sizeof *g_bits);
    if (!g_bits) die("out of memory for %zu bitmap words", g_bits_cap);
  }
  memset(g_bits, 0, total * sizeof *g_bits);
  for (uint32_t i = 0; i < g_subs; i++) g_conns[i].got = g_bits + (size_t)i * g_words;
  if (g_mode_q) {
    free(g_sched);
    g_sched = calloc(size ? size : 1, sizeof *g_sched);
    if (!g_sched) die("out of memory for %llu send times", (unsigned long long)size);
  }
}

/** Mode q: `put <peer> <n> <sched_ns> <json>`. */
static void do_put(char *line) {
  unsigned long long peer, n, sched;
  int off = 0;
  if (sscanf(line, "put %llu %llu %llu %n", &peer, &n, &sched, &off) != 3 || !off || peer >= g_subs) die("bad put: %.100s", line);
  uint64_t j = (uint64_t)n - g_base;
  if (j < g_size) g_sched[j] = sched;
  conn_t *c = &g_conns[peer];
  if (c->state == ST_OPEN) send_text(c, line + off);
}

static void report(void) {
  printf("{\"delivered\":%llu,\"dups\":%llu,\"damErrors\":%llu,\"badFrames\":%llu,\"closed\":%llu,\"lastDeliveryNs\":\"%llu\",\"latency\":",
    (unsigned long long)g_delivered, (unsigned long long)g_dups, (unsigned long long)g_dam_errors,
    (unsigned long long)g_bad_frames, (unsigned long long)g_closed, (unsigned long long)g_last_ns);
  if (g_lat_n == 0) fputs("null", stdout);
  else printf("{\"n\":%llu,\"p50\":%.6f,\"p90\":%.6f,\"p99\":%.6f,\"p999\":%.6f,\"max\":%.6f,\"mean\":%.6f}",
    (unsigned long long)g_lat_n, hquantile_ms(0.5), hquantile_ms(0.9), hquantile_ms(0.99), hquantile_ms(0.999),
    (double)g_lat_max / 1e6, (double)g_lat_sum / (double)g_lat_n / 1e6);
  fputs("}\n", stdout);
  fflush(stdout);
}

static void quit(int code) {
  static const uint8_t bye[2] = { 0x03, 0xe8 }; // 1000 normal closure
  for (uint32_t i = 0; i < g_subs; i++) {
    conn_t *c = &g_conns[i];
    if (c->state == ST_OPEN) send_frame(c, 0x8, bye, 2);
    if (c->state != ST_CLOSED && c->fd >= 0) { close(c->fd); c->state = ST_CLOSED; }
  }
  fflush(stdout);
  exit(code);
}

static void command(char *line) {
  unsigned long long a, b;
  if (sscanf(line, "step %llu %llu", &a, &b) == 2) { do_step(a, b); fputs("ok\n", stdout); fflush(stdout); }
  else if (g_mode_q && !strncmp(line, "put ", 4)) do_put(line);
  else if (!strcmp(line, "count")) { printf("count %llu\n", (unsigned long long)g_delivered); fflush(stdout); }
  else if (!strcmp(line, "report")) report();
  else if (!strcmp(line, "quit")) quit(0);
  else if (line[0]) die("unknown command: %.100s", line);
}

static char g_cmd[4096];
static size_t g_cmdlen;

static void on_stdin(void) {
  for (;;) {
    ssize_t r = read(0, g_cmd + g_cmdlen, sizeof g_cmd - 1 - g_cmdlen);
    if (r == 0) quit(0);
    if (r < 0) { if (errno == EAGAIN || errno == EINTR) return; quit(0); }
    g_cmdlen += (size_t)r;
    char *s = g_cmd, *nl;
    while ((nl = memchr(s, '\n', g_cmdlen - (size_t)(s - g_cmd)))) {
      *nl = 0;
      if (nl > s && nl[-1] == '\r') nl[-1] = 0;
      command(s);
      s = nl + 1;
    }
    g_cmdlen -= (size_t)(s - g_cmd);
    memmove(g_cmd, s, g_cmdlen);
    if (g_cmdlen == sizeof g_cmd - 1) g_cmdlen = 0; // an absurd line: drop it
  }
}

int main(int argc, char **argv) {
  if (argc != 6 && !(argc == 7 && !strcmp(argv[6], "q"))) { fprintf(stderr, "usage: gun-recv <host> <port> <path> <subs> <soul> [q]\n"); return 2; }
  g_mode_q = argc == 7;
  g_host = argv[1]; g_port = argv[2]; g_path = argv[3]; g_soul = argv[5];
  long subs = strtol(argv[4], NULL, 10);
  if (subs <= 0 || subs > 1000000) { fprintf(stderr, "gun-recv: bad subscriber count %s\n", argv[4]); return 2; }
  g_subs = (uint32_t)subs;
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_PDEATHSIG, SIGKILL);    // backup for stdin EOF: never outlive the load generator
  if (getppid() == 1) return 0;
  g_rng = now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
  if (!g_rng) g_rng = 1;

  struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
  int gai = getaddrinfo(g_host, g_port, &hints, &g_addr);
  if (gai) die("resolve %s:%s: %s", g_host, g_port, gai_strerror(gai));

  g_conns = calloc(g_subs, sizeof *g_conns);
  g_rbuf = malloc(HEAD + RBUF);
  if (!g_conns || !g_rbuf) die("out of memory");
  for (uint32_t i = 0; i < g_subs; i++) { g_conns[i].idx = i; g_conns[i].fd = -1; }
  do_step(0, 0);

  g_ep = epoll_create1(EPOLL_CLOEXEC);
  if (g_ep < 0) die("epoll_create1: %s", strerror(errno));
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event sev = { .events = EPOLLIN, .data.u32 = STDIN_TAG };
  if (epoll_ctl(g_ep, EPOLL_CTL_ADD, 0, &sev) < 0) die("stdin must be a pipe (epoll: %s)", strerror(errno));

  start_batch();
  struct epoll_event evs[256];
  for (;;) {
    int timeout = -1;
    if (!g_ready) {
      uint64_t t = now_ns();
      if (t >= g_deadline) die("handshake timeout: %u of %u subscribers connected to %s:%s%s", g_open, g_subs, g_host, g_port, g_path);
      timeout = (int)((g_deadline - t) / 1000000) + 1;
    }
    int k = epoll_wait(g_ep, evs, 256, timeout);
    if (k < 0) { if (errno == EINTR) continue; die("epoll_wait: %s", strerror(errno)); }
    for (int i = 0; i < k; i++) {
      if (evs[i].data.u32 == STDIN_TAG) on_stdin();
      else on_conn_event(&g_conns[evs[i].data.u32], evs[i].events);
    }
  }
}
