/* ormap.c — ORMap: byte-string keys to values of one causal type, sharing the map's causal
 * context (Almeida, Shoker, Baquero, "Delta state replicated data types", §6).
 *
 * Store: a key table (ktab.c) whose payload is a pointer to the value object; values are causal
 * objects (crdt_cobj) whose context is the map's. A key is present while its value has live
 * dots; removing it removes the value's dots, which the shared context then remembers, so an
 * update concurrent with the removal keeps exactly the dots the remover had not seen (add-wins),
 * and a later update starts from bottom. Values of the map type's param; nested maps work the
 * same way. Keys whose value a join empties are deleted afterwards (by key, or by a sweep when
 * the join visited the whole map anyway): deleting moves other slots of the table. */
#include <stdlib.h>

#include "crdt_internal.h"

struct au_ormap {
    crdt_cobj h;
    ktab tab;
};

static const au_crdt_type *vtype(const au_ormap *m) { return m->h.type->param; }
static const crdt_causal_ops *vops(const au_ormap *m) { return m->h.type->param->causal_; }

static void *val_at(const au_ormap *m, uint32_t slot) {
    void *v;
    memcpy(&v, ktab_payload(&m->tab, slot), sizeof v);
    return v;
}

static void set_val(au_ormap *m, uint32_t slot, void *v) {
    memcpy(ktab_payload(&m->tab, slot), &v, sizeof v);
}

static void *new_val(au_ormap *m) { return vops(m)->create(m->h.ctx, vtype(m)); }

/* Whether a value still belongs in its map: live dots, or tombs in a delta. */
static bool keep_val(const au_ormap *m, const void *v) {
    return v && (vops(m)->has_live(v) || (m->h.ctx->delta && vops(m)->has_tombs(v)));
}

/* Frees values that no longer belong (also NULL placeholders) and deletes their keys. */
static void sweep(au_ormap *m) {
    for (uint32_t i = 0; i < m->tab.cap;) {
        void *v = ktab_used(&m->tab, i) ? val_at(m, i) : NULL;
        if (ktab_used(&m->tab, i) && !keep_val(m, v)) {
            if (v) vops(m)->free(v);
            ktab_delete(&m->tab, i); /* may shift another key into i: look again */
        } else {
            i++;
        }
    }
}

/* Slot of key in m, inserted with a fresh bottom value if absent. */
static au_err slot_for(au_ormap *m, const void *key, size_t len, uint32_t hash, uint32_t *slot) {
    *slot = ktab_find(&m->tab, key, len, hash);
    if (*slot != KTAB_NONE) return AU_OK;
    void *v = new_val(m);
    if (!v) return AU_ENOMEM;
    au_err err = ktab_insert(&m->tab, key, len, hash, NULL, 0, slot);
    if (err) {
        vops(m)->free(v);
        return err;
    }
    set_val(m, *slot, v);
    return AU_OK;
}

/* Drops the key at slot if its value no longer belongs. */
static void settle(au_ormap *m, uint32_t slot) {
    void *v = val_at(m, slot);
    if (keep_val(m, v)) return;
    vops(m)->free(v);
    ktab_delete(&m->tab, slot);
}

/* ---- the causal operations ---------------------------------------------------------------- */

static void *ormap_create(crdt_cctx *ctx, const au_crdt_type *type) {
    if (!type->param || !type->param->causal_) return NULL; /* values must be causal */
    au_ormap *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->h = (crdt_cobj){ .type = type, .ctx = ctx };
    ktab_init(&m->tab, sizeof(void *), false);
    return m;
}

static void drop_all(au_ormap *m) {
    for (uint32_t i = 0; i < m->tab.cap; i++)
        if (ktab_used(&m->tab, i) && val_at(m, i)) vops(m)->free(val_at(m, i));
    ktab_free(&m->tab);
}

static void ormap_free(void *v) {
    drop_all(v);
    free(v);
}

static bool ormap_has_live(const void *v) {
    const au_ormap *m = v;
    for (uint32_t i = 0; i < m->tab.cap; i++)
        if (ktab_used(&m->tab, i) && val_at(m, i) && vops(m)->has_live(val_at(m, i))) return true;
    return false;
}

static bool ormap_has_tombs(const void *v) {
    const au_ormap *m = v;
    for (uint32_t i = 0; i < m->tab.cap; i++)
        if (ktab_used(&m->tab, i) && val_at(m, i) && vops(m)->has_tombs(val_at(m, i))) return true;
    return false;
}

