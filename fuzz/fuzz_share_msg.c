/* libFuzzer harness for what the CRDT dispersal actor (src/crdt/share.c) does with a received
 * wire message before it touches its peers' bookkeeping: the CBOR decode of sh_wire (delta
 * groups, whole groups, full states, acks), the field and via checks (sh_delta_ok,
 * sh_read_via), the reassembly of a chunked payload and its decode as the shared type
 * (sh_delta_payload), and then what on_delta does with a delta that decoded: redundancy removal
 * against the replica's state X and the join into X.
 *
 * Input: [type selector][CBOR of sh_wire]. The selector picks the replica's CRDT type (the
 * types of fuzz_crdt_decode); X starts as a state made by that type's mutators on two replicas
 * (built once per type), copied for every input. Properties checked:
 *  - a message that decodes re-encodes, and decodes again to the same tag and fields;
 *  - a via accepted holds at most VIA_MAX_RX entries, none with id or clock 0;
 *  - a payload accepted is an object of the type: after delta_minus(obj, X) and X ⊔= obj,
 *    X ⊔ (the delta as received) == X (nothing of the delta is lost by the removal), and a
 *    delta reported redundant (bottom after the removal) leaves X as it was;
 *  - nothing leaks (LeakSanitizer), nothing reads outside the input (AddressSanitizer). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <aurum/crdt.h>

#include "crdt/share_wire.h"
#include "proto/codec.h"
#include "support.h"
#include "crdt_types.h"

#define MAX_MESSAGE ((size_t)1 << 20)

/* ---- the replica's starting state ---------------------------------------------------------- */

typedef struct vcall {
    const au_crdt_type *vt;
    uint64_t replica;
    unsigned step;
} vcall;

static au_err mutate(const au_crdt_type *t, void *s, uint64_t r, unsigned step);

static au_err value_fn(void *v, void *dv, void *arg) {
    (void)dv;
    const vcall *c = arg;
    return mutate(c->vt, v, c->replica, c->step);
}

static au_err mutate(const au_crdt_type *t, void *s, uint64_t r, unsigned step) {
    char elem[8];
    size_t el = (size_t)snprintf(elem, sizeof elem, "e%u", step % 5);
    if (t == &au_gcounter_type) return au_gcounter_inc(s, NULL, r, step + 1);
    if (t == &au_pncounter_type) return au_pncounter_add(s, NULL, r, step % 2 ? -1 : 2);
    if (t == &au_gset_type) return au_gset_add(s, NULL, elem, el);
    if (t == &au_twopset_type)
        return step % 3 == 2 ? au_twopset_remove(s, NULL, elem, el) : au_twopset_add(s, NULL, elem, el);
    if (t == &au_orset_type)
        return step % 3 == 2 ? au_orset_remove(s, NULL, elem, el) : au_orset_add(s, NULL, r, elem, el);
    if (t == &au_lwwreg_type) return au_lwwreg_set(s, NULL, r, 100 + step, elem, el);
    if (t == &au_mvreg_type) return au_mvreg_set(s, NULL, r, elem, el);
    if (t == &au_ewflag_type) return au_ewflag_enable(s, NULL, r);
    if (t == &au_dwflag_type) return step % 2 ? au_dwflag_disable(s, NULL, r) : au_dwflag_enable(s, NULL, r);
    if (t == &au_lwwmap_type) return au_lwwmap_set(s, NULL, r, 100 + step, elem, el, "v", 1);
    if (t->param) {
        if (step % 6 == 5) return au_ormap_remove(s, NULL, elem, el);
        vcall c = { t->param, r, step / 2 };
        return au_ormap_update(s, NULL, elem, el, value_fn, &c);
    }
    return AU_EINVAL;
}

