/* share_bench — CRDT sharing on real UDP over 127.0.0.1: bytes on the wire per update against
 * the ideal, the catch-up of a new node on a 100,000-element ORSet (joining one replica, and
 * joining five: the full states the others send it), and a burst of 10,000
 * updates over 6 nodes at 5 % loss. Prints; asserts nothing.
 *
 *   share_bench [quick | wire [coalesce_ms [ack_delay_us [ood|all|both [verify]]]] | catchup |
 *                burst [n [v]]]
 *
 * wire: only the bytes-per-update rows, with those au_share_config values if given (coalesce
 * -1: AU_SHARE_COALESCE_NONE, ack_delay -1: AU_SHARE_ACK_NOW, 0: the defaults), and only one
 * selector's rows if named. verify: the cluster's timers slowed (heartbeats and gossip every
 * 2 s), so the nodes' datagram bytes in a phase are nearly all the share's, to check its count.
 *
 * Wire bytes are the datagram bytes of the replicas' own messages (au_share_stats.wire_bytes:
 * CRDT bytes, the protocol's record, the transport's body header, frame, datagram header and
 * checksum, as if each message went in datagrams of its own), during a phase. Also printed: the
 * nodes' whole datagram bytes (au_node_stats.bytes_sent) minus an idle window of the same length
 * just before (the cluster's own traffic) — the older, noisier figure. The ideal of an update is the size of its encoded delta, once for
 * each of the N - 1 other replicas. "sequential": one node updates, one update per round;
 * "concurrent": every node updates at once (the case where classic delta sync ends up sending
 * full states). Times are wall clock (the nodes run on their own threads). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <aurum/aurum.h>
#include <aurum/cluster.h>
#include <aurum/crdt_share.h>
#include <aurum/faults.h>

enum { N = 6 };

static double secs(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
static void sleep_ms(int ms) { nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000L }, NULL); }

static bool g_quiet; /* wire ... verify: cluster timers slowed down (see start) */

typedef struct world {
    int n;
    au_driver drv;
    au_node *node[N];
    au_cluster *cl[N];
    au_share *sh[N];
    const char *seeds[N][3];
} world;

static void start(world *w, int i, const au_crdt_type *t, const au_share_config *sc) {
    if (au_node_start(&(au_node_config){ .driver = &w->drv, .workers = 1 }, &w->node[i])) abort();
    au_faults_seed(w->node[i], (uint64_t)i + 1);
    size_t n = 0;
    for (int j = 0; j < i && n < 3; j++) w->seeds[i][n++] = au_node_address(w->node[j]);
    au_cluster_config cc = { .seeds = w->seeds[i], .nseeds = n, .ping_timeout = AU_MSEC(50),
                             .num_pings = 20 };
    if (g_quiet) /* verify: the cluster nearly silent, so the nodes' bytes are the share's */
        cc.hb_interval = AU_SEC(2), cc.gossip_interval = AU_SEC(2), cc.sync_interval = AU_SEC(600),
        cc.reconnect_interval = AU_SEC(600);
    if (au_cluster_start(w->node[i], &cc, &w->cl[i])) abort();
    if (au_share_start(w->node[i], w->cl[i], t, sc, &w->sh[i])) abort();
    if (i >= w->n) w->n = i + 1;
}

static void stop(world *w) {
    for (int i = 0; i < w->n; i++) au_node_stop(w->node[i]);
    memset(w, 0, sizeof *w);
}

/* The replicas' CRDT payload counters summed (au_share_stats): what the dispersal sent, without
 * framing and without the cluster's traffic, so free of the idle window's noise. */
typedef struct payload { uint64_t sent, fwd, recv, redundant, groups; } payload;
static payload payload_bytes(world *w) {
    payload t = { 0 };
    for (int i = 0; i < w->n; i++) {
        au_share_stats st;
        au_share_stats_get(w->sh[i], &st);
        t.sent += st.bytes_sent, t.fwd += st.bytes_forwarded;
        t.recv += st.bytes_received, t.redundant += st.redundant_bytes;
        t.groups += st.deltas_sent + st.states_sent;
    }
    return t;
}

