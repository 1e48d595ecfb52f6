/* libFuzzer harness for the replay window under sealing (proto/seal's au_replay_window, and the
 * per-sender policy of net/receive.c around it).
 *
 * The input is a program for one sender and one receiver sharing a key (fresh per input):
 *   send    seal a datagram for (incarnation, seq) with the library's packer: the incarnation
 *           one of six the input names, the seq absolute, ahead of or behind the highest sent
 *           so far for that incarnation, or next to UINT64_MAX; then deliver it
 *   replay  deliver again one of the last 32 datagrams sealed (what an attacker can capture)
 *   forge   deliver a captured datagram with a bit of its incarnation or seq flipped: it must
 *           fail authentication and change no state
 * The receiver opens each datagram with its ring and takes the (incarnation, seq) pair from the
 * authenticated header, then applies the receive path's policy: one replay window for each of
 * the AU_SENDER_WINDOWS most recent incarnations (least recently used replaced), and an
 * incarnation older than the newest accepted and no longer windowed refused outright. That
 * policy is static in src/net/receive.c (replay_window, note_incarnation), so it is restated
 * here, with its constant taken from net/net.h.
 *
 * Checked:
 *  - no (incarnation, seq) pair is ever accepted twice (a set of every accepted pair);
 *  - each window answers exactly as a 64-wide sliding window must: a seq above the highest
 *    accepted is new; one 64 or more below it is AU_WIRE_TOO_OLD; in between it is
 *    AU_WIRE_REPLAYED if and only if that pair was accepted; and au_replay_window_check gives
 *    the answer au_replay_window_accept gives, without changing the window.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <xxhash.h>

#include "net/net.h" /* AU_SENDER_WINDOWS */
#include "proto/seal.h"
#include "proto/wire.h"
#include "support.h"

#define INCARNATIONS 6
#define CAPTURED 32
#define MAX_OPS 128 /* each seals or opens: an input's cost stays bounded; 128 operations fill
                     * every window and cycle every incarnation several times over */
#define PAIRS 512   /* open-addressing set of accepted pairs: at most MAX_OPS, load <= 1/4 */

/* ---- the set of accepted pairs (entries of other inputs are stale by generation) ---------- */

typedef struct pair {
    uint64_t incarnation, seq;
    uint32_t generation;
} pair;

static pair accepted[PAIRS];
static uint32_t generation;

static size_t pair_slot(uint64_t incarnation, uint64_t seq) {
    uint64_t key[2] = {incarnation, seq};
    size_t i = (size_t)XXH3_64bits(key, sizeof key) % PAIRS;
    while (accepted[i].generation == generation &&
           (accepted[i].incarnation != incarnation || accepted[i].seq != seq))
        i = (i + 1) % PAIRS;
    return i;
}

static bool was_accepted(uint64_t incarnation, uint64_t seq) {
    return accepted[pair_slot(incarnation, seq)].generation == generation;
}

static void record(uint64_t incarnation, uint64_t seq) {
    size_t i = pair_slot(incarnation, seq);
    if (accepted[i].generation == generation) abort(); /* the same pair accepted twice */
    accepted[i] = (pair){incarnation, seq, generation};
}

/* ---- the receiver: windows per recent incarnation, as in net/receive.c --------------------- */

typedef struct windowed {
    uint64_t incarnation, last_used; /* last_used 0: slot free */
    au_replay_window window;
    /* the reference model of this window since it was (re)started */
    bool started;
    uint64_t top;
} windowed;

typedef struct receiver {
    windowed w[AU_SENDER_WINDOWS];
    uint64_t clock;
    uint64_t incarnation; /* newest accepted; 0 before any */
} receiver;

static windowed *replay_window(receiver *s, uint64_t incarnation) {
    size_t slot = 0;
    for (size_t i = 0; i < AU_SENDER_WINDOWS; i++) {
        if (s->w[i].last_used && s->w[i].incarnation == incarnation) {
            s->w[i].last_used = ++s->clock;
            return &s->w[i];
        }
        if (s->w[i].last_used < s->w[slot].last_used) slot = i;
    }
    if (s->incarnation && incarnation < s->incarnation) return NULL; /* a past run (sealed) */
    windowed *w = &s->w[slot];
    au_replay_window_init(&w->window);
    w->incarnation = incarnation;
    w->last_used = ++s->clock;
    w->started = false;
    w->top = 0;
    return w;
}

/* What a 64-wide window must answer for seq. */
static int expected(const windowed *w, uint64_t incarnation, uint64_t seq) {
    if (!w->started || seq > w->top) return AU_WIRE_OK;
    if (w->top - seq >= AU_REPLAY_WINDOW_SIZE) return AU_WIRE_TOO_OLD;
    return was_accepted(incarnation, seq) ? AU_WIRE_REPLAYED : AU_WIRE_OK;
}

static const au_wire_limits *limits(void) {
    static au_wire_limits l;
    if (!l.mtu) {
        l = au_wire_limits_default();
        l.mtu = AU_WIRE_MIN_MTU;
    }
    return &l;
}

