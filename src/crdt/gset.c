/* gset.c — GSet: a grow-only set of byte strings.
 *
 * A key table (ktab.c) with no payload: 8 bytes of slot per element plus the element. Join is
 * union; redundancy removal drops the elements the state has. */
#include <stdlib.h>

#include "crdt_internal.h"

struct au_gset {
    const au_crdt_type *type; /* first: see crdt_type_of */
    ktab tab;
};

static void *gset_create(const au_crdt_type *type, bool delta) {
    (void)type, (void)delta;
    au_gset *s = calloc(1, sizeof *s);
    if (s) s->type = &au_gset_type, ktab_init(&s->tab, 0, false);
    return s;
}

static void gset_free(void *v) {
    au_gset *s = v;
    if (!s) return;
    if (s->type != &au_gset_type) { /* freed through another type's vtable */
        s->type->free(v);
        return;
    }
    ktab_free(&s->tab);
    free(s);
}

static au_err put(au_gset *s, const void *e, size_t len, uint32_t h) {
    uint32_t slot;
    if (ktab_find(&s->tab, e, len, h) != KTAB_NONE) return AU_OK;
    return ktab_insert(&s->tab, e, len, h, NULL, 0, &slot);
}

static au_err gset_join(void *dst, const void *src) {
    if (!dst || !src) return AU_EINVAL;
    au_gset *a = dst;
    const au_gset *b = src;
    if (!crdt_same_types(a, b)) return AU_ETYPE;
    au_err err = a == b ? AU_OK : ktab_prepare_merge(&a->tab, &b->tab, b->tab.n);
    for (uint32_t j = 0; !err && a != b && j < b->tab.cap; j++) {
        if (!ktab_used(&b->tab, j)) continue;
        size_t len;
        const uint8_t *e = ktab_key(&b->tab, j, &len);
        err = put(a, e, len, ktab_slot_hash(&b->tab, j));
    }
    return err;
}

static bool gset_equal(const void *va, const void *vb) {
    if (!va || !vb) return va == vb;
    const au_gset *a = va, *b = vb;
    if (!crdt_same_types(a, b) || a->tab.n != b->tab.n) return false;
    for (uint32_t i = 0; i < a->tab.cap; i++)
        if (ktab_used(&a->tab, i) && ktab_find_from(&b->tab, &a->tab, i) == KTAB_NONE) return false;
    return true;
}

/* What gset_equal compares: the elements (summed: order-independent). */
static uint64_t gset_digest(const void *v) {
    if (!v) return 0;
    const au_gset *s = v;
    uint64_t sum = 0;
    for (uint32_t i = 0; ktab_walk(&s->tab, &i); i++) {
        size_t len;
        const uint8_t *e = ktab_key(&s->tab, i, &len);
        sum += crdt_hash_bytes(e, len, crdt_hash3(CRDT_DOM_ELEM, len, 0));
    }
    return crdt_hash3(CRDT_TAG_GSET, s->tab.n, sum);
}

static bool gset_is_bottom(const void *v) { return !v || ((const au_gset *)v)->tab.n == 0; }

/* Layout: tag, n, the elements. */
static au_err gset_encode(const void *v, au_buf *out) {
    if (!v || !out) return AU_EINVAL;
    const au_gset *s = v;
    au_err err = crdt_put_u8(out, CRDT_TAG_GSET);
    if (!err) err = crdt_put_uv(out, s->tab.n);
    for (uint32_t i = 0; !err && i < s->tab.cap; i++) {
        if (!ktab_used(&s->tab, i)) continue;
        size_t len;
        const uint8_t *e = ktab_key(&s->tab, i, &len);
        err = crdt_put_bytes(out, e, len);
    }
    return err;
}

