/* client.c — the device client's protocol: announcing, answering heartbeat requests, noticing a
 * silent owner, telling interleaved owners apart, user messages both ways (docs/devices.md).
 *
 * Relies on: datagram.c (bytes on the wire), cbor.c (payloads), the caller's platform calls.
 *
 * State machine, driven by au_dc_tick (timers) and au_dc_input (datagrams):
 *   - first tick: announce to every seed;
 *   - a heartbeat request from server S: answer it (beat 0); S becomes the owner if it was not (a
 *     new owner is reported through on_owner); if the request shows a stale interval, announce
 *     to S. A request granting a lease of k beats: beats 1 .. k-1 follow, one per interval_ms of
 *     the request, unprompted, to the owner (a new request from it starts a new lease; one it
 *     sent before the lease's own, overtaken on the way, is answered and changes nothing);
 *   - no request from the owner for lost_after intervals past its lease: the owner is lost (on_owner(0)) and the
 *     device announces to every seed and every server it knows, then again after one interval,
 *     doubling up to announce_max_ms (with up to 25 % jitter, so that the devices of a dead
 *     server do not all come back in the same millisecond), until some server polls it;
 *   - requests alternating between the owner and the previous owner within lost_after intervals
 *     (A, B, A: not a hand-over, which is A then only B): a conflict report to both.
 *
 * Invariants:
 *   - servers[0] is the owner when its id is nonzero; servers[1] the previous owner or the last
 *     other server heard. A server's replay window (highest sequence number + 64-bit mask, per
 *     server incarnation) is kept while it holds a slot, so a replayed datagram of either is
 *     refused; one beyond those two is accepted fresh — the remaining risk docs/devices.md §4
 *     states (a replay can at worst make the device answer a stale server once). Plain, a slot
 *     also keeps a claimed other incarnation of its server with a window of its own
 *     (claim_take): a forged incarnation never makes the device refuse the real one; and a
 *     plain sequence number further ahead of a window than its server can have sent since the
 *     window last moved moves nothing (window_take) until the window has been silent.
 *   - Interval clocks compare by difference (they wrap); one more than AU_DC_CLOCK_WINDOW ahead
 *     is not taken from a request.
 *   - A datagram is acted on only after every frame in it was checked (destination, CBOR, device
 *     id and incarnation, one server id): accepted whole or dropped whole, and counted once.
 *   - Times are uint32 milliseconds compared by difference (wrap-safe below 2^31 ms).
 *   - Callbacks run from au_dc_input only; rx_buf is not touched while they run (au_dc_poll and
 *     au_dc_input return at once if called from one), tx_buf may be (au_dc_send). */
#include "devices/client/internal.h"

#define DEFAULT_INTERVAL_MS 1000u
#define MIN_INTERVAL_MS 10u
#define DEFAULT_LOST_AFTER 3u
#define DEFAULT_ANNOUNCE_MAX_MS 30000u
#define MAX_NAME 64u
/* Wrap-safe comparisons hold below 2^31 ms: the longest span the client measures must stay
 * under it. */
#define MAX_SPAN_MS 0x7fffffffu

/* Variant indices of the roots (the order of aurum/device_protocol.h). */
enum { UP_ANNOUNCE = 0, UP_HEARTBEAT = 1, UP_CONFLICT = 2, UP_DATA = 3 };
enum { DOWN_REQUEST = 0, DOWN_DATA = 1 };

/* Drop reasons: one counter each. */
enum { DROP_MALFORMED, DROP_INTEGRITY, DROP_REPLAYED, DROP_NOT_MINE };

static uint32_t lost_after(const au_dc *dc) {
    return dc->cfg->lost_after ? dc->cfg->lost_after : DEFAULT_LOST_AFTER;
}
/* The re-announce cap. By default 8 intervals, at most 30 s: an owner-less device then costs at
 * most an eighth of its polled traffic, and under loss it keeps trying often enough to find an
 * owner within a few of its own intervals' worth of caps (a fixed 30 s made a 300 ms device at
 * 25 % loss wait up to half a minute after a few unlucky announces). */
