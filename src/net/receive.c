/* receive.c — the receive path: every datagram the channel delivers is validated whole (size,
 * header, checksum or seal, every frame: wire.c), replay-checked against its sender's window
 * (senders.c), and its messages routed (deliver.c); fragments are reassembled first
 * (reassembly.c). Every malformed or unexpected datagram is dropped, counted by reason, and
 * logged at debug level.
 *
 * State is created only for a datagram that proves something: sealed, that it was authenticated
 * (then its sender is the identity the nonce names, whatever address it came from); plain, that
 * it carries a message, or the first fragment of one, for an actor that lives here. Anything
 * else is counted and forgotten.
 *
 * A datagram sealed with the device key id is opened by device_keys.c with its device's key
 * instead, and its messages pass au_net_device_admit before they are routed.
 *
 * Runs on the driver's receive thread, one datagram at a time, holding senders_lock (which the
 * reassembly expiry timer takes too). */
#include "net/net.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util/memory.h"

#define EXPIRE_PERIOD AU_MSEC(100) /* how often partial messages are checked for timeout */
#define RETURN_TO_SYSTEM (8u << 20) /* freed in one expiry: worth returning pages to the system */

static void count_drop(au_net_t *net, int status, const char *from) {
    switch (status) {
    case AU_WIRE_BAD_CHECKSUM:
    case AU_WIRE_BAD_SEAL:
    case AU_WIRE_NOT_SEALED:
    case AU_WIRE_NO_KEY:
        au_stat_add(&net->stats.drops_checksum, 1);
        break;
    case AU_WIRE_UNKNOWN_KEY:
        au_stat_add(&net->stats.drops_unknown_key, 1);
        break;
    case AU_WIRE_DATAGRAM_TOO_LARGE:
        au_stat_add(&net->stats.drops_too_big, 1);
        break;
    case AU_WIRE_MESSAGE_TOO_LARGE: /* counted by the caller, once per message */
        break;
    case AU_WIRE_REPLAYED:
    case AU_WIRE_TOO_OLD:
        au_stat_add(&net->stats.drops_duplicate, 1);
        break;
    default:
        au_stat_add(&net->stats.drops_malformed, 1);
        break;
    }
    au_log(AU_LOG_NET, AU_LOG_DEBUG, "datagram from %s dropped: %s", from,
           au_wire_status_str(status));
    switch (status) { /* a seal that does not match the keys: tell the operator (rate-limited) */
    case AU_WIRE_NOT_SEALED: au_net_warn(net, from, AU_NET_WARN_NOT_SEALED, NULL); break;
    case AU_WIRE_NO_KEY: au_net_warn(net, from, AU_NET_WARN_NO_KEY, NULL); break;
    case AU_WIRE_UNKNOWN_KEY: au_net_warn(net, from, AU_NET_WARN_UNKNOWN_KEY, NULL); break;
    case AU_WIRE_BAD_SEAL: au_net_warn(net, from, AU_NET_WARN_BAD_SEAL, NULL); break;
    default: break;
    }
}

/* ---- reassembly ----------------------------------------------------------------------------- */

static void arm_expire(au_net_t *net);

/* The expiry runs on a node timer armed only while partial messages exist, so an idle node
 * has no periodic wake-up. */
static void on_expire(au_node *node, void *arg) {
    au_net_t *net = arg;
    uint64_t before = au_stat_read(&net->stats.reassembly_bytes);
    pthread_mutex_lock(&net->senders_lock);
    net->expire_armed = false;
    bool again = au_net_senders_expire(net, au_node_now(node));
    pthread_mutex_unlock(&net->senders_lock);
    if (before - au_stat_read(&net->stats.reassembly_bytes) >= RETURN_TO_SYSTEM)
        au_memory_return(); /* a flood expired: give its pages back, not only to malloc */
    if (again) arm_expire(net);
}

static void arm_expire(au_net_t *net) {
    pthread_mutex_lock(&net->senders_lock);
    if (!net->expire_armed)
        net->expire_armed = au_timers_add_call(net->node, au_node_now(net->node) + EXPIRE_PERIOD,
                                               on_expire, NULL, net);
    pthread_mutex_unlock(&net->senders_lock);
}