static au_err gset_decode(const au_crdt_type *type, const uint8_t *data, size_t len, void **out) {
    if (!out) return AU_EINVAL;
    crdt_rd r = crdt_rd_of(data, len);
    uint8_t tag;
    uint32_t n;
    *out = NULL;
    if (!type) return AU_EINVAL;
    if (!data && len) return AU_EINVAL;
    if (!crdt_get_u8(&r, &tag) || tag != CRDT_TAG_GSET || !crdt_get_count(&r, 1, &n))
        return AU_EDECODE;
    au_gset *s = gset_create(type, false);
    if (!s) return AU_ENOMEM;
    au_err err = ktab_reserve(&s->tab, n);
    for (uint32_t i = 0; !err && i < n; i++) {
        const uint8_t *e;
        size_t elen;
        uint32_t slot, h;
        if (!crdt_get_bytes(&r, &e, &elen)) err = AU_EDECODE;
        else if (ktab_find(&s->tab, e, elen, h = ktab_hash(e, elen)) != KTAB_NONE) err = AU_EDECODE;
        else err = ktab_insert(&s->tab, e, elen, h, NULL, 0, &slot);
    }
    if (!err && !crdt_rd_done(&r)) err = AU_EDECODE;
    if (err) {
        gset_free(s);
        return err;
    }
    *out = s;
    return AU_OK;
}

static au_err gset_copy(const void *v, void **out) {
    return crdt_copy_by_join(&au_gset_type, v, out);
}

static au_err gset_delta_minus(void *delta, const void *state) {
    if (!delta || !state) return AU_EINVAL;
    au_gset *d = delta;
    const au_gset *s = state;
    if (d == s) return AU_EINVAL;
    if (!crdt_same_types(d, s)) return AU_ETYPE;
    for (uint32_t i = 0; i < d->tab.cap;)
        if (ktab_used(&d->tab, i) && ktab_find_from(&s->tab, &d->tab, i) != KTAB_NONE)
            ktab_delete(&d->tab, i); /* may shift another element into i: look again */
        else
            i++;
    return AU_OK;
}

const au_crdt_type au_gset_type = {
    .name = "au.gset.1", .create = gset_create, .free = gset_free, .join = gset_join,
    .equal = gset_equal, .digest = gset_digest, .is_bottom = gset_is_bottom, .encode = gset_encode,
    .decode = gset_decode, .copy = gset_copy, .delta_minus = gset_delta_minus,
    .prune = crdt_prune_nothing, .prune_once = false,
};

au_err au_gset_add(au_gset *s, au_gset *delta, const void *elem, size_t len) {
    if (s && !crdt_is_a(s, &au_gset_type)) return AU_ETYPE; /* a state of another type */
    if (!s || crdt_bad_bytes(elem, len) || delta == s) return AU_EINVAL;
    if (delta && !crdt_same_types(s, delta)) return AU_ETYPE;
    uint32_t h = ktab_hash(elem, len);
    au_err err = delta ? put(delta, elem, len, h) : AU_OK;
    return err ? err : put(s, elem, len, h);
}

bool au_gset_contains(const au_gset *s, const void *elem, size_t len) {
    s = CRDT_READ_AS(s, &au_gset_type); /* another type reads as bottom */
    return s && !crdt_bad_bytes(elem, len) && ktab_find(&s->tab, elem, len, ktab_hash(elem, len)) != KTAB_NONE;
}

size_t au_gset_size(const au_gset *s) {
    s = CRDT_READ_AS(s, &au_gset_type); /* another type reads as bottom */
    return s ? s->tab.n : 0;
}

bool au_gset_next(const au_gset *s, au_crdt_iter *it, au_crdt_bytes *elem) {
    s = CRDT_READ_AS(s, &au_gset_type); /* another type reads as bottom */
    for (; s && it->pos_ < s->tab.cap; it->pos_++) {
        if (!ktab_used(&s->tab, it->pos_)) continue;
        size_t len;
        const uint8_t *e = ktab_key(&s->tab, it->pos_++, &len);
        *elem = (au_crdt_bytes){ e, len };
        return true;
    }
    return false;
}