static uint32_t announce_max(const au_dc *dc) {
    uint32_t max = dc->cfg->announce_max_ms;
    if (!max)
        max = dc->interval_ms > DEFAULT_ANNOUNCE_MAX_MS / 8 ? DEFAULT_ANNOUNCE_MAX_MS
                                                              : 8 * dc->interval_ms;
    return max < dc->interval_ms ? dc->interval_ms : max;
}
/* The interval the owner polls at: the one its last request granted (beat_ms: a server polls
 * no faster than its min_interval_ms, so it may grant more than was asked), or ours when that
 * is longer — after au_dc_set_interval, until the owner's requests carry the new interval, it
 * may poll at either. */
static uint32_t polled_ms(const au_dc *dc) {
    return dc->beat_ms > dc->interval_ms ? dc->beat_ms : dc->interval_ms;
}
/* The longest interval a request may grant (AU_DC_MAX_GRANT_MS): 64 times ours, or 60 s if that
 * is more (a server's min_interval_ms above the device's interval), but no more than about 66 min
 * (so that lost_after intervals past a lease of AU_DC_MAX_BEATS stay below MAX_SPAN_MS / 2),
 * and never less than ours; servers poll no slower. A request granting more (a hostile one, in plain mode) had kept
 * the device waiting for a dead owner up to 12 days (the span's bound alone). */
static uint32_t max_granted(const au_dc *dc) { return (uint32_t)AU_DC_MAX_GRANT_MS(dc->interval_ms); }
/* How long the owner may stay silent before it is taken for lost: lost_after intervals past the
 * end of its lease (the last request's beats), in the interval it polls at (polled_ms). init
 * and set_interval keep interval × lost_after below MAX_SPAN_MS / 2, on_request the granted
 * interval below MAX_SPAN_MS / 2 / AU_DC_MAX_BEATS; the sum is clamped so that it stays
 * comparable by difference. */
static uint32_t silence(const au_dc *dc) {
    uint64_t s = (uint64_t)polled_ms(dc) * lost_after(dc);
    if (dc->beats > 1) s += (uint64_t)polled_ms(dc) * (dc->beats - 1u);
    return s > MAX_SPAN_MS / 2 ? MAX_SPAN_MS / 2 : (uint32_t)s;
}
static uint32_t now(const au_dc *dc) { return dc->cfg->platform.now_ms(dc->cfg->platform.ctx); }
/* A client au_dc_init accepted (a failed init leaves cfg NULL: every call is then refused). */
static bool ready(const au_dc *dc) { return dc && dc->cfg; }
static bool reached(uint32_t t, uint32_t at) { return (int32_t)(t - at) >= 0; }
static bool same_addr(const au_dc_addr *a, const au_dc_addr *b) {
    return a->len == b->len && au_dc_same(a->bytes, b->bytes, a->len);
}

/* ---- init ---------------------------------------------------------------------------------- */

static size_t name_length(const char *s) {
    size_t n = 0;
    while (n <= MAX_NAME && s[n]) n++;
    return n;
}

static bool overlap(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    return a < b + bn && b < a + an;
}

int au_dc_init(au_dc *dc, const au_dc_config *cfg) {
    if (!dc) return AU_DC_EINVAL;
    au_dc_zero((volatile uint8_t *)dc, sizeof *dc);
    if (!cfg || !cfg->device || !cfg->incarnation || !cfg->nseeds || !cfg->seeds ||
        !cfg->platform.send || !cfg->platform.now_ms || !cfg->rx_buf || !cfg->tx_buf)
        return AU_DC_EINVAL;
#if !AU_DC_SEALING
    if (cfg->key) return AU_DC_EINVAL;
#endif
#if !AU_DC_PLAIN
    if (!cfg->key) return AU_DC_EINVAL;
#endif
    uint32_t interval = cfg->interval_ms ? cfg->interval_ms : DEFAULT_INTERVAL_MS;
    uint32_t lost = cfg->lost_after ? cfg->lost_after : DEFAULT_LOST_AFTER;
    if (interval < MIN_INTERVAL_MS || lost < 2 || (uint64_t)interval * lost > MAX_SPAN_MS / 2 ||
        cfg->announce_max_ms > MAX_SPAN_MS / 2)
        return AU_DC_EINVAL;
    const char *name = cfg->server_name ? cfg->server_name : AU_DC_SERVER_NAME;
    size_t name_len = name_length(name);
    if (name_len == 0 || name_len > MAX_NAME) return AU_DC_EINVAL;
    if (cfg->rx_cap < AU_DC_RX_MIN || cfg->tx_cap < AU_DC_TX_MIN(cfg->key != NULL, name_len) ||
        overlap(cfg->rx_buf, cfg->rx_cap, cfg->tx_buf, cfg->tx_cap))
        return AU_DC_EINVAL;
    for (unsigned i = 0; i < cfg->nseeds; i++)
        if (cfg->seeds[i].len == 0 || cfg->seeds[i].len > AU_DC_ADDR_MAX) return AU_DC_EINVAL;
    dc->cfg = cfg;
    dc->name_len = (uint8_t)name_len;
    dc->interval_ms = interval;
    dc->clock = 1;
    dc->jitter = (uint32_t)(cfg->device ^ cfg->device >> 32 ^ cfg->incarnation) | 1u;
    return AU_DC_OK;
}

