/* tools/aurum/admin.c — the admin actor of `aurum node`: registered as "aurum-admin", it answers
 * status requests (members with state and id, ring shares, devices, shared values, the node's
 * and the cluster's counters), keeps watchers subscribed to membership events, and passes
 * increments of the shared counter and set to node_crdt.c.
 *
 * Relies on aurum/cluster.h (its updates are the only source of membership here), aurum/node.h
 * (au_node_stats), and node_crdt.c / node_devices.c for the optional parts.
 *
 * Invariants: the actor's state is touched only by its hooks (one at a time); it holds at most
 * AURUM_MAX_MEMBERS members (the oldest removed ones are forgotten first) and AURUM_MAX_WATCHERS
 * watchers, each dropped AURUM_WATCH_LEASE_MS after its last renewal, so a watcher that vanished
 * costs nothing for long; the ring snapshot it holds is retained and released at stop. The only
 * state shared with other threads is the handle's `left` flag, under its mutex. */
#include "aurum_cli.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct aurum_admin {
    au_node *node;
    au_str_lref lines;
    au_cluster *cluster;
    au_nanos started;
    char seeds[256]; /* the --seed addresses, ", " between them; "" without (set before spawn) */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool left;
};

enum { ST_ALIVE, ST_SELF, ST_REMOVED };

typedef struct known {
    char address[64];
    uint64_t id;
    int state;
    int reason;
    uint64_t seq; /* when it last changed: the oldest removed member is forgotten first */
} known;

typedef struct watcher {
    adm_event_ref to;
    au_nanos expires;
} watcher;

typedef struct admin_state {
    aurum_admin *h;
    known *members; /* [AURUM_MAX_MEMBERS], allocated at pre_start */
    size_t nmembers;
    uint64_t seq;
    au_ring *ring;
    watcher watchers[AURUM_MAX_WATCHERS];
    size_t nwatchers;
} admin_state;

static const char *state_name(int s) {
    return s == ST_SELF ? "self" : s == ST_ALIVE ? "alive" : "removed";
}

static const char *reason_name(int r) {
    switch (r) {
    case AU_CLUSTER_FAILED: return "failed";
    case AU_CLUSTER_LEAVING: return "leaving";
    case AU_CLUSTER_REPLACED: return "replaced";
    default: return "";
    }
}

static known *find_member(admin_state *s, const char *address) {
    for (size_t i = 0; i < s->nmembers; i++)
        if (!strcmp(s->members[i].address, address)) return &s->members[i];
    return NULL;
}

/* The member at address, added if new (forgetting the oldest removed one when full). */
static known *member_slot(admin_state *s, const char *address) {
    known *k = find_member(s, address);
    if (k || !s->members) return k;
    if (s->nmembers == AURUM_MAX_MEMBERS) {
        known *oldest = NULL;
        for (size_t i = 0; i < s->nmembers; i++)
            if (s->members[i].state == ST_REMOVED && (!oldest || s->members[i].seq < oldest->seq))
                oldest = &s->members[i];
        if (!oldest) return NULL;
        *oldest = s->members[--s->nmembers];
    }
    k = &s->members[s->nmembers++];
    memset(k, 0, sizeof *k);
    snprintf(k->address, sizeof k->address, "%s", address);
    return k;
}

static void set_member(admin_state *s, const au_cluster_member *m, int state, int reason) {
    char addr[64];
    snprintf(addr, sizeof addr, "%.*s", (int)m->address.len, m->address.ptr ? m->address.ptr : "");
    known *k = member_slot(s, addr);
    if (!k) return;
    /* A late REMOVED of an older run must not hide the newer run that replaced it. */
    if (state == ST_REMOVED && k->state != ST_REMOVED && m->id && k->id > m->id) return;
    k->id = m->id ? m->id : k->id;
    k->state = state;
    k->reason = reason;
    k->seq = ++s->seq;
}

/* ---- watchers ---------------------------------------------------------------------------- */