static uint64_t wire_bytes(world *w) {
    uint64_t t = 0;
    for (int i = 0; i < w->n; i++) {
        au_node_stats st;
        au_node_stats_get(w->node[i], &st);
        t += st.bytes_sent;
    }
    return t;
}

/* The datagram bytes of the replicas' own messages (au_share_stats.wire_bytes: CRDT bytes,
 * record, transport framing, datagram header and trailer), summed. */
static uint64_t share_wire(world *w, uint64_t *msgs) {
    uint64_t t = 0;
    *msgs = 0;
    for (int i = 0; i < w->n; i++) {
        au_share_stats st;
        au_share_stats_get(w->sh[i], &st);
        t += st.wire_bytes;
        *msgs += st.wire_messages;
    }
    return t;
}

static bool settled(world *w) {
    for (int i = 0; i < w->n; i++) {
        au_share_stats st;
        au_share_stats_get(w->sh[i], &st);
        if (st.buffered) return false;
    }
    return true;
}
static void wait_settled(world *w, double max) {
    double t0 = secs();
    while (!settled(w) && secs() - t0 < max) sleep_ms(5);
}

/* ---- bytes per update ---------------------------------------------------------------------- */

typedef enum { T_GCOUNTER, T_PNCOUNTER, T_ORSET, T_ORMAP } kind;
static const char *kind_name[] = { "GCounter inc", "PNCounter add", "ORSet add (16 B)",
                                   "ORMap<PNCounter> add (4 B key)" };

static void update(world *w, kind k, int i, int seq) {
    char e[32];
    switch (k) {
    case T_GCOUNTER: au_share_gcounter_inc((au_share_gcounter){ w->sh[i] }, 1); break;
    case T_PNCOUNTER: au_share_pncounter_add((au_share_pncounter){ w->sh[i] }, seq % 2 ? -1 : 2); break;
    case T_ORSET:
        snprintf(e, sizeof e, "elem-%d-%09d", i, seq);
        au_share_orset_add((au_share_orset){ w->sh[i] }, e, 16);
        break;
    case T_ORMAP:
        snprintf(e, sizeof e, "k%03d", seq % 1000);
        au_share_ormap_pncounter_add((au_share_ormap_pncounter){ w->sh[i] }, e, 4, 1);
        break;
    }
}

/* The encoded size of one update's delta, as made on a state that has seen `prior` updates of
 * the same kind from this replica (a fresh state for the sets: their deltas do not grow). */
static size_t ideal(kind k, int i, int seq) {
    au_buf b = { 0 };
    char e[32];
    uint64_t r = 0x1000 + (uint64_t)i;
    switch (k) {
    case T_GCOUNTER: {
        au_gcounter *s = au_gcounter_new(), *d = au_gcounter_new_delta();
        au_gcounter_inc(s, NULL, r, (uint64_t)seq);
        au_gcounter_inc(s, d, r, 1);
        au_gcounter_encode(d, &b);
        au_gcounter_free(s), au_gcounter_free(d);
        break;
    }
    case T_PNCOUNTER: {
        au_pncounter *s = au_pncounter_new(), *d = au_pncounter_new_delta();
        au_pncounter_add(s, NULL, r, seq);
        au_pncounter_add(s, d, r, 2);
        au_pncounter_encode(d, &b);
        au_pncounter_free(s), au_pncounter_free(d);
        break;
    }
    case T_ORSET: {
        au_orset *s = au_orset_new(), *d = au_orset_new_delta();
        snprintf(e, sizeof e, "elem-%d-%09d", i, seq);
        au_orset_add(s, d, r, e, 16);
        au_orset_encode(d, &b);
        au_orset_free(s), au_orset_free(d);
        break;
    }
    case T_ORMAP: break; /* ideal_ormap */
    }
    size_t n = b.len;
    au_buf_free(&b);
    return n;
}

