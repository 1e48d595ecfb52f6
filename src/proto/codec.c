/* The schema-driven CBOR codec (see codec.h for the encoding table and the rules).
 *
 * Encoding is two passes over the value: size() computes how many bytes the encoding takes
 * (exactly for schema-driven parts, a guess for custom codecs and references, whose output is
 * only known by running them), the buffer is reserved once, then emit() writes the bytes with
 * libcbor's cbor_encode_* helpers. Every write still checks the room it needs, so a wrong guess
 * costs a reallocation, never an overflow.
 *
 * Decoding is recursive descent over the type, pulling one CBOR item at a time from
 * cbor_stream_decode: its callbacks only record the item (kind, value, string view) in a token,
 * and the code that knows the expected type validates it. cbor_stream_decode never reads past
 * the length it is given and only reports a string whose bytes are all present; we re-check
 * that anyway. Each decode_* function is all-or-nothing: on failure it has freed what it built
 * and left its part of the value zeroed, so the caller only undoes its own completed parts. */
#include "proto/codec.h"
#include "proto/utf8.h"
#include "proto/value.h"

#include <cbor.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* See types.c: the shared layout of every T_array. */
typedef struct raw_array {
    void *ptr;
    uint32_t len;
    uint32_t owned;
} raw_array;

/* Reserved-space guesses for the parts whose size is only known once encoded. */
enum { GUESS_CUSTOM = 32, GUESS_REF = 64, MAX_HEAD = 9 };

/* ==== encoding ================================================================================ */

/* Bytes of a CBOR head carrying v (libcbor always picks the shortest form, and so do we). */
static size_t head_size(uint64_t v) {
    return v < 24 ? 1 : v <= 0xFF ? 2 : v <= 0xFFFF ? 3 : v <= 0xFFFFFFFFu ? 5 : 9;
}

/* Upper bound of the encoding of one integer of kind k, without looking at the value. */
static size_t int_bound(au_kind k) {
    switch (k) {
    case AU_KIND_I8: case AU_KIND_U8: return 2;
    case AU_KIND_I16: case AU_KIND_U16: return 3;
    case AU_KIND_I32: case AU_KIND_U32: return 5;
    default: return 9;
    }
}

/* The encoded size of a value (a guess only for custom codecs and references); malformed parts
 * count as zero, emit() rejects them. */
static size_t size(const au_type *t, const void *v, uint32_t depth) {
    if (depth > AU_ENCODE_MAX_DEPTH) return 0;
    if (t->codec) return GUESS_CUSTOM;
    const char *base = v;
    switch (t->kind) {
    case AU_KIND_UNIT: case AU_KIND_BOOL: return 1;
    case AU_KIND_F32: return 5;
    case AU_KIND_F64: return 9;
    case AU_KIND_I8: case AU_KIND_I16: case AU_KIND_I32: case AU_KIND_I64:
    case AU_KIND_U8: case AU_KIND_U16: case AU_KIND_U32: case AU_KIND_U64:
        return int_bound(t->kind);
    case AU_KIND_STR: {
        const au_str *s = v;
        return head_size(s->len) + s->len;
    }
    case AU_KIND_BYTES: {
        const au_bytes *b = v;
        return head_size(b->len) + b->len;
    }
    case AU_KIND_ARRAY: {
        const raw_array *a = v;
        size_t n = head_size(a->len);
        if (!a->ptr) return n;
        const au_type *e = t->elem;
        if (!e->codec && e->kind <= AU_KIND_F64) /* fixed bound per element: no walk */
            return n + (size_t)a->len * size(e, a->ptr, depth + 1);
        for (uint32_t i = 0; i < a->len; i++)
            n += size(e, (const char *)a->ptr + (size_t)i * e->size, depth + 1);
        return n;
    }
    case AU_KIND_RECORD: {
        size_t n = head_size(t->count);
        for (uint32_t i = 0; i < t->count; i++)
            n += size(t->fields[i].type, base + t->fields[i].offset, depth + 1);
        return n;
    }
    case AU_KIND_ROOT: {
        int tag = au_root_tag(t, v);
        if (tag < 0) return 0;
        return 1 + head_size((uint64_t)tag) +
               size(t->variants[tag].type, base + t->variants[tag].offset, depth + 1);
    }
    case AU_KIND_REF: return GUESS_REF;
    default: return 0;
    }
}

