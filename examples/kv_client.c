/* kv_client.c — asks a kv_server, from another process, to put, get or delete a key.
 *
 *   kv_client [--timeout MS] SERVER put KEY VALUE     prints "KEY = VALUE (new)" or "(was OLD)"
 *   kv_client [--timeout MS] SERVER get KEY           prints "KEY = VALUE" or "KEY: not found"
 *   kv_client [--timeout MS] SERVER del KEY           prints "KEY: deleted (was OLD)" or not found
 *
 * SERVER is the HOST:PORT kv_server printed. The client runs a node of its own on 127.0.0.1 (the
 * answer comes back to it there), forges a reference to the server's "kv" actor, and asks with
 * a timeout (default 1000 ms). UDP tells nothing when nobody listens: a request to a server that
 * is down, or to the wrong port, just gets no answer, and the client says so when the time is up.
 *
 * Exit status: 0 answered, 1 not found (get, del), 2 usage, 3 no answer in time, 4 the client's
 * own node or the server address failed. Shows: au_forge, a promise as an ask with a timeout from
 * main, freeing a reply that holds a string. */
#include "kv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void) {
    fprintf(stderr,
            "usage: kv_client [--timeout MS] HOST:PORT put KEY VALUE | get KEY | del KEY\n");
    return 2;
}

int main(int argc, char **argv) {
    unsigned long timeout_ms = 1000;
    int a = 1;
    if (a + 1 < argc && !strcmp(argv[a], "--timeout")) {
        char *end;
        timeout_ms = strtoul(argv[a + 1], &end, 10);
        if (*end || !timeout_ms) return usage();
        a += 2;
    }
    if (argc - a < 3) return usage();
    const char *server = argv[a], *cmd = argv[a + 1], *key = argv[a + 2];
    bool put = !strcmp(cmd, "put"), get = !strcmp(cmd, "get"), del = !strcmp(cmd, "del");
    if (!(put || get || del) || argc - a != (put ? 4 : 3)) return usage();
    const char *value = put ? argv[a + 3] : NULL;

    au_node *node;
    au_err err = au_node_start(&(au_node_config){ .bind = "127.0.0.1:0", .workers = 1 }, &node);
    if (err) {
        fprintf(stderr, "kv_client: cannot start a node: %s\n", au_strerror(err));
        return 4;
    }
    /* Forging sends nothing: whether a "kv" actor is there shows only when it answers. */
    kv_msg_ref kv = au_forge(kv_msg, kv_msg, node, KV_ACTOR_NAME, server);
    if (au_ref_is_null(kv.raw)) {
        fprintf(stderr, "kv_client: bad server address \"%s\": %s (want HOST:PORT)\n", server,
                au_strerror(au_last_error()));
        au_node_stop(node);
        return 4;
    }

    /* The ask: a promise, its reference in the request, a bounded wait for the answer. */
    kv_value_promise p = au_promise_new(node, kv_value);
    kv_value_ref reply = au_promise_ref(p, kv_value);
    au_str k = au_str_view(key);
    if (put)
        err = au_send(kv, ((kv_msg){ .tag = kv_msg_put,
                                     .put = { k, au_str_view(value), reply } }));
    else if (get)
        err = au_send(kv, ((kv_msg){ .tag = kv_msg_get, .get = { k, reply } }));
    else
        err = au_send(kv, ((kv_msg){ .tag = kv_msg_del, .del = { k, reply } }));
    kv_value v = { 0 };
    if (!err) err = au_promise_wait(p, kv_value, &v, AU_MSEC(timeout_ms));

    int status = 0;
    if (err == AU_ETIMEDOUT) {
        /* What the node knows: datagrams sent to that address and nothing heard back since. */
        fprintf(stderr,
                "kv_client: no answer from %s within %lu ms (%llu datagram(s) sent there, none"
                " answered): is kv_server running there?\n",
                server, timeout_ms, (unsigned long long)au_node_unanswered(node, server));
        status = 3;
    } else if (err) {
        fprintf(stderr, "kv_client: %s %s: %s (%s)\n", cmd, key, au_strerror(err),
                au_err_name(err));
        status = 3;
    } else if (put) {
        if (v.found) printf("%s = %s (was %s)\n", key, value, v.value.ptr);
        else printf("%s = %s (new)\n", key, value);
    } else if (!v.found) {
        printf("%s: not found\n", key);
        status = 1;
    } else if (get) {
        printf("%s = %s\n", key, v.value.ptr);
    } else {
        printf("%s: deleted (was %s)\n", key, v.value.ptr);
    }
    au_value_free(&au_type_kv_value, &v); /* the answer is ours: free the string it holds */
    au_node_stop(node);
    return status;
}
