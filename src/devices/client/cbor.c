/* cbor.c — the CBOR subset (RFC 8949) the device protocol and user payloads need, and the byte
 * helpers every file of the client uses instead of libc.
 *
 * Owns: writing and reading heads of major types 0 (unsigned), 1 (negative), 2 (bytes),
 * 3 (text), 4 (array) and the simple values false, true, null — what aurum's codec
 * (proto/codec.h) emits for integers, strings, bytes, records, roots and units.
 *
 * Invariants: the writer never writes past cap and the reader never reads past end; both keep a
 * sticky error instead of returning one per call, so a caller encodes or decodes a whole record
 * and checks once. The writer emits the shortest head, as aurum's codec does; the reader accepts
 * any definite head length (the codec's decoder does too) and refuses indefinite lengths,
 * reserved additional information (28..30), and every major type and simple value not listed. */
#include "devices/client/internal.h"

/* ---- bytes -------------------------------------------------------------------------------- */

void au_dc_copy(uint8_t *dst, const uint8_t *src, size_t n) {
    while (n--) *dst++ = *src++;
}

void au_dc_zero(volatile uint8_t *p, size_t n) {
    while (n--) *p++ = 0;
}

bool au_dc_same(const uint8_t *a, const uint8_t *b, size_t n) {
    while (n--)
        if (*a++ != *b++) return false;
    return true;
}

/* ---- writer ------------------------------------------------------------------------------- */

enum { MAJOR_UINT = 0, MAJOR_NEG = 1, MAJOR_BYTES = 2, MAJOR_TEXT = 3, MAJOR_ARRAY = 4,
       MAJOR_SIMPLE = 7 };
enum { SIMPLE_FALSE = 20, SIMPLE_TRUE = 21, SIMPLE_NULL = 22 };

static uint8_t *room(au_dc_cbor_out *w, size_t n) {
    /* len past cap (a writer set up wrong) would wrap cap - len into room that is not there */
    if (w->err || w->len > w->cap || n > w->cap - w->len) {
        w->err = 1;
        return NULL;
    }
    uint8_t *p = w->buf + w->len;
    w->len += n;
    return p;
}

static void put_head(au_dc_cbor_out *w, unsigned major, uint64_t v) {
    unsigned extra = v < 24 ? 0 : v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
    uint8_t *p = room(w, 1 + extra);
    if (!p) return;
    static const uint8_t info[9] = { 0, 24, 25, 0, 26, 0, 0, 0, 27 };
    p[0] = (uint8_t)(major << 5 | (extra ? info[extra] : v));
    au_dc_put_be(p + 1, v, extra);
}

void au_dc_cbor_put_array(au_dc_cbor_out *w, uint64_t count) { put_head(w, MAJOR_ARRAY, count); }
void au_dc_cbor_put_uint(au_dc_cbor_out *w, uint64_t v) { put_head(w, MAJOR_UINT, v); }

void au_dc_cbor_put_int(au_dc_cbor_out *w, int64_t v) {
    /* CBOR stores a negative n as -1 - n; ~n computes it without overflow for INT64_MIN. */
    if (v >= 0) put_head(w, MAJOR_UINT, (uint64_t)v);
    else put_head(w, MAJOR_NEG, ~(uint64_t)v);
}

static void put_string(au_dc_cbor_out *w, unsigned major, const uint8_t *s, size_t n) {
    if (!s && n) { /* a length with nothing to copy it from */
        w->err = 1;
        return;
    }
    put_head(w, major, n);
    uint8_t *p = room(w, n);
    if (p) au_dc_copy(p, s, n);
}

void au_dc_cbor_put_bytes(au_dc_cbor_out *w, const uint8_t *p, size_t n) {
    put_string(w, MAJOR_BYTES, p, n);
}
void au_dc_cbor_put_text(au_dc_cbor_out *w, const char *s, size_t n) {
    put_string(w, MAJOR_TEXT, (const uint8_t *)s, n);
}
void au_dc_cbor_put_bool(au_dc_cbor_out *w, int v) {
    put_head(w, MAJOR_SIMPLE, v ? SIMPLE_TRUE : SIMPLE_FALSE);
}
void au_dc_cbor_put_null(au_dc_cbor_out *w) { put_head(w, MAJOR_SIMPLE, SIMPLE_NULL); }