typedef struct enc {
    au_buf *out;
    const au_codec_refs *refs;
    uint32_t max_depth; /* au_encode_bounded's max_depth; UINT32_MAX: no such bound */
} enc;

/* Would one more CBOR array (a record, root, array or reference) at emit's depth nest more than
 * max_depth, as au_decode counts them? emit's depth is the number of arrays open around it. */
static bool too_deep(const enc *e, uint32_t depth) { return depth >= e->max_depth; }


/* Runs cbor_encode_<call>(arg, ...) on the buffer's free space (at least MAX_HEAD bytes, a
 * head's maximum), so it cannot fail for lack of room. */
#define PUT(e, call, arg)                                                                     \
    do {                                                                                      \
        au_buf *b_ = (e)->out;                                                                \
        if (au_buf_reserve(b_, MAX_HEAD) != AU_OK) return AU_ENOMEM;                                   \
        b_->len += cbor_encode_##call((arg), b_->data + b_->len, b_->cap - b_->len);          \
    } while (0)

static au_err put_null(enc *e) {
    if (au_buf_reserve(e->out, 1) != AU_OK) return AU_ENOMEM;
    e->out->len += cbor_encode_null(e->out->data + e->out->len, e->out->cap - e->out->len);
    return AU_OK;
}

static au_err put_text(enc *e, const char *p, size_t n) {
    if (n && !p) return AU_EENCODE;
    if (!au_utf8_valid((const uint8_t *)p, n)) return AU_EENCODE;
    if (au_buf_reserve(e->out, MAX_HEAD + n) != AU_OK) return AU_ENOMEM;
    au_buf *b = e->out;
    b->len += cbor_encode_string_start(n, b->data + b->len, b->cap - b->len);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return AU_OK;
}

static au_err put_bytes(enc *e, const uint8_t *p, size_t n) {
    if (n && !p) return AU_EENCODE;
    if (au_buf_reserve(e->out, MAX_HEAD + n) != AU_OK) return AU_ENOMEM;
    au_buf *b = e->out;
    b->len += cbor_encode_bytestring_start(n, b->data + b->len, b->cap - b->len);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return AU_OK;
}

static au_err put_int(enc *e, int64_t x) {
    if (x >= 0) PUT(e, uint, (uint64_t)x);
    else PUT(e, negint, (uint64_t)(-(x + 1))); /* CBOR stores -1 - x */
    return AU_OK;
}

/* The codec's output, then its byte-string head slid in front of it: the length is only known
 * afterwards, and encoding in place avoids a temporary buffer. */
static au_err put_custom(enc *e, const au_type *t, const void *v) {
    au_buf *b = e->out;
    size_t start = b->len;
    au_err err = t->codec->encode(v, b);
    if (err != AU_OK) return err;
    size_t n = b->len - start, h = head_size(n);
    if (au_buf_reserve(b, h) != AU_OK) return AU_ENOMEM;
    memmove(b->data + start + h, b->data + start, n);
    cbor_encode_bytestring_start(n, b->data + start, h);
    b->len += h;
    return AU_OK;
}

static au_err put_ref(enc *e, const au_ref *r, uint32_t depth) {
    if (!e->refs || !e->refs->encode) return AU_EENCODE;
    /* Checked first: describing a reference may register a name for its actor (net). */
    if (too_deep(e, depth)) return AU_EENCODE;
    au_wire_ref w = { 0 };
    au_err err = e->refs->encode(e->refs->user, r, &w);
    if (err != AU_OK) return err;
    PUT(e, array_start, 4);
    if ((err = put_text(e, w.addr, w.addr_len)) != AU_OK) return err;
    if ((err = put_text(e, w.name, w.name_len)) != AU_OK) return err;
    PUT(e, uint, w.root_id);
    PUT(e, uint, w.iface_id);
    return AU_OK;
}

