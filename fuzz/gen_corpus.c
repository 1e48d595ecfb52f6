/* gen_corpus — writes the seed corpora of the CRDT harnesses from real encodings (not a
 * harness: CMake builds only fuzz/fuzz_*.c as harnesses; this is the gen_corpus target).
 *
 *   build-fuzz/fuzz/gen_corpus fuzz/corpus
 *
 * fuzz_crdt_decode/: for every type of that harness (same order), states and deltas made by the
 * type's own mutators on two replicas, as [selector][u16 length of a][a][b] with a a state and b
 * a delta or a second replica's state. fuzz_share_msg/: the share actor's wire messages (see
 * fuzz_share_msg.c for the framing) carrying those encodings. fuzz_cluster_msg/: cluster
 * messages of every kind, encoded by the cluster's own codec.
 *
 * Relies on the public CRDT API and the private wire headers (share_wire.h, protocol.h).
 * Deterministic: the same files every run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <aurum/crdt.h>
#include <aurum/schema.h>

#include "cluster/protocol.h"
#include "proto/codec.h"
#include "crdt/share_wire.h"
#include "crdt_types.h"

static const char *dir;
static unsigned nfiles;

static void put(const char *sub, const char *name, const void *p, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
        perror(path);
        exit(1);
    }
    nfiles++;
}

/* An ORMap value's mutation: its type (the map's parameter), replica and step. */
typedef struct vcall {
    const au_crdt_type *vt;
    uint64_t replica;
    unsigned step;
} vcall;

static au_err mutate(const au_crdt_type *t, void *s, void *d, uint64_t r, unsigned step);

static au_err value_fn(void *v, void *dv, void *arg) {
    const vcall *c = arg;
    return mutate(c->vt, v, dv, c->replica, c->step);
}

/* One mutation of type t on replica r; step varies which. */
static au_err mutate(const au_crdt_type *t, void *s, void *d, uint64_t r, unsigned step) {
    char elem[8];
    snprintf(elem, sizeof elem, "e%u", step % 5);
    size_t el = strlen(elem);
    if (t == &au_gcounter_type) return au_gcounter_inc(s, d, r, step + 1);
    if (t == &au_pncounter_type) return au_pncounter_add(s, d, r, step % 2 ? -(int64_t)step : step);
    if (t == &au_gset_type) return au_gset_add(s, d, elem, el);
    if (t == &au_twopset_type)
        return step % 3 == 2 ? au_twopset_remove(s, d, elem, el) : au_twopset_add(s, d, elem, el);
    if (t == &au_orset_type) {
        if (step % 7 == 6) return au_orset_clear(s, d);
        return step % 3 == 2 ? au_orset_remove(s, d, elem, el) : au_orset_add(s, d, r, elem, el);
    }
    if (t == &au_lwwreg_type) return au_lwwreg_set(s, d, r, 100 + step, elem, el);
    if (t == &au_mvreg_type)
        return step % 5 == 4 ? au_mvreg_clear(s, d) : au_mvreg_set(s, d, r, elem, el);
    if (t == &au_ewflag_type)
        return step % 2 ? au_ewflag_disable(s, d, r) : au_ewflag_enable(s, d, r);
    if (t == &au_dwflag_type)
        return step % 2 ? au_dwflag_disable(s, d, r) : au_dwflag_enable(s, d, r);
    if (t == &au_lwwmap_type)
        return step % 4 == 3 ? au_lwwmap_remove(s, d, r, 100 + step, elem, el)
                             : au_lwwmap_set(s, d, r, 100 + step, elem, el, "v", 1);
    if (t->param) {
        if (step % 6 == 5) return au_ormap_remove(s, d, elem, el);
        vcall c = { t->param, r, step / 2 };
        return au_ormap_update(s, d, elem, el, value_fn, &c);
    }
    return AU_EINVAL;
}

static au_buf enc(const au_crdt_type *t, const void *v) {
    au_buf b = { 0 };
    if (t->encode(v, &b)) exit(1);
    return b;
}

