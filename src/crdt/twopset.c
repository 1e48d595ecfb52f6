/* twopset.c — 2PSet: a set whose removals are final (an add set and a remove set).
 *
 * One key table whose 1-byte payload is the element's state: ADDED, or REMOVED (which also
 * stands for "added" — removal dominates, so the add need not be kept). Join takes the larger
 * state per element; a removed element's tombstone is kept forever. */
#include <stdlib.h>

#include "crdt_internal.h"

enum { ADDED = 1, REMOVED = 2 };

struct au_twopset {
    const au_crdt_type *type; /* first: see crdt_type_of */
    ktab tab;
    size_t nadded; /* elements in state ADDED */
};

static uint8_t state_at(const au_twopset *s, uint32_t slot) {
    return slot == KTAB_NONE ? 0 : *ktab_payload(&s->tab, slot);
}

static void *twopset_create(const au_crdt_type *type, bool delta) {
    (void)type, (void)delta;
    au_twopset *s = calloc(1, sizeof *s);
    if (s) s->type = &au_twopset_type, ktab_init(&s->tab, 1, false);
    return s;
}

static void twopset_free(void *v) {
    au_twopset *s = v;
    if (!s) return;
    if (s->type != &au_twopset_type) { /* freed through another type's vtable */
        s->type->free(v);
        return;
    }
    ktab_free(&s->tab);
    free(s);
}

/* Raises the element's state to at least st. */
static au_err raise_to(au_twopset *s, const void *e, size_t len, uint32_t h, uint8_t st) {
    uint32_t slot = ktab_find(&s->tab, e, len, h);
    uint8_t old = state_at(s, slot);
    if (old >= st) return AU_OK;
    if (slot == KTAB_NONE) {
        au_err err = ktab_insert(&s->tab, e, len, h, NULL, 0, &slot);
        if (err) return err;
    }
    *ktab_payload(&s->tab, slot) = st;
    s->nadded += (st == ADDED) - (old == ADDED);
    return AU_OK;
}

static au_err twopset_join(void *dst, const void *src) {
    if (!dst || !src) return AU_EINVAL;
    au_twopset *a = dst;
    const au_twopset *b = src;
    if (!crdt_same_types(a, b)) return AU_ETYPE;
    au_err err = a == b ? AU_OK : ktab_prepare_merge(&a->tab, &b->tab, b->tab.n);
    for (uint32_t j = 0; !err && a != b && j < b->tab.cap; j++) {
        if (!ktab_used(&b->tab, j)) continue;
        size_t len;
        const uint8_t *e = ktab_key(&b->tab, j, &len);
        err = raise_to(a, e, len, ktab_slot_hash(&b->tab, j), state_at(b, j));
    }
    return err;
}

static bool twopset_equal(const void *va, const void *vb) {
    if (!va || !vb) return va == vb;
    const au_twopset *a = va, *b = vb;
    if (!crdt_same_types(a, b) || a->tab.n != b->tab.n || a->nadded != b->nadded) return false;
    for (uint32_t i = 0; i < a->tab.cap; i++)
        if (ktab_used(&a->tab, i) && state_at(a, i) != state_at(b, ktab_find_from(&b->tab, &a->tab, i)))
            return false;
    return true;
}

/* What twopset_equal compares: every element with its state (added or removed). */
static uint64_t twopset_digest(const void *v) {
    if (!v) return 0;
    const au_twopset *s = v;
    uint64_t sum = 0;
    for (uint32_t i = 0; ktab_walk(&s->tab, &i); i++) {
        size_t len;
        const uint8_t *e = ktab_key(&s->tab, i, &len);
        sum += crdt_hash_bytes(e, len, crdt_hash3(CRDT_DOM_ELEM, len, state_at(s, i)));
    }
    uint64_t w[] = { CRDT_TAG_TWOPSET, s->tab.n, s->nadded, sum };
    return crdt_hash_words(w, 4);
}

static bool twopset_is_bottom(const void *v) { return !v || ((const au_twopset *)v)->tab.n == 0; }

/* Layout: tag, n, then per element its state (1 added, 2 removed) and bytes. */
static au_err twopset_encode(const void *v, au_buf *out) {
    if (!v || !out) return AU_EINVAL;
    const au_twopset *s = v;
    au_err err = crdt_put_u8(out, CRDT_TAG_TWOPSET);
    if (!err) err = crdt_put_uv(out, s->tab.n);
    for (uint32_t i = 0; !err && i < s->tab.cap; i++) {
        if (!ktab_used(&s->tab, i)) continue;
        size_t len;
        const uint8_t *e = ktab_key(&s->tab, i, &len);
        err = crdt_put_u8(out, state_at(s, i));
        if (!err) err = crdt_put_bytes(out, e, len);
    }
    return err;
}