static au_err emit(enc *e, const au_type *t, const void *v, uint32_t depth) {
    if (depth > AU_ENCODE_MAX_DEPTH) return AU_EENCODE;
    if (t->codec) return put_custom(e, t, v);
    const char *base = v;
    au_err err;
    switch (t->kind) {
    case AU_KIND_UNIT: return put_null(e);
    case AU_KIND_BOOL: PUT(e, bool, *(const uint8_t *)v != 0); return AU_OK;
    case AU_KIND_I8: return put_int(e, *(const int8_t *)v);
    case AU_KIND_I16: return put_int(e, *(const int16_t *)v);
    case AU_KIND_I32: return put_int(e, *(const int32_t *)v);
    case AU_KIND_I64: return put_int(e, *(const int64_t *)v);
    case AU_KIND_U8: PUT(e, uint, *(const uint8_t *)v); return AU_OK;
    case AU_KIND_U16: PUT(e, uint, *(const uint16_t *)v); return AU_OK;
    case AU_KIND_U32: PUT(e, uint, *(const uint32_t *)v); return AU_OK;
    case AU_KIND_U64: PUT(e, uint, *(const uint64_t *)v); return AU_OK;
    case AU_KIND_F32: PUT(e, single, *(const float *)v); return AU_OK;
    case AU_KIND_F64: PUT(e, double, *(const double *)v); return AU_OK;
    case AU_KIND_STR: {
        const au_str *s = v;
        return put_text(e, s->ptr, s->len);
    }
    case AU_KIND_BYTES: {
        const au_bytes *b = v;
        return put_bytes(e, b->ptr, b->len);
    }
    case AU_KIND_ARRAY: {
        const raw_array *a = v;
        if (a->len && !a->ptr) return AU_EENCODE;
        if (too_deep(e, depth)) return AU_EENCODE;
        PUT(e, array_start, a->len);
        const au_type *el = t->elem;
        for (uint32_t i = 0; i < a->len; i++)
            if ((err = emit(e, el, (const char *)a->ptr + (size_t)i * el->size, depth + 1)) != AU_OK)
                return err;
        return AU_OK;
    }
    case AU_KIND_RECORD:
        if (t->local) return AU_EENCODE; /* AU_LOCAL_RECORD never leaves its node */
        if (too_deep(e, depth)) return AU_EENCODE;
        PUT(e, array_start, t->count);
        for (uint32_t i = 0; i < t->count; i++)
            if ((err = emit(e, t->fields[i].type, base + t->fields[i].offset, depth + 1)) != AU_OK)
                return err;
        return AU_OK;
    case AU_KIND_ROOT: {
        /* Judged by the active variant only: a local root's serializable variants may travel. */
        int tag = au_root_tag(t, v);
        if (tag < 0) return AU_EENCODE;
        if (too_deep(e, depth)) return AU_EENCODE;
        PUT(e, array_start, 2);
        PUT(e, uint, (uint64_t)tag);
        return emit(e, t->variants[tag].type, base + t->variants[tag].offset, depth + 1);
    }
    case AU_KIND_REF: return put_ref(e, v, depth);
    default: return AU_EENCODE; /* AU_KIND_LOCAL: pointers and handles mean nothing elsewhere */
    }
}

au_err au_encode(au_type *type, const void *value, au_buf *out, const au_codec_refs *refs) {
    return au_encode_bounded(type, value, out, refs, 0);
}

au_err au_encode_bounded(au_type *type, const void *value, au_buf *out,
                         const au_codec_refs *refs, uint32_t max_depth) {
    if (!type || !value || !out) return AU_EINVAL;
    size_t start = out->len;
    if (au_buf_reserve(out, size(type, value, 0)) != AU_OK) return AU_ENOMEM;
    enc e = { out, refs, max_depth ? max_depth : UINT32_MAX };
    au_err err = emit(&e, type, value, 0);
    if (err != AU_OK) out->len = start;
    return err;
}

/* ==== decoding ================================================================================ */

/* What the last cbor_stream_decode call saw. */
typedef enum tok_kind {
    TK_NONE, TK_UINT, TK_NEGINT, TK_BYTES, TK_TEXT, TK_ARRAY, TK_F32, TK_F64, TK_NULL, TK_BOOL,
    TK_REJECT, /* maps, tags, undefined, half floats, indefinite-length starts and breaks */
} tok_kind;

