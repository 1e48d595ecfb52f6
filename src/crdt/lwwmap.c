/* lwwmap.c — LWWMap: byte-string keys to last-writer-wins byte-string values.
 *
 * A key table with tails (ktab.c): the key's blob carries [present][value], the 16-byte payload
 * the write's timestamp and replica. Every key is an LWWRegister whose "absent" value is a
 * removal; join keeps the later write per key (lww_cmp). Removals are tombstones: the key and
 * its timestamp stay so that older writes remain superseded. */
#include <stdlib.h>

#include "crdt_internal.h"

struct au_lwwmap {
    const au_crdt_type *type; /* first: see crdt_type_of */
    ktab tab;
    size_t npresent;
};

typedef struct entry {
    uint64_t ts, replica;
    bool present;
    const uint8_t *value;
    size_t len;
} entry;

static void entry_at(const au_lwwmap *m, uint32_t slot, entry *e) {
    const uint8_t *p = ktab_payload(&m->tab, slot);
    memcpy(&e->ts, p, 8);
    memcpy(&e->replica, p + 8, 8);
    size_t tlen;
    const uint8_t *tail = ktab_tail(&m->tab, slot, &tlen);
    e->present = tail[0];
    e->value = tail + 1;
    e->len = tlen - 1;
}

static int order(const entry *a, const entry *b) {
    return lww_cmp(a->ts, a->replica, a->present, a->value, a->len, b->ts, b->replica, b->present,
                   b->value, b->len);
}

/* The key's write := w if w is later. */
static au_err put(au_lwwmap *m, const void *key, size_t klen, uint32_t h, const entry *w) {
    uint32_t slot = ktab_find(&m->tab, key, klen, h);
    entry old = { 0 };
    if (slot != KTAB_NONE) {
        entry_at(m, slot, &old);
        if (order(w, &old) <= 0) return AU_OK;
    }
    uint8_t small[64], *tail = w->len < sizeof small ? small : malloc(w->len + 1);
    if (!tail) return AU_ENOMEM;
    tail[0] = w->present;
    if (w->len) memcpy(tail + 1, w->value, w->len);
    au_err err = slot == KTAB_NONE ? ktab_insert(&m->tab, key, klen, h, tail, w->len + 1, &slot)
                                   : ktab_set_tail(&m->tab, slot, tail, w->len + 1);
    if (tail != small) free(tail);
    if (err) return err;
    uint8_t *p = ktab_payload(&m->tab, slot);
    memcpy(p, &w->ts, 8);
    memcpy(p + 8, &w->replica, 8);
    m->npresent += (size_t)w->present - (size_t)old.present;
    return AU_OK;
}

static void *lwwmap_create(const au_crdt_type *type, bool delta) {
    (void)type, (void)delta;
    au_lwwmap *m = calloc(1, sizeof *m);
    if (m) m->type = &au_lwwmap_type, ktab_init(&m->tab, 16, true);
    return m;
}

static void lwwmap_free(void *v) {
    au_lwwmap *m = v;
    if (!m) return;
    if (m->type != &au_lwwmap_type) { /* freed through another type's vtable */
        m->type->free(v);
        return;
    }
    ktab_free(&m->tab);
    free(m);
}

static au_err lwwmap_join(void *dst, const void *src) {
    if (!dst || !src) return AU_EINVAL;
    au_lwwmap *a = dst;
    const au_lwwmap *b = src;
    if (!crdt_same_types(a, b)) return AU_ETYPE;
    au_err err = a == b ? AU_OK : ktab_prepare_merge(&a->tab, &b->tab, b->tab.n);
    for (uint32_t j = 0; !err && a != b && j < b->tab.cap; j++) {
        if (!ktab_used(&b->tab, j)) continue;
        entry e;
        size_t klen;
        entry_at(b, j, &e);
        const uint8_t *key = ktab_key(&b->tab, j, &klen);
        err = put(a, key, klen, ktab_slot_hash(&b->tab, j), &e);
    }
    return err;
}

static bool lwwmap_equal(const void *va, const void *vb) {
    if (!va || !vb) return va == vb;
    const au_lwwmap *a = va, *b = vb;
    if (!crdt_same_types(a, b) || a->tab.n != b->tab.n || a->npresent != b->npresent) return false;
    for (uint32_t i = 0; i < a->tab.cap; i++) {
        if (!ktab_used(&a->tab, i)) continue;
        uint32_t j = ktab_find_from(&b->tab, &a->tab, i);
        entry ea, eb;
        if (j == KTAB_NONE) return false;
        entry_at(a, i, &ea), entry_at(b, j, &eb);
        if (order(&ea, &eb) != 0) return false;
    }
    return true;
}

