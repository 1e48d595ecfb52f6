/* test_remote_ref_races.c — remote reference slots reused under a live table: a reference that
 * is in use never looks stale while a sweep tries its slot; a reader of a slot gets its own
 * target or "stale", never another's; the sweep that leaves a peer idle takes only the slots of
 * that peer and fails fast when no peer can be left idle; and a slot's gen never wraps back to
 * one that an old reference carries; references to a node's own actors are its own in either
 * form of its address; forging resolves only host names not resolved lately. The races run a fixed number of rounds (about a second). */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include "net/net.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "net/echo_actor.h"

/* Forges and unforges references to ever new addresses on node `a` until told to stop: in a
 * small table every forge reuses a slot, so the sweep tries every slot over and over. */
typedef struct churner {
    au_node *node;
    atomic_int stop;
    atomic_long forges;
    pthread_t thread;
} churner;

static void *churn(void *arg) {
    churner *c = arg;
    char addr[32];
    for (int i = 0; !atomic_load(&c->stop); i++) {
        snprintf(addr, sizeof addr, "127.0.0.1:%d", 20000 + i % 30000);
        int64_t_ref r = au_forge(target_msg, int64_t, c->node, "nobody-long-actor-name", addr);
        if (!au_ref_is_null(r.raw)) {
            au_unforge(r);
            atomic_fetch_add(&c->forges, 1);
        }
    }
    return NULL;
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void churn_start(churner *c, au_node *node) {
    c->node = node;
    atomic_init(&c->stop, 0);
    atomic_init(&c->forges, 0);
    assert_int_equal(pthread_create(&c->thread, NULL, churn, c), 0);
}

static void churn_stop(churner *c) {
    atomic_store(&c->stop, 1);
    pthread_join(c->thread, NULL);
}

/* A reference whose slot is pinned (as a queued message or a watch pins it) and whose forge is
 * undone is kept: while the sweep tries its slot again and again (and puts it back, pinned), no
 * use of it may find it stale (a sweep moved its gen for a moment: sends returned AU_ESTOPPED,
 * a watch was told the actor had terminated). */
static void a_pinned_reference_never_looks_stale(void **s) {
    (void)s;
    au_node *a;
    assert_int_equal(au_node_start(&(au_node_config){ .max_peers = 64, .max_remote_refs = 8 }, &a),
                     AU_OK);
    int64_t_ref r = au_forge(target_msg, int64_t, a, "held", "127.0.0.1:9");
    assert_false(au_ref_is_null(r.raw));
    assert_true(au_net_remote_pin(r.raw)); /* in use from now on */
    assert_int_equal(au_unforge(r), AU_OK);
    churner c;
    churn_start(&c, a);
    long stale = 0;
    char text[128];
    /* At least 400,000 uses, and on until the sweep has run a thousand times: under valgrind
     * the threads take turns and the uses alone can end before the churner got going. */
    uint64_t deadline = now_ms() + 120000;
    for (long i = 0; i < 400000 || (atomic_load(&c.forges) <= 1000 && now_ms() < deadline);
         i++) {
        if (au_net_remote_pin(r.raw)) au_net_remote_unpin(r.raw.target);
        else stale++;
        if ((i & 3) == 0) {
            au_ref_format(r.raw, text, sizeof text);
            if (strncmp(text, "held@127.0.0.1:9 ", 17) != 0) stale++;
        }
    }
    churn_stop(&c);
    assert_true(atomic_load(&c.forges) > 1000); /* the sweep did run, many times */
    assert_int_equal(stale, 0);
    au_ref_format(r.raw, text, sizeof text);
    assert_string_equal(text, "held@127.0.0.1:9 as int64_t");
    au_net_remote_unpin(r.raw.target);
    au_node_stop(a);
}

/* Readers of an unforged (reusable) slot while it is reused: au_ref_format and the encoding of
 * a reference inside a message read its name and address of its own target or fail as stale;
 * they read them unpinned, so a slot reused meanwhile gave another target's name or address
 * (a reply-to reference naming an actor that was never forged at that address), or a name
 * length of one target with the name bytes of another. */
static void a_reused_slot_is_read_whole_or_stale(void **s) {
    (void)s;
    au_node *a;
    assert_int_equal(au_node_start(&(au_node_config){ .max_peers = 64, .max_remote_refs = 4 }, &a),
                     AU_OK);
    au_net_t *net = a->net;
    churner c;
    churn_start(&c, a);
    long wrong = 0, whole = 0;
    char text[128];
    static const char mine[] = "mine-a-much-longer-actor-name@127.0.0.1:9 ";
    for (long i = 0; i < 150000; i++) {
        int64_t_ref r = au_forge(target_msg, int64_t, a, "mine-a-much-longer-actor-name", "127.0.0.1:9");
        if (au_ref_is_null(r.raw)) continue;
        au_unforge(r);
        for (int k = 0; k < 8; k++) {
            au_wire_ref w = { 0 };
            if (net->refs.encode(net->refs.user, &r.raw, &w) == AU_OK) {
                whole++;
                if (w.addr_len != 11 || memcmp(w.addr, "127.0.0.1:9", 11) != 0 ||
                    w.name_len != sizeof mine - 14 || memcmp(w.name, mine, w.name_len) != 0)
                    wrong++;
            }
            au_ref_format(r.raw, text, sizeof text);
            if (strncmp(text, "(stale", 6) != 0 && strncmp(text, mine, sizeof mine - 1) != 0)
                wrong++;
        }
    }
    churn_stop(&c);
    assert_true(whole > 0);
    assert_int_equal(wrong, 0);
    au_node_stop(a);
}

/* The peer table is full of peers that forged targets hold, with many more targets (not
 * forged, as references that came in messages are) on those peers: a forge to a new address
 * fails with AU_EFULL, fast, and takes no slot from its target (the sweep had reclaimed every
 * slot that was not forged, and still failed). When one peer has only targets that nothing
 * keeps, exactly its slots are reclaimed and the forge succeeds. */
static void leaving_a_peer_idle_takes_only_that_peers_slots(void **s) {
    (void)s;
    enum { PEERS = 8, PER_PEER = 12 };
    au_node *a;
    assert_int_equal(au_node_start(&(au_node_config){ .max_peers = PEERS, .max_remote_refs = 1024 },
                                   &a), AU_OK);
    char addr[32], name[32];
    int64_t_ref held[PEERS][PER_PEER];
    for (int p = 0; p < PEERS; p++) {
        snprintf(addr, sizeof addr, "127.0.0.1:%d", 20000 + p);
        if (p < PEERS - 1) /* kept: every peer but the last is held by a forge */
            assert_false(au_ref_is_null(au_forge(target_msg, int64_t, a, "kept", addr).raw));
        for (int i = 0; i < PER_PEER; i++) {
            snprintf(name, sizeof name, "n%d", i);
            held[p][i] = au_forge(target_msg, int64_t, a, name, addr);
            assert_false(au_ref_is_null(held[p][i].raw));
            assert_int_equal(au_unforge(held[p][i]), AU_OK);
        }
    }
    uint64_t evicted = stats_of(a).remote_refs_evicted;
    /* The last peer can be left idle: its slots, and only those, are taken. */
    int64_t_ref fresh = au_forge(target_msg, int64_t, a, "new", "127.0.0.1:30000");
    assert_false(au_ref_is_null(fresh.raw));
    assert_int_equal(stats_of(a).remote_refs_evicted, evicted + PER_PEER);
    char text[96];
    for (int p = 0; p < PEERS; p++) {
        for (int i = 0; i < PER_PEER; i++) {
            au_ref_format(held[p][i].raw, text, sizeof text);
            if (p < PEERS - 1) assert_string_not_equal(text, "(stale remote reference)");
            else assert_string_equal(text, "(stale remote reference)");
        }
    }
    /* Now every peer is held by a forge: no forge to a new address can succeed, and none takes
     * a slot on the way. */
    evicted = stats_of(a).remote_refs_evicted;
    for (int i = 0; i < 100; i++) {
        snprintf(addr, sizeof addr, "127.0.0.1:%d", 40000 + i);
        assert_true(au_ref_is_null(au_forge(target_msg, int64_t, a, "new", addr).raw));
        assert_int_equal(au_last_error(), AU_EFULL);
    }
    assert_int_equal(stats_of(a).remote_refs_evicted, evicted);
    for (int p = 0; p < PEERS - 1; p++) {
        for (int i = 0; i < PER_PEER; i++) {
            au_ref_format(held[p][i].raw, text, sizeof text);
            assert_string_not_equal(text, "(stale remote reference)");
        }
    }
    au_node_stop(a);
}

/* A slot reused 2^31 times has used every odd gen: reused once more, it would take the gen of
 * its first target again, and a reference to that target kept all along (in a timer, in the
 * application's state) would reach the new one. The slot is retired instead. The 2^31 reuses
 * are skipped by setting the slot's gen. */
static void a_slots_gen_never_wraps_to_an_old_references(void **s) {
    (void)s;
    au_node *a;
    assert_int_equal(au_node_start(&(au_node_config){ .max_peers = 64, .max_remote_refs = 1 }, &a),
                     AU_OK);
    int64_t_ref first = au_forge(target_msg, int64_t, a, "first", "127.0.0.1:9");
    assert_false(au_ref_is_null(first.raw));
    assert_int_equal(au_unforge(first), AU_OK);
    au_remote *slot = first.raw.target;
    pthread_mutex_lock(&a->net->lock);
    atomic_store(&slot->gen, UINT32_MAX); /* the last odd gen: the slot's 2^31st target */
    pthread_mutex_unlock(&a->net->lock);
    int64_t_ref last = first;
    last.raw.gen = UINT32_MAX;
    char text[96];
    au_ref_format(last.raw, text, sizeof text);
    assert_string_equal(text, "first@127.0.0.1:9 as int64_t");
    /* The one slot is reused no more: the table is full, and both references are stale. */
    int64_t_ref next = au_forge(target_msg, int64_t, a, "next", "127.0.0.1:10");
    assert_true(au_ref_is_null(next.raw));
    assert_int_equal(au_last_error(), AU_EFULL);
    au_ref_format(first.raw, text, sizeof text);
    assert_string_equal(text, "(stale remote reference)");
    au_ref_format(last.raw, text, sizeof text);
    assert_string_equal(text, "(stale remote reference)");
    assert_int_equal(au_send(first, (int64_t)1), AU_ESTOPPED);
    assert_int_equal(stats_of(a).remote_refs, 0);
    au_node_stop(a);
}

/* A node that advertises a host name: another node forges references to its actors from that
 * name, which resolves to a numeric address, and that is what the references carry back to it.
 * It knows them as its own (they had become references to a remote node at its own address:
 * over UDP, messages to its actors looped back or went nowhere). */
static void a_node_knows_its_own_actors_by_its_resolved_address(void **s) {
    (void)s;
    au_node *a, *b;
    /* The advertised port need not be the bound one here: only how references name a counts. */
    assert_int_equal(au_node_start(&(au_node_config){ .advertise = "localhost:5999" }, &a), AU_OK);
    assert_int_equal(au_node_start(NULL, &b), AU_OK);
    assert_string_equal(au_node_address(a), "localhost:5999");
    char bound[64];
    au_addr_format(&a->net->bound, bound, sizeof bound);
    au_spawn(a, echo_actor, "echo", NULL);
    au_probe *p = au_probe_new_with(a, target_msg, &(au_probe_opts){ .name = "inbox" });
    query_ref far = au_forge(echo_msg, query, b, "echo", bound);
    int64_t_ref inbox = au_forge(target_msg, int64_t, b, "inbox", "localhost:5999");
    assert_false(au_ref_is_null(far.raw));
    assert_false(au_ref_is_null(inbox.raw));
    char text[128];
    au_ref_format(inbox.raw, text, sizeof text);
    assert_null(strstr(text, "localhost")); /* it names a by the resolved address */
    assert_int_equal(au_send(far, ((query){ .n = 42, .reply_to = inbox })), AU_OK);
    target_msg got;
    assert_int_equal(au_probe_expect(p, target_msg, &got, AU_SEC(5)), AU_OK);
    assert_int_equal(got.count, 42);
    au_probe_free(p);
    au_node_stop(b);
    au_node_stop(a);
}

/* Forging does not ask the resolver for a numeric address, nor for a host name it resolved a
 * moment ago (every forge resolved: 10 us for "localhost:P", a DNS round trip for a real name,
 * even for a target already interned). A host that is longer than an interned address (64
 * bytes) but resolves to one is taken (it was AU_EINVAL before it was resolved). */
static void forging_asks_the_resolver_only_for_host_names_not_resolved_lately(void **s) {
    (void)s;
    au_node *a;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    uint64_t before = atomic_load(&a->net->resolves);
    int64_t_ref numeric = au_forge(target_msg, int64_t, a, "x", "127.0.0.1:4000");
    assert_false(au_ref_is_null(numeric.raw));
    for (int i = 0; i < 100; i++) {
        int64_t_ref r = au_forge(target_msg, int64_t, a, "x", "127.0.0.1:4000");
        assert_true(au_ref_equal(r.raw, numeric.raw));
        assert_int_equal(au_unforge(r), AU_OK);
    }
    assert_int_equal(atomic_load(&a->net->resolves), before);
    int64_t_ref named = au_forge(target_msg, int64_t, a, "x", "localhost:4000");
    assert_false(au_ref_is_null(named.raw));
    assert_int_equal(atomic_load(&a->net->resolves), before + 1);
    for (int i = 0; i < 100; i++) {
        int64_t_ref r = au_forge(target_msg, int64_t, a, "x", "localhost:4000");
        assert_true(au_ref_equal(r.raw, named.raw));
        assert_int_equal(au_unforge(r), AU_OK);
    }
    assert_int_equal(atomic_load(&a->net->resolves), before + 1);
    /* 70 bytes of host, numeric (inet_aton's hexadecimal form of 127.0.0.1). */
    int64_t_ref longer = au_forge(target_msg, int64_t, a, "x",
        "0x0000000000000000000000000000000000000000000000000000000000007f000001:4000");
    assert_false(au_ref_is_null(longer.raw));
    assert_true(au_ref_equal(longer.raw, numeric.raw));
    au_node_stop(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_pinned_reference_never_looks_stale),
        cmocka_unit_test(a_reused_slot_is_read_whole_or_stale),
        cmocka_unit_test(leaving_a_peer_idle_takes_only_that_peers_slots),
        cmocka_unit_test(a_slots_gen_never_wraps_to_an_old_references),
        cmocka_unit_test(a_node_knows_its_own_actors_by_its_resolved_address),
        cmocka_unit_test(forging_asks_the_resolver_only_for_host_names_not_resolved_lately),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