/* The receive path for one datagram: open, then window. */
static void deliver(receiver *s, const au_seal_ring *ring, const uint8_t *bytes, size_t len,
                    bool authentic) {
    uint8_t *d = exact_copy(bytes, len);
    au_wire_header h;
    au_wire_reader rd;
    int rc = au_wire_datagram_open_ring(limits(), ring, d, len, &h, &rd);
    if (!authentic) {
        if (rc != AU_WIRE_BAD_SEAL) abort();
        return;
    }
    if (rc != AU_WIRE_OK) abort();

    windowed *w = replay_window(s, h.incarnation);
    if (!w) return; /* a past incarnation, refused */
    int want = expected(w, h.incarnation, h.seq);
    au_replay_window before = w->window;
    if (au_replay_window_check(&w->window, h.seq) != want) abort();
    if (memcmp(&before, &w->window, sizeof before) != 0) abort(); /* check records nothing */
    if (au_replay_window_accept(&w->window, h.seq) != want) abort();
    if (want != AU_WIRE_OK) {
        if (memcmp(&before, &w->window, sizeof before) != 0) abort(); /* a refusal records nothing */
        return;
    }
    record(h.incarnation, h.seq);
    if (!w->started || h.seq > w->top) w->top = h.seq;
    w->started = true;
    if (!s->incarnation || h.incarnation > s->incarnation) s->incarnation = h.incarnation;
}

/* ---- the sender ---------------------------------------------------------------------------- */

typedef struct capture {
    uint8_t bytes[CAPTURED][AU_WIRE_MIN_MTU];
    size_t len[CAPTURED];
    size_t count, next;
    size_t last; /* index of the datagram just sealed */
} capture;

static capture cap;

static void keep(void *user, const uint8_t *dgram, size_t len) {
    capture *c = user;
    if (len > AU_WIRE_MIN_MTU) abort();
    memcpy(c->bytes[c->next], dgram, len);
    c->len[c->next] = len;
    c->last = c->next;
    c->next = (c->next + 1) % CAPTURED;
    if (c->count < CAPTURED) c->count++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uint8_t master[crypto_stream_chacha20_KEYBYTES];
    static uint64_t inputs;
    if (!inputs++) randombytes_buf(master, sizeof master);
    generation++;

    uint8_t secret[AU_SEAL_KEY_SIZE], nonce[crypto_stream_chacha20_NONCEBYTES];
    memcpy(nonce, &inputs, sizeof nonce);
    crypto_stream_chacha20(secret, sizeof secret, nonce, master);
    cursor c = {data, size};
    au_seal_key key;
    if (au_seal_key_init_id(&key, secret, take8(&c), take64(&c)) != AU_WIRE_OK) abort();
    sodium_memzero(secret, sizeof secret);
    au_seal_ring ring = {.n = 1, .keys = {&key}};

    /* Incarnations: small values the input orders as it likes, 0 and the extremes included. */
    uint64_t incarnation[INCARNATIONS], sent_top[INCARNATIONS] = {0};
    for (int i = 0; i < INCARNATIONS; i++) {
        uint8_t b = take8(&c);
        incarnation[i] = b == 255 ? UINT64_MAX : b;
    }

    au_wire_ids ids;
    au_wire_ids_init(&ids);
    au_wire_packer packer;
    if (au_wire_packer_init(&packer, limits(), 0, &ids, &key, keep, &cap) != AU_WIRE_OK) abort();
    cap.count = cap.next = 0;
    receiver s;
    memset(&s, 0, sizeof s);
    static const uint8_t payload[1] = {'x'};
    au_wire_dest dest = {.kind = AU_WIRE_KIND_SIGNAL, .name = (const uint8_t *)"r", .name_len = 1};

    for (int ops = 0; c.n && ops < MAX_OPS; ops++) {
        uint8_t op = take8(&c);
        switch (op % 4) {
        case 0:
        case 1: { /* send */
            int i = (op >> 2) % INCARNATIONS;
            uint8_t delta = take8(&c);
            uint64_t seq;
            switch ((op >> 5) % 4) {
            case 0: seq = delta; break;
            case 1: seq = sent_top[i] + delta; break;
            case 2: seq = sent_top[i] - delta; break;
            default: seq = UINT64_MAX - delta; break;
            }
            if (seq > sent_top[i]) sent_top[i] = seq;
            packer.incarnation = incarnation[i];
            packer.next_seq = seq; /* the seq the next datagram carries */
            if (au_wire_packer_add(&packer, &dest, payload, sizeof payload) != AU_WIRE_OK) abort();
            au_wire_packer_flush(&packer);
            deliver(&s, &ring, cap.bytes[cap.last], cap.len[cap.last], true);
            break;
        }
        case 2: /* replay a capture */
            if (cap.count) {
                size_t j = take8(&c) % cap.count;
                deliver(&s, &ring, cap.bytes[j], cap.len[j], true);
            }
            break;
        case 3: /* forge: a capture with its incarnation or seq changed */
            if (cap.count) {
                size_t j = take8(&c) % cap.count, bit = take8(&c) % 128;
                uint8_t copy[AU_WIRE_MIN_MTU];
                memcpy(copy, cap.bytes[j], cap.len[j]);
                copy[4 + bit / 8] ^= (uint8_t)(1u << (bit % 8)); /* bytes 4..19 */
                deliver(&s, &ring, copy, cap.len[j], false);
            }
            break;
        }
    }
    au_wire_packer_destroy(&packer);
    au_seal_key_wipe(&key);
    return 0;
}