typedef struct tok {
    tok_kind kind;
    uint64_t u; /* integer magnitude, string length or array count */
    const uint8_t *p;
    float f;
    double d;
} tok;

static void on_u8(void *c, uint8_t v) { *(tok *)c = (tok){ .kind = TK_UINT, .u = v }; }
static void on_u16(void *c, uint16_t v) { *(tok *)c = (tok){ .kind = TK_UINT, .u = v }; }
static void on_u32(void *c, uint32_t v) { *(tok *)c = (tok){ .kind = TK_UINT, .u = v }; }
static void on_u64(void *c, uint64_t v) { *(tok *)c = (tok){ .kind = TK_UINT, .u = v }; }
static void on_n8(void *c, uint8_t v) { *(tok *)c = (tok){ .kind = TK_NEGINT, .u = v }; }
static void on_n16(void *c, uint16_t v) { *(tok *)c = (tok){ .kind = TK_NEGINT, .u = v }; }
static void on_n32(void *c, uint32_t v) { *(tok *)c = (tok){ .kind = TK_NEGINT, .u = v }; }
static void on_n64(void *c, uint64_t v) { *(tok *)c = (tok){ .kind = TK_NEGINT, .u = v }; }
static void on_bytes(void *c, cbor_data p, size_t n) {
    *(tok *)c = (tok){ .kind = TK_BYTES, .u = n, .p = p };
}
static void on_text(void *c, cbor_data p, size_t n) {
    *(tok *)c = (tok){ .kind = TK_TEXT, .u = n, .p = p };
}
static void on_array(void *c, size_t n) { *(tok *)c = (tok){ .kind = TK_ARRAY, .u = n }; }
static void on_f4(void *c, float f) { *(tok *)c = (tok){ .kind = TK_F32, .f = f }; }
static void on_f8(void *c, double d) { *(tok *)c = (tok){ .kind = TK_F64, .d = d }; }
static void on_null(void *c) { *(tok *)c = (tok){ .kind = TK_NULL }; }
static void on_bool(void *c, bool b) { *(tok *)c = (tok){ .kind = TK_BOOL, .u = b }; }
static void on_reject(void *c) { *(tok *)c = (tok){ .kind = TK_REJECT }; }
static void on_reject_n(void *c, size_t n) { on_reject(c); }
static void on_reject_u64(void *c, uint64_t v) { on_reject(c); }
static void on_reject_f(void *c, float f) { on_reject(c); }

static const struct cbor_callbacks callbacks = {
    .uint8 = on_u8, .uint16 = on_u16, .uint32 = on_u32, .uint64 = on_u64,
    .negint8 = on_n8, .negint16 = on_n16, .negint32 = on_n32, .negint64 = on_n64,
    .byte_string = on_bytes, .byte_string_start = on_reject,
    .string = on_text, .string_start = on_reject,
    .array_start = on_array, .indef_array_start = on_reject,
    .map_start = on_reject_n, .indef_map_start = on_reject,
    .tag = on_reject_u64,
    .float2 = on_reject_f, .float4 = on_f4, .float8 = on_f8,
    .undefined = on_reject, .null = on_null, .boolean = on_bool,
    .indef_break = on_reject,
};

typedef struct dec {
    const uint8_t *p, *end;
    au_decode_limits lim;
    size_t total; /* bytes allocated so far */
    uint32_t depth;
    const au_codec_refs *refs;
    tok t;
} dec;

/* Pulls the next item into d->t; a string's bytes are consumed with its head. */
static au_err next(dec *d) {
    size_t left = (size_t)(d->end - d->p);
    d->t.kind = TK_NONE;
    struct cbor_decoder_result r = cbor_stream_decode(d->p, left, &callbacks, &d->t);
    if (r.status != CBOR_DECODER_FINISHED || r.read == 0 || r.read > left) return AU_EDECODE;
    if ((d->t.kind == TK_TEXT || d->t.kind == TK_BYTES) &&
        (d->t.u > r.read || d->t.p < d->p || d->t.p + d->t.u > d->p + r.read))
        return AU_EDECODE; /* cannot happen with libcbor's checks; never trust, though */
    d->p += r.read;
    return d->t.kind == TK_NONE || d->t.kind == TK_REJECT ? AU_EDECODE : AU_OK;
}

