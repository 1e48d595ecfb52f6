/* tools/aurum/node_crdt.c — the shared counter and set of `aurum node`: a PNCounter named
 * "counter" and an ORSet named "set", each one replica per node kept in sync by causal delta
 * dispersal (aurum/crdt_share.h). `aurum incr` adds to the counter and `aurum add` to the set
 * through any node; status reports both as each node sees them.
 *
 * Relies on au_share_pncounter_* and au_share_orset_*: mutations are queued to the replica's
 * actor and applied in order, reads take the replica's lock, so these functions may be called
 * from the admin actor's thread. The replicas are owned by the node (freed after au_node_stop);
 * the handles here are static (one node per process). An increment or add is queued, never
 * waited for (the admin actor calling it must not block a worker): 0 once queued. */
#include "aurum_cli.h"

#include <aurum/crdt_share.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static au_share_pncounter counter;
static au_share_orset set;
/* Set (release) once both replicas exist; the admin actor's thread reads it (acquire) before
 * touching them. */
static atomic_bool running;

bool aurum_crdt_start(au_node *node, au_cluster *c) {
    au_err err = au_share_pncounter_start(node, c, &(au_share_config){ .name = "counter" }, &counter);
    if (!err) err = au_share_orset_start(node, c, &(au_share_config){ .name = "set" }, &set);
    if (err) {
        fprintf(stderr, "aurum node: no shared counter and set: %s (%s)\n", au_strerror(err),
                au_err_name(err));
        return false;
    }
    atomic_store_explicit(&running, true, memory_order_release);
    return true;
}

bool aurum_crdt_available(void) { return atomic_load_explicit(&running, memory_order_acquire); }

int64_t aurum_crdt_incr(int64_t by) {
    if (!aurum_crdt_available() || by <= 0) return -1;
    return au_share_pncounter_add(counter, by) ? -1 : 0;
}

int64_t aurum_crdt_add(const char *element) {
    if (!aurum_crdt_available() || !*element) return -1;
    if (au_share_orset_contains(set, element, strlen(element))) return 0; /* nothing to add */
    return au_share_orset_add(set, element, strlen(element)) ? -1 : 0;
}

typedef struct text {
    char *buf;
    size_t len, cap;
} text;

static void append(text *t, const void *p, size_t n) {
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *grown = realloc(t->buf, cap);
        if (!grown) return;
        t->buf = grown;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

typedef struct set_read {
    text joined;       /* the elements, comma-separated */
    au_str_array list; /* the elements one by one (owned) */
    uint32_t cap;
} set_read;

/* The set's elements, in the set's order (read under the replica's lock). Every element is
 * UTF-8 when added through a node (admin.c checks it); one that is not (a replica of another
 * build) is given with its bytes escaped, so the answer can always be encoded. */
static void set_text(const au_orset *s, void *arg) {
    set_read *r = arg;
    au_crdt_iter it = AU_CRDT_ITER_INIT;
    au_crdt_bytes e;
    while (au_orset_next(s, &it, &e)) {
        char esc[1024];
        const char *p = (const char *)e.ptr;
        size_t n = e.len;
        if (!aurum_utf8_valid(p, n)) {
            p = aurum_printable(esc, sizeof esc, p, n);
            n = strlen(p);
        }
        if (r->joined.len) append(&r->joined, ",", 1);
        append(&r->joined, p, n);
        if (r->list.len == r->cap) {
            uint32_t cap = r->cap ? r->cap * 2 : 8;
            au_str *grown = realloc(r->list.ptr, cap * sizeof *grown);
            if (!grown) continue;
            r->list.ptr = grown;
            r->cap = cap;
        }
        r->list.ptr[r->list.len++] = au_str_dup(p, n);
    }
}

void aurum_crdt_values(adm_value_array *out) {
    *out = (adm_value_array){ 0 };
    if (!aurum_crdt_available()) return;
    out->ptr = calloc(2, sizeof *out->ptr);
    if (!out->ptr) return;
    out->owned = 1;
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)au_share_pncounter_value(counter));
    out->ptr[out->len++] = (adm_value){ au_str_dup("counter", 7), au_str_dup("counter", 7),
                                        au_str_dup(num, strlen(num)), { 0 } };
    set_read r;
    memset(&r, 0, sizeof r);
    au_share_orset_read(set, set_text, &r);
    r.list.owned = r.list.ptr != NULL;
    out->ptr[out->len++] = (adm_value){ au_str_dup("set", 3), au_str_dup("set", 3),
                                        au_str_dup(r.joined.buf ? r.joined.buf : "", r.joined.len),
                                        r.list };
    free(r.joined.buf);
}