static void send_line(watcher *w, int32_t kind, const char *line) {
    au_err err = au_send(w->to, ((adm_event){ .kind = kind, .line = au_str_dup(line, strlen(line)) }));
    if (err)
        au_log(AU_LOG_USER, AU_LOG_WARN, "watch: cannot send a line to a watcher: %s (%s)",
               au_strerror(err), au_err_name(err));
}

static void broadcast(admin_state *s, au_nanos now, const char *line) {
    for (size_t i = 0; i < s->nwatchers;) {
        if (s->watchers[i].expires <= now) {
            s->watchers[i] = s->watchers[--s->nwatchers];
            continue;
        }
        send_line(&s->watchers[i], 1, line);
        i++;
    }
}

static void subscribe(admin_state *s, au_nanos now, adm_event_ref to) {
    watcher *w = NULL;
    for (size_t i = 0; i < s->nwatchers; i++)
        if (au_ref_equal(s->watchers[i].to.raw, to.raw)) w = &s->watchers[i];
    bool fresh = !w;
    if (!w) {
        if (s->nwatchers == AURUM_MAX_WATCHERS) { /* the one closest to lapsing makes room */
            size_t soonest = 0;
            for (size_t i = 1; i < s->nwatchers; i++)
                if (s->watchers[i].expires < s->watchers[soonest].expires) soonest = i;
            w = &s->watchers[soonest];
            /* it misses events until a renewal of it takes a place again (man/aurum-watch.1) */
            au_log(AU_LOG_USER, AU_LOG_WARN,
                   "watch: %u watchers already, the most this node keeps: the one whose "
                   "subscription lapses soonest makes room, and misses events until it renews",
                   AURUM_MAX_WATCHERS);
        } else {
            w = &s->watchers[s->nwatchers++];
        }
        w->to = to;
    }
    w->expires = now + AU_MSEC(AURUM_WATCH_LEASE_MS);
    if (fresh) { /* what the new watcher would have seen: the members now */
        char line[160];
        for (size_t i = 0; i < s->nmembers; i++) {
            const known *k = &s->members[i];
            if (k->state == ST_REMOVED) continue;
            snprintf(line, sizeof line, "MEMBER %s id=%llu %s", k->address,
                     (unsigned long long)k->id, state_name(k->state));
            send_line(w, 1, line);
        }
    }
    send_line(w, 0, "");
}

/* ---- cluster updates --------------------------------------------------------------------- */

static const char *event_name(int kind) {
    switch (kind) {
    case AU_CLUSTER_ALONE: return "ALONE";
    case AU_CLUSTER_JOINED: return "JOINED";
    case AU_CLUSTER_ADDED: return "ADDED";
    case AU_CLUSTER_REMOVED: return "REMOVED";
    case AU_CLUSTER_LEFT: return "LEFT";
    case AU_CLUSTER_MINORITY: return "MINORITY";
    case AU_CLUSTER_MAJORITY: return "MAJORITY";
    case AU_CLUSTER_INCOMPATIBLE: return "INCOMPATIBLE";
    default: return "UNKNOWN";
    }
}