/* ---- reader ------------------------------------------------------------------------------- */

/* Reads a head of the given major type; its argument, or 0 with err set. */
static uint64_t get_head(au_dc_cbor_in *r, unsigned major) {
    if (!r) return 0;
    if (r->err || r->pos >= r->end || (unsigned)(*r->pos >> 5) != major) goto bad;
    unsigned info = *r->pos & 31u;
    if (info < 24) {
        r->pos++;
        return info;
    }
    if (info > 27) goto bad; /* 28..30 reserved, 31 indefinite */
    unsigned extra = 1u << (info - 24);
    if ((size_t)(r->end - r->pos) - 1 < extra) goto bad;
    uint64_t v = au_dc_get_be(r->pos + 1, extra);
    r->pos += 1 + extra;
    return v;
bad:
    r->err = 1;
    return 0;
}

uint64_t au_dc_cbor_get_array(au_dc_cbor_in *r) { return get_head(r, MAJOR_ARRAY); }

uint64_t au_dc_cbor_get_uint(au_dc_cbor_in *r, uint64_t max) {
    uint64_t v = get_head(r, MAJOR_UINT);
    if (!r) return 0;
    if (v > max) r->err = 1;
    return r->err ? 0 : v;
}

int64_t au_dc_cbor_get_int(au_dc_cbor_in *r) {
    if (!r) return 0;
    if (r->err || r->pos >= r->end) {
        r->err = 1;
        return 0;
    }
    bool negative = (*r->pos >> 5) == MAJOR_NEG;
    uint64_t v = get_head(r, negative ? MAJOR_NEG : MAJOR_UINT);
    if (v > (uint64_t)INT64_MAX) r->err = 1;
    if (r->err) return 0;
    return negative ? -(int64_t)v - 1 : (int64_t)v;
}

static const uint8_t *get_string(au_dc_cbor_in *r, unsigned major, size_t *n) {
    if (!r || !n) { /* nowhere to say how long: an error, nothing read */
        if (r) r->err = 1;
        if (n) *n = 0;
        return NULL;
    }
    uint64_t len = get_head(r, major);
    if (r->err || len > (uint64_t)(r->end - r->pos)) {
        r->err = 1;
        *n = 0;
        return NULL;
    }
    const uint8_t *p = r->pos;
    r->pos += len;
    *n = (size_t)len;
    return p;
}

const uint8_t *au_dc_cbor_get_bytes(au_dc_cbor_in *r, size_t *n) {
    return get_string(r, MAJOR_BYTES, n);
}
const char *au_dc_cbor_get_text(au_dc_cbor_in *r, size_t *n) {
    return (const char *)get_string(r, MAJOR_TEXT, n);
}

/* A simple value is one byte here (0xf4 false, 0xf5 true, 0xf6 null): the longer heads of major
 * type 7 are floats and one-byte simple values, none of which these stand for. */
static unsigned get_simple(au_dc_cbor_in *r) {
    if (!r) return 0;
    if (r->err || r->pos >= r->end || *r->pos < (MAJOR_SIMPLE << 5 | SIMPLE_FALSE) ||
        *r->pos > (MAJOR_SIMPLE << 5 | SIMPLE_NULL)) {
        r->err = 1;
        return 0;
    }
    return *r->pos++ & 31u;
}

int au_dc_cbor_get_bool(au_dc_cbor_in *r) {
    unsigned v = get_simple(r);
    if (!r) return 0;
    if (v == SIMPLE_NULL) r->err = 1;
    return r->err ? 0 : v == SIMPLE_TRUE;
}

void au_dc_cbor_get_null(au_dc_cbor_in *r) {
    if (get_simple(r) != SIMPLE_NULL && r) r->err = 1;
}

int au_dc_cbor_end(const au_dc_cbor_in *r) { return !r || r->err || r->pos != r->end; }