static void *start_state(unsigned sel) {
    static void *made[NTYPES];
    if (!made[sel]) {
        const au_crdt_type *t = types[sel];
        made[sel] = t->create(t, false);
        CHECK(made[sel]);
        for (unsigned k = 0; k < 6; k++) { /* AU_ESTATE: a 2PSet re-add, refused: fine */
            au_err e1 = mutate(t, made[sel], 0x1111111111111111ull, k);
            au_err e2 = mutate(t, made[sel], 0x3333333333333333ull, k * 2 + 1);
            CHECK((!e1 || e1 == AU_ESTATE) && (!e2 || e2 == AU_ESTATE));
        }
    }
    return made[sel];
}

/* ---- the message ----------------------------------------------------------------------------- */

static void check_via(const au_bytes *b) {
    sh_kn via[VIA_MAX_RX];
    size_t n = SIZE_MAX;
    if (!sh_read_via(b, via, &n)) return;
    CHECK(n <= VIA_MAX_RX);
    for (size_t i = 0; i < n; i++) CHECK(via[i].id != 0 && via[i].clock != 0);
}

/* What on_delta does with a delta that passed its checks. */
static void take_delta(const au_crdt_type *t, void *x, const sh_delta *d) {
    sh_kn via[VIA_MAX_RX];
    size_t nvia, total;
    if (!sh_delta_ok(d, via, &nvia)) return;
    CHECK(nvia <= VIA_MAX_RX);
    void *obj = (void *)1;
    au_err err = sh_delta_payload(t, MAX_MESSAGE, d, &total, &obj);
    if (err) {
        CHECK(obj == NULL);
        CHECK(err == AU_EDECODE || err == AU_ETOOBIG || err == AU_ENOMEM);
        if (err == AU_ETOOBIG) CHECK(total > MAX_MESSAGE);
        return;
    }
    CHECK(obj != NULL && total <= MAX_MESSAGE);
    void *orig = NULL, *before = NULL;
    if (t->copy(obj, &orig) || t->copy(x, &before)) goto out;
    err = t->delta_minus(obj, x);
    CHECK(err == AU_OK || err == AU_ENOMEM || err == AU_EFULL);
    if (err) goto out;
    if (t->is_bottom(obj)) {
        /* redundant: X had it all */
        err = t->join(x, orig);
        if (!err) CHECK(t->equal(x, before));
    } else {
        err = t->join(x, obj);
        CHECK(err == AU_OK || err == AU_ENOMEM || err == AU_EFULL);
        if (err) goto out;
        void *after = NULL;
        if (t->copy(x, &after)) goto out;
        err = t->join(x, orig);
        if (!err) CHECK(t->equal(x, after));
        t->free(after);
    }
out:
    t->free(obj);
    t->free(orig);
    t->free(before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size - 1 > AU_WIRE_MAX_MTU) return 0;
    unsigned sel = data[0] % NTYPES;
    const au_crdt_type *t = types[sel];
    const uint8_t *p = exact_copy(data + 1, size - 1);
    sh_wire w, w2;
    memset(&w, 0, sizeof w);
    if (au_decode(&au_type_sh_wire, &w, p, size - 1, NULL, NULL) != AU_OK) return 0;

    /* re-encodes, and decodes to the same message */
    au_buf e = { 0 };
    CHECK(au_encode(&au_type_sh_wire, &w, &e, NULL) == AU_OK);
    memset(&w2, 0, sizeof w2);
    CHECK(au_decode(&au_type_sh_wire, &w2, e.data, e.len, NULL, NULL) == AU_OK);
    CHECK(w2.tag == w.tag);
    au_buf e2 = { 0 };
    CHECK(au_encode(&au_type_sh_wire, &w2, &e2, NULL) == AU_OK);
    CHECK(e.len == e2.len && memcmp(e.data, e2.data, e.len) == 0);
    au_buf_free(&e);
    au_buf_free(&e2);
    au_value_free(&au_type_sh_wire, &w2);

    void *x = NULL;
    CHECK(t->copy(start_state(sel), &x) == AU_OK);
    if (w.tag == sh_wire_delta) take_delta(t, x, &w.delta);
    else if (w.tag == sh_wire_ack) check_via(&w.ack.via);
    t->free(x);
    au_value_free(&au_type_sh_wire, &w);
    return 0;
}