/* [selector][u16 la][a][b] */
static void crdt_seed(unsigned sel, const char *name, const au_buf *a, const au_buf *b) {
    size_t n = 3 + a->len + (b ? b->len : 0);
    uint8_t *p = malloc(n);
    p[0] = (uint8_t)sel;
    p[1] = (uint8_t)(a->len >> 8);
    p[2] = (uint8_t)a->len;
    memcpy(p + 3, a->data, a->len);
    if (b && b->len) memcpy(p + 3 + a->len, b->data, b->len);
    put("fuzz_crdt_decode", name, p, n);
    free(p);
}

/* fuzz_share_msg's framing: [selector][share wire message (CBOR of sh_wire)]. */
static void share_seed(unsigned sel, const char *name, const sh_wire *w) {
    au_buf b = { 0 };
    uint8_t s = (uint8_t)sel;
    if (au_buf_append(&b, &s, 1) || au_encode(&au_type_sh_wire, w, &b, NULL)) exit(1);
    put("fuzz_share_msg", name, b.data, b.len);
    au_buf_free(&b);
}

static void cluster_seed(const char *name, const cl_wire *w) {
    au_buf b = { 0 };
    if (au_encode(&au_type_cl_wire, w, &b, NULL)) exit(1);
    put("fuzz_cluster_msg", name, b.data, b.len);
    au_buf_free(&b);
}

static void crdt_seeds(void) {
    for (unsigned i = 0; i < NTYPES; i++) {
        const au_crdt_type *t = types[i];
        void *s1 = t->create(t, false), *s2 = t->create(t, false);
        void *d1 = t->create(t, true), *d2 = t->create(t, true);
        for (unsigned k = 0; k < 9; k++) {
            mutate(t, s1, d1, 0x1111111111111111ull, k);
            mutate(t, s2, d2, 0x2222222222222222ull, k * 3 + 1);
        }
        void *one = t->create(t, true), *bot = t->create(t, false);
        mutate(t, s1, one, 0x1111111111111111ull, 10);
        au_buf e1 = enc(t, s1), e2 = enc(t, s2), ed1 = enc(t, d1), ed2 = enc(t, d2);
        au_buf eo = enc(t, one), eb = enc(t, bot);
        char name[64];
        snprintf(name, sizeof name, "%02u-states", i), crdt_seed(i, name, &e1, &e2);
        snprintf(name, sizeof name, "%02u-deltas", i), crdt_seed(i, name, &ed1, &ed2);
        snprintf(name, sizeof name, "%02u-state-delta", i), crdt_seed(i, name, &e1, &eo);
        snprintf(name, sizeof name, "%02u-bottom", i), crdt_seed(i, name, &eb, NULL);

        /* share messages carrying them: a group, a full state, a whole group; an ack */
        sh_wire w = { .tag = sh_wire_delta };
        w.delta = (sh_delta){ .from = au_str_lit("127.0.0.1:7001"), .id = 0x1111111111111111ull,
                              .type = 0, .base = 3, .clock = 4, .full = SH_GROUP,
                              .data = { ed1.data, ed1.len, 0 } };
        snprintf(name, sizeof name, "%02u-group", i), share_seed(i, name, &w);
        w.delta.base = 0, w.delta.clock = 9, w.delta.full = SH_FULL;
        w.delta.data = (au_bytes){ e1.data, e1.len, 0 };
        w.delta.ack_base = 1, w.delta.ack_clock = 2;
        snprintf(name, sizeof name, "%02u-full", i), share_seed(i, name, &w);
        w.delta.base = 2, w.delta.full = SH_WHOLE;
        w.delta.data = (au_bytes){ ed2.data, ed2.len, 0 };
        snprintf(name, sizeof name, "%02u-whole", i), share_seed(i, name, &w);
        au_buf_free(&e1), au_buf_free(&e2), au_buf_free(&ed1), au_buf_free(&ed2);
        au_buf_free(&eo), au_buf_free(&eb);
        t->free(s1), t->free(s2), t->free(d1), t->free(d2), t->free(one), t->free(bot);
    }
    sh_wire a = { .tag = sh_wire_ack };
    a.ack = (sh_ack){ .from = au_str_lit("127.0.0.1:7002"), .id = 0x2222222222222222ull,
                      .base = 0, .clock = 5 };
    share_seed(4, "ack", &a);
    /* a type refusal: an ack with base and clock 0 and the sender's type name in from */
    a.ack = (sh_ack){ .from = au_str_lit("au_pncounter"), .id = 0x2222222222222222ull };
    share_seed(4, "type-refusal", &a);
    static uint8_t ids[16] = { 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33,
                               0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44 };
    sh_wire r = { .tag = sh_wire_relay };
    r.relay = (sh_relay){ .id = 0x2222222222222222ull, .to = { ids, sizeof ids, 0 } };
    share_seed(4, "relay", &r);
}