static void on_update(admin_state *s, au_ctx *ctx, au_cluster_update *u) {
    au_nanos now = au_node_now(au_ctx_node(ctx));
    bool left = false;
    for (uint32_t i = 0; i < u->events.len; i++) {
        const au_cluster_event *e = &u->events.ptr[i];
        switch (e->kind) {
        case AU_CLUSTER_ALONE:
        case AU_CLUSTER_JOINED: set_member(s, &e->member, ST_SELF, 0); break;
        case AU_CLUSTER_ADDED: set_member(s, &e->member, ST_ALIVE, 0); break;
        case AU_CLUSTER_REMOVED: set_member(s, &e->member, ST_REMOVED, e->reason); break;
        case AU_CLUSTER_LEFT:
            set_member(s, &e->member, ST_REMOVED, AU_CLUSTER_LEAVING);
            left = true;
            break;
        default: break;
        }
        char line[200];
        int n = snprintf(line, sizeof line, "%s %.*s id=%llu", event_name(e->kind),
                         (int)e->member.address.len,
                         e->member.address.ptr ? e->member.address.ptr : "",
                         (unsigned long long)e->member.id);
        if (e->kind == AU_CLUSTER_REMOVED && n > 0 && (size_t)n < sizeof line)
            snprintf(line + n, sizeof line - (size_t)n, " reason=%s", reason_name(e->reason));
        au_log(AU_LOG_USER, AU_LOG_INFO, "%s", line);
        if (e->kind == AU_CLUSTER_ALONE && s->h->seeds[0])
            au_log(AU_LOG_USER, AU_LOG_WARN,
                   "no seed answered (%s): running alone, still contacting them (is `aurum "
                   "node` running there, with the same --key-file?)",
                   s->h->seeds);
        broadcast(s, now, line);
    }
    /* Members the events did not name (a subscription that started late) are alive. */
    uint64_t self = au_cluster_id(s->h->cluster);
    for (uint32_t i = 0; i < u->members.len; i++) {
        const au_cluster_member *m = &u->members.ptr[i];
        char addr[64];
        snprintf(addr, sizeof addr, "%.*s", (int)m->address.len, m->address.ptr ? m->address.ptr : "");
        known *k = find_member(s, addr);
        if (!k || (k->state == ST_REMOVED && m->id > k->id))
            set_member(s, m, m->id == self ? ST_SELF : ST_ALIVE, 0);
    }
    if (u->ring.ring) {
        au_ring_release(s->ring);
        s->ring = au_ring_retain(u->ring.ring);
        aurum_devices_ring(s->ring);
    }
    if (left) {
        pthread_mutex_lock(&s->h->lock);
        s->h->left = true;
        pthread_cond_broadcast(&s->h->cond);
        pthread_mutex_unlock(&s->h->lock);
    }
}

/* ---- status ------------------------------------------------------------------------------ */

static au_str str_of(const char *s) { return au_str_dup(s, strlen(s)); }

static adm_stat_array node_stats(au_node *node) {
    au_node_stats st;
    au_node_stats_get(node, &st);
    adm_stat_array a = { .ptr = calloc(AU_NODE_STATS_COUNT, sizeof(adm_stat)), .owned = 1 };
    if (!a.ptr) return (adm_stat_array){ 0 };
    for (size_t i = 0; i < AU_NODE_STATS_COUNT; i++) {
        const au_node_stats_field *f = au_node_stats_describe(i);
        a.ptr[a.len++] = (adm_stat){ str_of(f->name), au_node_stats_value(&st, i), f->gauge,
                                     str_of(f->doc) };
    }
    return a;
}

static adm_stat_array cluster_stats(const au_cluster *c) {
    au_cluster_stats cs;
    au_cluster_stats_get(c, &cs);
#define CS(X)                                                                                     \
    X(members, true, "alive and suspected members now, self included")                          \
    X(tombstones, true, "removed members remembered now")                                       \
    X(messages_sent, false, "cluster messages sent")                                            \
    X(messages_received, false, "cluster messages received and accepted")                       \
    X(drops_invalid, false, "malformed cluster messages dropped")                               \
    X(drops_incompatible, false, "joins and syncs refused for another compatibility hash")      \
    X(suspicions, false, "suspicions this node raised")                                         \
    X(refutations, false, "suspicions of this node it refuted")                                 \
    X(removals, false, "members this node saw removed")                                         \
    X(health, true, "the local-health multiplier now (0: healthy)")                             \
    X(pauses, false, "times this node must have been paused")
#define ONE(name, gauge, doc) +1
    enum { N = 0 CS(ONE) };
    adm_stat_array a = { .ptr = calloc(N, sizeof(adm_stat)), .owned = 1 };
    if (!a.ptr) return (adm_stat_array){ 0 };
#define ROW(name, gauge, doc) a.ptr[a.len++] = (adm_stat){ str_of(#name), cs.name, gauge, str_of(doc) };
    CS(ROW)
#undef ROW
#undef ONE
#undef CS
    return a;
}

