/* netns_cluster_node.c — one cluster member for the namespace tests: binds the given address,
 * joins through the given seeds and prints one line per membership update,
 *   members <n> <address> <address> ...
 * (sorted, flushed at once) until it has run for the given number of seconds.
 *   netns_cluster_node BIND SECONDS SEED... */
#include <aurum/aurum.h>
#include <aurum/cluster.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

AU_LOCAL_ROOT(printer_msg, (update, au_cluster_update, AU_LOCAL));
typedef struct printer { int unused; } printer;
static void printer_recv(au_ctx *ctx, printer *self, printer_msg *m) {
    au_cluster_update *u = &m->update;
    printf("members %u", u->members.len);
    for (uint32_t i = 0; i < u->members.len; i++) printf(" %s", u->members.ptr[i].address.ptr);
    printf("\n");
    fflush(stdout);
}
AU_ACTOR(printer_actor, printer, printer_msg, .recv = printer_recv);

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s BIND SECONDS SEED...\n", argv[0]);
        return 2;
    }
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    au_node *node;
    if (au_node_start(&(au_node_config){ .bind = argv[1], .workers = 1, .no_spin = true }, &node)) return 1;
    au_cluster *c;
    au_cluster_config cfg = { .seeds = (const char *const *)&argv[3], .nseeds = (size_t)(argc - 3) };
    if (au_cluster_start(node, &cfg, &c)) return 1;
    printer_msg_lref p = au_spawn(node, printer_actor, NULL, NULL);
    au_cluster_subscribe(c, au_narrow_local(printer_msg, au_cluster_update, p));
    nanosleep(&(struct timespec){ atoi(argv[2]), 0 }, NULL);
    au_node_stop(node);
    return 0;
}