typedef struct pn_ctx { uint64_t r; } pn_ctx;
static au_err bump(au_pncounter *v, au_pncounter *dv, void *arg) {
    return au_pncounter_add(v, dv, ((pn_ctx *)arg)->r, 1);
}
static size_t ideal_ormap(int seq) {
    au_ormap_pncounter s = au_ormap_pncounter_new(), d = au_ormap_pncounter_new_delta();
    char e[8];
    snprintf(e, sizeof e, "k%03d", seq % 1000);
    pn_ctx c = { 0x1000 };
    au_ormap_pncounter_update(s, d, e, 4, bump, &c);
    au_buf b = { 0 };
    au_ormap_pncounter_encode(d, &b);
    size_t n = b.len;
    au_buf_free(&b);
    au_ormap_pncounter_free(s), au_ormap_pncounter_free(d);
    return n;
}

static const au_crdt_type *type_of(kind k) {
    switch (k) {
    case T_GCOUNTER: return &au_gcounter_type;
    case T_PNCOUNTER: return &au_pncounter_type;
    case T_ORSET: return &au_orset_type;
    default: return &au_ormap_pncounter_type;
    }
}

static int g_coalesce_ms;  /* au_share_config.coalesce for the bytes-per-update rows (0: the
                              default, 100 ms; -1: AU_SHARE_COALESCE_NONE) */
static long g_ack_delay_us; /* ... and ack_delay (-1: AU_SHARE_ACK_NOW) */

static void bytes_per_update(kind k, bool concurrent, int per_node, au_share_selector sel) {
    world w = { 0 };
    w.drv = au_faults_driver(NULL);
    au_share_config sc = { .name = "bench", .selector = sel, .timeout = AU_MSEC(50),
                           .coalesce = g_coalesce_ms < 0 ? AU_SHARE_COALESCE_NONE
                                                         : AU_MSEC((au_nanos)g_coalesce_ms),
                           .ack_delay = g_ack_delay_us < 0 ? AU_SHARE_ACK_NOW
                                                           : AU_USEC((au_nanos)g_ack_delay_us) };
    for (int i = 0; i < N; i++) start(&w, i, type_of(k), &sc);
    sleep_ms(g_quiet ? 8000 : 1500); /* joined (verify: and its slower gossip done) */
    int writers = concurrent ? N : 1;
    int spacing = 20; /* ms between rounds of updates */
    double window = (double)per_node * spacing / 1000.0 + 1.0;
    uint64_t b0 = wire_bytes(&w), mi, si = share_wire(&w, &mi);
    sleep_ms((int)(window * 1000));
    uint64_t idle = wire_bytes(&w) - b0;
    si = share_wire(&w, &mi) - si; /* the share's own in the idle window (a late catch-up) */
    double t0 = secs();
    b0 = wire_bytes(&w);
    payload p0 = payload_bytes(&w);
    au_share_stats d0[N];
    for (int i = 0; i < N; i++) au_share_stats_get(w.sh[i], &d0[i]);
    uint64_t m0, m1, s0 = share_wire(&w, &m0);
    uint64_t ideal_bytes = 0;
    for (int s = 0; s < per_node; s++) {
        for (int i = 0; i < writers; i++) {
            update(&w, k, i, s);
            ideal_bytes += (uint64_t)(k == T_ORMAP ? ideal_ormap(s) : ideal(k, i, s)) * (N - 1);
        }
        sleep_ms(spacing);
    }
    wait_settled(&w, 10);
    double el = secs() - t0;
    while (secs() - t0 < window) sleep_ms(5);
    uint64_t used = wire_bytes(&w) - b0;
    payload p1 = payload_bytes(&w);
    uint64_t s1 = share_wire(&w, &m1);
    uint64_t mine = used > idle ? used - idle : 0;
    uint64_t updates = (uint64_t)per_node * writers;
    double deliveries = (double)(updates * (N - 1));
    double per = (double)(s1 - s0) / deliveries;
    double ideal_per = (double)ideal_bytes / deliveries;
    printf("  %-3s %-32s %-10s %6llu updates: %7.1f B/update/replica on the wire, ideal %5.1f, "
           "overhead %+6.1f B, ratio %.2f (settled in %.2f s)\n",
           sel == AU_SHARE_ALL ? "All" : "OoD", kind_name[k], concurrent ? "concurrent" : "sequential", (unsigned long long)updates,
           per, ideal_per, per - ideal_per, per / ideal_per, el);
    printf("      share's messages %llu (%.2f per update per replica; %llu of them acks alone); "
           "nodes' datagram bytes %llu in the phase, %llu idle before: minus idle %.1f "
           "B/update/replica\n", (unsigned long long)(m1 - m0), (double)(m1 - m0) / deliveries,
           (unsigned long long)(m1 - m0 - (p1.groups - p0.groups)),
           (unsigned long long)used, (unsigned long long)idle, (double)mine / deliveries);
    if (g_quiet)
        printf("      verify: share counted %llu B, nodes sent %llu B in the phase (%.1f %%), %llu "
               "B in the idle window (%llu of them the share's)\n", (unsigned long long)(s1 - s0),
               (unsigned long long)used, used ? 100.0 * (double)(s1 - s0) / (double)used : 0.0,
               (unsigned long long)idle, (unsigned long long)si);
    printf("      payload %6.1f B/update/replica (forwarded %5.1f), received redundant %4.1f %%\n",
           (double)(p1.sent - p0.sent) / deliveries, (double)(p1.fwd - p0.fwd) / deliveries,
           p1.recv > p0.recv ? 100.0 * (double)(p1.redundant - p0.redundant) /
                                   (double)(p1.recv - p0.recv) : 0.0);
    if (getenv("AU_BENCH_DETAIL"))
        for (int i = 0; i < N; i++) {
            au_share_stats a;
            au_share_stats_get(w.sh[i], &a);
#define D_(f) (unsigned long long)(a.f - d0[i].f)
            printf("      node %d: messages %llu (%llu B), groups %llu, states %llu, acks %llu, "
                   "payload %llu B (forwarded %llu), received %llu (%llu redundant, %llu B of "
                   "%llu)\n", i, D_(wire_messages), D_(wire_bytes), D_(deltas_sent),
                   D_(states_sent), D_(acks_sent), D_(bytes_sent), D_(bytes_forwarded),
                   D_(received), D_(redundant), D_(redundant_bytes), D_(bytes_received));
#undef D_
        }
    stop(&w);
}

