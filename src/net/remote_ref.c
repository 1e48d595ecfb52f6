/* remote_ref.c — references that point at other nodes: forging from (address, name), interning
 * their targets, and carrying references inside messages (the codec's ref callbacks).
 *
 * A remote target (peer, name, root type id) is interned per node in a slot (net.h, au_remote),
 * so a reference stays a small value and equality is a pointer compare. The table is bounded
 * (max_remote_refs) and keyed with a per-node random seed, so hostile messages can neither grow
 * it nor aim their references at one bucket. When it is full, a slot that nothing holds and is
 * not in use is reused (a CLOCK sweep: a slot used since the hand last passed gets a second
 * chance), so a flood of distinct reply-to references cannot lock out new clients. A slot with
 * forges (au_forge calls not yet undone by au_unforge) is not reused: the application holds
 * those references for as long as it likes. Every slot that holds a target refers its peer, so
 * when the peer table is full the sweep looks for a peer whose slots nothing keeps and takes
 * all of them (and only them), which leaves it idle (to be evicted). A reference to a reused
 * slot is stale (its gen differs) and fails cleanly; one in use never looks stale (gen_is), and
 * its slot's fields are read pinned, so a reader sees its own target or none. A slot's gen
 * never wraps back to one an old reference carries: the slot is retired first.
 *
 * A forged address is resolved first and the target interned under the resolved address as
 * au_addr_format writes it, so "localhost:4000" and "127.0.0.1:4000" are one target, and the
 * address that travels in messages is one a receiver takes (numeric: decode_ref). */
#include "net/net.h"
#include "util/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

static uint64_t remote_hash(au_net_t *net, const char *addr, size_t addr_len, const char *name,
                            size_t name_len, uint64_t root_id) {
    unsigned char key[64 + 1 + AU_NAME_MAX + 8]; /* addr NUL name root: the lengths are checked */
    size_t n = 0;
    memcpy(key, addr, addr_len);
    key[addr_len] = 0;
    n = addr_len + 1;
    memcpy(key + n, name, name_len);
    n += name_len;
    memcpy(key + n, &root_id, sizeof root_id);
    n += sizeof root_id;
    return XXH3_64bits_withSeed(key, n, net->hash_seed);
}

static bool same_target(const au_remote *r, uint64_t h, const char *addr, size_t addr_len,
                        const char *name, size_t name_len, uint64_t root_id) {
    return r->hash == h && r->root_id == root_id && r->name_len == name_len &&
           memcmp(r->name, name, name_len) == 0 && strlen(r->addr) == addr_len &&
           memcmp(r->addr, addr, addr_len) == 0;
}

static au_remote *lookup(au_net_t *net, uint64_t h, const char *addr, size_t addr_len,
                         const char *name, size_t name_len, uint64_t root_id) {
    for (au_remote *r = net->remotes[h & (net->nremote_buckets - 1)]; r; r = r->next)
        if (same_target(r, h, addr, addr_len, name, name_len, root_id)) return r;
    return NULL;
}

static void bucket_remove(au_net_t *net, au_remote *victim) {
    for (au_remote **rp = &net->remotes[victim->hash & (net->nremote_buckets - 1)]; *rp;
         rp = &(*rp)->next) {
        if (*rp == victim) {
            *rp = victim->next;
            return;
        }
    }
}

/* Slot r joins (leaves) the list of its peer's slots. With net->lock. */
static void slot_attach(au_remote *r, au_peer *p) {
    r->peer = p;
    r->peer_prev = NULL;
    r->peer_next = p->slots;
    if (p->slots) p->slots->peer_prev = r;
    p->slots = r;
    if (r->forges) p->forged_slots++;
}

static void slot_detach(au_remote *r) {
    au_peer *p = r->peer;
    if (r->peer_prev) r->peer_prev->peer_next = r->peer_next;
    else p->slots = r->peer_next;
    if (r->peer_next) r->peer_next->peer_prev = r->peer_prev;
    r->peer_next = r->peer_prev = NULL;
    if (r->forges) p->forged_slots--;
}