/* What lwwmap_equal compares: every key (removed ones too) with its write under lww_cmp. */
static uint64_t lwwmap_digest(const void *v) {
    if (!v) return 0;
    const au_lwwmap *m = v;
    uint64_t sum = 0;
    for (uint32_t i = 0; ktab_walk(&m->tab, &i); i++) {
        entry e;
        size_t klen;
        entry_at(m, i, &e);
        const uint8_t *key = ktab_key(&m->tab, i, &klen);
        uint64_t w[] = { CRDT_DOM_KEY, e.ts, e.replica, e.present, e.len,
                         crdt_hash_bytes(e.value, e.len, CRDT_DOM_ENTRY) };
        sum += crdt_hash_bytes(key, klen, crdt_hash_words(w, 6));
    }
    uint64_t w[] = { CRDT_TAG_LWWMAP, m->tab.n, m->npresent, sum };
    return crdt_hash_words(w, 4);
}

static bool lwwmap_is_bottom(const void *v) { return !v || ((const au_lwwmap *)v)->tab.n == 0; }

/* Layout: tag, n, then per key: key, timestamp, replica (8 bytes), present, value if present. */
static au_err lwwmap_encode(const void *v, au_buf *out) {
    if (!v || !out) return AU_EINVAL;
    const au_lwwmap *m = v;
    au_err err = crdt_put_u8(out, CRDT_TAG_LWWMAP);
    if (!err) err = crdt_put_uv(out, m->tab.n);
    for (uint32_t i = 0; !err && i < m->tab.cap; i++) {
        if (!ktab_used(&m->tab, i)) continue;
        entry e;
        size_t klen;
        entry_at(m, i, &e);
        const uint8_t *key = ktab_key(&m->tab, i, &klen);
        err = crdt_put_bytes(out, key, klen);
        if (!err) err = crdt_put_uv(out, e.ts);
        if (!err) err = crdt_put_u64(out, e.replica);
        if (!err) err = crdt_put_u8(out, e.present);
        if (!err && e.present) err = crdt_put_bytes(out, e.value, e.len);
    }
    return err;
}

static au_err lwwmap_decode(const au_crdt_type *type, const uint8_t *data, size_t len,
                            void **out) {
    if (!out) return AU_EINVAL;
    crdt_rd r = crdt_rd_of(data, len);
    uint8_t tag;
    uint32_t n;
    *out = NULL;
    if (!type) return AU_EINVAL;
    if (!data && len) return AU_EINVAL;
    if (!crdt_get_u8(&r, &tag) || tag != CRDT_TAG_LWWMAP || !crdt_get_count(&r, 11, &n))
        return AU_EDECODE;
    au_lwwmap *m = lwwmap_create(type, false);
    if (!m) return AU_ENOMEM;
    au_err err = ktab_reserve(&m->tab, n);
    for (uint32_t i = 0; !err && i < n; i++) {
        const uint8_t *key;
        size_t klen;
        uint8_t present;
        entry e = { 0 };
        if (!crdt_get_bytes(&r, &key, &klen) || !crdt_get_uv(&r, &e.ts) ||
            !crdt_get_u64(&r, &e.replica) || !crdt_get_u8(&r, &present) || present > 1 ||
            (present && !crdt_get_bytes(&r, &e.value, &e.len))) {
            err = AU_EDECODE;
            break;
        }
        e.present = present;
        uint32_t h = ktab_hash(key, klen);
        err = ktab_find(&m->tab, key, klen, h) != KTAB_NONE ? AU_EDECODE : put(m, key, klen, h, &e);
    }
    if (!err && !crdt_rd_done(&r)) err = AU_EDECODE;
    if (err) {
        lwwmap_free(m);
        return err;
    }
    *out = m;
    return AU_OK;
}

static au_err lwwmap_copy(const void *v, void **out) {
    return crdt_copy_by_join(&au_lwwmap_type, v, out);
}

