/* codec.c — the compact binary encoding shared by every CRDT of src/crdt.
 *
 * Why not CBOR: a delta is mostly small integers (dot counters, replica indices, counts) and a
 * few byte strings. LEB128 varints cost 1 byte for values below 128 and no type/length headers,
 * so an ORSet add travels in about 20 bytes plus the element, inside the 32-byte overhead goal;
 * CBOR would add a header per item and a map/array framing for every level. Replica ids are
 * random 64-bit member ids, so they are written as 8 fixed bytes (a varint would take 10).
 *
 * Readers never trust a count or a length: every read is checked against the remaining bytes,
 * and counts are checked against the bytes their items need at least (crdt_get_count), so a
 * decoder's allocations are bounded by its input. */
#include "crdt_internal.h"

au_err crdt_put_u8(au_buf *b, uint8_t v) { return au_buf_append(b, &v, 1); }

au_err crdt_put_uv(au_buf *b, uint64_t v) {
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7F;
        v >>= 7;
        tmp[n++] = byte | (v ? 0x80 : 0);
    } while (v);
    return au_buf_append(b, tmp, n);
}

au_err crdt_put_u64(au_buf *b, uint64_t v) {
    uint8_t tmp[8];
    for (int i = 0; i < 8; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    return au_buf_append(b, tmp, 8);
}

au_err crdt_put_bytes(au_buf *b, const void *p, size_t n) {
    au_err err = crdt_put_uv(b, n);
    return err || n == 0 ? err : au_buf_append(b, p, n);
}

bool crdt_get_u8(crdt_rd *r, uint8_t *v) {
    if (r->p >= r->end) return false;
    *v = *r->p++;
    return true;
}

bool crdt_get_uv(crdt_rd *r, uint64_t *v) {
    uint64_t out = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return false;
        uint8_t byte = *r->p++;
        if (shift == 63 && byte > 1) return false; /* more than 64 bits */
        out |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) {
            if (byte == 0 && shift) return false; /* non-minimal (a padded zero group) */
            *v = out;
            return true;
        }
    }
    return false;
}

bool crdt_get_u64(crdt_rd *r, uint64_t *v) {
    if (r->end - r->p < 8) return false;
    uint64_t out = 0;
    for (int i = 0; i < 8; i++) out |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    *v = out;
    return true;
}

bool crdt_get_bytes(crdt_rd *r, const uint8_t **p, size_t *n) {
    uint64_t len;
    if (!crdt_get_uv(r, &len) || len > CRDT_MAX_BYTES || len > (uint64_t)(r->end - r->p))
        return false;
    *p = r->p;
    *n = (size_t)len;
    r->p += len;
    return true;
}

bool crdt_get_count(crdt_rd *r, size_t min_each, uint32_t *n) {
    uint64_t v;
    if (!crdt_get_uv(r, &v) || v > UINT32_MAX) return false;
    if (min_each && v > (uint64_t)(r->end - r->p) / min_each) return false;
    *n = (uint32_t)v;
    return true;
}

au_err crdt_prune_nothing(void *s, void *delta, uint64_t departed, uint64_t self) {
    (void)s, (void)delta, (void)departed, (void)self;
    return AU_OK;
}

au_err crdt_copy_by_join(const au_crdt_type *t, const void *src, void **out) {
    if (!out) return AU_EINVAL;
    if (!src) {
        *out = NULL;
        return AU_EINVAL;
    }
    *out = t->create(t, false);
    au_err err = *out ? t->join(*out, src) : AU_ENOMEM;
    if (err) {
        t->free(*out);
        *out = NULL;
    }
    return err;
}