/* One more forge of r's target. With net->lock. */
static void forge_more(au_remote *r) {
    if (r->forges == 0) r->peer->forged_slots++;
    if (r->forges < UINT32_MAX) r->forges++; /* saturated: kept for good */
}

/* Takes slot r from its target if nothing keeps it: live, no forges, not used since the sweep
 * last passed (the bit is cleared: its second chance; `force` skips this test), no pins. Its
 * gen is made even, so every reference to it is stale from now on, and its peer is released.
 * With net->lock (gen changes only under it, so an even gen here is a free slot: a spare, or
 * one being filled by intern). A slot whose gen would wrap (its next target would take a gen
 * that references to its first targets carry) is retired instead: released, stale for good,
 * never reused (false). */
static bool reclaim(au_net_t *net, au_remote *r, bool force) {
    uint32_t was = atomic_load_explicit(&r->gen, memory_order_relaxed);
    if (r->retired || !(was & 1u) || r->forges) return false;
    /* relaxed: the bit is a hint for the sweep only */
    if (!force && atomic_exchange_explicit(&r->used, 0, memory_order_relaxed)) return false;
    /* A pinned slot is left alone before its gen is touched: a reader that meets the gen of
     * a sweep's attempt takes net->lock to read it settled (gen_is), but most never need to. */
    if (atomic_load_explicit(&r->pins, memory_order_seq_cst)) return false;
    /* seq_cst (a Dekker pair with au_net_remote_pin): make the slot stale, then look for
     * pins; a pinner that pinned first is seen here, one that comes later sees the gen (and
     * reads it again under net->lock, after it is restored or for good). */
    uint32_t gen = atomic_fetch_add_explicit(&r->gen, 1, memory_order_seq_cst) + 1;
    if (atomic_load_explicit(&r->pins, memory_order_seq_cst)) {
        atomic_store_explicit(&r->gen, gen - 1, memory_order_seq_cst); /* still in use */
        return false;
    }
    bucket_remove(net, r);
    net->nremotes--;
    slot_detach(r);
    au_net_peer_release_locked(net, r->peer);
    r->peer = NULL;
    au_stat_sub(&net->stats.remote_refs, 1);
    au_stat_add(&net->stats.remote_refs_evicted, 1);
    if (was == UINT32_MAX) { /* gen is 0 now: stale for every reference, and stays so */
        r->retired = true;
        if (net->remotes_retired++ == 0)
            au_log(AU_LOG_NET, AU_LOG_WARN,
                   "a remote reference slot was reused 2^31 times: retired (and each one after it)");
        return false;
    }
    return true;
}

/* A slot for a new target: a fresh one below max_remotes, else one the CLOCK sweep reclaims.
 * With net->lock; NULL if every slot is forged or in use. */
static au_remote *free_slot(au_net_t *net, au_err *why) {
    *why = AU_ENOMEM; /* until the table is found full of slots in use */
    if (net->spare) {
        au_remote *r = net->spare;
        net->spare = r->next;
        r->next = NULL;
        return r;
    }
    if (net->nslots < net->max_remotes) {
        if (net->nslots == net->slots_cap) {
            size_t cap = net->slots_cap * 2 < net->max_remotes ? net->slots_cap * 2 : net->max_remotes;
            au_remote **s = realloc(net->slots, cap * sizeof *s);
            if (!s) return NULL;
            net->slots = s;
            net->slots_cap = cap;
        }
        au_remote *r = calloc(1, sizeof *r);
        if (!r) return NULL;
        r->net = net;
        net->slots[net->nslots++] = r;
        return r;
    }
    for (size_t step = 0; step < 2 * net->nslots; step++) {
        au_remote *r = net->slots[net->clock_hand];
        net->clock_hand = (net->clock_hand + 1) % net->nslots;
        if (reclaim(net, r, false)) return r;
    }
    *why = AU_EFULL;
    return NULL;
}

