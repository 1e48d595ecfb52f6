/* echo_actor.h — for the net suites: an echo actor that answers a query's n to its reply_to
 * reference (the messages target_msg, query, echo_msg), and stats_of(node). */
#ifndef NET_ECHO_ACTOR_H
#define NET_ECHO_ACTOR_H

#include <aurum/aurum.h>

AU_ROOT(target_msg, (count, int64_t, AU_REMOTE));
AU_RECORD(query, (int64_t, n), (int64_t_ref, reply_to));
AU_ROOT(echo_msg, (ask, query, AU_REMOTE));

typedef struct nothing {
    int unused;
} nothing;

static void echo_recv(au_ctx *ctx, nothing *self, echo_msg *m) {
    (void)ctx, (void)self;
    au_send(m->ask.reply_to, m->ask.n);
}
AU_ACTOR(echo_actor, nothing, echo_msg, .recv = echo_recv);

static AU_UNUSED_ au_node_stats stats_of(au_node *n) {
    au_node_stats s;
    au_node_stats_get(n, &s);
    return s;
}

#endif
