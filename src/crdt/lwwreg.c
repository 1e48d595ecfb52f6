/* lwwreg.c — LWWRegister: a last-writer-wins register of bytes.
 *
 * One write (timestamp, replica, value); join keeps the larger under lww_cmp. A local write is
 * stamped after everything this replica has seen, so it always takes effect here. */
#include <stdlib.h>

#include "crdt_internal.h"

struct au_lwwreg {
    const au_crdt_type *type; /* first: see crdt_type_of */
    uint64_t ts, replica;
    bool has;
    uint8_t *value;
    size_t len;
};

static void *lwwreg_create(const au_crdt_type *type, bool delta) {
    (void)type, (void)delta;
    au_lwwreg *r = calloc(1, sizeof *r);
    if (r) r->type = &au_lwwreg_type;
    return r;
}

static void lwwreg_free(void *v) {
    au_lwwreg *r = v;
    if (!r) return;
    if (r->type != &au_lwwreg_type) { /* freed through another type's vtable */
        r->type->free(v);
        return;
    }
    free(r->value);
    free(r);
}

static int order(const au_lwwreg *a, const au_lwwreg *b) {
    return lww_cmp(a->ts, a->replica, a->has, a->value, a->len, b->ts, b->replica, b->has,
                   b->value, b->len);
}

/* r := (ts, replica, value) if that is later than r. */
static au_err put(au_lwwreg *r, uint64_t ts, uint64_t replica, const void *value, size_t len) {
    au_lwwreg w = { r->type, ts, replica, true, (uint8_t *)value, len };
    if (order(&w, r) <= 0) return AU_OK;
    uint8_t *copy = len ? malloc(len) : NULL;
    if (len && !copy) return AU_ENOMEM;
    if (len) memcpy(copy, value, len);
    free(r->value);
    *r = (au_lwwreg){ r->type, ts, replica, true, copy, len };
    return AU_OK;
}

static au_err lwwreg_join(void *dst, const void *src) {
    if (!dst || !src) return AU_EINVAL;
    const au_lwwreg *b = src;
    if (!crdt_same_types(dst, b)) return AU_ETYPE;
    return b->has ? put(dst, b->ts, b->replica, b->value, b->len) : AU_OK;
}

static bool lwwreg_equal(const void *a, const void *b) {
    if (!a || !b) return a == b;
    return crdt_same_types(a, b) && order(a, b) == 0;
}
/* What lwwreg_equal compares (lww_cmp): timestamp, replica, whether written, the value. */
static uint64_t lwwreg_digest(const void *v) {
    if (!v) return 0;
    const au_lwwreg *r = v;
    uint64_t w[] = { CRDT_TAG_LWWREG, r->ts, r->replica, r->has, r->len };
    return crdt_hash_bytes(r->value, r->len, crdt_hash_words(w, 5));
}
static bool lwwreg_is_bottom(const void *v) { return !v || !((const au_lwwreg *)v)->has; }

/* Layout: tag, has; if has: timestamp, replica (8 bytes), value. */
static au_err lwwreg_encode(const void *v, au_buf *out) {
    if (!v || !out) return AU_EINVAL;
    const au_lwwreg *r = v;
    au_err err = crdt_put_u8(out, CRDT_TAG_LWWREG);
    if (!err) err = crdt_put_u8(out, r->has);
    if (!err && r->has) err = crdt_put_uv(out, r->ts);
    if (!err && r->has) err = crdt_put_u64(out, r->replica);
    if (!err && r->has) err = crdt_put_bytes(out, r->value, r->len);
    return err;
}

static au_err lwwreg_decode(const au_crdt_type *type, const uint8_t *data, size_t len,
                            void **out) {
    if (!out) return AU_EINVAL;
    crdt_rd rd = crdt_rd_of(data, len);
    uint8_t tag, has;
    uint64_t ts = 0, replica = 0;
    const uint8_t *value = NULL;
    size_t vlen = 0;
    *out = NULL;
    if (!type) return AU_EINVAL;
    if (!data && len) return AU_EINVAL;
    if (!crdt_get_u8(&rd, &tag) || tag != CRDT_TAG_LWWREG || !crdt_get_u8(&rd, &has) || has > 1 ||
        (has && (!crdt_get_uv(&rd, &ts) || !crdt_get_u64(&rd, &replica) ||
                 !crdt_get_bytes(&rd, &value, &vlen))) ||
        !crdt_rd_done(&rd))
        return AU_EDECODE;
    au_lwwreg *r = lwwreg_create(type, false);
    au_err err = !r ? AU_ENOMEM : has ? put(r, ts, replica, value, vlen) : AU_OK;
    if (err) {
        lwwreg_free(r);
        return err;
    }
    *out = r;
    return AU_OK;
}

static au_err lwwreg_copy(const void *v, void **out) {
    return crdt_copy_by_join(&au_lwwreg_type, v, out);
}

static au_err lwwreg_delta_minus(void *delta, const void *state) {
    if (!delta || !state) return AU_EINVAL;
    au_lwwreg *d = delta;
    if (d == state) return AU_EINVAL;
    if (!crdt_same_types(d, state)) return AU_ETYPE;
    if (order(d, state) <= 0) {
        free(d->value);
        *d = (au_lwwreg){ .type = d->type };
    }
    return AU_OK;
}

const au_crdt_type au_lwwreg_type = {
    .name = "au.lwwreg.1", .create = lwwreg_create, .free = lwwreg_free, .join = lwwreg_join,
    .equal = lwwreg_equal, .digest = lwwreg_digest, .is_bottom = lwwreg_is_bottom,
    .encode = lwwreg_encode,
    .decode = lwwreg_decode, .copy = lwwreg_copy, .delta_minus = lwwreg_delta_minus,
    .prune = crdt_prune_nothing, .prune_once = false,
};

au_err au_lwwreg_set(au_lwwreg *s, au_lwwreg *delta, uint64_t replica, uint64_t timestamp,
                     const void *value, size_t len) {
    if (s && !crdt_is_a(s, &au_lwwreg_type)) return AU_ETYPE; /* a state of another type */
    if (!s || crdt_bad_bytes(value, len) || delta == s) return AU_EINVAL;
    if (delta && !crdt_same_types(s, delta)) return AU_ETYPE;
    if (s->has && timestamp <= s->ts) {
        if (s->ts == UINT64_MAX) return AU_EFULL;
        timestamp = s->ts + 1;
    }
    au_err err = delta ? put(delta, timestamp, replica, value, len) : AU_OK;
    return err ? err : put(s, timestamp, replica, value, len);
}

bool au_lwwreg_get(const au_lwwreg *s, au_crdt_bytes *value) {
    s = CRDT_READ_AS(s, &au_lwwreg_type); /* another type reads as bottom */
    if (!s || !s->has) return false;
    *value = (au_crdt_bytes){ s->value, s->len };
    return true;
}

uint64_t au_lwwreg_timestamp(const au_lwwreg *s) {
    s = CRDT_READ_AS(s, &au_lwwreg_type); /* another type reads as bottom */
    return s && s->has ? s->ts : 0;
}