/* Slots idle_a_peer looks at per call, at most: a failing forge (or a reference that arrives
 * in a message) costs this much, however large the table. */
#define IDLE_STEPS 256

/* The peer table is full of peers that slots refer to: the sweep looks for a peer that only
 * slots that nothing keeps refer to (none forged: forged_slots; none pinned; the one the hand
 * is at not used since it last passed) and reclaims all of them (onto the spares), which leaves
 * it idle for peer.c to evict. Slots of peers that cannot be idled are left alone. With
 * net->lock; whether a peer was left idle. */
static bool idle_a_peer(au_net_t *net) {
    for (size_t step = 0; net->nslots && step < IDLE_STEPS && step < 2 * net->nslots; step++) {
        au_remote *r = net->slots[net->clock_hand];
        net->clock_hand = (net->clock_hand + 1) % net->nslots;
        au_peer *p = r->peer;
        if (!p || r->retired || !(atomic_load_explicit(&r->gen, memory_order_relaxed) & 1u) ||
            p->forged_slots)
            continue;
        if (atomic_exchange_explicit(&r->used, 0, memory_order_relaxed)) continue;
        bool pinned = false;
        for (au_remote *s = p->slots; s && !pinned; s = s->peer_next)
            pinned = atomic_load_explicit(&s->pins, memory_order_relaxed) != 0;
        if (pinned) continue;
        for (au_remote *s = p->slots, *n; s; s = n) {
            n = s->peer_next;
            if (reclaim(net, s, true)) {
                s->next = net->spare;
                net->spare = s;
            }
        }
        if (p->refs == 0) return true; /* idle: peer.c frees it only when it evicts it */
    }
    return false;
}

/* Doubles the buckets once the table holds as many targets as buckets (up to the power of two at
 * or above max_remotes). With net->lock. Out of memory, it keeps the table: longer chains. */