/* ---- sending ------------------------------------------------------------------------------- */

/* A writer over the payload room of the datagram being built in tx_buf. */
static au_dc_cbor_out payload_writer(au_dc *dc) {
    size_t start = au_dc_begin_message(dc);
    return (au_dc_cbor_out){ .buf = dc->cfg->tx_buf, .len = start, .cap = au_dc_frames_end(dc) };
}

/* The variant head and the record head every uplink message starts with, then device and
 * incarnation, which every one carries first. */
static au_dc_cbor_out start_up(au_dc *dc, unsigned variant, unsigned fields) {
    au_dc_cbor_out w = payload_writer(dc);
    au_dc_cbor_put_array(&w, 2);
    au_dc_cbor_put_uint(&w, variant);
    au_dc_cbor_put_array(&w, fields);
    au_dc_cbor_put_uint(&w, dc->cfg->device);
    au_dc_cbor_put_uint(&w, dc->cfg->incarnation);
    return w;
}

static int finish(au_dc *dc, const au_dc_cbor_out *w, const au_dc_addr *to) {
    if (w->err) return AU_DC_ETOOBIG;
    return au_dc_finish_and_send(dc, w->len, to);
}

static int announce_to(au_dc *dc, const au_dc_addr *to) {
    au_dc_cbor_out w = start_up(dc, UP_ANNOUNCE, 6);
    au_dc_cbor_put_uint(&w, dc->clock);
    au_dc_cbor_put_uint(&w, dc->interval_ms);
    au_dc_cbor_put_uint(&w, dc->servers[0].id);
    au_dc_cbor_put_uint(&w, dc->cfg->rx_cap < AU_WIRE_MAX_MTU ? dc->cfg->rx_cap : AU_WIRE_MAX_MTU);
    dc->stats.announces++;
    return finish(dc, &w, to);
}

/* Calls fn for every seed, then for every known server not among the seeds; AU_DC_OK if any
 * send succeeded. */
static int to_everyone(au_dc *dc, int (*fn)(au_dc *, const au_dc_addr *, const void *),
                       const void *arg) {
    const au_dc_config *cfg = dc->cfg;
    int rc = AU_DC_ESEND;
    for (unsigned i = 0; i < cfg->nseeds; i++)
        if (fn(dc, &cfg->seeds[i], arg) == AU_DC_OK) rc = AU_DC_OK;
    for (unsigned s = 0; s < 2; s++) {
        const au_dc_server *srv = &dc->servers[s];
        bool seed = false;
        for (unsigned i = 0; i < cfg->nseeds && !seed; i++) seed = same_addr(&srv->addr, &cfg->seeds[i]);
        if (srv->id && !seed && fn(dc, &srv->addr, arg) == AU_DC_OK) rc = AU_DC_OK;
    }
    return rc;
}

static int announce_cb(au_dc *dc, const au_dc_addr *to, const void *arg) {
    (void)arg;
    return announce_to(dc, to);
}

/* The next re-announcement, after backoff_ms plus up to a quarter of it (xorshift32). */
static void schedule_announce(au_dc *dc, uint32_t t) {
    uint32_t x = dc->jitter;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    dc->jitter = x;
    dc->announce_at = t + dc->backoff_ms + x % (dc->backoff_ms / 4 + 1);
    uint32_t max = announce_max(dc);
    dc->backoff_ms = dc->backoff_ms > max / 2 ? max : dc->backoff_ms * 2;
}

static void announce_everywhere(au_dc *dc, uint32_t t) {
    to_everyone(dc, announce_cb, NULL);
    schedule_announce(dc, t);
}

