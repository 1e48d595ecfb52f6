/* The member table's invariant checker (cl_table_check, members.c) and the message checks moved
 * out of cluster.c (cl_addr_ok, cl_update_ok, cl_sync_ok): the checker passes on a table built
 * and changed through the table's operations, and names each invariant it is shown broken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/members.h"

static cl_member *add(cl_table *t, const char *addr, uint64_t id, uint8_t state) {
    cl_member *m = cl_table_add(t, addr, strlen(addr), id, 0, state, 8);
    assert_non_null(m);
    return m;
}

static void checker_passes_on_a_table_changed_by_its_operations(void **state) {
    (void)state;
    cl_table t;
    cl_table_init(&t);
    assert_null(cl_table_check(&t));
    cl_member *self = add(&t, "127.0.0.1:1", 1, CL_ALIVE);
    cl_table_mark_self(&t, self);
    char addr[32];
    for (int i = 0; i < 40; i++) {
        snprintf(addr, sizeof addr, "127.0.0.1:%d", 100 + i);
        cl_member *m = add(&t, addr, 10 + (uint64_t)i, i % 3 ? CL_ALIVE : CL_SUSPECT);
        cl_queue_push(&t, m, 3);
        if (i % 3 == 0) cl_member_accuse(m, 5);
    }
    assert_null(cl_table_check(&t));
    assert_int_equal(t.nlive, 40);
    for (int i = 0; i < 40; i += 4) {
        snprintf(addr, sizeof addr, "127.0.0.1:%d", 100 + i);
        cl_member *m = cl_table_get(&t, addr, strlen(addr));
        cl_table_set(&t, m, m->id, m->inc + 1, CL_DEAD, m->vnodes);
    }
    assert_null(cl_table_check(&t));
    assert_int_equal(t.ntombstones, 10);
    cl_update out[CL_MAX_UPDATES];
    while (t.nqueue) {
        cl_queue_take(&t, out, 7, true);
        assert_null(cl_table_check(&t));
    }
    for (int i = 0; i < 40; i += 8) {
        snprintf(addr, sizeof addr, "127.0.0.1:%d", 100 + i);
        cl_table_drop(&t, cl_table_get(&t, addr, strlen(addr)));
        assert_null(cl_table_check(&t));
    }
    assert_int_equal(t.by_key.count, 36);
    cl_table_free(&t);
}

static void checker_names_what_is_broken(void **state) {
    (void)state;
    cl_table t;
    cl_table_init(&t);
    cl_member *a = add(&t, "127.0.0.1:2", 2, CL_ALIVE), *b = add(&t, "127.0.0.1:3", 3, CL_ALIVE);
    add(&t, "127.0.0.1:4", 4, CL_DEAD);
    cl_queue_push(&t, a, 2);
    assert_null(cl_table_check(&t));

    a->state = CL_SUSPECT; /* behind set()'s back: the digest no longer matches */
    assert_string_equal(cl_table_check(&t), "digest tree");
    a->state = CL_ALIVE;

    size_t keep = b->live_index;
    b->live_index = SIZE_MAX;
    assert_string_equal(cl_table_check(&t), "live[]: a live member missing or at the wrong index");
    b->live_index = keep;

    t.ntombstones++;
    assert_string_equal(cl_table_check(&t), "ntombstones");
    t.ntombstones--;

    a->tx_done = 1; /* queued at level 0 but says level 1 */
    assert_string_equal(cl_table_check(&t), "queue: links");
    a->tx_done = 0;
    assert_null(cl_table_check(&t));
    cl_table_free(&t);
}

static void message_checks(void **state) {
    (void)state;
    au_str ok = au_str_lit("127.0.0.1:7000"), bad = au_str_lit("127.0.0.1 7000");
    assert_true(cl_addr_ok(&ok));
    assert_false(cl_addr_ok(&bad));
    au_str nul = { .ptr = "127.0.0.1:7\0", .len = 12 }; /* a NUL inside its length */
    assert_false(cl_addr_ok(&nul));
    cl_update u = { ok, 5, 0, CL_LEFT, 4096, 0 };
    assert_true(cl_update_ok(&u));
    u.state = CL_LEFT + 1;
    assert_false(cl_update_ok(&u));
    u.state = CL_ALIVE, u.id = 0;
    assert_false(cl_update_ok(&u));
    uint64_t d[2] = { 0 };
    cl_sync y = { ok, 5, 0, CL_SYNC_DIGEST, 1, 1, { d, 1, 0 }, { NULL, 0, 0 } };
    assert_true(cl_sync_ok(&y));
    y.start = 2; /* outside 2^1 buckets */
    assert_false(cl_sync_ok(&y));
    y.start = 0, y.digest.len = 2, y.level = 0; /* two hashes of a one-bucket level */
    assert_false(cl_sync_ok(&y));
    y.level = CL_LEVELS + 1, y.digest.len = 1;
    assert_false(cl_sync_ok(&y));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(checker_passes_on_a_table_changed_by_its_operations),
        cmocka_unit_test(checker_names_what_is_broken),
        cmocka_unit_test(message_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
