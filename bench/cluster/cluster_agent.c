/* cluster_agent.c — one cluster member as a process, for the side-by-side runs with Serf
 * (bench/cluster/run.sh): binds BIND, joins through the seeds and prints one line per
 * membership update, "<CLOCK_REALTIME seconds> members <n>", until killed.
 *   cluster_agent BIND SEED...
 * CLUSTER_HB_MS in the environment overrides hb_interval (ms); CLUSTER_REQ_MS req_timeout. */
#include <aurum/aurum.h>
#include <aurum/cluster.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

AU_LOCAL_ROOT(printer_msg, (update, au_cluster_update, AU_LOCAL));
typedef struct printer { int unused; } printer;
static void printer_recv(au_ctx *ctx, printer *self, printer_msg *m) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    printf("%lld.%09ld members %u\n", (long long)t.tv_sec, t.tv_nsec, m->update.members.len);
    fflush(stdout);
}
AU_ACTOR(printer_actor, printer, printer_msg, .recv = printer_recv);

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s BIND SEED...\n", argv[0]);
        return 2;
    }
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    au_log_set_level(AU_LOG_CLUSTER, AU_LOG_ERROR);
    au_node *node;
    if (au_node_start(&(au_node_config){ .bind = argv[1], .workers = 1, .no_spin = true }, &node)) return 1;
    au_cluster *c;
    au_cluster_config cfg = { .seeds = (const char *const *)&argv[2], .nseeds = (size_t)(argc - 2) };
    if (getenv("CLUSTER_HB_MS")) cfg.hb_interval = AU_MSEC(atoi(getenv("CLUSTER_HB_MS")));
    if (getenv("CLUSTER_REQ_MS")) cfg.req_timeout = AU_MSEC(atoi(getenv("CLUSTER_REQ_MS")));
    if (au_cluster_start(node, &cfg, &c)) return 1;
    printer_msg_lref p = au_spawn(node, printer_actor, NULL, NULL);
    au_cluster_subscribe(c, au_narrow_local(printer_msg, au_cluster_update, p));
    for (;;) pause();
}