static void send_heartbeat(au_dc *dc, uint64_t request, uint32_t beat) {
    au_dc_cbor_out w = start_up(dc, UP_HEARTBEAT, 5);
    au_dc_cbor_put_uint(&w, request);
    au_dc_cbor_put_uint(&w, dc->clock);
    au_dc_cbor_put_uint(&w, beat);
    if (finish(dc, &w, &dc->servers[0].addr) == AU_DC_OK) dc->stats.heartbeats++;
}

static void send_conflict(au_dc *dc, const au_dc_server *to, uint64_t owner, uint64_t other) {
    au_dc_cbor_out w = start_up(dc, UP_CONFLICT, 4);
    au_dc_cbor_put_uint(&w, owner);
    au_dc_cbor_put_uint(&w, other);
    finish(dc, &w, &to->addr);
}

typedef struct user_msg {
    uint64_t type;
    const uint8_t *payload;
    size_t len;
} user_msg;

static int data_to(au_dc *dc, const au_dc_addr *to, const void *arg) {
    const user_msg *m = arg;
    au_dc_cbor_out w = start_up(dc, UP_DATA, 4);
    au_dc_cbor_put_uint(&w, m->type);
    au_dc_cbor_put_bytes(&w, m->payload, m->len);
    return finish(dc, &w, to);
}

int au_dc_send(au_dc *dc, uint64_t type, const uint8_t *payload, size_t len) {
    if (!ready(dc) || (!payload && len)) return AU_DC_EINVAL;
    user_msg m = { type, payload, len };
    /* A user message that cannot fit is refused before anything is sent. */
    size_t room = au_dc_frames_end(dc) - au_dc_begin_message(dc);
    if (len > room || room - len < 3 + 4 * 9) return AU_DC_ETOOBIG; /* heads, the integers */
    int rc = dc->servers[0].id ? data_to(dc, &dc->servers[0].addr, &m)
                               : to_everyone(dc, data_to, &m);
    if (rc == AU_DC_OK) dc->stats.messages_out++;
    return rc;
}

int au_dc_set_interval(au_dc *dc, uint32_t interval_ms) {
    if (!ready(dc)) return AU_DC_EINVAL;
    if (interval_ms < MIN_INTERVAL_MS || (uint64_t)interval_ms * lost_after(dc) > MAX_SPAN_MS / 2)
        return AU_DC_EINVAL;
    dc->interval_ms = interval_ms;
    dc->clock++; /* wraps: clocks compare by difference (on_request) */
    if (dc->servers[0].id) return announce_to(dc, &dc->servers[0].addr);
    return to_everyone(dc, announce_cb, NULL);
}

uint64_t au_dc_owner(const au_dc *dc) { return ready(dc) ? dc->servers[0].id : 0; }

/* ---- timers -------------------------------------------------------------------------------- */

static void set_owner(au_dc *dc, uint64_t id) {
    if (dc->cfg->on_owner) dc->cfg->on_owner(dc->cfg->user, id);
}

uint32_t au_dc_tick(au_dc *dc) {
    if (!ready(dc)) return DEFAULT_INTERVAL_MS;
    uint32_t t = now(dc);
    au_dc_server *owner = &dc->servers[0];
    /* A clock that went backwards (the platform promised a monotonic one): a last request
     * "in the future", or a re-announcement further ahead than any backoff schedules one, would
     * keep the device quiet for the size of the jump. The timers count from now instead. */
    if (owner->id && !reached(t, owner->heard_ms)) owner->heard_ms = t;
    if (dc->beat < dc->beats && !reached(t, dc->beat_at) && dc->beat_at - t > dc->beat_ms)
        dc->beat_at = t + dc->beat_ms; /* never more than an interval ahead, but for a jump */
    uint32_t max = announce_max(dc);
    if (dc->started && !owner->id && !reached(t, dc->announce_at) &&
        dc->announce_at - t > max + max / 4 + 1)
        dc->announce_at = t;
    if (!dc->started) {
        dc->started = 1;
        dc->backoff_ms = dc->interval_ms;
        announce_everywhere(dc, t);
    } else if (owner->id && reached(t, owner->heard_ms + silence(dc))) {
        /* The owner fell silent. It moves to the second slot, where its replay window stays
         * (its requests, should it come back, are still checked), and everyone hears from us. */
        dc->stats.owner_lost++;
        dc->servers[1] = *owner;
        owner->id = 0;
        dc->beats = 0;
        set_owner(dc, 0);
        dc->backoff_ms = dc->interval_ms;
        announce_everywhere(dc, t);
    } else if (!owner->id && reached(t, dc->announce_at)) {
        announce_everywhere(dc, t);
    }
    if (owner->id && dc->beat < dc->beats && reached(t, dc->beat_at)) {
        send_heartbeat(dc, dc->lease_request, dc->beat++);
        /* Evenly spaced from the request; a device that fell behind by more than an interval
         * (a long stall) beats one interval from now instead of in a burst. */
        dc->beat_at += dc->beat_ms;
        if (reached(t, dc->beat_at)) dc->beat_at = t + dc->beat_ms;
    }
    uint32_t at = owner->id ? owner->heard_ms + silence(dc) : dc->announce_at;
    if (owner->id && dc->beat < dc->beats && (int32_t)(dc->beat_at - at) < 0) at = dc->beat_at;
    uint32_t wait = reached(t, at) ? 0 : at - t;
    return wait < dc->interval_ms ? wait : dc->interval_ms;
}