static void grow(au_net_t *net) {
    if (net->nremotes < net->nremote_buckets || net->nremote_buckets >= net->max_remotes) return;
    size_t old = net->nremote_buckets;
    au_remote **b = calloc(old * 2, sizeof *b), **was = net->remotes;
    if (!b) return;
    for (size_t i = 0; i < old; i++) {
        for (au_remote *r = was[i], *n; r; r = n) {
            n = r->next;
            size_t k = r->hash & (old * 2 - 1);
            r->next = b[k];
            b[k] = r;
        }
    }
    net->remotes = b;
    net->nremote_buckets = old * 2;
    free(was);
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* A forged "host:port" as an address: a numeric one without the resolver; a host name from
 * net->resolved if it was resolved less than AU_RESOLVED_TTL ago, else by the resolver (outside
 * net->lock) and remembered. */
static au_err resolve_forged(au_net_t *net, const char *text, au_addr *out) {
    au_err err = au_addr_parse(text, out, true);
    if (err != AU_ERESOLVE) return err; /* numeric, or malformed */
    uint64_t now = now_ns();
    pthread_mutex_lock(&net->lock);
    for (size_t i = 0; i < AU_RESOLVED_CACHE; i++) {
        struct au_resolved *c = &net->resolved[i];
        if (c->at && now - c->at < AU_RESOLVED_TTL && strcmp(c->text, text) == 0) {
            *out = c->addr;
            pthread_mutex_unlock(&net->lock);
            return AU_OK;
        }
    }
    pthread_mutex_unlock(&net->lock);
    atomic_fetch_add_explicit(&net->resolves, 1, memory_order_relaxed);
    if ((err = au_addr_parse(text, out, false))) return err;
    pthread_mutex_lock(&net->lock);
    struct au_resolved *c = &net->resolved[net->resolved_next++ % AU_RESOLVED_CACHE];
    snprintf(c->text, sizeof c->text, "%s", text);
    c->addr = *out;
    c->at = now ? now : 1;
    pthread_mutex_unlock(&net->lock);
    return AU_OK;
}

/* Finds or creates the target (addr text, name, root id). A forged target (forged: one more
 * forge on its slot) is resolved first (resolve_forged) and interned under its canonical text
 * (au_addr_format); one from a message is looked up as it came, then parsed numeric only. */
static au_err intern(au_net_t *net, const char *addr, size_t addr_len, const char *name,
                     size_t name_len, uint64_t root_id, bool numeric_only, bool forged,
                     au_remote **out, uint32_t *gen) {
    /* A forged host name may be longer than a slot's address: its resolved form fits. */
    if (addr_len >= (forged ? AU_FORGE_ADDR_MAX : sizeof(((au_remote *)0)->addr)) ||
        name_len > AU_NAME_MAX)
        return AU_EINVAL;
    char text[AU_FORGE_ADDR_MAX];
    memcpy(text, addr, addr_len);
    text[addr_len] = '\0';
    au_addr resolved;
    bool have = false;
    if (forged) {
        au_err err = resolve_forged(net, text, &resolved);
        if (err) return err;
        if (au_addr_port(&resolved) == 0) return AU_EINVAL; /* nobody listens on port 0 */
        au_addr_format(&resolved, text, sizeof(((au_remote *)0)->addr));
        addr = text;
        addr_len = strlen(text);
        have = true;
    }
    uint64_t h = remote_hash(net, addr, addr_len, name, name_len, root_id);
    pthread_mutex_lock(&net->lock);
    au_remote *r = lookup(net, h, addr, addr_len, name, name_len, root_id);
    if (r) {
        if (forged) forge_more(r);
        atomic_store_explicit(&r->used, 1, memory_order_relaxed);
        *gen = atomic_load_explicit(&r->gen, memory_order_relaxed);
        pthread_mutex_unlock(&net->lock);
        *out = r;
        return AU_OK;
    }
    pthread_mutex_unlock(&net->lock);

    if (!have) {
        au_err err = au_addr_parse(text, &resolved, numeric_only);
        if (err) return err;
        if (au_addr_port(&resolved) == 0) return AU_EINVAL; /* nobody listens on port 0 */
    }
    /* A slot first: reusing one may release its peer, which makes room in the peer table. */
    au_err why;
    pthread_mutex_lock(&net->lock);
    r = free_slot(net, &why);
    pthread_mutex_unlock(&net->lock);
    if (!r) return why; /* AU_EFULL, or AU_ENOMEM for a slot that could not be allocated */
    if (name_len > sizeof r->name_short && !r->name_long &&
        !(r->name_long = malloc(AU_NAME_MAX + 1))) { /* the slot is ours until it is published */
        pthread_mutex_lock(&net->lock);
        r->next = net->spare;
        net->spare = r;
        pthread_mutex_unlock(&net->lock);
        return AU_ENOMEM;
    }
    why = AU_EFULL;
    au_peer *peer = au_net_peer_acquire(net, &resolved, true, &why);
    if (!peer && why == AU_EFULL) { /* full of peers that slots refer to: leave one idle, then again */
        pthread_mutex_lock(&net->lock);
        bool idled = idle_a_peer(net);
        pthread_mutex_unlock(&net->lock);
        if (idled) peer = au_net_peer_acquire(net, &resolved, true, &why);
    }

    pthread_mutex_lock(&net->lock);
    au_remote *won = peer ? lookup(net, h, addr, addr_len, name, name_len, root_id) : NULL;
    if (!peer || won) { /* no room for the peer, or another thread interned it meanwhile */
        r->next = net->spare;
        net->spare = r;
        if (peer) au_net_peer_release_locked(net, peer);
        r = won;
        if (r && forged) forge_more(r);
    } else {
        r->root_id = root_id;
        r->hash = h;
        r->forges = forged ? 1 : 0;
        slot_attach(r, peer);
        r->name_len = (uint8_t)name_len;
        memcpy(r->addr, addr, addr_len);
        r->addr[addr_len] = '\0';
        r->name = name_len <= sizeof r->name_short ? r->name_short : r->name_long;
        memcpy(r->name, name, name_len);
        /* release: a holder of the new gen sees the fields above. Odd: live. */
        uint32_t g = atomic_load_explicit(&r->gen, memory_order_relaxed);
        atomic_store_explicit(&r->gen, g | 1u, memory_order_release);
        size_t b = h & (net->nremote_buckets - 1);
        r->next = net->remotes[b];
        net->remotes[b] = r;
        net->nremotes++;
        au_stat_add(&net->stats.remote_refs, 1);
        grow(net);
    }
    if (r) {
        atomic_store_explicit(&r->used, 1, memory_order_relaxed);
        *gen = atomic_load_explicit(&r->gen, memory_order_relaxed);
    }
    pthread_mutex_unlock(&net->lock);
    if (!r) return why; /* no peer: AU_EFULL (full of busy peers) or AU_ENOMEM */
    *out = r;
    return AU_OK;
}

void au_net_remotes_free(au_net_t *net) {
    for (size_t i = 0; i < net->nslots; i++) {
        free(net->slots[i]->name_long);
        free(net->slots[i]);
    }
    free(net->slots);
    free(net->remotes);
    net->slots = NULL;
    net->remotes = NULL;
}

static au_ref remote_ref(au_remote *r, uint32_t gen, au_type *iface, uint16_t variant) {
    return (au_ref){ .target = r, .gen = gen, .iface = iface, .variant = variant,
                     .flags = AU_REF_F_REMOTE };
}

/* Whether slot r still holds the target of gen `want`. A sweep trying the slot (reclaim) moves
 * its gen for a moment and puts it back if the slot is pinned; gen changes only under
 * net->lock, so a gen that differs is read again there, settled: a live reference never looks
 * stale. The first read is seq_cst (au_net_remote_pin's half of reclaim's Dekker pair). */
static bool gen_is(au_remote *r, uint32_t want) {
    if (atomic_load_explicit(&r->gen, memory_order_seq_cst) == want) return true;
    pthread_mutex_lock(&r->net->lock);
    bool same = atomic_load_explicit(&r->gen, memory_order_relaxed) == want;
    pthread_mutex_unlock(&r->net->lock);
    return same;
}

/* While pinned, a slot keeps its target (reclaim leaves it alone), so its fields can be read. */
bool au_net_remote_pin(au_ref ref) {
    au_remote *r = ref.target;
    /* seq_cst: the other half of reclaim's Dekker pair. */
    atomic_fetch_add_explicit(&r->pins, 1, memory_order_seq_cst);
    if (!gen_is(r, ref.gen)) {
        au_net_remote_unpin(r);
        return false;
    }
    atomic_store_explicit(&r->used, 1, memory_order_relaxed);
    return true;
}

void au_net_remote_unpin(au_remote *r) {
    if (!r) return; /* a system message (watch.c) goes through no slot */
    /* release: what was done with the slot happens before a sweep can reuse it. */
    atomic_fetch_sub_explicit(&r->pins, 1, memory_order_release);
}

void au_net_unpin_ref(au_ref ref) { au_net_remote_unpin(ref.target); }

/* What makes an address one that no single node answers at, or NULL: it is forged all the
 * same (a send there may even go out), but the user most likely meant another address. */
static const char *no_single_node(const au_addr *a) {
    if (a->sa.any.sa_family == AF_INET) {
        uint32_t ip = ntohl(a->sa.in4.sin_addr.s_addr);
        if (ip == 0) return "the unspecified address (the kernel sends to this host)";
        if (ip == 0xffffffffu) return "the broadcast address (refused by the socket)";
        if ((ip >> 28) == 0xeu) return "a multicast address";
    } else if (a->sa.any.sa_family == AF_INET6) {
        if (IN6_IS_ADDR_UNSPECIFIED(&a->sa.in6.sin6_addr))
            return "the unspecified address (the kernel sends to this host)";
        if (IN6_IS_ADDR_MULTICAST(&a->sa.in6.sin6_addr)) return "a multicast address";
    }
    return NULL;
}

au_ref au_net_forge(au_node *node, const char *name, const char *addr, au_type *root,
                    uint16_t variant, au_type *iface) {
    au_net_t *net = node->net;
    if (!net) {
        au_set_last_error_(AU_ESTATE); /* a local-only node cannot reach other nodes */
        return (au_ref){ 0 };
    }
    au_remote *r;
    uint32_t gen;
    au_err err = intern(net, addr, strlen(addr), name, strlen(name), au_type_id(root), false,
                        true, &r, &gen);
    if (err) {
        au_log(AU_LOG_NET, AU_LOG_INFO, "forge %s@%s: %s", name, addr, au_strerror(err));
        au_set_last_error_(err);
        return (au_ref){ 0 };
    }
    /* The peer's address is its table key, set once: readable while the slot is ours. */
    const char *odd = no_single_node(&r->peer->addr);
    if (odd) {
        /* One line per 10 s for the node: a loop of such forges must not flood the log. */
        uint64_t now = au_clock_monotonic_ns();
        uint64_t was = atomic_load_explicit(&net->forge_warn_after, memory_order_relaxed);
        if (now >= was && atomic_compare_exchange_strong_explicit(&net->forge_warn_after, &was,
                                                                  now + AU_SEC(10),
                                                                  memory_order_relaxed,
                                                                  memory_order_relaxed))
            au_log(AU_LOG_NET, AU_LOG_WARN, "forge %.64s@%s: %s is %s, where no single node "
                   "answers; the reference is made, its messages most likely reach no actor",
                   name, addr, addr, odd);
    }
    return remote_ref(r, gen, iface, variant);
}

au_err au_net_unforge(au_ref ref) {
    au_remote *r = ref.target;
    au_net_t *net = r->net;
    pthread_mutex_lock(&net->lock);
    /* gen changes only under net->lock: equal here, the slot still holds ref's target */
    bool ok = atomic_load_explicit(&r->gen, memory_order_relaxed) == ref.gen && r->forges > 0;
    if (ok && r->forges < UINT32_MAX && --r->forges == 0) r->peer->forged_slots--;
    pthread_mutex_unlock(&net->lock);
    return ok ? AU_OK : AU_ESTATE;
}

/* ---- sending ------------------------------------------------------------------------------ */

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static void scratch_free(void *p) {
    au_buf_free(p);
    free(p);
}
static void make_scratch_key(void) { pthread_key_create(&scratch_key, scratch_free); }

/* This thread's encoding buffer, reused across sends (freed when the thread exits). */
static au_buf *scratch(void) {
    pthread_once(&scratch_once, make_scratch_key);
    au_buf *b = pthread_getspecific(scratch_key);
    if (!b && (b = calloc(1, sizeof *b))) pthread_setspecific(scratch_key, b);
    return b;
}

au_err au_net_send(au_ref ref, const void *msg, bool signal) {
    au_remote *r = ref.target;
    au_net_t *net = r->net;
    if (!au_net_remote_pin(ref)) { /* the slot was reused: this reference is stale */
        if (msg) au_value_free(ref.iface, (void *)msg);
        au_stat_add(&net->stats.drops_stale_ref, 1);
        return AU_ESTOPPED;
    }
    au_buf *buf = scratch();
    au_err err = buf ? AU_OK : AU_ENOMEM;
    if (!err) {
        buf->len = 0;
        if (signal) {
            uint8_t term = 0x00; /* CBOR unsigned 0: the Term signal */
            err = au_buf_append(buf, &term, 1);
        } else {
            err = au_encode_bounded(ref.iface, msg, buf, &net->refs, AU_NET_MAX_DEPTH);
        }
    }
    if (msg) au_value_free(ref.iface, (void *)msg); /* moved: the bytes are all we need now */
    /* The limit is on the message as the wire carries it (au_wire_packer_add): its header and
     * the actor's name count too, so a payload that the packer would drop is refused here. */
    if (!err && buf->len + AU_WIRE_BODY_HEADER + r->name_len > net->limits.max_message) {
        au_stat_add(&net->stats.drops_too_big, 1);
        err = AU_ETOOBIG;
    }
    size_t size = sizeof(au_outmsg) + (buf ? buf->len : 0);
    uint8_t cls = au_pool_class(size);
    au_outmsg *m = err ? NULL : au_pool_alloc(cls, size);
    if (!err && !m) err = AU_ENOMEM;
    if (err) {
        au_net_remote_unpin(r);
        return err;
    }
    m->pool_class = cls;
    m->kind = signal ? AU_WIRE_KIND_SIGNAL : AU_WIRE_KIND_MESSAGE;
    m->fated = 0;
    m->payload_len = (uint32_t)buf->len;
    m->iface_id = au_type_id(ref.iface);
    m->to = r;
    memcpy(m->payload, buf->data, buf->len);
    au_net_enqueue(net, r->peer, m); /* the pin goes with m: released once it is packed */
    return AU_OK;
}

au_node *au_net_node_of(au_ref ref) { return ((au_remote *)ref.target)->net->node; }

bool au_net_is_at(au_ref ref, const struct sockaddr *addr) {
    if (!au_net_remote_pin(ref)) return false; /* pinned: its peer stays the target's */
    au_remote *r = ref.target;
    bool at = au_address_equal((const struct sockaddr *)&r->peer->addr.sa, addr);
    au_net_remote_unpin(r);
    return at;
}

bool au_net_equal(au_ref a, au_ref b) {
    return a.target == b.target && a.gen == b.gen && a.iface && b.iface &&
           au_type_id(a.iface) == au_type_id(b.iface);
}

size_t au_net_format(au_ref ref, char *buf, size_t size) {
    if (!au_net_remote_pin(ref)) return (size_t)snprintf(buf, size, "(stale remote reference)");
    au_remote *r = ref.target; /* pinned: the fields are its target's while they are read */
    size_t n = (size_t)snprintf(buf, size, "%.*s@%s as %s", (int)r->name_len, r->name, r->addr,
                                ref.iface ? ref.iface->name : "?");
    au_net_remote_unpin(r);
    return n;
}

/* ---- references inside messages ------------------------------------------------------------- */

static _Thread_local char name_buf[AU_NAME_MAX + 1];
static _Thread_local char addr_buf[sizeof(((au_remote *)0)->addr)];

static au_err encode_ref(void *user, const au_ref *ref, au_wire_ref *out) {
    au_net_t *net = user;
    if (!ref->target || !ref->iface) return AU_EENCODE;
    out->iface_id = au_type_id(ref->iface);
    if (ref->flags & AU_REF_F_REMOTE) {
        /* stale: its target is no longer known here */
        if (!au_net_remote_pin(*ref)) return AU_EENCODE;
        /* Pinned, the slot keeps this target while it is copied; the copies outlive the pin
         * (the codec writes them out before the next reference is encoded). */
        au_remote *r = ref->target;
        out->addr_len = strlen(r->addr);
        memcpy(addr_buf, r->addr, out->addr_len + 1);
        out->name_len = r->name_len;
        memcpy(name_buf, r->name, r->name_len);
        out->root_id = r->root_id;
        au_net_remote_unpin(r);
        out->addr = addr_buf;
        out->name = name_buf;
        return AU_OK;
    }
    /* A local actor: its node's address and the actor's name there (generated if anonymous).
     * Its node may be another node of this process (a local reference may name an actor of
     * any, aurum/actor.h): the reference is that node's, so that replies go straight to it and
     * its name lives in its own registry (whose entries its actors' stops remove); a node
     * without a network has no address to give. A reference to an actor that is gone travels
     * as one that nothing answers. */
    au_cell *cell = ref->target;
    au_node *home = cell->node;
    if (home != net->node && !home->net) return AU_EENCODE;
    out->addr = home->address;
    out->addr_len = strlen(home->address);
    const au_actor_def *def = au_cell_def_if_alive(cell, ref->gen);
    size_t n = def ? au_registry_name_of(home, cell, ref->gen, au_type_id(def->root),
                                         name_buf, sizeof name_buf)
                   : 0;
    out->name = n ? name_buf : "~gone";
    out->name_len = n ? n : 5;
    out->root_id = def ? au_type_id(def->root) : 0;
    return AU_OK;
}

/* The variant of `root` that carries interface `iface_id`, AU_WHOLE for the root itself, or -1. */
int au_net_variant_of(au_type *root, uint64_t iface_id, bool *schema_mismatch) {
    *schema_mismatch = false;
    if (iface_id == au_type_id(root)) return root->local ? -1 : AU_WHOLE;
    if (root->kind == AU_KIND_ROOT) {
        for (uint32_t i = 0; i < root->count; i++) {
            const au_variant *v = &root->variants[i];
            if (v->mode != AU_MODE_REMOTE) continue;
            uint64_t id = au_type_id(v->type);
            if (id == iface_id) return (int)i;
            if ((id & AU_TYPE_ID_NAME_MASK) == (iface_id & AU_TYPE_ID_NAME_MASK)) *schema_mismatch = true;
        }
    }
    if ((au_type_id(root) & AU_TYPE_ID_NAME_MASK) == (iface_id & AU_TYPE_ID_NAME_MASK))
        *schema_mismatch = true;
    return -1;
}

static au_err decode_ref(void *user, const au_wire_ref *in, au_type *ref_type, au_ref *out) {
    au_net_t *net = user;
    au_type *iface = ref_type->elem;
    if (in->iface_id != au_type_id(iface)) return AU_ETYPE;
    /* This node as it advertises itself, or as a forge elsewhere resolved that (a host name or
     * a non-canonical literal advertised: references forged to it carry the numeric form). */
    const char *self = net->node->address, *canon = net->self_canon;
    if ((in->addr_len == strlen(self) && memcmp(in->addr, self, in->addr_len) == 0) ||
        (in->addr_len == strlen(canon) && memcmp(in->addr, canon, in->addr_len) == 0)) {
        au_cell *cell;
        uint32_t gen;
        if (au_registry_find(net->node, in->name, in->name_len, in->root_id, &cell, &gen, NULL) == AU_OK) {
            const au_actor_def *def = au_cell_def_if_alive(cell, gen);
            bool mismatch;
            int v = def ? au_net_variant_of(def->root, in->iface_id, &mismatch) : -1;
            if (v >= 0) {
                *out = au_cell_ref(cell, gen, iface, (uint16_t)v);
                return AU_OK;
            }
        }
        /* Not (or no longer) here: fall through to a remote reference, which nothing answers. */
    }
    au_remote *r;
    uint32_t gen;
    /* A reference in a message names its node by the address that node advertises; a name
     * that would need DNS is refused here (a hostile message must not stall a worker on a
     * resolver), which is why nodes that advertise host names are reached by forging. */
    au_err err = intern(net, in->addr, in->addr_len, in->name, in->name_len, in->root_id, true,
                        false, &r, &gen);
    if (err) return err;
    /* The receiver maps the interface to a variant itself; here the variant only says whether
     * the reference is through the root itself (AU_WHOLE), as au_narrow requires. */
    *out = remote_ref(r, gen, iface, in->iface_id == in->root_id ? AU_WHOLE : 0);
    return AU_OK;
}

au_err au_net_refs_init(au_net_t *net) {
    /* Small at first; both grow with use (grow, free_slot), up to max_remotes. */
    net->nremote_buckets = 16;
    net->slots_cap = net->max_remotes < 16 ? net->max_remotes : 16;
    net->remotes = calloc(net->nremote_buckets, sizeof *net->remotes);
    net->slots = calloc(net->slots_cap, sizeof *net->slots);
    if (!net->remotes || !net->slots) return AU_ENOMEM;
    net->refs = (au_codec_refs){ .encode = encode_ref, .decode = decode_ref, .user = net };
    return AU_OK;
}