static au_err twopset_decode(const au_crdt_type *type, const uint8_t *data, size_t len,
                             void **out) {
    if (!out) return AU_EINVAL;
    crdt_rd r = crdt_rd_of(data, len);
    uint8_t tag;
    uint32_t n;
    *out = NULL;
    if (!type) return AU_EINVAL;
    if (!data && len) return AU_EINVAL;
    if (!crdt_get_u8(&r, &tag) || tag != CRDT_TAG_TWOPSET || !crdt_get_count(&r, 2, &n))
        return AU_EDECODE;
    au_twopset *s = twopset_create(type, false);
    if (!s) return AU_ENOMEM;
    au_err err = ktab_reserve(&s->tab, n);
    for (uint32_t i = 0; !err && i < n; i++) {
        const uint8_t *e;
        size_t elen;
        uint8_t st;
        if (!crdt_get_u8(&r, &st) || (st != ADDED && st != REMOVED) ||
            !crdt_get_bytes(&r, &e, &elen))
            err = AU_EDECODE;
        else if (ktab_find(&s->tab, e, elen, ktab_hash(e, elen)) != KTAB_NONE)
            err = AU_EDECODE;
        else
            err = raise_to(s, e, elen, ktab_hash(e, elen), st);
    }
    if (!err && !crdt_rd_done(&r)) err = AU_EDECODE;
    if (err) {
        twopset_free(s);
        return err;
    }
    *out = s;
    return AU_OK;
}

static au_err twopset_copy(const void *v, void **out) {
    return crdt_copy_by_join(&au_twopset_type, v, out);
}

static au_err twopset_delta_minus(void *delta, const void *state) {
    if (!delta || !state) return AU_EINVAL;
    au_twopset *d = delta;
    const au_twopset *s = state;
    if (d == s) return AU_EINVAL;
    if (!crdt_same_types(d, s)) return AU_ETYPE;
    for (uint32_t i = 0; i < d->tab.cap;) {
        if (ktab_used(&d->tab, i) &&
            state_at(s, ktab_find_from(&s->tab, &d->tab, i)) >= state_at(d, i)) {
            d->nadded -= state_at(d, i) == ADDED;
            ktab_delete(&d->tab, i); /* may shift another element into i: look again */
        } else {
            i++;
        }
    }
    return AU_OK;
}

const au_crdt_type au_twopset_type = {
    .name = "au.twopset.1", .create = twopset_create, .free = twopset_free,
    .join = twopset_join, .equal = twopset_equal, .digest = twopset_digest,
    .is_bottom = twopset_is_bottom,
    .encode = twopset_encode, .decode = twopset_decode, .copy = twopset_copy,
    .delta_minus = twopset_delta_minus, .prune = crdt_prune_nothing, .prune_once = false,
};

au_err au_twopset_add(au_twopset *s, au_twopset *delta, const void *elem, size_t len) {
    if (s && !crdt_is_a(s, &au_twopset_type)) return AU_ETYPE; /* a state of another type */
    if (!s || crdt_bad_bytes(elem, len) || delta == s) return AU_EINVAL;
    if (delta && !crdt_same_types(s, delta)) return AU_ETYPE;
    uint32_t h = ktab_hash(elem, len);
    if (state_at(s, ktab_find(&s->tab, elem, len, h)) == REMOVED) return AU_ESTATE;
    au_err err = delta ? raise_to(delta, elem, len, h, ADDED) : AU_OK;
    return err ? err : raise_to(s, elem, len, h, ADDED);
}

au_err au_twopset_remove(au_twopset *s, au_twopset *delta, const void *elem, size_t len) {
    if (s && !crdt_is_a(s, &au_twopset_type)) return AU_ETYPE; /* a state of another type */
    if (!s || crdt_bad_bytes(elem, len) || delta == s) return AU_EINVAL;
    if (delta && !crdt_same_types(s, delta)) return AU_ETYPE;
    uint32_t h = ktab_hash(elem, len);
    au_err err = delta ? raise_to(delta, elem, len, h, REMOVED) : AU_OK;
    return err ? err : raise_to(s, elem, len, h, REMOVED);
}

bool au_twopset_contains(const au_twopset *s, const void *elem, size_t len) {
    s = CRDT_READ_AS(s, &au_twopset_type); /* another type reads as bottom */
    return s && !crdt_bad_bytes(elem, len) && state_at(s, ktab_find(&s->tab, elem, len, ktab_hash(elem, len))) == ADDED;
}

size_t au_twopset_size(const au_twopset *s) {
    s = CRDT_READ_AS(s, &au_twopset_type); /* another type reads as bottom */
    return s ? s->nadded : 0;
}

bool au_twopset_next(const au_twopset *s, au_crdt_iter *it, au_crdt_bytes *elem) {
    s = CRDT_READ_AS(s, &au_twopset_type); /* another type reads as bottom */
    for (; s && it->pos_ < s->tab.cap; it->pos_++) {
        if (!ktab_used(&s->tab, it->pos_) || state_at(s, it->pos_) != ADDED) continue;
        size_t len;
        const uint8_t *e = ktab_key(&s->tab, it->pos_++, &len);
        *elem = (au_crdt_bytes){ e, len };
        return true;
    }
    return false;
}