static adm_member_array members_with_shares(admin_state *s) {
    adm_member_array a = { .ptr = calloc(s->nmembers ? s->nmembers : 1, sizeof(adm_member)),
                           .owned = 1 };
    if (!a.ptr) return (adm_member_array){ 0 };
    size_t nring = s->ring ? au_ring_size(s->ring) : 0;
    uint32_t *count = nring ? calloc(nring, sizeof *count) : NULL;
    if (count) {
        for (unsigned i = 0; i < AURUM_RING_SAMPLES; i++) {
            char key[16];
            int n = snprintf(key, sizeof key, "k%u", i);
            const au_cluster_member *o = au_ring_owner(s->ring, key, (size_t)n);
            char addr[64];
            if (!o) continue;
            snprintf(addr, sizeof addr, "%.*s", (int)o->address.len, o->address.ptr);
            long idx = au_ring_find(s->ring, addr);
            if (idx >= 0 && (size_t)idx < nring) count[idx]++;
        }
    }
    for (size_t i = 0; i < s->nmembers; i++) {
        const known *k = &s->members[i];
        uint32_t ppm = 0;
        long idx = count ? au_ring_find(s->ring, k->address) : -1;
        if (idx >= 0 && k->state != ST_REMOVED)
            ppm = (uint32_t)((uint64_t)count[idx] * 1000000u / AURUM_RING_SAMPLES);
        a.ptr[a.len++] = (adm_member){ str_of(k->address), k->id, str_of(state_name(k->state)),
                                       str_of(k->state == ST_REMOVED ? reason_name(k->reason) : ""),
                                       ppm };
    }
    free(count);
    return a;
}

/* The status; without the devices and shared values when `lists` is false. */
static adm_status status_of(admin_state *s, au_ctx *ctx, bool lists) {
    au_node *node = au_ctx_node(ctx);
    adm_status st = {
        .address = str_of(au_node_address(node)),
        .id = au_cluster_id(s->h->cluster),
        .version = str_of(au_version()),
        .uptime_ms = (au_node_now(node) - s->h->started) / 1000000u,
        .members = members_with_shares(s),
        .replication_factor = s->ring ? au_ring_replication_factor(s->ring) : 0,
        .has_devices = aurum_devices_available(),
        .has_crdt = aurum_crdt_available(),
        .node_stats = node_stats(node),
        .cluster_stats = cluster_stats(s->h->cluster),
    };
    if (lists) {
        aurum_devices_list(&st.devices, s->ring);
        aurum_crdt_values(&st.values);
    }
    return st;
}

/* A status that cannot be sent (too big, a text that cannot be encoded) is logged and sent
 * again without the lists that can grow, so the asker still learns the members and counters. */
static void answer_status(admin_state *s, au_ctx *ctx, adm_status_ref reply) {
    au_err err = au_send(reply, status_of(s, ctx, true));
    if (!err) return;
    au_log(AU_LOG_USER, AU_LOG_ERROR,
           "status: cannot send the answer: %s (%s); answering without devices and shared values",
           au_strerror(err), au_err_name(err));
    err = au_send(reply, status_of(s, ctx, false));
    if (err)
        au_log(AU_LOG_USER, AU_LOG_ERROR, "status: cannot send even that answer: %s (%s)",
               au_strerror(err), au_err_name(err));
}

static void reply_number(int64_t_ref reply, int64_t value, const char *what) {
    au_err err = au_send(reply, value);
    if (err)
        au_log(AU_LOG_USER, AU_LOG_WARN, "%s: cannot send the answer: %s (%s)", what,
               au_strerror(err), au_err_name(err));
}

/* ---- the actor --------------------------------------------------------------------------- */

static void admin_pre_start(au_ctx *ctx, admin_state *s) {
    s->members = calloc(AURUM_MAX_MEMBERS, sizeof *s->members);
    if (!s->members) au_log(AU_LOG_USER, AU_LOG_ERROR, "admin: out of memory: no member list");
}

