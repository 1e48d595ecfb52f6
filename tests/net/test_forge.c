/* test_forge.c — forged references over their life: au_unforge gives a forged target's entries
 * (remote reference slot, peer) back, so a node that forges to ever new addresses keeps working
 * within small tables, and a copy of an unforged reference fails cleanly once its entry is
 * reused; a forged host name is interned under its resolved address, so it is equal to the
 * numeric spelling and travels in messages as an address the receiver takes; an advertised port
 * 0 is the port bound. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/echo_actor.h"

/* c asks the echo actor behind far for n, with its answer to go to `me`, and p receives it. */
static void ask(au_probe *p, query_ref far, int64_t_ref me, int64_t n) {
    assert_int_equal(au_send(far, ((query){ .n = n, .reply_to = me })), AU_OK);
    target_msg got;
    assert_int_equal(au_probe_expect(p, target_msg, &got, AU_SEC(10)), AU_OK);
    assert_int_equal(got.count, n);
}

/* A node of 16 peers and 64 reference slots forges to 5,000 distinct addresses, one at a time,
 * unforging each when done: every forge succeeds (forged slots were kept for good, each holding
 * its peer, so the 17th had failed with AU_EFULL), and afterwards it still reaches a real node.
 * The peer table fills first (slots then give up peers), the slot table later (slots reused). */
static void forge_then_unforge_to_ever_new_addresses_never_fills_the_tables(void **s) {
    (void)s;
    enum { SMALL = 16, ADDRESSES = 5000 };
    au_node *a, *b;
    assert_int_equal(au_node_start(&(au_node_config){ .max_peers = SMALL,
                                                      .max_remote_refs = 4 * SMALL }, &a), AU_OK);
    assert_int_equal(au_node_start(NULL, &b), AU_OK);
    au_spawn(b, echo_actor, "echo", NULL);
    /* One forged and kept: it stays live through all the churn. */
    query_ref kept = au_forge(echo_msg, query, a, "echo", au_node_address(b));
    assert_false(au_ref_is_null(kept.raw));

    char addr[32];
    int64_t_ref first = { 0 };
    for (int i = 0; i < ADDRESSES; i++) {
        snprintf(addr, sizeof addr, "127.0.0.1:%d", 20000 + i);
        int64_t_ref r = au_forge(target_msg, int64_t, a, "nobody", addr);
        assert_false(au_ref_is_null(r.raw));
        if (i == 0) first = r; /* a copy kept past its unforge */
        assert_int_equal(au_unforge(r), AU_OK);
        assert_int_equal(au_unforge(r), AU_ESTATE); /* one forge, undone once */
    }
    au_node_stats st = stats_of(a);
    assert_true(st.remote_refs <= 4 * SMALL);
    assert_true(st.peers <= SMALL);
    assert_true(st.remote_refs_evicted >= ADDRESSES - 4 * SMALL);

    /* The copy of the first, unforged reference: its slot was reused, so it is stale and fails
     * cleanly, counted, and reaches nobody. */
    char text[96];
    au_ref_format(first.raw, text, sizeof text);
    assert_string_equal(text, "(stale remote reference)");
    uint64_t stale = st.drops_stale_ref;
    assert_int_equal(au_send(first, (int64_t)1), AU_ESTOPPED);
    assert_int_equal(stats_of(a).drops_stale_ref, stale + 1);
    assert_int_equal(au_unforge(first), AU_ESTATE);

    /* The kept one still works: b answers a, at a's own probe. */
    au_probe *p = au_probe_new_with(a, target_msg, &(au_probe_opts){ .name = "inbox" });
    int64_t_ref me = au_narrow(target_msg, int64_t, au_probe_ref(p, target_msg));
    ask(p, kept, me, 7);
    /* Two forges of one target: one unforge keeps it. */
    query_ref again = au_forge(echo_msg, query, a, "echo", au_node_address(b));
    assert_true(au_ref_equal(again.raw, kept.raw));
    assert_int_equal(au_unforge(again), AU_OK);
    for (int i = 0; i < 100; i++) { /* churn again: kept holds its one remaining forge */
        snprintf(addr, sizeof addr, "127.0.0.1:%d", 30000 + i);
        int64_t_ref r = au_forge(target_msg, int64_t, a, "nobody", addr);
        assert_false(au_ref_is_null(r.raw));
        assert_int_equal(au_unforge(r), AU_OK);
    }
    ask(p, kept, me, 8);
    au_probe_free(p);
    au_node_stop(a);
    au_node_stop(b);
}

