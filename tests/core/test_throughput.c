/* test_throughput.c — many senders, one receiver: nothing lost, per-sender order kept. */
#include <aurum/aurum.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "support/recorder.h"

enum { SENDERS = 4, PER_SENDER = 250000 };

AU_RECORD(stamped, (uint32_t, sender), (uint32_t, seq));
AU_ROOT(sink_msg, (item, stamped, AU_REMOTE));

typedef struct sink {
    uint32_t next[SENDERS];   /* next expected seq per sender */
    uint64_t received, out_of_order;
    recorder *done;
} sink;

static void sink_recv(au_ctx *ctx, sink *self, sink_msg *m) {
    uint32_t s = m->item.sender;
    if (s >= SENDERS || m->item.seq != self->next[s]) self->out_of_order++;
    if (s < SENDERS) self->next[s] = m->item.seq + 1;
    if (++self->received == (uint64_t)SENDERS * PER_SENDER)
        recorder_add(self->done, (int64_t)self->out_of_order);
}

AU_ACTOR(sink_actor, sink, sink_msg, .recv = sink_recv);

typedef struct sender_arg {
    stamped_ref target;
    uint32_t id;
    int failures;
} sender_arg;

static void *sender_main(void *p) {
    sender_arg *a = p;
    for (uint32_t i = 0; i < PER_SENDER; i++)
        if (au_send(a->target, ((stamped){ .sender = a->id, .seq = i })) != AU_OK) a->failures++;
    return NULL;
}

static void a_million_messages_from_four_threads_arrive_complete_and_in_order(void **s) {
    recorder done;
    recorder_init(&done);
    au_node *node;
    assert_int_equal(au_node_start(&(au_node_config){ .no_network = true }, &node), AU_OK);
    sink_msg_ref r = au_spawn(node, sink_actor, NULL, &(sink){ .done = &done });
    stamped_ref target = au_narrow(sink_msg, stamped, r);

    pthread_t threads[SENDERS];
    sender_arg args[SENDERS];
    for (uint32_t i = 0; i < SENDERS; i++) {
        args[i] = (sender_arg){ .target = target, .id = i };
        pthread_create(&threads[i], NULL, sender_main, &args[i]);
    }
    for (int i = 0; i < SENDERS; i++) pthread_join(threads[i], NULL);
    for (int i = 0; i < SENDERS; i++) assert_int_equal(args[i].failures, 0);

    assert_true(recorder_wait(&done, 1, 60000));
    assert_int_equal(recorder_at(&done, 0), 0); /* no message out of order or missing */
    au_node_stop(node);
    recorder_destroy(&done);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_million_messages_from_four_threads_arrive_complete_and_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
