/* netns_cluster_node.c — one cluster member for the namespace tests: binds the given address,
 * joins through the given seeds and prints one line per membership update,
 *   members <n> <address> <address> ...
 * (sorted, flushed at once), and a line "incompatible" for an INCOMPATIBLE event, until it has
 * run for the given number of seconds.
 *   netns_cluster_node [-a ADVERTISE] [-c COMPAT] BIND SECONDS SEED...
 * -a: the address the node advertises (au_node_config.advertise; needed with a wildcard BIND);
 * -c: the application's compatibility hash (au_cluster_config.compat; default 0). */
#include <aurum/aurum.h>
#include <aurum/cluster.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

AU_LOCAL_ROOT(printer_msg, (update, au_cluster_update, AU_LOCAL));
typedef struct printer { int unused; } printer;
static void printer_recv(au_ctx *ctx, printer *self, printer_msg *m) {
    au_cluster_update *u = &m->update;
    for (uint32_t i = 0; i < u->events.len; i++)
        if (u->events.ptr[i].kind == AU_CLUSTER_INCOMPATIBLE) printf("incompatible\n");
    printf("members %u", u->members.len);
    for (uint32_t i = 0; i < u->members.len; i++) printf(" %s", u->members.ptr[i].address.ptr);
    printf("\n");
    fflush(stdout);
}
AU_ACTOR(printer_actor, printer, printer_msg, .recv = printer_recv);

int main(int argc, char **argv) {
    const char *advertise = NULL;
    uint64_t compat = 0;
    int a = 1;
    for (; a + 1 < argc && argv[a][0] == '-'; a += 2) {
        if (strcmp(argv[a], "-a") == 0) advertise = argv[a + 1];
        else if (strcmp(argv[a], "-c") == 0) compat = strtoull(argv[a + 1], NULL, 0);
        else break;
    }
    if (argc - a < 2) {
        fprintf(stderr, "usage: %s [-a ADVERTISE] [-c COMPAT] BIND SECONDS SEED...\n", argv[0]);
        return 2;
    }
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    au_node *node;
    if (au_node_start(&(au_node_config){ .bind = argv[a], .advertise = advertise, .workers = 1,
                                         .no_spin = true }, &node))
        return 1;
    au_cluster *c;
    au_cluster_config cfg = { .seeds = (const char *const *)&argv[a + 2], .nseeds = (size_t)(argc - a - 2),
                              .compat = compat };
    if (au_cluster_start(node, &cfg, &c)) return 1;
    printer_msg_lref p = au_spawn(node, printer_actor, NULL, NULL);
    au_cluster_subscribe(c, au_narrow_local(printer_msg, au_cluster_update, p));
    nanosleep(&(struct timespec){ atoi(argv[a + 1]), 0 }, NULL);
    au_node_stop(node);
    return 0;
}