/* Called with senders_lock; returns whether an expiry timer is needed. */
static bool on_fragment(au_net_t *net, au_sender *s, const char *from, uint64_t incarnation,
                        const au_wire_fragment *f, au_reassembled *done, int *status) {
    *status = AU_WIRE_INCOMPLETE;
    if (!s->reassembly &&
        au_reassembly_create_shared(&net->limits, &net->budget, &s->reassembly) != AU_WIRE_OK) {
        au_stat_add(&net->stats.drops_reassembly, 1);
        return false;
    }
    au_nanos now = au_node_now(net->node);
    /* Partials past their timeout go first, counted: feed would otherwise expire them itself to
     * make room, uncounted, whenever the expiry timer lags behind arrivals (a loaded node). */
    size_t stale = au_reassembly_partials(s->reassembly);
    size_t expired = stale ? au_reassembly_expire(s->reassembly, now) : 0;
    if (expired) {
        au_stat_add(&net->stats.drops_reassembly, expired);
        au_stat_sub(&net->stats.reassemblies_in_flight, stale - au_reassembly_partials(s->reassembly));
    }
    size_t before = au_reassembly_partials(s->reassembly);
    *status = au_reassembly_feed(s->reassembly, incarnation, f, now, done);
    size_t after = au_reassembly_partials(s->reassembly);
    if (after > before) au_stat_add(&net->stats.reassemblies_in_flight, after - before);
    else if (before > after) au_stat_sub(&net->stats.reassemblies_in_flight, before - after);
    if (*status < 0) {
        au_stat_add(&net->stats.drops_reassembly, 1);
        au_log(AU_LOG_NET, AU_LOG_DEBUG, "fragment from %s dropped: %s", from,
               au_wire_status_str(*status));
    }
    return *status == AU_WIRE_INCOMPLETE;
}

/* ---- replay state ---------------------------------------------------------------------------- */

/* The replay window of one incarnation of the sender. One per recent incarnation (least recently
 * used replaced): switching incarnation must not reset a window, or alternating two captured
 * datagrams of two incarnations would replay both forever. Sealed, an incarnation older than
 * the newest seen and no longer windowed is refused outright (drops_stale_incarnation), since
 * incarnation ids grow across a node's runs (the driver's incarnation op). */
static au_replay_window *replay_window(au_sender *s, uint64_t incarnation, bool sealed) {
    size_t slot = 0;
    for (size_t i = 0; i < AU_SENDER_WINDOWS; i++) {
        if (s->windows[i].last_used && s->windows[i].incarnation == incarnation) {
            s->windows[i].last_used = ++s->windows_clock;
            return &s->windows[i].window;
        }
        if (s->windows[i].last_used < s->windows[slot].last_used) slot = i;
    }
    if (sealed && s->incarnation && incarnation < s->incarnation) return NULL;
    au_replay_window_init(&s->windows[slot].window);
    s->windows[slot].incarnation = incarnation;
    s->windows[slot].last_used = ++s->windows_clock;
    return &s->windows[slot].window;
}

/* The first fragment of a plain datagram at the smallest mtu carries this many body bytes
 * (header, checksum and fragment header taken off; a first fragment that shares a datagram
 * carries 64 or more): a name too long to fit shows at least AU_REGISTRY_PREFIX bytes. */
_Static_assert(AU_WIRE_MIN_MTU - AU_WIRE_HEADER_SIZE - AU_WIRE_CHECKSUM_SIZE -
                   AU_WIRE_FRAGMENT_FRAME_HEADER >= AU_WIRE_BODY_HEADER + AU_REGISTRY_PREFIX,
               "a first fragment shows the registry's prefix of a long name");

static uint64_t get_be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

/* Whether the first fragment of a message (its chunk is a prefix of the body, which starts with
 * the destination) may be for a live actor. With the whole name in the chunk, its destination
 * is decoded and looked up. A long name at a small mtu may not fit (a 200-byte name does not
 * below an mtu of 265): then its length, root type and first AU_REGISTRY_PREFIX bytes must be
 * those of an actor here, and the whole message is looked up as usual once reassembled. */
