/* netns_node.c — a tiny aurum node for the multi-host tests, run inside a network namespace.
 *
 *   netns_node serve <bind host:port>                     an "echo" actor answers queries
 *   netns_node ask <bind host:port> <peer host:port> <n> <timeout ms>
 *       sends n queries to the peer's echo, each with its own reply promise; prints
 *       "replies <k>" (how many came back within the timeout) and exits 0 if k == n, 1 if
 *       0 < k < n, 2 if k == 0. */
#include <aurum/aurum.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

AU_RECORD(query, (int64_t, n), (int64_t_ref, reply_to));
AU_ROOT(echo_msg, (ask, query, AU_REMOTE));
typedef struct echo { int unused; } echo;
static void echo_recv(au_ctx *ctx, echo *self, echo_msg *m) { au_send(m->ask.reply_to, m->ask.n); }
AU_ACTOR(echo_actor, echo, echo_msg, .recv = echo_recv);

static volatile sig_atomic_t stop;
static void on_signal(int sig) { stop = 1; }

static int serve(const char *bind) {
    au_node *node;
    au_err err = au_node_start(&(au_node_config){ .bind = bind }, &node);
    if (err) {
        fprintf(stderr, "serve %s: %s\n", bind, au_strerror(err));
        return 3;
    }
    au_spawn(node, echo_actor, "echo", NULL);
    printf("serving at %s\n", au_node_address(node));
    fflush(stdout);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    while (!stop) pause();
    au_node_stop(node);
    return 0;
}

static int ask(const char *bind, const char *peer, int n, int timeout_ms) {
    au_node *node;
    au_err err = au_node_start(&(au_node_config){ .bind = bind }, &node);
    if (err) {
        fprintf(stderr, "ask %s: %s\n", bind, au_strerror(err));
        return 3;
    }
    query_ref far = au_forge(echo_msg, query, node, "echo", peer);
    if (au_ref_is_null(far.raw)) {
        fprintf(stderr, "forge echo@%s: %s\n", peer, au_strerror(au_last_error()));
        au_node_stop(node);
        return 3;
    }
    int64_t_promise p[256];
    if (n > 256) n = 256;
    for (int i = 0; i < n; i++) {
        p[i] = au_promise_new(node, int64_t);
        au_send(far, ((query){ .n = i, .reply_to = au_promise_ref(p[i], int64_t) }));
    }
    int replies = 0;
    for (int i = 0; i < n; i++) {
        int64_t v = -1;
        if (au_promise_wait(p[i], int64_t, &v, AU_MSEC(timeout_ms)) == AU_OK && v == i) replies++;
    }
    printf("replies %d\n", replies);
    au_node_stop(node);
    return replies == n ? 0 : replies ? 1 : 2;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "serve")) return serve(argv[2]);
    if (argc == 6 && !strcmp(argv[1], "ask")) return ask(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: netns_node serve <bind> | ask <bind> <peer> <n> <timeout-ms>\n");
    return 64;
}
