/* Tests of the binary min-heap (util/heap.h): it hands items back in order for pointers and for
 * structs by value, removes and re-keys at an index that `moved` keeps up to date, and fails
 * cleanly when empty. Random cases come from a fixed splitmix64 seed, so a failure repeats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/heap.h"
#include "util/rng.h"

/* ---- items by value, with a tie-breaking sequence number ----------------------------------- */

typedef struct event {
    uint64_t when;
    uint64_t seq; /* insertion order: breaks ties, so the order is total */
    uint32_t payload;
} event;

static void assert_event_equal(const event *a, const event *b) {
    assert_int_equal(a->when, b->when);
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->payload, b->payload);
}

static bool event_less(const void *a, const void *b, void *ctx) {
    const event *x = a, *y = b;
    return x->when != y->when ? x->when < y->when : x->seq < y->seq;
}

static int event_cmp(const void *a, const void *b) {
    return event_less(a, b, NULL) ? -1 : event_less(b, a, NULL) ? 1 : 0;
}

static void events_come_out_in_order_including_ties(void **unused) {
    (void)unused;
    enum { N = 2000 };
    uint64_t rng = 42;
    event *all = malloc(N * sizeof *all);
    assert_non_null(all);
    au_heap h;
    au_heap_init(&h, sizeof(event), event_less, NULL, NULL);
    for (uint32_t i = 0; i < N; i++) {
        all[i] = (event){ .when = au_splitmix64_next(&rng) % 100, .seq = i, .payload = i * 7 };
        assert_true(au_heap_push(&h, &all[i]));
    }
    assert_int_equal(au_heap_len(&h), N);
    qsort(all, N, sizeof *all, event_cmp);
    for (size_t i = 0; i < N; i++) {
        const event *top = au_heap_peek(&h);
        assert_non_null(top);
        assert_event_equal(top, &all[i]);
        event got;
        assert_true(au_heap_pop(&h, &got));
        assert_event_equal(&got, &all[i]);
    }
    assert_int_equal(au_heap_len(&h), 0);
    assert_null(au_heap_peek(&h));
    event none = { 0 };
    assert_false(au_heap_pop(&h, &none));
    assert_false(au_heap_remove(&h, 0, NULL));
    au_heap_destroy(&h);
    free(all);
}

/* ---- pointers to items that remember their index ------------------------------------------ */

typedef struct timer {
    uint64_t deadline;
    size_t index; /* where it is in the heap; SIZE_MAX when out */
    int id;
} timer;

static bool timer_less(const void *a, const void *b, void *ctx) {
    const timer *x = *(timer *const *)a, *y = *(timer *const *)b;
    return x->deadline < y->deadline;
}

static void timer_moved(void *item, size_t index, void *ctx) {
    (*(timer **)item)->index = index;
    (*(int *)ctx)++;
}

/* Every slot's item knows its index, and no parent comes after its child. */
static void assert_heap_valid(const au_heap *h) {
    for (size_t i = 0; i < au_heap_len(h); i++) {
        timer *t = *(timer **)au_heap_at(h, i);
        assert_int_equal(t->index, i);
        if (i > 0) {
            timer *parent = *(timer **)au_heap_at(h, (i - 1) / 2);
            assert_true(parent->deadline <= t->deadline);
        }
    }
}

static void remove_at_index_and_fix_keep_the_order_and_the_indices(void **unused) {
    (void)unused;
    enum { N = 500 };
    uint64_t rng = 7;
    timer *timers = calloc(N, sizeof *timers);
    bool *in = calloc(N, sizeof *in);
    assert_non_null(timers);
    assert_non_null(in);
    int moves = 0;
    au_heap h;
    au_heap_init(&h, sizeof(timer *), timer_less, timer_moved, &moves);
    for (int i = 0; i < N; i++) {
        timers[i] = (timer){ .deadline = au_splitmix64_next(&rng) % 1000, .index = SIZE_MAX,
                             .id = i };
        timer *p = &timers[i];
        assert_true(au_heap_push(&h, &p));
        in[i] = true;
    }
    assert_true(moves >= N); /* each push placed its item at least once */
    assert_heap_valid(&h);

    /* Cancel a third of them by the index they remember, re-key another third. */
    for (int i = 0; i < N; i++) {
        uint64_t r = au_splitmix64_next(&rng) % 3;
        timer *t = &timers[i];
        if (r == 0) {
            timer *got = NULL;
            assert_true(au_heap_remove(&h, t->index, &got));
            assert_ptr_equal(got, t);
            in[i] = false;
        } else if (r == 1) {
            t->deadline = au_splitmix64_next(&rng) % 1000;
            au_heap_fix(&h, t->index);
        }
        assert_heap_valid(&h);
    }

    size_t expect = 0;
    for (int i = 0; i < N; i++) expect += in[i];
    assert_int_equal(au_heap_len(&h), expect);
    uint64_t last = 0;
    for (size_t k = 0; k < expect; k++) {
        timer *t = NULL;
        assert_true(au_heap_pop(&h, &t));
        assert_true(in[t->id]);
        in[t->id] = false;
        assert_true(t->deadline >= last);
        last = t->deadline;
    }
    for (int i = 0; i < N; i++) assert_false(in[i]); /* every remaining one came out once */
    assert_false(au_heap_remove(&h, 0, NULL));
    au_heap_destroy(&h);
    free(timers);
    free(in);
}

static void removing_the_last_slot_and_out_of_range_indices(void **unused) {
    (void)unused;
    au_heap h;
    au_heap_init(&h, sizeof(event), event_less, NULL, NULL);
    for (uint64_t i = 0; i < 5; i++) assert_true(au_heap_push(&h, &(event){ .when = i, .seq = i }));
    event got;
    assert_false(au_heap_remove(&h, 5, &got));
    assert_int_equal(au_heap_len(&h), 5);
    const event *lastslot = au_heap_at(&h, 4);
    uint64_t when = lastslot->when;
    assert_true(au_heap_remove(&h, 4, &got));
    assert_int_equal(got.when, when);
    assert_int_equal(au_heap_len(&h), 4);
    assert_true(au_heap_remove(&h, 0, NULL));
    assert_int_equal(((const event *)au_heap_peek(&h))->when, 1);
    au_heap_destroy(&h);
    assert_int_equal(au_heap_len(&h), 0);
    /* Usable again after destroy. */
    assert_true(au_heap_push(&h, &(event){ .when = 9 }));
    assert_int_equal(((const event *)au_heap_peek(&h))->when, 9);
    au_heap_destroy(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(events_come_out_in_order_including_ties),
        cmocka_unit_test(remove_at_index_and_fix_keep_the_order_and_the_indices),
        cmocka_unit_test(removing_the_last_slot_and_out_of_range_indices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