static void admin_recv(au_ctx *ctx, admin_state *s, adm_msg *m) {
    switch (m->tag) {
    case adm_msg_status: answer_status(s, ctx, m->status.reply); break;
    case adm_msg_subscribe: subscribe(s, au_node_now(au_ctx_node(ctx)), m->subscribe.to); break;
    case adm_msg_incr: reply_number(m->incr.reply, aurum_crdt_incr(m->incr.by), "incr"); break;
    case adm_msg_add: {
        /* 1..200 bytes of UTF-8 without NUL, as `aurum add` sends: anything else is refused */
        const au_str *e = &m->add.element;
        char el[256];
        bool ok = e->ptr && e->len >= 1 && e->len <= 200 && !memchr(e->ptr, 0, e->len) &&
                  aurum_utf8_valid(e->ptr, e->len);
        if (ok) snprintf(el, sizeof el, "%.*s", (int)e->len, e->ptr);
        reply_number(m->add.reply, ok ? aurum_crdt_add(el) : -1, "add");
        break;
    }
    case adm_msg_cluster: on_update(s, ctx, &m->cluster); break;
    case adm_msg_line: {
        char line[256]; /* control characters escaped, for the log and the watchers' terminals */
        aurum_printable(line, sizeof line, m->line.ptr, m->line.len);
        au_log(AU_LOG_USER, AU_LOG_INFO, "%s", line);
        broadcast(s, au_node_now(au_ctx_node(ctx)), line);
        break;
    }
    }
}

static void admin_post_stop(au_ctx *ctx, admin_state *s) {
    free(s->members);
    aurum_devices_ring(NULL);
    au_ring_release(s->ring);
    /* Stopped without LEFT (the node stops without leaving): let a waiter go. */
    pthread_mutex_lock(&s->h->lock);
    s->h->left = true;
    pthread_cond_broadcast(&s->h->cond);
    pthread_mutex_unlock(&s->h->lock);
}

AU_ACTOR(admin_actor, admin_state, adm_msg, .pre_start = admin_pre_start, .recv = admin_recv,
         .post_stop = admin_post_stop);

aurum_admin *aurum_admin_start(au_node *node, au_cluster *c, const char *const *seeds,
                               size_t nseeds) {
    aurum_admin *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    for (size_t i = 0, n = 0; i < nseeds && n < sizeof a->seeds; i++) {
        int k = snprintf(a->seeds + n, sizeof a->seeds - n, "%s%s", i ? ", " : "", seeds[i]);
        if (k < 0) break;
        n += (size_t)k;
    }
    a->node = node;
    a->cluster = c;
    a->started = au_node_now(node);
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->cond, NULL);
    /* Term from this node only: the name is known, and on a node without a key one forged Term
     * stopped it (status, watch, incr and add then had no one to answer them) */
    adm_msg_lref ref = au_spawn_with(node, admin_actor,
                                     au_opts(.name = AURUM_ADMIN_NAME, .term = AU_TERM_LOCAL),
                                     &(admin_state){ .h = a });
    if (au_ref_is_null(ref.raw)) {
        fprintf(stderr, "aurum node: cannot start the admin actor: %s\n",
                au_strerror(au_last_error()));
        aurum_admin_free(a);
        return NULL;
    }
    a->lines = au_narrow_local(adm_msg, au_str, ref);
    au_err err = au_cluster_subscribe(c, au_narrow_local(adm_msg, au_cluster_update, ref));
    if (err) {
        fprintf(stderr, "aurum node: cannot subscribe to the cluster: %s\n", au_strerror(err));
        return a; /* status still answers; membership stays empty */
    }
    return a;
}

bool aurum_admin_wait_left(aurum_admin *a, unsigned timeout_ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&a->lock);
    while (!a->left && pthread_cond_timedwait(&a->cond, &a->lock, &until) == 0) {}
    bool left = a->left;
    pthread_mutex_unlock(&a->lock);
    return left;
}

au_str_lref aurum_admin_lines(aurum_admin *a) { return a->lines; }

void aurum_admin_free(aurum_admin *a) {
    if (!a) return;
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->cond);
    free(a);
}
