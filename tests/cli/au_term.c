/* au_term — sends Term to the admin actor of the `aurum node` at HOST:PORT, as anyone who can
 * reach an unkeyed node's port can: a reference forged from the address and the admin actor's
 * known name, and au_stop through it. test_cli.sh checks that the node still answers.
 *
 *   au_term HOST:PORT
 *
 * Exit status: 0 sent, 1 the node could not be started or the reference not forged, 2 usage. */
#include <aurum/aurum.h>
#include <stdio.h>
#include <time.h>

#include "aurum_cli.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fputs("usage: au_term HOST:PORT\n", stderr);
        return 2;
    }
    au_node *node;
    if (au_node_start(&(au_node_config){ .bind = "127.0.0.1:0" }, &node) != AU_OK) return 1;
    adm_status_req_ref r = au_forge(adm_msg, adm_status_req, node, AURUM_ADMIN_NAME, argv[1]);
    int rc = au_ref_is_null(r.raw) || au_stop(r) != AU_OK;
    /* until the datagram has left (2 s at most) */
    au_node_stats st = { 0 };
    for (int i = 0; !rc && i < 200 && st.datagrams_sent == 0; i++) {
        au_node_stats_get(node, &st);
        nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
    }
    if (st.datagrams_sent == 0) rc = 1;
    au_node_stop(node);
    return rc;
}
