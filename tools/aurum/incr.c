/* tools/aurum/incr.c — `aurum incr`: increments the shared counter through one node's admin
 * actor (an ask with a timeout: answered once the node has queued it to its replica). Every node
 * sees the increment once the CRDT has spread it (`aurum status` shows each node's value).
 *
 * Relies on the admin protocol (adm_incr) and a promise. */
#include "aurum_cli.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: aurum incr HOST:PORT [N] [--key-file FILE] [--timeout MS]\n"
    "Adds N (default 1) to the cluster's shared counter through the node at HOST:PORT; every\n"
    "node has it once it has spread (aurum status shows each node's value).\n"
    "Exit status: 0 done, 1 the node has no shared counter, 2 bad flags, 3 no answer,\n"
    "4 bad key file.\n";

int aurum_incr(int argc, char **argv) {
    const char *addr = NULL, *key_file = NULL;
    unsigned long by = 1, timeout_ms = 2000;
    bool have_by = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int taken;
        if (aurum_is_help(a)) {
            fputs(usage, stdout);
            return 0;
        }
        if ((taken = aurum_client_flag("incr", argc, argv, &i, &key_file, &timeout_ms)) != 0) {
            if (taken < 0) return AURUM_EXIT_USAGE;
        } else if (a[0] == '-') {
            return aurum_fail("incr", AURUM_EXIT_USAGE,
                              "unknown argument \"%s\" (see aurum incr --help)", a);
        } else if (!addr) {
            addr = a;
        } else if (!have_by && aurum_parse_uint(a, 1000000000, &by)) {
            have_by = true;
        } else {
            return aurum_fail("incr", AURUM_EXIT_USAGE, "bad argument \"%s\" (want N, 1..1e9)", a);
        }
    }
    if (!addr || !aurum_check_hostport(addr, false))
        return aurum_fail("incr", AURUM_EXIT_USAGE, "which node? (aurum incr HOST:PORT [N])");
    au_node *node;
    int rc = aurum_client_node("incr", key_file, addr, &node);
    if (rc) return rc;
    adm_incr_ref admin = au_forge(adm_msg, adm_incr, node, AURUM_ADMIN_NAME, addr);
    if (au_ref_is_null(admin.raw)) {
        au_node_stop(node);
        return aurum_fail("incr", AURUM_EXIT_USAGE, "bad address \"%s\"", addr);
    }
    int64_t_promise p = au_promise_new(node, int64_t);
    int64_t value = 0;
    au_err err = au_send(admin, ((adm_incr){ (int64_t)by, au_promise_ref(p, int64_t) }));
    au_err werr = au_promise_wait(p, int64_t, &value, err ? AU_MSEC(1) : AU_MSEC(timeout_ms));
    if (!err) err = werr;
    if (err == AU_ETIMEDOUT)
        rc = aurum_fail("incr", AURUM_EXIT_UNREACHABLE, "no answer from %s within %lu ms", addr,
                        timeout_ms);
    else if (err)
        rc = aurum_fail("incr", AURUM_EXIT_FAIL, "%s: %s", addr, au_strerror(err));
    else if (value < 0)
        rc = aurum_fail("incr", AURUM_EXIT_FAIL, "%s has no shared counter (not in this build)", addr);
    else
        printf("aurum incr: added %lu through %s\n", by, addr);
    au_node_stop(node);
    return rc;
}