/* ---- receiving ----------------------------------------------------------------------------- */

/* A downlink message, decoded. */
typedef struct down {
    unsigned variant;
    uint64_t device, incarnation, server;
    uint64_t request, type;    /* request / data */
    uint32_t clock, interval;  /* request */
    uint32_t beats;            /* request */
    const uint8_t *payload;    /* data */
    size_t len;
} down;

/* Decodes one au_device_down (exactly: one item, the record's arity, field ranges). */
static bool decode_down(const au_dc_frame *f, down *m) {
    au_dc_cbor_in r = { f->payload, f->payload + f->len, 0 };
    if (au_dc_cbor_get_array(&r) != 2) return false;
    m->variant = (unsigned)au_dc_cbor_get_uint(&r, DOWN_DATA);
    if (au_dc_cbor_get_array(&r) != (m->variant == DOWN_REQUEST ? 7u : 5u)) return false;
    m->device = au_dc_cbor_get_uint(&r, UINT64_MAX);
    m->incarnation = au_dc_cbor_get_uint(&r, UINT64_MAX);
    m->server = au_dc_cbor_get_uint(&r, UINT64_MAX);
    if (m->variant == DOWN_REQUEST) {
        m->request = au_dc_cbor_get_uint(&r, UINT64_MAX);
        m->clock = (uint32_t)au_dc_cbor_get_uint(&r, UINT32_MAX);
        m->interval = (uint32_t)au_dc_cbor_get_uint(&r, UINT32_MAX);
        m->beats = (uint32_t)au_dc_cbor_get_uint(&r, UINT32_MAX);
    } else {
        m->type = au_dc_cbor_get_uint(&r, UINT64_MAX);
        m->payload = au_dc_cbor_get_bytes(&r, &m->len);
    }
    return au_dc_cbor_end(&r) == 0 && m->server != 0;
}

/* Pass 1: every frame checked and decoded; *server is the one server id they all name.
 * -1 - reason on failure. */
static int check_frames(const au_dc *dc, au_dc_opened d, uint64_t *server) {
    au_dc_frame f;
    down m;
    int rc;
    *server = 0;
    while ((rc = au_dc_next_frame(&d, &f)) == 1) {
        if (!decode_down(&f, &m)) return -1 - DROP_MALFORMED;
        if (m.device != dc->cfg->device || m.incarnation != dc->cfg->incarnation)
            return -1 - DROP_NOT_MINE;
        if (*server && m.server != *server) return -1 - DROP_MALFORMED;
        /* Sealed, the nonce's sender id is authenticated: a message naming another server is
         * a member of the fleet (which holds the key) posing as a server it is not. */
        if (dc->cfg->key && m.server != d.sender) return -1 - DROP_INTEGRITY;
        *server = m.server;
    }
    if (rc == AU_DC_NOT_MINE) return -1 - DROP_NOT_MINE;
    return rc < 0 ? -1 - DROP_MALFORMED : 0;
}

/* How far behind a server's window a plain datagram's sequence number must be to restart it:
 * a node numbers its datagrams to every peer with one counter, so 2^40 is days of sending at a
 * million datagrams a second. */
