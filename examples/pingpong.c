/* pingpong.c — two actors pass a counter back and forth, then the program asks one of them, from
 * main, how many rounds it saw. Shows records, roots with interfaces, spawn, send, ask, stop. */
#include <aurum/aurum.h>

#include <stdio.h>

AU_RECORD(ball, (uint32_t, hits), (int64_t, limit));
AU_ROOT(player_msg,
        (ball, ball, AU_REMOTE),          /* ball is an interface: ball_ref reaches a player */
        (partner, player_msg_ref, AU_PLAIN),
        (report, int64_t_ref, AU_PLAIN)); /* "send the number of hits you made to this ref" */

typedef struct player {
    const char *name;
    player_msg_ref partner;
    int64_t hits;
} player;

static void player_recv(au_ctx *ctx, player *self, player_msg *msg) {
    switch (msg->tag) {
    case player_msg_partner:
        self->partner = msg->partner;
        break;
    case player_msg_ball:
        self->hits++;
        if (msg->ball.hits % 250000 == 0)
            printf("%s: hit %u\n", self->name, (unsigned)msg->ball.hits);
        if (msg->ball.hits < msg->ball.limit)
            au_send(au_narrow(player_msg, ball, self->partner),
                    (ball){ .hits = msg->ball.hits + 1, .limit = msg->ball.limit });
        break;
    case player_msg_report:
        au_send(msg->report, self->hits);
        break;
    }
}

static void player_post_stop(au_ctx *ctx, player *self) {
    printf("%s: stopping after %lld hits\n", self->name, (long long)self->hits);
}

AU_ACTOR(player_actor, player, player_msg, .recv = player_recv, .post_stop = player_post_stop);

int main(void) {
    au_node *node;
    au_err err = au_node_start(&(au_node_config){ .no_network = true }, &node);
    if (err) {
        fprintf(stderr, "node: %s\n", au_strerror(err));
        return 1;
    }
    player_msg_ref ping = au_spawn(node, player_actor, "ping", &(player){ .name = "ping" });
    player_msg_ref pong = au_spawn(node, player_actor, "pong", &(player){ .name = "pong" });
    au_send(ping, ((player_msg){ .tag = player_msg_partner, .partner = pong }));
    au_send(pong, ((player_msg){ .tag = player_msg_partner, .partner = ping }));

    const int64_t rounds = 1000000;
    au_nanos t0 = au_node_now(node);
    au_send(au_narrow(player_msg, ball, ping), ((ball){ .hits = 1, .limit = rounds }));

    /* Ask pong for its count until it has seen every ball (each ask is a round trip). */
    int64_t seen = 0;
    while (seen < rounds / 2) {
        int64_t_promise p = au_promise_new(node, int64_t);
        au_send(pong, ((player_msg){ .tag = player_msg_report, .report = au_promise_ref(p, int64_t) }));
        if ((err = au_promise_wait(p, int64_t, &seen, AU_SEC(5)))) {
            fprintf(stderr, "ask: %s\n", au_strerror(err));
            return 1;
        }
    }
    au_nanos dt = au_node_now(node) - t0;
    printf("%lld hits in %.1f ms: %.0f ns per hit\n", (long long)rounds, dt / 1e6,
           (double)dt / (double)rounds);
    au_stop(ping);
    au_node_stop(node);
    return 0;
}