static void cluster_seeds(void) {
    cl_update ups[3] = {
        { au_str_lit("127.0.0.1:7001"), 11, 0, CL_ALIVE, 8, 0 },
        { au_str_lit("127.0.0.1:7002"), 12, 3, CL_SUSPECT, 8, 77 },
        { au_str_lit("127.0.0.1:7003"), 13, 1, CL_DEAD, 0, 0 },
    };
    cl_update_array ua = { ups, 3, 0 };
    cl_hello h = { au_str_lit("127.0.0.1:7004"), 14, 2, 16, 0xC0FFEEull, 0x5EED5EED5EED5EEDull };
    cluster_seed("join", &(cl_wire){ .tag = cl_wire_join, .join = h });
    cluster_seed("refuse", &(cl_wire){ .tag = cl_wire_refuse, .refuse = h });
    cl_beat b = { au_str_lit("127.0.0.1:7001"), 11, ua };
    cluster_seed("hb", &(cl_wire){ .tag = cl_wire_hb, .hb = b });
    cluster_seed("gossip", &(cl_wire){ .tag = cl_wire_gossip, .gossip = b });
    cl_probe p = { au_str_lit("127.0.0.1:7001"), 11, au_str_lit("127.0.0.1:7002"), 12,
                   au_str_lit("127.0.0.1:7003"), 5, 0, ua };
    cluster_seed("probe", &(cl_wire){ .tag = cl_wire_probe, .probe = p });
    cluster_seed("probe_req", &(cl_wire){ .tag = cl_wire_probe_req, .probe_req = p });
    cluster_seed("ack", &(cl_wire){ .tag = cl_wire_ack, .ack = p });
    /* a confirmation (seq 0, a nonce, no piggyback) and its answer (the nonce echoed, the
     * target's own record first) */
    cl_update own = { au_str_lit("127.0.0.1:7002"), 12, 0, CL_ALIVE, 8, 0 };
    cl_probe cp = { au_str_lit("127.0.0.1:7001"), 11, au_str_lit("127.0.0.1:7002"), 12, au_str_lit(""),
                    0, 0x0123456789ABCDEFull, { NULL, 0, 0 } };
    cluster_seed("probe-confirm", &(cl_wire){ .tag = cl_wire_probe, .probe = cp });
    cp.from = au_str_lit("127.0.0.1:7002"), cp.id = 12, cp.updates = (cl_update_array){ &own, 1, 0 };
    cluster_seed("ack-confirm", &(cl_wire){ .tag = cl_wire_ack, .ack = cp });
    uint64_t dg[4] = { 1, 2, 3, 4 };
    cl_sync y = { au_str_lit("127.0.0.1:7001"), 11, 0xC0FFEEull, CL_SYNC_DIGEST, 2, 0,
                  { dg, 4, 0 }, { NULL, 0, 0 } };
    cluster_seed("sync-digest", &(cl_wire){ .tag = cl_wire_sync, .sync = y });
    uint8_t flags[] = { CL_SYNC_BUCKETS, CL_SYNC_PUSH, CL_SYNC_RECONNECT, CL_SYNC_RECONNECT_REPLY,
                        CL_SYNC_FULL, CL_SYNC_FULL | CL_SYNC_FULL_REQ, CL_SYNC_JOIN };
    for (size_t i = 0; i < sizeof flags; i++) {
        char name[32];
        y.flags = flags[i];
        y.entries = ua;
        y.digest.len = flags[i] == CL_SYNC_BUCKETS ? 2 : 0;
        snprintf(name, sizeof name, "sync-%u", flags[i]);
        cluster_seed(name, &(cl_wire){ .tag = cl_wire_sync, .sync = y });
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus DIR (writes DIR/fuzz_{crdt_decode,share_msg,cluster_msg}/)\n");
        return 2;
    }
    dir = argv[1];
    crdt_seeds();
    cluster_seeds();
    printf("gen_corpus: %u files\n", nfiles);
    return 0;
}