#define PLAIN_FAR_BEHIND (1ull << 40)
/* How far ahead of a server's window a plain datagram may be and move it: a burst of
 * PLAIN_AHEAD_BURST, plus PLAIN_AHEAD_PER_MS for every millisecond since the window last moved
 * (about a million datagrams a second, the rate PLAIN_FAR_BEHIND assumes: the node's counter,
 * shared by all its peers, advances no faster while it sends nothing to this device). A forged
 * number further ahead (2^39, say: under PLAIN_FAR_BEHIND, so that the real server's next
 * datagrams would be refused as old for days) is dropped and counted (drop_replayed) and moves
 * nothing; a forger can push the window no faster than a busy node does, so a single datagram
 * locks out nothing. A real server whose counter ran further while it was silent here is
 * taken once the window has been silent for as long as an owner may be (silence()), as a
 * claim is: any number outside the window then restarts it, behind as well (the way back from
 * a forged number taken in such a silence). */
#define PLAIN_AHEAD_BURST (1ull << 16)
#define PLAIN_AHEAD_PER_MS 1024u

/* Records seq in the replay window (top, seen): 0, or -1 for a replay, a number behind the
 * window, or one more than `far` ahead of it (plain); `quiet` (plain): the window has been
 * silent for silence(), and a number outside it restarts it. *newest: nothing later was
 * accepted before. */
static int window_take(const au_dc *dc, uint64_t *top, uint64_t *seen, uint64_t seq, bool *newest,
                       uint64_t far, bool quiet) {
    if (seq > *top && seq - *top > far && !quiet) return -1; /* plain: far ahead, not moved */
    if (seq > *top) {
        uint64_t ahead = seq - *top;
        *seen = ahead >= 64 ? 1 : *seen << ahead | 1;
        *top = seq;
    } else if (!dc->cfg->key && (*top - seq > PLAIN_FAR_BEHIND || (quiet && *top - seq >= 64))) {
        /* Plain: a window pushed far ahead is a forged sequence number (near 2^64, say), not
         * the server's: it would refuse every real datagram of the run as a replay. Nothing
         * that far behind is a replay of anything recent: the window restarts. */
        *top = seq;
        *seen = 1;
    } else {
        uint64_t behind = *top - seq;
        if (behind >= 64 || (*seen >> behind & 1)) return -1;
        *seen |= (uint64_t)1 << behind;
        *newest = false;
    }
    return 0;
}

/* Plain: a datagram of server s at another incarnation than the one held. Anyone can send one
 * (plain datagrams are not authenticated), so it is a claim, not a restart: it is accepted in a
 * window of its own — a server that really restarted is answered at once — but the incarnation
 * held stays accepted too, so that a forged one (higher, say 2^64 - 1) cannot make the device
 * refuse its real server. The claim takes the incarnation's place once the incarnation held has
 * been silent for as long as an owner may be (silence()): a restarted server's old run sends
 * nothing more, a live one that forgers claim past keeps talking. The run it replaces becomes
 * the claim (its late datagrams are still recognised), and a third incarnation replaces the
 * claim. No incarnation is refused, lower or higher: a forger can make the device accept its
 * datagrams (as plain mode always allowed) but not refuse the real server's. */
static int claim_take(au_dc *dc, au_dc_server *s, const au_dc_opened *d, uint32_t t, bool *newest) {
    dc->stats.claims++;
    if (d->incarnation != s->claim || !s->claim) { /* 0: no claim (au_dc_open refuses
                                                         datagrams of incarnation 0) */
        s->claim = d->incarnation;
        s->claim_top = d->seq;
        s->claim_seen = 1;
    } else if (window_take(dc, &s->claim_top, &s->claim_seen, d->seq, newest, UINT64_MAX,
                           false) != 0) {
        return -1;
    }
    if (reached(t, s->run_ms + silence(dc))) {
        uint64_t inc = s->incarnation, top = s->top, seen = s->seen;
        s->incarnation = s->claim, s->top = s->claim_top, s->seen = s->claim_seen;
        s->claim = inc, s->claim_top = top, s->claim_seen = seen;
        s->run_ms = t;
    }
    return 0;
}

/* The slot of server id, installing it in the second slot when unknown (*fresh then set), and
 * its replay check: 0 and the datagram recorded, or -1 for a replay or (sealed) a past
 * incarnation. *newest: no later datagram of this server's run was accepted before (not a
 * reordered one). */