/* ---- catch-up on a large ORSet -------------------------------------------------------------- */

static void catch_up(long n) {
    world w = { 0 };
    w.drv = au_faults_driver(NULL);
    au_share_config sc = { .name = "big", .selector = AU_SHARE_ALL };
    start(&w, 0, &au_orset_type, &sc);
    char e[17];
    for (long i = 0; i < n; i++) {
        snprintf(e, sizeof e, "element-%08ld", i);
        au_share_orset_add((au_share_orset){ w.sh[0] }, e, 16);
    }
    for (;;) {
        au_share_stats st;
        au_share_stats_get(w.sh[0], &st);
        if (st.mutations >= (uint64_t)n) break;
        sleep_ms(5);
    }
    double t0 = secs();
    start(&w, 1, &au_orset_type, &sc);
    while (au_share_orset_size((au_share_orset){ w.sh[1] }) < (size_t)n) {
        if (secs() - t0 > 60) break;
        sleep_ms(1);
    }
    double el = secs() - t0;
    au_share_stats st;
    au_share_stats_get(w.sh[0], &st);
    printf("  new node catching up on an ORSet of %ld elements: %.3f s from its start (cluster join "
           "included), %llu full state(s) of %.1f KB sent\n", n, el,
           (unsigned long long)st.states_sent,
           st.states_sent ? (double)st.bytes_sent / 1024.0 / (double)(st.deltas_sent + st.states_sent) : 0.0);
    stop(&w);
}

/* The same ORSet held by N - 1 nodes (node 0 made it; the others caught up and every buffer is
 * collected), then an N-th node joins: the time until it has every element, and the full
 * states the others sent it by 3 × catchup_delay (default 400 ms) after its start — its two ring
 * managers' and those of the others who, once catchup_delay has passed, do not know it has
 * their deltas (crdt_share.h, "catching up"). */