static au_err lwwmap_delta_minus(void *delta, const void *state) {
    if (!delta || !state) return AU_EINVAL;
    au_lwwmap *d = delta;
    const au_lwwmap *s = state;
    if (d == s) return AU_EINVAL;
    if (!crdt_same_types(d, s)) return AU_ETYPE;
    for (uint32_t i = 0; i < d->tab.cap;) {
        uint32_t j = ktab_used(&d->tab, i) ? ktab_find_from(&s->tab, &d->tab, i) : KTAB_NONE;
        entry ed, es;
        if (j != KTAB_NONE) entry_at(d, i, &ed), entry_at(s, j, &es);
        if (j != KTAB_NONE && order(&ed, &es) <= 0) {
            d->npresent -= ed.present;
            ktab_delete(&d->tab, i); /* may shift another key into i: look again */
        } else {
            i++;
        }
    }
    return AU_OK;
}

const au_crdt_type au_lwwmap_type = {
    .name = "au.lwwmap.1", .create = lwwmap_create, .free = lwwmap_free, .join = lwwmap_join,
    .equal = lwwmap_equal, .digest = lwwmap_digest, .is_bottom = lwwmap_is_bottom,
    .encode = lwwmap_encode,
    .decode = lwwmap_decode, .copy = lwwmap_copy, .delta_minus = lwwmap_delta_minus,
    .prune = crdt_prune_nothing, .prune_once = false,
};

/* A local write: stamped after the key's current write. */
static au_err local_write(au_lwwmap *m, au_lwwmap *delta, uint64_t replica, uint64_t ts,
                    const void *key, size_t klen, bool present, const void *value, size_t vlen) {
    if (m && !crdt_is_a(m, &au_lwwmap_type)) return AU_ETYPE; /* a state of another type */
    if (!m || crdt_bad_bytes(key, klen) || vlen >= CRDT_MAX_BYTES || (!value && vlen) || delta == m)
        return AU_EINVAL;
    if (delta && !crdt_same_types(m, delta)) return AU_ETYPE;
    uint32_t h = ktab_hash(key, klen), slot = ktab_find(&m->tab, key, klen, h);
    if (slot != KTAB_NONE) {
        entry old;
        entry_at(m, slot, &old);
        if (ts <= old.ts) {
            if (old.ts == UINT64_MAX) return AU_EFULL;
            ts = old.ts + 1;
        }
    }
    entry w = { ts, replica, present, value, vlen };
    au_err err = delta ? put(delta, key, klen, h, &w) : AU_OK;
    return err ? err : put(m, key, klen, h, &w);
}

au_err au_lwwmap_set(au_lwwmap *m, au_lwwmap *delta, uint64_t replica, uint64_t timestamp,
                     const void *key, size_t klen, const void *value, size_t vlen) {
    return local_write(m, delta, replica, timestamp, key, klen, true, value, vlen);
}

au_err au_lwwmap_remove(au_lwwmap *m, au_lwwmap *delta, uint64_t replica, uint64_t timestamp,
                        const void *key, size_t klen) {
    return local_write(m, delta, replica, timestamp, key, klen, false, NULL, 0);
}

bool au_lwwmap_get(const au_lwwmap *m, const void *key, size_t klen, au_crdt_bytes *value) {
    m = CRDT_READ_AS(m, &au_lwwmap_type); /* another type reads as bottom */
    uint32_t slot = m && !crdt_bad_bytes(key, klen) ? ktab_find(&m->tab, key, klen, ktab_hash(key, klen)) : KTAB_NONE;
    if (slot == KTAB_NONE) return false;
    entry e;
    entry_at(m, slot, &e);
    if (e.present) *value = (au_crdt_bytes){ e.value, e.len };
    return e.present;
}

size_t au_lwwmap_size(const au_lwwmap *m) {
    m = CRDT_READ_AS(m, &au_lwwmap_type); /* another type reads as bottom */
    return m ? m->npresent : 0;
}

bool au_lwwmap_next(const au_lwwmap *m, au_crdt_iter *it, au_crdt_bytes *key,
                    au_crdt_bytes *value) {
    m = CRDT_READ_AS(m, &au_lwwmap_type); /* another type reads as bottom */
    for (; m && it->pos_ < m->tab.cap; it->pos_++) {
        if (!ktab_used(&m->tab, it->pos_)) continue;
        entry e;
        entry_at(m, it->pos_, &e);
        if (!e.present) continue;
        size_t klen;
        const uint8_t *k = ktab_key(&m->tab, it->pos_++, &klen);
        *key = (au_crdt_bytes){ k, klen };
        if (value) *value = (au_crdt_bytes){ e.value, e.len };
        return true;
    }
    return false;
}
