/* tools/aurum/add.c — `aurum add`: adds an element to the cluster's shared set (an ORSet:
 * add-wins) through one node's admin actor, an ask with a timeout answered once the node has
 * queued the add to its replica. Every node has it once the CRDT has spread.
 *
 * Relies on the admin protocol (adm_add) and a promise. */
#include "aurum_cli.h"

#include <string.h>

static const char usage[] =
    "usage: aurum add HOST:PORT ELEMENT [--key-file FILE] [--timeout MS]\n"
    "Adds ELEMENT (UTF-8 text, at most 200 bytes) to the cluster's shared set through the node at\n"
    "HOST:PORT; every node has it once it has spread (aurum status shows each node's set).\n"
    "Exit status: 0 done, 1 the node has no shared set, 2 bad flags, 3 no answer,\n"
    "4 bad key file.\n";

int aurum_add(int argc, char **argv) {
    const char *addr = NULL, *element = NULL, *key_file = NULL;
    unsigned long timeout_ms = 2000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int taken;
        if (aurum_is_help(a)) {
            fputs(usage, stdout);
            return 0;
        }
        if ((taken = aurum_client_flag("add", argc, argv, &i, &key_file, &timeout_ms)) != 0) {
            if (taken < 0) return AURUM_EXIT_USAGE;
        } else if (a[0] == '-') {
            return aurum_fail("add", AURUM_EXIT_USAGE,
                              "unknown argument \"%s\" (see aurum add --help)", a);
        } else if (!addr) {
            addr = a;
        } else if (!element) {
            element = a;
        } else {
            return aurum_fail("add", AURUM_EXIT_USAGE, "one element at a time (got \"%s\" too)", a);
        }
    }
    if (!addr || !element || !aurum_check_hostport(addr, false))
        return aurum_fail("add", AURUM_EXIT_USAGE, "want HOST:PORT ELEMENT (see aurum add --help)");
    if (!*element || strlen(element) > 200)
        return aurum_fail("add", AURUM_EXIT_USAGE, "ELEMENT must be 1..200 bytes");
    if (!aurum_utf8_valid(element, strlen(element)))
        return aurum_fail("add", AURUM_EXIT_USAGE,
                          "ELEMENT is not UTF-8 text (the shared set holds text only)");
    au_node *node;
    int rc = aurum_client_node("add", key_file, addr, &node);
    if (rc) return rc;
    adm_add_ref admin = au_forge(adm_msg, adm_add, node, AURUM_ADMIN_NAME, addr);
    if (au_ref_is_null(admin.raw)) {
        au_node_stop(node);
        return aurum_fail("add", AURUM_EXIT_USAGE, "bad address \"%s\"", addr);
    }
    int64_t_promise p = au_promise_new(node, int64_t);
    int64_t answer = 0;
    au_err err = au_send(admin, ((adm_add){ au_str_view(element), au_promise_ref(p, int64_t) }));
    au_err werr = au_promise_wait(p, int64_t, &answer, err ? AU_MSEC(1) : AU_MSEC(timeout_ms));
    if (!err) err = werr;
    if (err == AU_ETIMEDOUT)
        rc = aurum_fail("add", AURUM_EXIT_UNREACHABLE, "no answer from %s within %lu ms", addr,
                        timeout_ms);
    else if (err)
        rc = aurum_fail("add", AURUM_EXIT_FAIL, "%s: %s", addr, au_strerror(err));
    else if (answer < 0)
        rc = aurum_fail("add", AURUM_EXIT_FAIL,
                        "%s refused the element or has no shared set (not in this build)", addr);
    else
        printf("aurum add: added \"%s\" through %s\n", element, addr);
    au_node_stop(node);
    return rc;
}