static bool first_fragment_for_live_actor(au_net_t *net, const au_wire_fragment *f) {
    if (f->chunk_len < AU_WIRE_BODY_HEADER) return false;
    size_t name_len = f->chunk[1];
    if (f->chunk_len >= AU_WIRE_BODY_HEADER + name_len) {
        au_wire_message head;
        return au_wire_message_decode(&net->limits, f->chunk, f->chunk_len, &head) == AU_WIRE_OK &&
               au_net_routable(net, &head.dest);
    }
    if (f->chunk[0] == AU_WIRE_KIND_SYSTEM || name_len > net->limits.max_name ||
        f->chunk_len < AU_WIRE_BODY_HEADER + AU_REGISTRY_PREFIX)
        return false;
    return au_registry_has_prefix(net->node, (const char *)f->chunk + AU_WIRE_BODY_HEADER,
                                  name_len, get_be64(f->chunk + 2));
}

/* Whether a plain datagram carries something for a live actor: a message, or the first fragment
 * of one. */
static bool carries_live_message(au_net_t *net, au_wire_reader reader) {
    au_wire_frame frame;
    while (au_wire_reader_next(&reader, &frame) == 1) {
        if (frame.type == AU_WIRE_FRAME_MESSAGE) {
            if (au_net_routable(net, &frame.as.message.dest)) return true;
        } else if (frame.as.fragment.offset == 0 &&
                   first_fragment_for_live_actor(net, &frame.as.fragment)) {
            return true;
        }
    }
    return false;
}

/* Records a newer incarnation; returns the one it replaces (0: first contact or no change). */
static uint64_t note_incarnation(au_sender *s, uint64_t incarnation) {
    uint64_t previous = s->incarnation;
    if (previous && incarnation <= previous) return 0;
    s->incarnation = incarnation;
    return previous;
}

/* ---- messages over the size limit ------------------------------------------------------------ */

/* A fragmented message over max_message arrives as many datagrams, each refused whole; it is
 * counted once, by (sender, incarnation, message id), remembered in a small ring. */
static void too_big(au_net_t *net, const au_addr *addr, const au_wire_header *hdr,
                    const uint8_t *data, size_t len, const char *text) {
    uint64_t ids[64];
    size_t n = au_wire_oversized_ids(&net->limits, data, len, hdr->flags, ids, 64);
    if (!n) { /* a message frame cannot exceed a datagram, but count what was refused */
        au_stat_add(&net->stats.drops_too_big, 1);
        return;
    }
    uint64_t who = hdr->sender ? hdr->sender : XXH3_64bits_withSeed(&addr->sa, addr->len, net->hash_seed);
    size_t fresh = 0;
    pthread_mutex_lock(&net->senders_lock);
    for (size_t i = 0; i < n; i++) {
        uint64_t key = XXH3_64bits_withSeed(&ids[i], sizeof ids[i], who ^ hdr->incarnation);
        bool seen = false;
        for (size_t j = 0; j < TOO_BIG_RING && !seen; j++) seen = net->too_big[j] == key;
        if (seen) continue;
        net->too_big[net->too_big_next++ % TOO_BIG_RING] = key;
        fresh++;
    }
    pthread_mutex_unlock(&net->senders_lock);
    if (fresh) {
        au_stat_add(&net->stats.drops_too_big, fresh);
        au_net_warn(net, text, AU_NET_WARN_TOO_BIG, NULL);
    }
}

/* ---- datagrams -------------------------------------------------------------------------------- */

/* One arrived message: a system one (death watch) to watch.c, which needs who sent it; any
 * other to its actor. */
static void route(au_net_t *net, const au_wire_message *m, const au_addr *from,
                  uint64_t incarnation, const char *text, bool plain) {
    /* A device that has a key must not be impersonated by a plain message. */
    if (plain && net->devkeys && !au_net_device_plain_ok(net, m, text)) return;
    if (m->dest.kind == AU_WIRE_KIND_SYSTEM) au_net_watch_receive(net, from, incarnation, m, text);
    else au_net_route(net, m, text);
}