static void catch_up_n(long n, au_share_selector sel) {
    world w = { 0 };
    w.drv = au_faults_driver(NULL);
    au_share_config sc = { .name = "big", .selector = sel };
    start(&w, 0, &au_orset_type, &sc);
    char e[17];
    for (long i = 0; i < n; i++) {
        snprintf(e, sizeof e, "element-%08ld", i);
        au_share_orset_add((au_share_orset){ w.sh[0] }, e, 16);
    }
    for (int i = 1; i < N - 1; i++) start(&w, i, &au_orset_type, &sc);
    double t0 = secs();
    for (bool ok = false; !ok && secs() - t0 < 120; sleep_ms(10)) {
        ok = true;
        for (int i = 0; i < N - 1; i++) {
            au_share_stats st;
            au_share_stats_get(w.sh[i], &st);
            ok &= au_share_orset_size((au_share_orset){ w.sh[i] }) == (size_t)n && st.buffered == 0 &&
                  st.peers == N - 2;
        }
    }
    sleep_ms(500);
    uint64_t before[N] = { 0 }, matched0[N] = { 0 };
    for (int i = 0; i < N - 1; i++) {
        au_share_stats st;
        au_share_stats_get(w.sh[i], &st);
        before[i] = st.states_sent;
        matched0[i] = st.vouches_matched;
    }
    t0 = secs();
    start(&w, N - 1, &au_orset_type, &sc);
    while (au_share_orset_size((au_share_orset){ w.sh[N - 1] }) < (size_t)n && secs() - t0 < 60)
        sleep_ms(1);
    double el = secs() - t0;
    while (secs() - t0 < 1.2) sleep_ms(10); /* 3 × the default catchup_delay */
    uint64_t states = 0, matched = 0;
    for (int i = 0; i < N - 1; i++) {
        au_share_stats st;
        au_share_stats_get(w.sh[i], &st);
        states += st.states_sent - before[i];
        matched += st.vouches_matched - matched0[i];
    }
    printf("  a %dth node catching up on the ORSet of %ld elements held by %d (%s): %.3f s from its "
           "start, %llu full states sent to it by 1.2 s (2 from its ring managers; at most %d); "
           "its vouches taken by digest %llu times\n",
           N, n, N - 1, sel == AU_SHARE_ALL ? "All" : "OutOfDate", el, (unsigned long long)states,
           N - 1, (unsigned long long)matched);
    stop(&w);
}

/* ---- a burst at 5 % loss ---------------------------------------------------------------------- */

static bool all_at(world *w, uint64_t v) {
    for (int i = 0; i < w->n; i++)
        if (au_share_gcounter_value((au_share_gcounter){ w->sh[i] }) != v) return false;
    return true;
}

static bool verbose;

/* One line per node: its value, clock, buffered deltas, groups and states sent, acks, and the
 * injected drops so far (share_bench burst: where a burst's time goes). */
static void burst_line(world *w, double t) {
    printf("  t=%.2f\n", t);
    for (int i = 0; i < w->n; i++) {
        au_share_stats st;
        au_share_stats_get(w->sh[i], &st);
        au_faults_stats fs;
        au_faults_stats_get(w->node[i], &fs);
        printf("    n%d value %6llu clock %5llu buf %5llu peers %llu groups %5llu states %llu "
               "bytes %7llu recv %5llu redundant %5llu acks %5llu/%5llu dropped %llu\n", i,
               (unsigned long long)au_share_gcounter_value((au_share_gcounter){ w->sh[i] }),
               (unsigned long long)st.clock, (unsigned long long)st.buffered,
               (unsigned long long)st.peers, (unsigned long long)st.deltas_sent,
               (unsigned long long)st.states_sent, (unsigned long long)st.bytes_sent,
               (unsigned long long)st.received, (unsigned long long)st.redundant,
               (unsigned long long)st.acks_sent, (unsigned long long)st.acks_received,
               (unsigned long long)fs.dropped);
    }
}