/* Pulls an array head of exactly n elements and enters it. */
static au_err enter(dec *d, uint64_t n) {
    au_err err = next(d);
    if (err != AU_OK) return err;
    if (d->t.kind != TK_ARRAY || d->t.u != n) return AU_EDECODE;
    if (++d->depth > d->lim.max_depth) return AU_EDECODE;
    return AU_OK;
}

/* Accounts n bytes against max_total before they are allocated. */
static au_err charge(dec *d, size_t n) {
    if (n > d->lim.max_total - d->total) return AU_ENOMEM;
    d->total += n;
    return AU_OK;
}

/* Pulls an integer in [-(max+1), max] for signed kinds (neg_ok) or [0, max] for unsigned. */
static au_err get_int(dec *d, uint64_t max, bool neg_ok, int64_t *out) {
    au_err err = next(d);
    if (err != AU_OK) return err;
    if (d->t.kind == TK_UINT && d->t.u <= max) {
        *out = (int64_t)d->t.u; /* max <= INT64_MAX except for u64, which uses get_u64 */
        return AU_OK;
    }
    if (neg_ok && d->t.kind == TK_NEGINT && d->t.u <= max) {
        *out = -1 - (int64_t)d->t.u;
        return AU_OK;
    }
    return AU_EDECODE;
}

/* Pulls a text string's view, checking size and UTF-8. */
static au_err get_text(dec *d, const uint8_t **p, size_t *n) {
    au_err err = next(d);
    if (err != AU_OK) return err;
    if (d->t.kind != TK_TEXT) return AU_EDECODE;
    if (d->t.u > d->lim.max_string || d->t.u >= UINT32_MAX) return AU_ETOOBIG;
    if (!au_utf8_valid(d->t.p, d->t.u)) return AU_EDECODE;
    *p = d->t.p;
    *n = d->t.u;
    return AU_OK;
}

static au_err decode(dec *d, au_type *t, void *v);

static au_err decode_custom(dec *d, au_type *t, void *v) {
    au_err err = next(d);
    if (err != AU_OK) return err;
    if (d->t.kind != TK_BYTES) return AU_EDECODE;
    /* What a custom codec allocates is not counted in max_total: its input stays within the
     * default string limit, however large max_string is (a transport that takes one string as
     * large as its messages, net/deliver.c, does not raise what a codec may be made to build). */
    if (d->t.u > d->lim.max_string || d->t.u > AU_DECODE_DEFAULT_MAX_STRING) return AU_ETOOBIG;
    err = t->codec->decode(v, d->t.p, d->t.u);
    if (err != AU_OK) memset(v, 0, t->size); /* total by contract: nothing left to free */
    return err;
}

static au_err decode_ref(dec *d, au_type *t, void *v) {
    au_err err = enter(d, 4);
    if (err != AU_OK) return err;
    au_wire_ref w = { 0 };
    const uint8_t *p;
    if ((err = get_text(d, &p, &w.addr_len)) != AU_OK) return err;
    w.addr = (const char *)p;
    if ((err = get_text(d, &p, &w.name_len)) != AU_OK) return err;
    w.name = (const char *)p;
    if ((err = next(d)) != AU_OK) return err;
    if (d->t.kind != TK_UINT) return AU_EDECODE;
    w.root_id = d->t.u;
    if ((err = next(d)) != AU_OK) return err;
    if (d->t.kind != TK_UINT) return AU_EDECODE;
    w.iface_id = d->t.u;
    d->depth--;
    if (!d->refs || !d->refs->decode) return AU_EDECODE;
    err = d->refs->decode(d->refs->user, &w, t, v);
    if (err != AU_OK) memset(v, 0, t->size);
    return err;
}