void au_net_receive(au_node *node, void *bytes, size_t len, const struct sockaddr *from,
                    socklen_t from_len) {
    au_net_t *net = node->net;
    uint8_t *data = bytes;
    au_stat_add(&net->stats.datagrams_received, 1);
    au_stat_add(&net->stats.bytes_received, len);
    au_addr addr = { .len = from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                          : sizeof(struct sockaddr_in) };
    if (from_len < addr.len) {
        au_stat_add(&net->stats.drops_malformed, 1);
        return;
    }
    memcpy(&addr.sa, from, addr.len);
    char text[64];

    /* acquire: the ring's keys are visible (keys.c publishes with release). */
    const au_seal_ring *ring = atomic_load_explicit(&net->ring, memory_order_acquire);
    au_wire_header hdr;
    au_wire_reader reader;
    uint64_t device = 0; /* a device datagram's authenticated device id (device_keys.c) */
    if (au_net_device_datagram(net, data, len)) {
        if (au_net_device_open(net, data, len, &addr, &hdr, &reader, &device) != AU_WIRE_OK)
            return; /* counted and warned of */
    }
    int st = device ? AU_WIRE_OK
                    : au_wire_datagram_open_ring(&net->limits, ring, data, len, &hdr, &reader);
    if (st != AU_WIRE_OK) {
        au_addr_format(&addr, text, sizeof text);
        count_drop(net, st, text);
        if (st == AU_WIRE_MESSAGE_TOO_LARGE) too_big(net, &addr, &hdr, data, len, text);
        return;
    }
    bool sealed = ring != NULL || device;
    uint64_t id = device   ? au_net_device_identity(net, device)
                  : sealed ? hdr.sender
                           : XXH3_64bits_withSeed(&addr.sa, addr.len, net->hash_seed);

    pthread_mutex_lock(&net->senders_lock);
    au_sender *s = au_net_sender_find(net, id);
    if (!s && !sealed && !carries_live_message(net, reader)) {
        /* Nothing here for anyone: route to count each message's reason, keep no state. */
        pthread_mutex_unlock(&net->senders_lock);
        au_addr_format(&addr, text, sizeof text);
        au_wire_frame frame;
        while (au_wire_reader_next(&reader, &frame) == 1)
            if (frame.type == AU_WIRE_FRAME_MESSAGE)
                route(net, &frame.as.message, &addr, hdr.incarnation, text, true);
            else au_stat_add(&net->stats.drops_peer_limit, 1); /* a fragment with no sender */
        return;
    }
    if (!s && !(s = au_net_sender_new(net, id))) {
        pthread_mutex_unlock(&net->senders_lock);
        au_stat_add(&net->stats.drops_peer_limit, 1);
        return;
    }
    au_addr_format(&addr, text, sizeof text);
    au_replay_window *w = replay_window(s, hdr.incarnation, sealed);
    st = w ? au_replay_window_accept(w, hdr.seq) : AU_WIRE_OK;
    if (!w || st != AU_WIRE_OK) {
        pthread_mutex_unlock(&net->senders_lock);
        if (!w) {
            au_stat_add(&net->stats.drops_stale_incarnation, 1);
            au_log(AU_LOG_NET, AU_LOG_DEBUG, "datagram from %s dropped: a past incarnation",
                   text);
        } else {
            count_drop(net, st, text);
        }
        return;
    }
    au_net_peer_heard(net, s, &addr);
    uint64_t previous = note_incarnation(s, hdr.incarnation);
    if (device) previous = 0; /* a device's restart is its server's business, not the watches' */
    char who[64];
    if (previous) memcpy(who, text, sizeof who);
    /* A new run of that node: the watches with its past one end, before this datagram's own
     * messages (which may be the new run's first watch requests) are handled. */
    if (previous) au_net_watch_restarted(net, &addr);

    /* Frames in order (a datagram may end one large message and begin small ones after it). */
    bool expire = false;
    au_wire_frame frame;
    while (au_wire_reader_next(&reader, &frame) == 1) {
        if (frame.type == AU_WIRE_FRAME_MESSAGE) {
            if (!device || au_net_device_admit(net, &frame.as.message, device, text))
                route(net, &frame.as.message, &addr, hdr.incarnation, text, !sealed);
            continue;
        }
        if (device) { /* a device never fragments: no reassembly state for it */
            au_net_device_fragment(net, text);
            continue;
        }
        int fst;
        au_reassembled r;
        expire |= on_fragment(net, s, text, hdr.incarnation, &frame.as.fragment, &r, &fst);
        if (fst == AU_WIRE_OK) {
            route(net, &r.msg, &addr, hdr.incarnation, text, !sealed);
            free(r.data);
        }
    }
    pthread_mutex_unlock(&net->senders_lock);
    if (expire) arm_expire(net);
    if (previous) /* subscribers run without the lock */
        au_peer_event_emit(node, &(au_peer_event){ .kind = AU_PEER_INCARNATION, .address = who,
                                                   .incarnation = hdr.incarnation,
                                                   .previous = previous });
}
