/* Tests of the timing wheel (util/wheel.h): entries come out once each when due and not before,
 * by granule; re-keying and removal work anywhere (in a slot or swept but not handed out);
 * entries more than one turn ahead wait for their turn; a due before the cursor comes out at the
 * next sweep; the earliest due is reported as a heap's top would be. Random cases are checked
 * against a brute-force model from a fixed splitmix64 seed, so a failure repeats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/rng.h"
#include "util/wheel.h"

typedef struct item {
    au_wheel_entry e;
    int id;
} item;

static item *item_of(au_wheel_entry *e) { return (item *)(void *)((char *)e - offsetof(item, e)); }

static void due_entries_come_out_when_due_by_granule(void **unused) {
    (void)unused;
    au_wheel w;
    assert_true(au_wheel_init(&w, 10, 8, 1000)); /* granules of 10, 8 slots: 80 per turn */
    item it[4] = { { .id = 0 }, { .id = 1 }, { .id = 2 }, { .id = 3 } };
    au_wheel_set(&w, &it[0].e, 1035);
    au_wheel_set(&w, &it[1].e, 1012);
    au_wheel_set(&w, &it[2].e, 1019);
    au_wheel_set(&w, &it[3].e, 1030);
    assert_int_equal(au_wheel_len(&w), 4);
    assert_null(au_wheel_pop_due(&w, 1011)); /* nothing due yet */
    assert_int_equal(au_wheel_earliest_due(&w, 1011), UINT64_MAX);
    au_wheel_entry *e = au_wheel_pop_due(&w, 1012);
    assert_non_null(e);
    assert_int_equal(item_of(e)->id, 1);
    assert_false(au_wheel_linked(e));
    assert_null(au_wheel_pop_due(&w, 1018)); /* 1019 is in the same granule but not due */
    assert_int_equal(item_of(au_wheel_pop_due(&w, 1019))->id, 2);
    assert_int_equal(au_wheel_earliest_due(&w, 1040), 1030);
    /* granule 103 before 103 (35 and 30 share it): in the order they were set */
    assert_int_equal(item_of(au_wheel_pop_due(&w, 1040))->id, 0);
    assert_int_equal(item_of(au_wheel_pop_due(&w, 1040))->id, 3);
    assert_null(au_wheel_pop_due(&w, 1040));
    assert_int_equal(au_wheel_len(&w), 0);
    au_wheel_destroy(&w);
}

static void rekey_and_remove_anywhere(void **unused) {
    (void)unused;
    au_wheel w;
    assert_true(au_wheel_init(&w, 5, 16, 0));
    item a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 };
    au_wheel_set(&w, &a.e, 10);
    au_wheel_set(&w, &b.e, 10);
    au_wheel_set(&w, &c.e, 12);
    au_wheel_set(&w, &a.e, 40); /* re-keyed later: not counted twice */
    assert_int_equal(au_wheel_len(&w), 3);
    /* b comes out; c is swept into the ready list by the same sweep, then re-keyed and removed */
    assert_int_equal(item_of(au_wheel_pop_due(&w, 14))->id, 2);
    au_wheel_set(&w, &c.e, 30);
    assert_null(au_wheel_pop_due(&w, 14));
    au_wheel_remove(&w, &c.e);
    au_wheel_remove(&w, &c.e); /* twice: nothing */
    assert_false(au_wheel_linked(&c.e));
    assert_int_equal(au_wheel_len(&w), 1);
    assert_null(au_wheel_pop_due(&w, 35));
    assert_int_equal(item_of(au_wheel_pop_due(&w, 40))->id, 1);
    assert_int_equal(au_wheel_len(&w), 0);
    au_wheel_destroy(&w);
}

static void far_and_past_dues(void **unused) {
    (void)unused;
    au_wheel w;
    assert_true(au_wheel_init(&w, 10, 4, 100)); /* 40 per turn */
    item far = { .id = 1 }, past = { .id = 2 }, near = { .id = 3 };
    au_wheel_set(&w, &far.e, 225); /* granule 22, slot 2: it passes slot 2 at granules 14 and 18 */
    au_wheel_set(&w, &near.e, 125);
    assert_null(au_wheel_pop_due(&w, 120));
    assert_ptr_equal(au_wheel_pop_due(&w, 130), &near.e);
    for (uint64_t now = 140; now <= 220; now += 10) assert_null(au_wheel_pop_due(&w, now));
    assert_int_equal(au_wheel_len(&w), 1);
    assert_ptr_equal(au_wheel_pop_due(&w, 225), &far.e);
    /* a due before the cursor (now is 225): out at the next look */
    au_wheel_set(&w, &past.e, 50);
    assert_int_equal(au_wheel_earliest_due(&w, 225), 50);
    assert_ptr_equal(au_wheel_pop_due(&w, 225), &past.e);
    /* an empty wheel jumps ahead instead of walking the granules it slept through */
    assert_null(au_wheel_pop_due(&w, 1000000000));
    assert_int_equal(w.cursor, 100000000);
    au_wheel_destroy(&w);
    assert_false(au_wheel_init(&w, 0, 4, 0));
}

/* Against a model: random sets, removes and advances; every pop is due, and every entry due at
 * an advance comes out by the end of that advance (nothing lost, nothing twice). */
static void random_against_model(void **unused) {
    (void)unused;
    enum { N = 300, STEPS = 20000 };
    static item it[N];
    static uint64_t model[N]; /* due, or 0: not in the wheel */
    memset(it, 0, sizeof it);
    memset(model, 0, sizeof model);
    uint64_t seed = 0x5eedULL, now = 1000;
    au_wheel w;
    assert_true(au_wheel_init(&w, 7, 64, now)); /* 448 per turn; dues up to 1,500 ahead */
    for (int i = 0; i < N; i++) it[i].id = i;
    for (int step = 0; step < STEPS; step++) {
        uint64_t r = au_splitmix64_next(&seed);
        int i = (int)(r % N);
        switch ((r >> 20) % 4) {
        case 0:
        case 1: {
            uint64_t due = now + (r >> 32) % 1500;
            au_wheel_set(&w, &it[i].e, due);
            model[i] = due;
            break;
        }
        case 2:
            au_wheel_remove(&w, &it[i].e);
            model[i] = 0;
            break;
        default: {
            now += (r >> 32) % 40;
            uint64_t earliest = UINT64_MAX;
            for (int k = 0; k < N; k++)
                if (model[k] && model[k] <= now && model[k] < earliest) earliest = model[k];
            assert_int_equal(au_wheel_earliest_due(&w, now), earliest);
            au_wheel_entry *e;
            while ((e = au_wheel_pop_due(&w, now))) {
                int k = item_of(e)->id;
                assert_true(model[k] != 0);
                assert_true(model[k] <= now);
                model[k] = 0;
            }
            for (int k = 0; k < N; k++) assert_false(model[k] && model[k] <= now);
            break;
        }
        }
        size_t len = 0;
        for (int k = 0; k < N; k++) len += model[k] != 0;
        assert_int_equal(au_wheel_len(&w), len);
    }
    au_wheel_destroy(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(due_entries_come_out_when_due_by_granule),
        cmocka_unit_test(rekey_and_remove_anywhere),
        cmocka_unit_test(far_and_past_dues),
        cmocka_unit_test(random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