static void burst(int updates, au_share_selector sel) {
    world w = { 0 };
    w.drv = au_faults_driver(NULL);
    au_share_config sc = { .name = "burst", .selector = sel, .amount = 2 };
    for (int i = 0; i < N; i++) start(&w, i, &au_gcounter_type, &sc);
    sleep_ms(1500);
    for (int i = 0; i < N; i++)
        au_faults_set(w.node[i], NULL, &(au_faults){ .drop = 0.05, .per_message = true });
    double t0 = secs();
    for (int k = 0; k < updates; k++) au_share_gcounter_inc((au_share_gcounter){ w.sh[k % N] }, 1);
    double next = verbose ? 0.1 : 1e9;
    while (!all_at(&w, (uint64_t)updates) && secs() - t0 < 30) {
        sleep_ms(1);
        if (secs() - t0 >= next) {
            next += 0.1;
            burst_line(&w, secs() - t0);
        }
    }
    double el = secs() - t0;
    if (verbose) burst_line(&w, el);
    printf("  burst of %d GCounter updates over %d nodes at 5 %% loss (%s): every replica agrees "
           "after %.3f s%s\n", updates, N, sel == AU_SHARE_ALL ? "All" : "OutOfDate, amount 2", el,
           all_at(&w, (uint64_t)updates) ? "" : " (DID NOT agree within 30 s)");
    stop(&w);
}

int main(int argc, char **argv) {
    bool quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    bool wire_only = argc > 1 && strcmp(argv[1], "wire") == 0;
    if (wire_only && argc > 2) g_coalesce_ms = atoi(argv[2]);
    if (wire_only && argc > 3) g_ack_delay_us = atol(argv[3]);
    int sel_from = 0, sel_to = 2;
    if (wire_only && argc > 4 && strcmp(argv[4], "both") != 0)
        sel_from = strcmp(argv[4], "all") == 0, sel_to = sel_from + 1;
    g_quiet = wire_only && argc > 5 && strcmp(argv[5], "verify") == 0;
    if (argc > 1 && strcmp(argv[1], "catchup") == 0) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
        au_log_set_level(AU_LOG_CLUSTER, AU_LOG_ERROR);
        catch_up(100000);
        catch_up_n(100000, AU_SHARE_ALL);
        catch_up_n(100000, AU_SHARE_OUT_OF_DATE);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "burst") == 0) {
        /* share_bench burst [updates [v]]: both bursts only; v prints a timeline every 100 ms */
        setvbuf(stdout, NULL, _IOLBF, 0);
        au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
        au_log_set_level(AU_LOG_CLUSTER, AU_LOG_ERROR);
        int n = argc > 2 ? atoi(argv[2]) : 10000;
        verbose = argc > 3;
        burst(n, AU_SHARE_ALL);
        burst(n, AU_SHARE_OUT_OF_DATE);
        return 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    au_log_set_level(AU_LOG_CLUSTER, AU_LOG_ERROR);
    int per = quick ? 20 : 100;
    printf("share_bench: %d nodes on 127.0.0.1, timeout 50 ms, coalesce %d ms (0: default, "
           "100 ms; -1: none), ack_delay %ld us (0: default, -1: at once); OoD = OutOfDate, "
           "amount 1\n", N, g_coalesce_ms, g_ack_delay_us);
    for (int sel = sel_from; sel < sel_to; sel++)
        for (kind k = T_GCOUNTER; k <= T_ORMAP; k++) {
            bytes_per_update(k, false, per, sel ? AU_SHARE_ALL : AU_SHARE_OUT_OF_DATE);
            bytes_per_update(k, true, per, sel ? AU_SHARE_ALL : AU_SHARE_OUT_OF_DATE);
        }
    if (wire_only) return 0;
    catch_up(quick ? 10000 : 100000);
    burst(quick ? 1000 : 10000, AU_SHARE_ALL);
    burst(quick ? 1000 : 10000, AU_SHARE_OUT_OF_DATE);
    return 0;
}