static au_err decode_array(dec *d, au_type *t, void *v) {
    au_err err = next(d);
    if (err != AU_OK) return err;
    if (d->t.kind != TK_ARRAY) return AU_EDECODE;
    uint64_t n = d->t.u;
    if (n > d->lim.max_array || n > UINT32_MAX) return AU_ETOOBIG;
    /* Every element takes at least one byte: a count beyond the input left is a lie, and must
     * be caught before it sizes an allocation. */
    if (n > (uint64_t)(d->end - d->p)) return AU_EDECODE;
    if (++d->depth > d->lim.max_depth) return AU_EDECODE;
    if (n == 0) {
        d->depth--;
        return AU_OK; /* { NULL, 0, 0 }: v is already zero */
    }
    au_type *el = t->elem;
    size_t bytes;
    if (__builtin_mul_overflow((size_t)n, el->size, &bytes)) return AU_ENOMEM;
    if ((err = charge(d, bytes)) != AU_OK) return err;
    char *p = calloc((size_t)n, el->size);
    if (!p) return AU_ENOMEM;
    for (uint64_t i = 0; i < n; i++) {
        if ((err = decode(d, el, p + i * el->size)) != AU_OK) {
            raw_array built = { p, (uint32_t)i, 1 };
            au_value_free(t, &built);
            return err;
        }
    }
    *(raw_array *)v = (raw_array){ p, (uint32_t)n, 1 };
    d->depth--;
    return AU_OK;
}

static au_err decode_record(dec *d, au_type *t, void *v) {
    if (t->local) return AU_EDECODE;
    au_err err = enter(d, t->count);
    if (err != AU_OK) return err;
    char *base = v;
    for (uint32_t i = 0; i < t->count; i++) {
        const au_field *f = &t->fields[i];
        if ((err = decode(d, f->type, base + f->offset)) != AU_OK) {
            for (uint32_t j = 0; j < i; j++)
                au_value_free(t->fields[j].type, base + t->fields[j].offset);
            memset(v, 0, t->size);
            return err;
        }
    }
    d->depth--;
    return AU_OK;
}

static au_err decode_root(dec *d, au_type *t, void *v) {
    au_err err = enter(d, 2);
    if (err != AU_OK) return err;
    if ((err = next(d)) != AU_OK) return err;
    if (d->t.kind != TK_UINT || d->t.u >= t->count) return AU_EDECODE;
    int tag = (int)d->t.u;
    const au_variant *var = &t->variants[tag];
    char *base = v;
    if ((err = decode(d, var->type, base + var->offset)) != AU_OK) return err;
    memcpy(base + t->tag_offset, &tag, sizeof tag);
    d->depth--;
    return AU_OK;
}