static int accept_from(au_dc *dc, uint64_t id, const au_dc_opened *d, const au_dc_addr *from,
                       uint32_t t, int *slot, bool *fresh, bool *newest) {
    *fresh = false;
    *newest = true;
    *slot = dc->servers[0].id == id ? 0 : dc->servers[1].id == id ? 1 : -1;
    au_dc_server *s;
    if (*slot < 0) {
        *slot = 1;
        *fresh = true;
        s = &dc->servers[1];
        s->id = id;
        s->incarnation = d->incarnation;
        s->top = d->seq;
        s->seen = 1;
        s->claim = 0;
        s->heard_ms = 0;
        s->run_ms = t;
    } else {
        s = &dc->servers[*slot];
        if (d->incarnation == s->incarnation) {
            /* plain: how far ahead the run's window may move, and whether it is quiet */
            uint64_t far = PLAIN_AHEAD_BURST + (uint64_t)(uint32_t)(t - s->run_ms) * PLAIN_AHEAD_PER_MS;
            bool quiet = !dc->cfg->key && reached(t, s->run_ms + silence(dc));
            if (dc->cfg->key) far = UINT64_MAX;
            if (window_take(dc, &s->top, &s->seen, d->seq, newest, far, quiet) != 0) return -1;
            s->run_ms = t;
        } else if (!dc->cfg->key) {
            if (claim_take(dc, s, d, t, newest) != 0) return -1;
        } else if (d->incarnation < s->incarnation) {
            return -1; /* sealed: authenticated, so an older run's datagram is a replay */
        } else { /* sealed: the server restarted, a new window */
            s->incarnation = d->incarnation;
            s->top = d->seq;
            s->seen = 1;
            s->run_ms = t;
        }
    }
    s->addr = *from;
    return 0;
}

static void on_request(au_dc *dc, const down *m, int slot, bool fresh, bool newest, uint32_t t) {
    au_dc_server *owner = &dc->servers[0];
    bool moved = slot == 1;
    if (slot == 1) {
        /* Interleaving: the previous owner polls again while the owner is still polling. */
        bool conflict = !fresh && owner->id && !reached(t, owner->heard_ms + silence(dc));
        au_dc_server previous = *owner;
        *owner = dc->servers[1];
        dc->servers[1] = previous;
        if (conflict) {
            dc->stats.conflicts++;
            send_conflict(dc, &dc->servers[0], dc->servers[0].id, previous.id);
            send_conflict(dc, &dc->servers[1], dc->servers[0].id, previous.id);
        }
        dc->stats.owner_changes++;
        dc->backoff_ms = dc->interval_ms;
        set_owner(dc, owner->id);
    }
    owner->heard_ms = t;
    if (!moved && !newest && m->request < dc->lease_request) {
        /* Overtaken by a later request of the owner's (reordered or late): it is answered, as
         * the owner may still wait for it, but the lease stays the later request's. (Both
         * tests: a lower number alone may be a restarted count, after the owner re-owned the
         * device; a later datagram alone may be a data message.) */
        send_heartbeat(dc, m->request, 0);
        return;
    }

    /* The lease: beats 1 .. beats-1 at the request's interval (at least MIN_INTERVAL_MS, so a
     * hostile request cannot make the device beat faster than any device may be polled). */
    dc->lease_request = m->request;
    dc->beats = (uint8_t)(m->beats < 1 ? 1 : m->beats > AU_DC_MAX_BEATS ? AU_DC_MAX_BEATS : m->beats);
    dc->beat_ms = m->interval < MIN_INTERVAL_MS ? MIN_INTERVAL_MS
                  : m->interval > max_granted(dc) ? max_granted(dc) : m->interval;
    dc->beat = 1;
    dc->beat_at = t + dc->beat_ms;
    send_heartbeat(dc, m->request, 0);

    /* The server polls at another interval than ours: if its clock is not behind, ours moves
     * past it so that the announcement wins (intervals are ordered by clock). Same interval,
     * later clock: adopt it; same interval, earlier clock: tell it. A longer interval at our own
     * clock is what the server grants for our announcement (its min_interval_ms): it is taken
     * (silence counts in it), and announcing again would only be granted the same. */
    /* Clocks compare by difference (they wrap, so that no value beats every later one: a
     * saturated clock could not move past a server's any more), and one further ahead than
     * AU_DC_CLOCK_WINDOW is not taken: no server holds a clock this device did not announce
     * (plain, a forged request may name one), so it is told ours as if behind. */
    uint32_t ahead = m->clock - dc->clock;
    bool behind = ahead > AU_DC_CLOCK_WINDOW; /* behind (as a difference), or far ahead */
    bool granted = ahead == 0 && m->interval > dc->interval_ms;
    if (!granted && (m->interval != dc->interval_ms || behind)) {
        if (m->interval != dc->interval_ms && !behind) dc->clock = m->clock + 1;
        announce_to(dc, &owner->addr);
    } else if (ahead != 0) {
        dc->clock = m->clock;
    }
}

