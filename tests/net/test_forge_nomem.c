/* test_forge_nomem.c — a forge whose new peer entry cannot be allocated fails with AU_ENOMEM
 * (it had said AU_EFULL, "the table is full", of a table with room), leaves nothing behind,
 * and a forge afterwards succeeds; a peer table that is really full still says AU_EFULL.
 *
 * The peer entry is the library's only aligned_alloc (src/net/peer.c peer_new): this program is
 * linked with --wrap=aligned_alloc (tests/CMakeLists.txt), so the statically linked library
 * calls __wrap_aligned_alloc below, which fails on the calling thread while fail_aligned is set
 * (the node's own threads are unaffected) and otherwise calls the real one, which the
 * sanitizers and valgrind track as usual. */
#include <aurum/aurum.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "net/echo_actor.h"

static _Thread_local int fail_aligned;
static _Thread_local int aligned_calls;

void *__real_aligned_alloc(size_t align, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size) {
    aligned_calls++;
    return fail_aligned ? NULL : __real_aligned_alloc(align, size);
}

static void a_peer_that_cannot_be_allocated_is_enomem_not_efull(void **s) {
    (void)s;
    au_node *a;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    uint64_t peers = stats_of(a).peers, refs = stats_of(a).remote_refs;

    aligned_calls = 0;
    fail_aligned = 1;
    int64_t_ref r = au_forge(target_msg, int64_t, a, "nobody", "127.0.0.1:20000");
    fail_aligned = 0;
    assert_true(au_ref_is_null(r.raw));
    assert_true(aligned_calls >= 1); /* the peer entry was asked for, on this thread */
    assert_int_equal(au_last_error(), AU_ENOMEM);
    assert_int_equal(stats_of(a).peers, peers);
    assert_int_equal(stats_of(a).remote_refs, refs);

    /* Memory back: the same forge succeeds, with its one peer and slot. */
    r = au_forge(target_msg, int64_t, a, "nobody", "127.0.0.1:20000");
    assert_false(au_ref_is_null(r.raw));
    assert_int_equal(stats_of(a).peers, peers + 1);
    assert_int_equal(stats_of(a).remote_refs, refs + 1);
    assert_int_equal(au_unforge(r), AU_OK);
    au_node_stop(a);
}

/* A peer table of 2 held by two kept forges: the third node's forge is AU_EFULL, as before. */
static void a_full_peer_table_is_still_efull(void **s) {
    (void)s;
    au_node *a;
    assert_int_equal(au_node_start(&(au_node_config){ .max_peers = 2, .max_remote_refs = 64 }, &a),
                     AU_OK);
    assert_false(au_ref_is_null(au_forge(target_msg, int64_t, a, "nobody", "127.0.0.1:20001").raw));
    assert_false(au_ref_is_null(au_forge(target_msg, int64_t, a, "nobody", "127.0.0.1:20002").raw));
    int64_t_ref r = au_forge(target_msg, int64_t, a, "nobody", "127.0.0.1:20003");
    assert_true(au_ref_is_null(r.raw));
    assert_int_equal(au_last_error(), AU_EFULL);
    au_node_stop(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_peer_that_cannot_be_allocated_is_enomem_not_efull),
        cmocka_unit_test(a_full_peer_table_is_still_efull),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