/* Without unforging, forged targets fill the small table: AU_EFULL, as documented. */
static void forges_never_undone_fill_the_table(void **s) {
    (void)s;
    enum { SMALL = 8 };
    au_node *a;
    assert_int_equal(au_node_start(&(au_node_config){ .max_peers = 64, .max_remote_refs = SMALL },
                                   &a), AU_OK);
    char addr[32];
    for (int i = 0; i < SMALL; i++) {
        snprintf(addr, sizeof addr, "127.0.0.1:%d", 20000 + i);
        assert_false(au_ref_is_null(au_forge(target_msg, int64_t, a, "nobody", addr).raw));
    }
    int64_t_ref r = au_forge(target_msg, int64_t, a, "nobody", "127.0.0.1:21000");
    assert_true(au_ref_is_null(r.raw));
    assert_int_equal(au_last_error(), AU_EFULL);
    /* Misuse: nothing forged to undo. */
    int64_t_ref null_ref = { 0 };
    assert_int_equal(au_unforge(null_ref), AU_EINVAL);
    au_probe *p = au_probe_new_with(a, target_msg, NULL);
    assert_int_equal(au_unforge(au_narrow(target_msg, int64_t, au_probe_ref(p, target_msg))),
                     AU_EINVAL);
    au_probe_free(p);
    au_node_stop(a);
}

/* "localhost:P" is forged as the address it resolves to: equal to the numeric reference, shown
 * with the number, and a reply reference forged so travels to a node that answers through it
 * (a host name in a message is refused: the echo's node had dropped the query undecoded). */
static void a_reference_forged_with_a_host_name_is_the_numeric_one(void **s) {
    (void)s;
    au_node *a, *b;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    assert_int_equal(au_node_start(NULL, &b), AU_OK);
    const char *numeric = au_node_address(a); /* "127.0.0.1:P" */
    const char *port = strrchr(numeric, ':');
    assert_non_null(port);
    assert_int_equal(strncmp(numeric, "127.0.0.1:", 10), 0);
    char named[64];
    snprintf(named, sizeof named, "localhost%s", port);
    au_probe *p = au_probe_new_with(a, target_msg, &(au_probe_opts){ .name = "inbox" });
    int64_t_ref by_name = au_forge(target_msg, int64_t, a, "inbox", named);
    int64_t_ref by_number = au_forge(target_msg, int64_t, a, "inbox", numeric);
    assert_false(au_ref_is_null(by_name.raw));
    char text[96], want[96];
    au_ref_format(by_name.raw, text, sizeof text);
    snprintf(want, sizeof want, "inbox@%s as int64_t", numeric);
    if (strcmp(text, want) != 0) { /* localhost resolves elsewhere here (::1 first) */
        au_probe_free(p);
        au_node_stop(b);
        au_node_stop(a);
        skip();
    }
    assert_true(au_ref_equal(by_name.raw, by_number.raw));

    au_spawn(b, echo_actor, "echo", NULL);
    query_ref far = au_forge(echo_msg, query, a, "echo", au_node_address(b));
    ask(p, far, by_name, 5);
    assert_int_equal(stats_of(b).drops_decode, 0);
    au_probe_free(p);
    au_node_stop(b);
    au_node_stop(a);
}

/* An advertised port 0 is the port bound (here the OS's pick): the node's address names it, and
 * a reference to one of its actors that travels to another node is answered there (the echo's
 * reply reached "127.0.0.1:0" before, which nobody listens on). */
static void an_advertised_port_0_is_the_bound_port(void **s) {
    (void)s;
    au_node *a, *b;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1:0",
                                                      .advertise = "127.0.0.1:0" }, &b), AU_OK);
    const char *addr = au_node_address(b);
    assert_int_equal(strncmp(addr, "127.0.0.1:", 10), 0);
    assert_true(atoi(addr + 10) > 0);
    au_spawn(a, echo_actor, "echo", NULL);
    au_probe *p = au_probe_new_with(b, target_msg, &(au_probe_opts){ .name = "inbox" });
    int64_t_ref me = au_narrow(target_msg, int64_t, au_probe_ref(p, target_msg));
    query_ref far = au_forge(echo_msg, query, b, "echo", au_node_address(a));
    assert_false(au_ref_is_null(far.raw));
    ask(p, far, me, 9);
    au_probe_free(p);
    au_node_stop(b);
    au_node_stop(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forge_then_unforge_to_ever_new_addresses_never_fills_the_tables),
        cmocka_unit_test(forges_never_undone_fill_the_table),
        cmocka_unit_test(a_reference_forged_with_a_host_name_is_the_numeric_one),
        cmocka_unit_test(an_advertised_port_0_is_the_bound_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