static void count_drop(au_dc *dc, int reason) {
    uint32_t *counter[] = { &dc->stats.drop_malformed, &dc->stats.drop_integrity,
                            &dc->stats.drop_replayed, &dc->stats.drop_not_mine };
    (*counter[reason])++;
}

static int open_reason(int status) {
    switch (status) {
    case AU_WIRE_BAD_CHECKSUM:
    case AU_WIRE_BAD_SEAL:
    case AU_WIRE_NOT_SEALED:
    case AU_WIRE_NO_KEY:
        return DROP_INTEGRITY;
    default:
        return DROP_MALFORMED;
    }
}

void au_dc_input(au_dc *dc, const au_dc_addr *from, uint8_t *buf, size_t len) {
    if (!ready(dc) || dc->in_input) return;
    dc->stats.received++;
    /* A sender's address is copied into a slot and compared over its len: one longer than a slot
     * holds, or none, and the datagram is not taken. */
    if (!from || from->len > AU_DC_ADDR_MAX || (!buf && len)) {
        count_drop(dc, DROP_MALFORMED);
        return;
    }
    au_dc_opened d;
    int rc = au_dc_open(dc, buf, len, &d);
    if (rc != AU_WIRE_OK) {
        count_drop(dc, open_reason(rc));
        return;
    }
    uint64_t server;
    rc = check_frames(dc, d, &server);
    if (rc < 0) {
        count_drop(dc, -1 - rc);
        return;
    }
    int slot;
    bool fresh, newest;
    uint32_t t = now(dc);
    if (accept_from(dc, server, &d, from, t, &slot, &fresh, &newest) != 0) {
        count_drop(dc, DROP_REPLAYED);
        return;
    }
    dc->stats.accepted++;

    /* Pass 2: act. The frames were all checked; decoding again is cheaper than keeping them. */
    dc->in_input = 1;
    au_dc_frame f;
    down m;
    while (au_dc_next_frame(&d, &f) == 1 && decode_down(&f, &m)) {
        if (m.variant == DOWN_REQUEST) {
            on_request(dc, &m, slot, fresh, newest, t);
            slot = 0; /* the sender is the owner now */
        } else {
            dc->stats.messages_in++;
            if (dc->cfg->on_message)
                dc->cfg->on_message(dc->cfg->user, m.server, m.type, m.payload, m.len);
        }
    }
    dc->in_input = 0;
}

uint32_t au_dc_poll(au_dc *dc) {
    if (!ready(dc)) return DEFAULT_INTERVAL_MS;
    const au_dc_platform *p = &dc->cfg->platform;
    if (dc->in_input) return 0;
    /* No datagram is longer than 65,535 bytes: a larger buffer is read as that much, so that the
     * platform can always report "longer than cap" in an int (with a cap of 2^31 it could not,
     * and an empty datagram was lost uncounted). */
    size_t cap = dc->cfg->rx_cap < 65535 ? dc->cfg->rx_cap : 65535;
    /* Bounded, so that a flood cannot keep the device from its timers. */
    for (int i = 0; p->recv && i < 16; i++) {
        au_dc_addr from = { 0 };
        int n = p->recv(p->ctx, &from, dc->cfg->rx_buf, cap);
        if (n <= 0) break;
        if ((size_t)n > cap || from.len > AU_DC_ADDR_MAX) {
            dc->stats.received++;
            dc->stats.drop_malformed++;
            continue;
        }
        au_dc_input(dc, &from, dc->cfg->rx_buf, (size_t)n);
    }
    return au_dc_tick(dc);
}