static au_err ormap_join(void *dst, const void *src, crdt_xlat *x) {
    au_ormap *a = dst;
    const au_ormap *b = src;
    bool scan = x->src_knows && a->tab.n, emptied = false;
    uint8_t *visited = scan ? calloc(a->tab.cap / 8 + 1, 1) : NULL;
    /* b's slots of keys only in b (inserted last), and of keys of a whose value emptied (deleted
     * by key afterwards, unless a full sweep runs anyway). */
    uint32_t *only_b = b && b->tab.n ? malloc(2 * (size_t)b->tab.n * sizeof *only_b) : NULL;
    uint32_t n_only = 0, n_dead = 0, *dead_b = only_b ? only_b + b->tab.n : NULL;
    au_err err = (scan && !visited) || (b && b->tab.n && !only_b) ? AU_ENOMEM : AU_OK;
    for (uint32_t j = 0; !err && b && j < b->tab.cap; j++) {
        if (!ktab_used(&b->tab, j)) continue;
        uint32_t i = ktab_find_from(&a->tab, &b->tab, j);
        if (i == KTAB_NONE) {
            only_b[n_only++] = j;
            continue;
        }
        if (visited) visited[i / 8] |= (uint8_t)(1u << (i % 8));
        err = vops(a)->join(val_at(a, i), val_at(b, j), x);
        if (!keep_val(a, val_at(a, i))) dead_b[n_dead++] = j;
    }
    for (uint32_t i = 0; !err && scan && i < a->tab.cap; i++)
        if (ktab_used(&a->tab, i) && !(visited[i / 8] & (1u << (i % 8)))) {
            err = vops(a)->join(val_at(a, i), NULL, x);
            emptied |= !keep_val(a, val_at(a, i));
        }
    if (emptied) {
        sweep(a);
    } else { /* no full pass over a: delete just the keys whose value emptied */
        for (uint32_t k = 0; k < n_dead; k++) {
            uint32_t i = ktab_find_from(&a->tab, &b->tab, dead_b[k]);
            if (i != KTAB_NONE) settle(a, i);
        }
    }
    if (!err && n_only) err = ktab_prepare_merge(&a->tab, &b->tab, n_only);
    for (uint32_t k = 0; !err && k < n_only; k++) {
        size_t len;
        const uint8_t *key = ktab_key(&b->tab, only_b[k], &len);
        uint32_t slot;
        err = slot_for(a, key, len, ktab_slot_hash(&b->tab, only_b[k]), &slot);
        if (!err) err = vops(a)->join(val_at(a, slot), val_at(b, only_b[k]), x);
        if (!err) settle(a, slot);
    }
    free(visited), free(only_b);
    return err;
}

static au_err ormap_clear(void *v, void *dv) {
    au_ormap *m = v, *d = dv;
    for (uint32_t i = 0; d && i < m->tab.cap; i++) {
        if (!ktab_used(&m->tab, i)) continue;
        size_t len;
        const uint8_t *key = ktab_key(&m->tab, i, &len);
        uint32_t slot;
        au_err err = slot_for(d, key, len, ktab_slot_hash(&m->tab, i), &slot);
        if (!err) err = vops(m)->clear(val_at(m, i), val_at(d, slot));
        if (!err) settle(d, slot);
        if (err) return err;
    }
    drop_all(m);
    return AU_OK;
}

static bool ormap_equal(const void *va, const void *vb, crdt_xlat *x) {
    const au_ormap *a = va, *b = vb;
    if (a->tab.n != b->tab.n) return false;
    for (uint32_t i = 0; i < a->tab.cap; i++) {
        if (!ktab_used(&a->tab, i)) continue;
        uint32_t j = ktab_find_from(&b->tab, &a->tab, i);
        if (j == KTAB_NONE || !vops(a)->equal(val_at(a, i), val_at(b, j), x)) return false;
    }
    return true;
}

/* What ormap_equal compares: every key with its value's store, hashed recursively (the values
 * share the map's context, so their dots are named through it; the context itself is hashed
 * once, by the top-level object). */
static uint64_t ormap_digest(const void *v) {
    const au_ormap *m = v;
    uint64_t sum = 0;
    for (uint32_t i = 0; ktab_walk(&m->tab, &i); i++) {
        size_t len;
        const uint8_t *key = ktab_key(&m->tab, i, &len);
        const void *val = val_at(m, i);
        uint64_t w[] = { CRDT_DOM_KEY, val ? vops(m)->digest(val) : 0, len };
        sum += crdt_hash_bytes(key, len, crdt_hash_words(w, 3));
    }
    return crdt_hash3(CRDT_TAG_ORMAP, m->tab.n, sum);
}