/* Decodes one value of type t into zeroed *v. */
static au_err decode(dec *d, au_type *t, void *v) {
    if (t->codec) return decode_custom(d, t, v);
    au_err err;
    int64_t x;
    switch (t->kind) {
    case AU_KIND_UNIT:
        if ((err = next(d)) != AU_OK) return err;
        return d->t.kind == TK_NULL ? AU_OK : AU_EDECODE;
    case AU_KIND_BOOL:
        if ((err = next(d)) != AU_OK) return err;
        if (d->t.kind != TK_BOOL) return AU_EDECODE;
        *(bool *)v = d->t.u != 0;
        return AU_OK;
    case AU_KIND_I8:
        if ((err = get_int(d, INT8_MAX, true, &x)) == AU_OK) *(int8_t *)v = (int8_t)x;
        return err;
    case AU_KIND_I16:
        if ((err = get_int(d, INT16_MAX, true, &x)) == AU_OK) *(int16_t *)v = (int16_t)x;
        return err;
    case AU_KIND_I32:
        if ((err = get_int(d, INT32_MAX, true, &x)) == AU_OK) *(int32_t *)v = (int32_t)x;
        return err;
    case AU_KIND_I64:
        if ((err = get_int(d, INT64_MAX, true, &x)) == AU_OK) *(int64_t *)v = x;
        return err;
    case AU_KIND_U8:
        if ((err = get_int(d, UINT8_MAX, false, &x)) == AU_OK) *(uint8_t *)v = (uint8_t)x;
        return err;
    case AU_KIND_U16:
        if ((err = get_int(d, UINT16_MAX, false, &x)) == AU_OK) *(uint16_t *)v = (uint16_t)x;
        return err;
    case AU_KIND_U32:
        if ((err = get_int(d, UINT32_MAX, false, &x)) == AU_OK) *(uint32_t *)v = (uint32_t)x;
        return err;
    case AU_KIND_U64:
        if ((err = next(d)) != AU_OK) return err;
        if (d->t.kind != TK_UINT) return AU_EDECODE;
        *(uint64_t *)v = d->t.u;
        return AU_OK;
    case AU_KIND_F32:
        if ((err = next(d)) != AU_OK) return err;
        if (d->t.kind != TK_F32) return AU_EDECODE;
        *(float *)v = d->t.f;
        return AU_OK;
    case AU_KIND_F64:
        if ((err = next(d)) != AU_OK) return err;
        if (d->t.kind != TK_F64) return AU_EDECODE;
        *(double *)v = d->t.d;
        return AU_OK;
    case AU_KIND_STR: {
        const uint8_t *p;
        size_t n;
        if ((err = get_text(d, &p, &n)) != AU_OK) return err;
        if ((err = charge(d, n + 1)) != AU_OK) return err;
        char *s = malloc(n + 1);
        if (!s) return AU_ENOMEM;
        if (n) memcpy(s, p, n);
        s[n] = '\0';
        *(au_str *)v = (au_str){ .ptr = s, .len = (uint32_t)n, .owned = 1 };
        return AU_OK;
    }
    case AU_KIND_BYTES: {
        if ((err = next(d)) != AU_OK) return err;
        if (d->t.kind != TK_BYTES) return AU_EDECODE;
        size_t n = d->t.u;
        if (n > d->lim.max_string || n > UINT32_MAX) return AU_ETOOBIG;
        if (n == 0) return AU_OK;
        if ((err = charge(d, n)) != AU_OK) return err;
        uint8_t *b = malloc(n);
        if (!b) return AU_ENOMEM;
        memcpy(b, d->t.p, n);
        *(au_bytes *)v = (au_bytes){ .ptr = b, .len = (uint32_t)n, .owned = 1 };
        return AU_OK;
    }
    case AU_KIND_ARRAY: return decode_array(d, t, v);
    case AU_KIND_RECORD: return decode_record(d, t, v);
    case AU_KIND_ROOT: return decode_root(d, t, v);
    case AU_KIND_REF: return decode_ref(d, t, v);
    default: return AU_EDECODE; /* local kinds never arrive from elsewhere */
    }
}

au_err au_decode(au_type *type, void *value, const uint8_t *data, size_t len,
                 const au_decode_limits *limits, const au_codec_refs *refs) {
    if (!type || !value) return AU_EINVAL;
    memset(value, 0, type->size);
    if (!data && len) return AU_EINVAL;
    dec d = { .p = data ? data : (const uint8_t *)"", .refs = refs };
    d.end = d.p + len;
    if (limits) d.lim = *limits;
    if (!d.lim.max_depth) d.lim.max_depth = AU_DECODE_DEFAULT_MAX_DEPTH;
    if (!d.lim.max_string) d.lim.max_string = AU_DECODE_DEFAULT_MAX_STRING;
    if (!d.lim.max_array) d.lim.max_array = AU_DECODE_DEFAULT_MAX_ARRAY;
    if (!d.lim.max_total) d.lim.max_total = AU_DECODE_DEFAULT_MAX_TOTAL;
    au_err err = decode(&d, type, value);
    if (err == AU_OK && d.p != d.end) {
        au_value_free(type, value);
        memset(value, 0, type->size);
        err = AU_EDECODE; /* trailing bytes: exactly one item per message */
    }
    return err;
}

/* The public forms (aurum/types.h): no references can travel without a node's table. */
au_err au_value_encode(au_type *type, const void *value, au_buf *out) {
    return au_encode(type, value, out, NULL);
}

au_err au_value_decode(au_type *type, void *value, const uint8_t *data, size_t len) {
    return au_decode(type, value, data, len, NULL, NULL);
}