/* Layout: the value type's tag, n, then per key the key and its value's store. */
static au_err ormap_encode(const void *v, au_buf *out) {
    const au_ormap *m = v;
    au_err err = crdt_put_u8(out, vops(m)->tag);
    if (!err) err = crdt_put_uv(out, m->tab.n);
    for (uint32_t i = 0; !err && i < m->tab.cap; i++) {
        if (!ktab_used(&m->tab, i)) continue;
        size_t len;
        const uint8_t *key = ktab_key(&m->tab, i, &len);
        err = crdt_put_bytes(out, key, len);
        if (!err) err = vops(m)->encode(val_at(m, i), out);
    }
    return err;
}

static au_err ormap_decode(void *v, crdt_rd *r) {
    au_ormap *m = v;
    uint8_t tag;
    uint32_t n;
    if (!crdt_get_u8(r, &tag) || tag != vops(m)->tag || !crdt_get_count(r, 2, &n))
        return AU_EDECODE;
    au_err err = ktab_reserve(&m->tab, n);
    for (uint32_t i = 0; !err && i < n; i++) {
        const uint8_t *key;
        size_t len;
        if (!crdt_get_bytes(r, &key, &len)) return AU_EDECODE;
        uint32_t h = ktab_hash(key, len), slot;
        if (ktab_find(&m->tab, key, len, h) != KTAB_NONE) return AU_EDECODE;
        err = slot_for(m, key, len, h, &slot);
        if (!err) err = vops(m)->decode(val_at(m, slot), r);
        if (!err && !keep_val(m, val_at(m, slot))) err = AU_EDECODE; /* canonical: no bottoms */
    }
    return err;
}

/* Redundancy removal: keys only in s first (the removals d's context makes there become tombs
 * of new d keys), then every key of d against s's value (or bottom). */
static au_err ormap_minus(void *dv, const void *sv, crdt_xlat *x) {
    au_ormap *d = dv;
    const au_ormap *s = sv;
    au_err err = AU_OK;
    for (uint32_t j = 0; !err && s && cctx_knows(d->h.ctx) && j < s->tab.cap; j++) {
        if (!ktab_used(&s->tab, j) || ktab_find_from(&d->tab, &s->tab, j) != KTAB_NONE) continue;
        size_t len;
        const uint8_t *key = ktab_key(&s->tab, j, &len);
        uint32_t slot;
        err = slot_for(d, key, len, ktab_slot_hash(&s->tab, j), &slot);
        if (!err) err = vops(d)->minus(val_at(d, slot), val_at(s, j), x);
        if (!err && cval_empty(val_at(d, slot))) settle(d, slot);
    }
    for (uint32_t i = 0; !err && i < d->tab.cap; i++) {
        if (!ktab_used(&d->tab, i)) continue;
        uint32_t j = s ? ktab_find_from(&s->tab, &d->tab, i) : KTAB_NONE;
        err = vops(d)->minus(val_at(d, i), j == KTAB_NONE ? NULL : val_at(s, j), x);
    }
    /* d becomes a delta: a value with tombs only stays (it carries removals). */
    for (uint32_t i = 0; i < d->tab.cap;) {
        void *v = ktab_used(&d->tab, i) ? val_at(d, i) : NULL;
        if (v && cval_empty(v)) {
            vops(d)->free(v);
            ktab_delete(&d->tab, i);
        } else {
            i++;
        }
    }
    return err;
}

static size_t ormap_memory(const void *v) {
    const au_ormap *m = v;
    size_t n = sizeof *m + ktab_memory(&m->tab);
    for (uint32_t i = 0; i < m->tab.cap; i++)
        if (ktab_used(&m->tab, i) && val_at(m, i)) n += vops(m)->memory(val_at(m, i));
    return n;
}

static void ormap_map_dots(void *v, uint64_t (*fn)(void *arg, uint64_t dot), void *arg) {
    au_ormap *m = v;
    for (uint32_t i = 0; i < m->tab.cap; i++)
        if (ktab_used(&m->tab, i)) vops(m)->map_dots(val_at(m, i), fn, arg);
}

const crdt_causal_ops au_ormap_causal_ = {
    .tag = CRDT_TAG_ORMAP, .create = ormap_create, .free = ormap_free,
    .has_live = ormap_has_live, .has_tombs = ormap_has_tombs, .join = ormap_join,
    .clear = ormap_clear, .equal = ormap_equal, .digest = ormap_digest, .encode = ormap_encode,
    .decode = ormap_decode,
    .minus = ormap_minus, .map_dots = ormap_map_dots, .fold = NULL, .memory = ormap_memory,
};

AU_CRDT_ORMAP_TYPE(au_ormap_gcounter_type, "au.ormap.gcounter.1", &au_gcounter_type);
AU_CRDT_ORMAP_TYPE(au_ormap_pncounter_type, "au.ormap.pncounter.1", &au_pncounter_type);
AU_CRDT_ORMAP_TYPE(au_ormap_orset_type, "au.ormap.orset.1", &au_orset_type);
AU_CRDT_ORMAP_TYPE(au_ormap_mvreg_type, "au.ormap.mvreg.1", &au_mvreg_type);
AU_CRDT_ORMAP_TYPE(au_ormap_ewflag_type, "au.ormap.ewflag.1", &au_ewflag_type);
AU_CRDT_ORMAP_TYPE(au_ormap_dwflag_type, "au.ormap.dwflag.1", &au_dwflag_type);

/* ---- the public API ----------------------------------------------------------------------- */

const void *au_ormap_get(const au_ormap *m, const void *key, size_t len) {
    m = m && crdt_is_ormap(m) ? m : NULL; /* another type reads as bottom */
    if (!m || crdt_bad_bytes(key, len)) return NULL;
    uint32_t slot = ktab_find(&m->tab, key, len, ktab_hash(key, len));
    void *v = slot == KTAB_NONE ? NULL : val_at(m, slot);
    return v && vops(m)->has_live(v) ? v : NULL;
}

bool au_ormap_contains(const au_ormap *m, const void *key, size_t len) {
    return au_ormap_get(m, key, len) != NULL;
}

au_err au_ormap_update(au_ormap *m, au_ormap *delta, const void *key, size_t len,
                       au_crdt_mutator fn, void *arg) {
    if (m && !crdt_is_ormap(m)) return AU_ETYPE; /* a state of another type */
    if (!m || !fn || delta == m || crdt_bad_bytes(key, len)) return AU_EINVAL;
    if (delta && !crdt_same_types(m, delta)) return AU_ETYPE;
    if (m->h.ctx->delta) return AU_ESTATE;
    uint32_t h = ktab_hash(key, len), slot, dslot = KTAB_NONE;
    au_err err = slot_for(m, key, len, h, &slot);
    if (!err && delta) err = slot_for(delta, key, len, h, &dslot);
    if (!err) err = fn(val_at(m, slot), delta ? val_at(delta, dslot) : NULL, arg);
    /* Settle the delta first: settling m may move its slots, not the delta's. */
    if (delta && dslot != KTAB_NONE) settle(delta, dslot);
    if (slot != KTAB_NONE && ktab_used(&m->tab, slot)) settle(m, slot);
    return err;
}

au_err au_ormap_remove(au_ormap *m, au_ormap *delta, const void *key, size_t len) {
    if (m && !crdt_is_ormap(m)) return AU_ETYPE; /* a state of another type */
    if (!m || delta == m || crdt_bad_bytes(key, len)) return AU_EINVAL;
    if (delta && !crdt_same_types(m, delta)) return AU_ETYPE;
    if (m->h.ctx->delta) return AU_ESTATE;
    uint32_t h = ktab_hash(key, len), slot = ktab_find(&m->tab, key, len, h), dslot;
    if (slot == KTAB_NONE) return AU_OK;
    au_err err = delta ? slot_for(delta, key, len, h, &dslot) : AU_OK;
    if (!err) err = vops(m)->clear(val_at(m, slot), delta ? val_at(delta, dslot) : NULL);
    if (delta && !err) settle(delta, dslot);
    if (err) return err;
    vops(m)->free(val_at(m, slot));
    ktab_delete(&m->tab, slot);
    return AU_OK;
}

size_t au_ormap_size(const au_ormap *m) {
    m = m && crdt_is_ormap(m) ? m : NULL; /* another type reads as bottom */
    if (!m) return 0;
    if (!m->h.ctx->delta) return m->tab.n;
    size_t n = 0;
    for (uint32_t i = 0; i < m->tab.cap; i++)
        n += ktab_used(&m->tab, i) && vops(m)->has_live(val_at(m, i));
    return n;
}

bool au_ormap_next(const au_ormap *m, au_crdt_iter *it, au_crdt_bytes *key, const void **value) {
    m = m && crdt_is_ormap(m) ? m : NULL; /* another type reads as bottom */
    for (; m && it->pos_ < m->tab.cap; it->pos_++) {
        uint32_t i = it->pos_;
        if (!ktab_used(&m->tab, i) || !vops(m)->has_live(val_at(m, i))) continue;
        size_t len;
        const uint8_t *k = ktab_key(&m->tab, i, &len);
        *key = (au_crdt_bytes){ k, len };
        if (value) *value = val_at(m, i);
        it->pos_++;
        return true;
    }
    return false;
}
