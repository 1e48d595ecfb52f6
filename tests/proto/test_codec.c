/* Tests of the type layer runtime (core/types.c) and the CBOR codec (core/codec.c).
 *
 * Round trips go through a generic deep equality over descriptors (floats compared by bits, so
 * NaN payloads count), so each test states a value once. Failure paths assert the documented
 * contract: the error code, and a value left all-zero; leaks are caught by running the suite
 * under AddressSanitizer/LeakSanitizer. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include <aurum/schema.h>

#include "proto/codec.h"

/* ---- test types ------------------------------------------------------------------------------ */

AU_RECORD(greeting, (au_str, text), (uint32_t, times));
AU_ARRAY(greeting);
AU_ROOT(greeter_msg,
        (greet, greeting, AU_REMOTE),
        (count, int64_t, AU_REMOTE),
        (poke, au_unit, AU_PLAIN));

AU_RECORD(scalars, (bool, b), (int8_t, i8), (int16_t, i16), (int32_t, i32), (int64_t, i64),
          (uint8_t, u8), (uint16_t, u16), (uint32_t, u32), (uint64_t, u64), (float, f32),
          (double, f64), (au_unit, unit));

AU_ARRAY(int32_t);
AU_ARRAY(int32_t_array);
AU_RECORD(blob, (au_str, s), (au_bytes, b));
AU_RECORD(inner, (greeting, g), (int8_t, k));
AU_RECORD(nest, (inner, in), (greeting_array, gs), (int32_t_array_array, grid));

/* A custom type that allocates, so its free hook matters. */
typedef struct tagged {
    char *text;
} tagged;

static au_err tagged_encode(const void *v, au_buf *out) {
    const tagged *t = v;
    if (!t->text) return AU_EENCODE;
    au_err err = au_buf_append(out, "v1:", 3);
    return err ? err : au_buf_append(out, t->text, strlen(t->text));
}

static au_err tagged_decode(void *v, const uint8_t *data, size_t len) {
    if (len < 3 || memcmp(data, "v1:", 3) != 0 || memchr(data + 3, 0, len - 3)) return AU_EDECODE;
    char *s = malloc(len - 2);
    if (!s) return AU_ENOMEM;
    memcpy(s, data + 3, len - 3);
    s[len - 3] = '\0';
    ((tagged *)v)->text = s;
    return AU_OK;
}

static void tagged_free(void *v) {
    tagged *t = v;
    free(t->text);
    t->text = NULL;
}

static const au_custom_codec tagged_codec = { tagged_encode, tagged_decode, tagged_free, "v1 text" };
AU_CUSTOM_TYPE(tagged, &tagged_codec);
AU_RECORD(labelled, (tagged, label), (uint16_t, n));

AU_RECORD(with_ref, (au_str, note), (greeting_ref, reply), (greeter_msg_ref, back));

/* Everything at once, for the truncation and copy tests. */
AU_RECORD(rich, (greeting, g), (greeting_array, gs), (int32_t_array_array, grid), (au_bytes, raw),
          (greeter_msg, msg), (tagged, label), (greeting_ref, reply), (double, ratio));

typedef void *handle_ptr;
AU_LOCAL_TYPE(handle_ptr);
AU_LOCAL_RECORD(job, (au_str, name), (handle_ptr, h));
AU_LOCAL_ROOT(logger_msg, (line, au_str, AU_REMOTE), (sink, handle_ptr, AU_LOCAL));

/* A recursive type, which the macros cannot declare: built by hand. */
typedef struct tnode tnode;
typedef struct tnode_array {
    tnode *ptr;
    uint32_t len;
    uint32_t owned;
} tnode_array;
struct tnode {
    int32_t val;
    tnode_array kids;
};
static au_type tnode_type;
static au_type tnode_array_type = { .name = "tnode_array", .kind = AU_KIND_ARRAY,
                                    .size = sizeof(tnode_array), .elem = &tnode_type };
static const au_field tnode_fields[] = {
    { "val", offsetof(tnode, val), &au_type_int32_t },
    { "kids", offsetof(tnode, kids), &tnode_array_type },
};
static au_type tnode_type = { .name = "tnode", .kind = AU_KIND_RECORD, .size = sizeof(tnode),
                              .fields = tnode_fields, .count = 2 };

/* ---- fake references ------------------------------------------------------------------------- */

typedef struct fake_actor {
    const char *name;
} fake_actor;
static fake_actor actors[] = { { "alice" }, { "bob" } };
static const char fake_addr[] = "127.0.0.1:4000";
static bool lie_about_iface; /* makes the encoder send a wrong interface id */

static au_err fake_ref_encode(void *user, const au_ref *ref, au_wire_ref *out) {
    const fake_actor *a = ref->target;
    if (!a) return AU_EINVAL;
    *out = (au_wire_ref){ .addr = fake_addr, .addr_len = strlen(fake_addr), .name = a->name,
                          .name_len = strlen(a->name), .root_id = 42,
                          .iface_id = au_type_id(ref->iface) + lie_about_iface };
    return AU_OK;
}

static au_err fake_ref_decode(void *user, const au_wire_ref *in, au_type *ref_type, au_ref *out) {
    if (ref_type->kind != AU_KIND_REF) return AU_EINVAL;
    if (in->iface_id != au_type_id(ref_type->elem)) return AU_ETYPE;
    if (in->addr_len != strlen(fake_addr) || memcmp(in->addr, fake_addr, in->addr_len) != 0)
        return AU_ENOTFOUND;
    for (size_t i = 0; i < sizeof actors / sizeof actors[0]; i++) {
        if (in->name_len == strlen(actors[i].name) &&
            memcmp(in->name, actors[i].name, in->name_len) == 0) {
            *out = (au_ref){ .target = &actors[i], .iface = ref_type->elem, .variant = AU_WHOLE };
            return AU_OK;
        }
    }
    return AU_ENOTFOUND;
}

static const au_codec_refs refs = { fake_ref_encode, fake_ref_decode, NULL };

/* ---- helpers --------------------------------------------------------------------------------- */

static int read_tag(const au_type *t, const void *v) {
    int tag;
    memcpy(&tag, (const char *)v + t->tag_offset, sizeof tag);
    return tag;
}

/* Deep equality by descriptor; floats by bit pattern. */
static bool equal(const au_type *t, const void *a, const void *b) {
    const char *x = a, *y = b;
    if (t->codec) {
        au_buf ea = { 0 }, eb = { 0 };
        bool same = t->codec->encode(a, &ea) == AU_OK && t->codec->encode(b, &eb) == AU_OK &&
                    ea.len == eb.len && (ea.len == 0 || memcmp(ea.data, eb.data, ea.len) == 0);
        au_buf_free(&ea);
        au_buf_free(&eb);
        return same;
    }
    switch (t->kind) {
    case AU_KIND_UNIT: return true;
    case AU_KIND_BOOL: return *(const bool *)a == *(const bool *)b;
    case AU_KIND_STR: {
        const au_str *s = a, *r = b;
        return s->len == r->len && (s->len == 0 || memcmp(s->ptr, r->ptr, s->len) == 0);
    }
    case AU_KIND_BYTES: {
        const au_bytes *s = a, *r = b;
        return s->len == r->len && (s->len == 0 || memcmp(s->ptr, r->ptr, s->len) == 0);
    }
    case AU_KIND_ARRAY: {
        const int32_t_array *s = a, *r = b; /* every T_array has this layout */
        if (s->len != r->len) return false;
        for (uint32_t i = 0; i < s->len; i++)
            if (!equal(t->elem, (const char *)s->ptr + i * t->elem->size,
                       (const char *)r->ptr + i * t->elem->size))
                return false;
        return true;
    }
    case AU_KIND_RECORD:
        for (uint32_t i = 0; i < t->count; i++)
            if (!equal(t->fields[i].type, x + t->fields[i].offset, y + t->fields[i].offset))
                return false;
        return true;
    case AU_KIND_ROOT: {
        int tag = read_tag(t, a);
        if (tag != read_tag(t, b)) return false;
        return equal(t->variants[tag].type, x + t->variants[tag].offset,
                     y + t->variants[tag].offset);
    }
    case AU_KIND_REF: {
        const au_ref *s = a, *r = b;
        return s->target == r->target && s->iface == r->iface;
    }
    default: return memcmp(a, b, t->size) == 0;
    }
}

static bool all_zero(const void *v, size_t n) {
    const uint8_t *p = v;
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

/* Encodes in, decodes into out (caller frees out), and checks they are equal. */
static void round_trip(au_type *t, const void *in, void *out) {
    au_buf b = { 0 };
    assert_int_equal(au_encode(t, in, &b, &refs), AU_OK);
    assert_int_equal(au_decode(t, out, b.data, b.len, NULL, &refs), AU_OK);
    assert_true(equal(t, in, out));
    au_buf_free(&b);
}

/* Decodes a literal byte sequence, expecting err and a zeroed value. */
#define EXPECT_DECODE(T, err, ...)                                                            \
    do {                                                                                      \
        static const uint8_t in_[] = { __VA_ARGS__ };                                         \
        T out_;                                                                               \
        memset(&out_, 0xAB, sizeof out_);                                                     \
        assert_int_equal(au_decode(&au_type_##T, &out_, in_, sizeof in_, NULL, &refs), (err)); \
        if ((err) != AU_OK) assert_true(all_zero(&out_, sizeof out_));                        \
        else au_value_free(&au_type_##T, &out_);                                              \
    } while (0)

static greeting_ref ref_to(fake_actor *a) {
    return (greeting_ref){ .raw = { .target = a, .iface = &au_type_greeting, .variant = AU_WHOLE } };
}

/* A rich value with every kind of part; all borrowed, so nothing to free. */
static rich make_rich(greeting *gs, int32_t_array *rows, int32_t *cells, tagged *label) {
    static uint8_t raw[] = { 0, 1, 2, 0xff };
    gs[0] = (greeting){ au_str_lit("first"), 1 };
    gs[1] = (greeting){ au_str_lit("sécond"), 2 };
    for (int i = 0; i < 6; i++) cells[i] = (i - 3) * 100000;
    rows[0] = (int32_t_array){ cells, 2, 0 };
    rows[1] = (int32_t_array){ NULL, 0, 0 };
    rows[2] = (int32_t_array){ cells + 2, 4, 0 };
    label->text = "label text";
    return (rich){
        .g = { au_str_lit("hello"), 7 },
        .gs = { gs, 2, 0 },
        .grid = { rows, 3, 0 },
        .raw = { raw, sizeof raw, 0 },
        .msg = { .tag = greeter_msg_greet, .greet = { au_str_lit("inside"), 9 } },
        .label = *label,
        .reply = ref_to(&actors[1]),
        .ratio = -0.125,
    };
}

/* ---- round trips ------------------------------------------------------------------------------ */

static void scalars_round_trip_at_their_extremes(void **state) {
    scalars lo = { false, INT8_MIN, INT16_MIN, INT32_MIN, INT64_MIN, 0, 0, 0, 0, -FLT_MAX,
                   -DBL_MAX, { 0 } };
    scalars hi = { true, INT8_MAX, INT16_MAX, INT32_MAX, INT64_MAX, UINT8_MAX, UINT16_MAX,
                   UINT32_MAX, UINT64_MAX, FLT_MAX, DBL_MAX, { 0 } };
    scalars mid = { true, -1, 24, -25, 4294967296LL, 23, 256, 65536, 4294967296ULL, 1.5f, -0.0,
                    { 0 } };
    scalars out;
    round_trip(&au_type_scalars, &lo, &out);
    assert_int_equal(out.i64, INT64_MIN);
    round_trip(&au_type_scalars, &hi, &out);
    assert_true(out.u64 == UINT64_MAX);
    round_trip(&au_type_scalars, &mid, &out);
    assert_true(signbit(out.f64));
}

static void floats_round_trip_nan_and_infinities_bit_exactly(void **state) {
    uint32_t nan_bits = 0x7fc12345u; /* a quiet NaN with a payload */
    float fnan;
    memcpy(&fnan, &nan_bits, sizeof fnan);
    scalars s = { .f32 = fnan, .f64 = NAN }, out;
    round_trip(&au_type_scalars, &s, &out);
    uint32_t got;
    memcpy(&got, &out.f32, sizeof got);
    assert_true(got == nan_bits);
    assert_true(isnan(out.f64));
    s.f32 = INFINITY;
    s.f64 = -INFINITY;
    round_trip(&au_type_scalars, &s, &out);
    assert_true(isinf(out.f32) && out.f32 > 0);
    assert_true(isinf(out.f64) && out.f64 < 0);
}

static void encoding_matches_the_documented_table(void **state) {
    au_buf b = { 0 };
    greeting g = { au_str_lit("hi"), 24 };
    assert_int_equal(au_encode(&au_type_greeting, &g, &b, NULL), AU_OK);
    static const uint8_t want_g[] = { 0x82, 0x62, 'h', 'i', 0x18, 24 };
    assert_int_equal(b.len, sizeof want_g);
    assert_memory_equal(b.data, want_g, sizeof want_g);

    b.len = 0;
    greeter_msg poke = { .tag = greeter_msg_poke };
    assert_int_equal(au_encode(&au_type_greeter_msg, &poke, &b, NULL), AU_OK);
    static const uint8_t want_poke[] = { 0x82, 0x02, 0xf6 }; /* [index, null] */
    assert_int_equal(b.len, sizeof want_poke);
    assert_memory_equal(b.data, want_poke, sizeof want_poke);

    b.len = 0;
    greeter_msg count = { .tag = greeter_msg_count, .count = -1 };
    assert_int_equal(au_encode(&au_type_greeter_msg, &count, &b, NULL), AU_OK);
    static const uint8_t want_count[] = { 0x82, 0x01, 0x20 };
    assert_memory_equal(b.data, want_count, sizeof want_count);

    b.len = 0;
    float f = 1.0f;
    double d = 1.0;
    assert_int_equal(au_encode(&au_type_float, &f, &b, NULL), AU_OK);
    assert_int_equal(au_encode(&au_type_double, &d, &b, NULL), AU_OK);
    assert_int_equal(b.len, 5 + 9); /* single, then double: never narrowed */
    assert_int_equal(b.data[0], 0xfa);
    assert_int_equal(b.data[5], 0xfb);
    au_buf_free(&b);
}

static void strings_round_trip_empty_long_and_with_embedded_nul(void **state) {
    blob out;
    blob empty = { au_str_lit(""), { 0 } };
    round_trip(&au_type_blob, &empty, &out);
    assert_non_null(out.s.ptr);
    assert_int_equal(out.s.ptr[0], '\0');
    assert_int_equal(out.s.owned, 1);
    au_value_free(&au_type_blob, &out);

    blob zeroed = { { 0 }, { 0 } }; /* a NULL au_str is the empty string */
    round_trip(&au_type_blob, &zeroed, &out);
    au_value_free(&au_type_blob, &out);

    blob nul = { { "a\0b", 3, 0 }, { 0 } };
    round_trip(&au_type_blob, &nul, &out);
    assert_int_equal(out.s.len, 3);
    assert_int_equal(out.s.ptr[3], '\0');
    au_value_free(&au_type_blob, &out);

    size_t n = 100000;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
    blob longer = { { big, (uint32_t)n, 0 }, { 0 } };
    round_trip(&au_type_blob, &longer, &out);
    assert_int_equal(out.s.len, n);
    au_value_free(&au_type_blob, &out);
    free(big);

    blob utf = { au_str_lit("héllo wörld ✓ 𝄞"), { 0 } };
    round_trip(&au_type_blob, &utf, &out);
    au_value_free(&au_type_blob, &out);
}

static void bytes_round_trip_empty_and_binary(void **state) {
    uint8_t bin[300];
    for (size_t i = 0; i < sizeof bin; i++) bin[i] = (uint8_t)(i * 7);
    blob in = { au_str_lit("x"), { bin, sizeof bin, 0 } }, out;
    round_trip(&au_type_blob, &in, &out);
    assert_int_equal(out.b.owned, 1);
    au_value_free(&au_type_blob, &out);

    in.b = (au_bytes){ 0 };
    round_trip(&au_type_blob, &in, &out);
    assert_null(out.b.ptr);
    assert_int_equal(out.b.len, 0);
    au_value_free(&au_type_blob, &out);
}

static void arrays_round_trip_empty_of_records_and_nested(void **state) {
    greeting gs[3] = { { au_str_lit("a"), 1 }, { au_str_lit(""), 2 }, { au_str_lit("ccc"), 3 } };
    int32_t cells[] = { INT32_MIN, -1, 0, 1, INT32_MAX };
    int32_t_array rows[] = { { cells, 2, 0 }, { NULL, 0, 0 }, { cells + 2, 3, 0 } };
    nest in = { .in = { { au_str_lit("in"), 5 }, -128 }, .gs = { gs, 3, 0 },
                .grid = { rows, 3, 0 } };
    nest out;
    round_trip(&au_type_nest, &in, &out);
    assert_int_equal(out.gs.owned, 1);
    assert_int_equal(out.grid.ptr[2].len, 3);
    assert_null(out.grid.ptr[1].ptr);
    au_value_free(&au_type_nest, &out);

    nest empty = { .in = { { au_str_lit("e"), 0 }, 0 } };
    round_trip(&au_type_nest, &empty, &out);
    assert_null(out.gs.ptr);
    assert_null(out.grid.ptr);
    au_value_free(&au_type_nest, &out);
}

static void every_root_variant_round_trips(void **state) {
    greeter_msg msgs[] = {
        { .tag = greeter_msg_greet, .greet = { au_str_lit("hello"), 3 } },
        { .tag = greeter_msg_count, .count = INT64_MIN },
        { .tag = greeter_msg_poke },
    };
    for (size_t i = 0; i < 3; i++) {
        greeter_msg out;
        round_trip(&au_type_greeter_msg, &msgs[i], &out);
        assert_int_equal(out.tag, msgs[i].tag);
        au_value_free(&au_type_greeter_msg, &out);
    }
}

static void ref_fields_round_trip_through_the_callbacks(void **state) {
    with_ref in = {
        .note = au_str_lit("call me"),
        .reply = ref_to(&actors[0]),
        .back = { .raw = { .target = &actors[1], .iface = &au_type_greeter_msg,
                           .variant = AU_WHOLE } },
    };
    with_ref out;
    round_trip(&au_type_with_ref, &in, &out);
    assert_ptr_equal(out.reply.raw.target, &actors[0]);
    assert_ptr_equal(out.back.raw.iface, &au_type_greeter_msg);
    au_value_free(&au_type_with_ref, &out);
}

static void refs_without_callbacks_fail_to_encode_and_decode(void **state) {
    with_ref in = { .note = au_str_lit("x"), .reply = ref_to(&actors[0]),
                    .back = { .raw = { .target = &actors[1], .iface = &au_type_greeter_msg } } };
    au_buf b = { 0 };
    assert_int_equal(au_encode(&au_type_with_ref, &in, &b, NULL), AU_EENCODE);
    assert_int_equal(b.len, 0);
    assert_int_equal(au_encode(&au_type_with_ref, &in, &b, &refs), AU_OK);
    with_ref out;
    assert_int_equal(au_decode(&au_type_with_ref, &out, b.data, b.len, NULL, NULL), AU_EDECODE);
    assert_true(all_zero(&out, sizeof out));
    au_buf_free(&b);
}

static void ref_decode_errors_are_returned_and_leave_nothing(void **state) {
    /* The sender claims the wrong interface id for the second ref: the callback's AU_ETYPE
     * comes back, and the note and first ref decoded before it are freed. */
    with_ref in = { .note = au_str_lit("note"), .reply = ref_to(&actors[0]),
                    .back = { .raw = { .target = &actors[1], .iface = &au_type_greeter_msg } } };
    au_buf b = { 0 };
    lie_about_iface = true;
    assert_int_equal(au_encode(&au_type_with_ref, &in, &b, &refs), AU_OK);
    lie_about_iface = false;
    with_ref out;
    assert_int_equal(au_decode(&au_type_with_ref, &out, b.data, b.len, NULL, &refs), AU_ETYPE);
    assert_true(all_zero(&out, sizeof out));

    /* An unknown actor name: AU_ENOTFOUND. */
    fake_actor ghost = { "ghost" };
    in.back.raw.target = &ghost;
    b.len = 0;
    assert_int_equal(au_encode(&au_type_with_ref, &in, &b, &refs), AU_OK);
    assert_int_equal(au_decode(&au_type_with_ref, &out, b.data, b.len, NULL, &refs),
                     AU_ENOTFOUND);
    assert_true(all_zero(&out, sizeof out));

    /* The encode callback's error comes back from au_encode. */
    in.back.raw.target = NULL;
    b.len = 0;
    assert_int_equal(au_encode(&au_type_with_ref, &in, &b, &refs), AU_EINVAL);
    assert_int_equal(b.len, 0);
    au_buf_free(&b);
}

static void custom_codec_travels_as_one_byte_string(void **state) {
    labelled in = { { "custom text" }, 65535 }, out;
    au_buf b = { 0 };
    assert_int_equal(au_encode(&au_type_labelled, &in, &b, NULL), AU_OK);
    assert_int_equal(b.data[1], 0x40 + 3 + 11); /* byte string of "v1:custom text" */
    assert_memory_equal(b.data + 2, "v1:custom text", 14);
    assert_int_equal(au_decode(&au_type_labelled, &out, b.data, b.len, NULL, NULL), AU_OK);
    assert_string_equal(out.label.text, "custom text");
    assert_int_equal(out.n, 65535);
    au_value_free(&au_type_labelled, &out);
    assert_null(out.label.text);
    au_buf_free(&b);

    /* Long output: the head grows to two bytes of length and the payload slides behind it. */
    char text[400];
    memset(text, 'z', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    in.label.text = text;
    round_trip(&au_type_labelled, &in, &out);
    au_value_free(&au_type_labelled, &out);
}

static void custom_codec_errors_propagate(void **state) {
    labelled in = { { NULL }, 1 };
    au_buf b = { 0 };
    au_buf_append(&b, "prefix", 6);
    assert_int_equal(au_encode(&au_type_labelled, &in, &b, NULL), AU_EENCODE);
    assert_int_equal(b.len, 6); /* restored */
    au_buf_free(&b);
    /* [h'v2:x', 1]: the codec rejects its own payload. */
    EXPECT_DECODE(labelled, AU_EDECODE, 0x82, 0x44, 'v', '2', ':', 'x', 0x01);
    EXPECT_DECODE(labelled, AU_OK, 0x82, 0x44, 'v', '1', ':', 'x', 0x01);
    /* A custom type expects a byte string, never text. */
    EXPECT_DECODE(labelled, AU_EDECODE, 0x82, 0x64, 'v', '1', ':', 'x', 0x01);
}

/* A custom codec's allocations are not counted in max_total, so its input stays within 1 MiB
 * even under limits that take larger strings (the transport's, net/deliver.c); an au_bytes of
 * the same size is decoded. */
static void a_custom_codec_gets_at_most_a_mebibyte_whatever_max_string_says(void **state) {
    size_t n = ((size_t)1 << 20) + 1 - 3;
    char *text = malloc(n + 1);
    assert_non_null(text);
    memset(text, 'q', n);
    text[n] = '\0';
    labelled in = { { text }, 7 }, out;
    au_buf b = { 0 };
    assert_int_equal(au_encode(&au_type_labelled, &in, &b, NULL), AU_OK);
    au_decode_limits wide = { .max_string = 16u << 20, .max_total = (size_t)64 << 20 };
    assert_int_equal(au_decode(&au_type_labelled, &out, b.data, b.len, &wide, NULL), AU_ETOOBIG);
    au_buf_free(&b);
    in.label.text[n - 1] = '\0'; /* one byte less: exactly 1 MiB, accepted */
    assert_int_equal(au_encode(&au_type_labelled, &in, &b, NULL), AU_OK);
    assert_int_equal(au_decode(&au_type_labelled, &out, b.data, b.len, &wide, NULL), AU_OK);
    assert_int_equal(strlen(out.label.text), n - 1);
    au_value_free(&au_type_labelled, &out);
    au_buf_free(&b);
    free(text);
}

static void recursive_types_encode_and_describe_themselves(void **state) {
    tnode leaves[2] = { { 2, { 0 } }, { 3, { 0 } } };
    tnode mid = { 1, { leaves, 2, 0 } };
    tnode root = { 0, { &mid, 1, 0 } }, out;
    round_trip(&tnode_type, &root, &out);
    assert_int_equal(out.kids.ptr[0].kids.ptr[1].val, 3);
    au_value_free(&tnode_type, &out);

    char buf[128];
    au_type_schema(&tnode_type, buf, sizeof buf);
    assert_string_equal(buf, "record tnode{val:i32,kids:array<record tnode>}");
    assert_int_not_equal(au_type_id(&tnode_type), 0);
}

static void local_kinds_never_encode_but_local_roots_send_remote_variants(void **state) {
    au_buf b = { 0 };
    int x;
    handle_ptr h = &x;
    assert_int_equal(au_encode(&au_type_handle_ptr, &h, &b, NULL), AU_EENCODE);
    job j = { au_str_lit("j"), &x };
    assert_int_equal(au_encode(&au_type_job, &j, &b, NULL), AU_EENCODE);
    greeting_lref lr = { .raw = { .target = &actors[0] } };
    assert_int_equal(au_encode(&au_type_greeting_lref, &lr, &b, NULL), AU_EENCODE);
    logger_msg sink = { .tag = logger_msg_sink, .sink = &x };
    assert_int_equal(au_encode(&au_type_logger_msg, &sink, &b, NULL), AU_EENCODE);
    assert_int_equal(b.len, 0);

    logger_msg line = { .tag = logger_msg_line, .line = au_str_lit("log me") }, out;
    round_trip(&au_type_logger_msg, &line, &out);
    au_value_free(&au_type_logger_msg, &out);
    /* ... and the local variant's index is refused on the way in. */
    EXPECT_DECODE(logger_msg, AU_EDECODE, 0x82, 0x01, 0xf6);
    EXPECT_DECODE(job, AU_EDECODE, 0x82, 0x61, 'j', 0x00);
    au_buf_free(&b);
}

static void encode_appends_and_restores_the_buffer_on_failure(void **state) {
    au_buf b = { 0 };
    au_buf_append(&b, "HDR", 3);
    greeting g = { au_str_lit("x"), 1 };
    assert_int_equal(au_encode(&au_type_greeting, &g, &b, NULL), AU_OK);
    assert_memory_equal(b.data, "HDR\x82\x61x\x01", 7);
    size_t len = b.len;

    greeting bad_utf8 = { { "\xff", 1, 0 }, 1 };
    assert_int_equal(au_encode(&au_type_greeting, &bad_utf8, &b, NULL), AU_EENCODE);
    greeting null_ptr = { { NULL, 4, 0 }, 1 };
    assert_int_equal(au_encode(&au_type_greeting, &null_ptr, &b, NULL), AU_EENCODE);
    greeter_msg bad_tag = { .tag = (greeter_msg_tag)7 };
    assert_int_equal(au_encode(&au_type_greeter_msg, &bad_tag, &b, NULL), AU_EENCODE);
    greeting_array hole = { NULL, 2, 0 };
    assert_int_equal(au_encode(&au_type_greeting_array, &hole, &b, NULL), AU_EENCODE);
    assert_int_equal(b.len, len);
    au_buf_free(&b);
}

static void encode_refuses_values_nested_beyond_its_depth_limit(void **state) {
    enum { N = AU_ENCODE_MAX_DEPTH };
    tnode *chain = calloc(N, sizeof *chain);
    for (int i = 0; i + 1 < N; i++) chain[i].kids = (tnode_array){ &chain[i + 1], 1, 0 };
    au_buf b = { 0 };
    assert_int_equal(au_encode(&tnode_type, chain, &b, NULL), AU_EENCODE);
    assert_int_equal(b.len, 0);
    /* A node that contains itself is refused rather than overflowing the stack. */
    tnode self = { 1, { NULL, 1, 0 } };
    self.kids.ptr = &self;
    assert_int_equal(au_encode(&tnode_type, &self, &b, NULL), AU_EENCODE);
    au_buf_free(&b);
    free(chain);
}

/* ---- type ids and schema text ----------------------------------------------------------------- */

static void schema_text_is_canonical(void **state) {
    char buf[256];
    au_type_schema(&au_type_greeting, buf, sizeof buf);
    assert_string_equal(buf, "record greeting{text:str,times:u32}");
    au_type_schema(&au_type_greeter_msg, buf, sizeof buf);
    assert_string_equal(buf, "root greeter_msg{greet:record greeting{text:str,times:u32}=remote|"
                             "count:i64=remote|poke:unit}");
    au_type_schema(&au_type_greeting_array, buf, sizeof buf);
    assert_string_equal(buf, "array<record greeting{text:str,times:u32}>");
    au_type_schema(&au_type_greeting_ref, buf, sizeof buf);
    assert_string_equal(buf, "ref<record greeting{text:str,times:u32}>");
    au_type_schema(&au_type_handle_ptr, buf, sizeof buf);
    assert_string_equal(buf, "local handle_ptr");
    au_type_schema(&au_type_tagged, buf, sizeof buf);
    assert_string_equal(buf, "custom tagged(v1 text)");
    au_type_schema(&au_type_logger_msg, buf, sizeof buf);
    assert_string_equal(buf, "root logger_msg{line:str=remote|sink:local handle_ptr=local}");
    au_type_schema(&au_type_scalars, buf, sizeof buf);
    assert_string_equal(buf, "record scalars{b:bool,i8:i8,i16:i16,i32:i32,i64:i64,u8:u8,u16:u16,"
                             "u32:u32,u64:u64,f32:f32,f64:f64,unit:unit}");
}

static void schema_text_truncates_but_reports_the_full_length(void **state) {
    char buf[8];
    size_t n = au_type_schema(&au_type_greeting, buf, sizeof buf);
    assert_int_equal(n, strlen("record greeting{text:str,times:u32}"));
    assert_string_equal(buf, "record ");
    assert_int_equal(au_type_schema(&au_type_greeting, NULL, 0), n);
}

static void type_id_is_the_hash_of_the_schema_and_is_cached(void **state) {
    char buf[256];
    size_t n = au_type_schema(&au_type_greeter_msg, buf, sizeof buf);
    uint64_t id = au_type_id(&au_type_greeter_msg);
    assert_true((id & ~AU_TYPE_ID_NAME_MASK) == (XXH64(buf, n, 0) & ~AU_TYPE_ID_NAME_MASK));
    assert_true((id & AU_TYPE_ID_NAME_MASK) ==
                (XXH64("greeter_msg", strlen("greeter_msg"), 0) & AU_TYPE_ID_NAME_MASK));
    assert_true(atomic_load(&au_type_greeter_msg.id_cache) == id);
    assert_true(au_type_id(&au_type_greeter_msg) == id);
}

/* The same schema declared another way: by hand, with another struct layout. */
typedef struct greeting_other {
    uint64_t pad;
    uint32_t times;
    au_str text;
} greeting_other;
static const au_field greeting_other_fields[] = {
    { "text", offsetof(greeting_other, text), &au_type_au_str },
    { "times", offsetof(greeting_other, times), &au_type_uint32_t },
};
static au_type greeting_other_type = { .name = "greeting", .kind = AU_KIND_RECORD,
                                       .size = sizeof(greeting_other),
                                       .fields = greeting_other_fields, .count = 2 };

static void type_id_ignores_layout_and_declaration_style(void **state) {
    assert_true(au_type_id(&greeting_other_type) == au_type_id(&au_type_greeting));
    /* A descriptor copy (as every translation unit has its own) has the same id. */
    au_type copy = { .name = "greeter_msg", .kind = AU_KIND_ROOT, .size = sizeof(greeter_msg),
                     .tag_offset = offsetof(greeter_msg, tag),
                     .variants = au_variants_greeter_msg, .count = 3 };
    assert_true(au_type_id(&copy) == au_type_id(&au_type_greeter_msg));
}

static void type_id_changes_with_any_schema_change(void **state) {
    uint64_t base = au_type_id(&au_type_greeting);
    const au_field renamed_f[] = { { "text", 0, &au_type_au_str }, { "count", 0, &au_type_uint32_t } };
    const au_field retyped_f[] = { { "text", 0, &au_type_au_str }, { "times", 0, &au_type_uint64_t } };
    const au_field added_f[] = { { "text", 0, &au_type_au_str }, { "times", 0, &au_type_uint32_t },
                                 { "extra", 0, &au_type_bool } };
    const au_field swapped_f[] = { { "times", 0, &au_type_uint32_t }, { "text", 0, &au_type_au_str } };
    au_type renamed = { .name = "greeting", .kind = AU_KIND_RECORD, .fields = renamed_f, .count = 2 };
    au_type retyped = { .name = "greeting", .kind = AU_KIND_RECORD, .fields = retyped_f, .count = 2 };
    au_type added = { .name = "greeting", .kind = AU_KIND_RECORD, .fields = added_f, .count = 3 };
    au_type swapped = { .name = "greeting", .kind = AU_KIND_RECORD, .fields = swapped_f, .count = 2 };
    au_type other_name = { .name = "greeting2", .kind = AU_KIND_RECORD,
                           .fields = au_fields_greeting, .count = 2 };
    uint64_t ids[] = { au_type_id(&renamed), au_type_id(&retyped), au_type_id(&added),
                       au_type_id(&swapped), au_type_id(&other_name), base };
    for (size_t i = 0; i < 6; i++)
        for (size_t j = i + 1; j < 6; j++) assert_true(ids[i] != ids[j]);

    /* A variant's mode is part of the root's schema. */
    au_variant v[3];
    memcpy(v, au_variants_greeter_msg, sizeof v);
    v[2].mode = AU_MODE_REMOTE;
    au_type moded = au_type_greeter_msg;
    atomic_store(&moded.id_cache, 0);
    moded.variants = v;
    assert_true(au_type_id(&moded) != au_type_id(&au_type_greeter_msg));

    assert_true(au_type_id(&au_type_int32_t) != au_type_id(&au_type_uint32_t));
    assert_true(au_type_id(&au_type_greeting_array) != au_type_id(&au_type_greeting_ref));
}

/* ---- copy, free and the value helpers --------------------------------------------------------- */

static void value_copy_is_deep_and_owned(void **state) {
    greeting gs[2];
    int32_t_array rows[3];
    int32_t cells[6];
    tagged label;
    rich in = make_rich(gs, rows, cells, &label), out;
    assert_int_equal(au_value_copy(&au_type_rich, &out, &in), AU_OK);
    assert_true(equal(&au_type_rich, &in, &out));
    assert_true(out.g.text.ptr != in.g.text.ptr);
    assert_int_equal(out.g.text.owned, 1);
    assert_int_equal(out.gs.owned, 1);
    assert_int_equal(out.grid.ptr[2].owned, 1);
    assert_true(out.label.text != in.label.text);

    /* A copy of the copy, after which the first copy is freed: nothing is shared. */
    rich again;
    assert_int_equal(au_value_copy(&au_type_rich, &again, &out), AU_OK);
    au_value_free(&au_type_rich, &out);
    assert_true(equal(&au_type_rich, &in, &again));
    au_value_free(&au_type_rich, &again);

    greeter_msg bad = { .tag = (greeter_msg_tag)9 }, dst;
    assert_int_equal(au_value_copy(&au_type_greeter_msg, &dst, &bad), AU_EINVAL);
    assert_true(all_zero(&dst, sizeof dst));
}

static void value_free_frees_owned_parts_only(void **state) {
    au_value_free(&au_type_greeting, NULL); /* skips NULL */

    greeting borrowed[1] = { { au_str_lit("stay"), 1 } };
    greeting_array arr = { borrowed, 1, 0 };
    au_value_free(&au_type_greeting_array, &arr); /* borrowed: untouched */
    assert_ptr_equal(arr.ptr, borrowed);
    assert_string_equal(borrowed[0].text.ptr, "stay");

    greeter_msg m = { .tag = greeter_msg_greet, .greet = { au_str_dup("owned", 5), 1 } };
    au_value_free(&au_type_greeter_msg, &m);
    assert_int_equal(m.greet.text.len, 0);
    au_value_free(&au_type_greeter_msg, &m); /* freed parts were reset: harmless twice */

    /* Only the active variant is freed: count's bits are not mistaken for a string. */
    greeter_msg c = { .tag = greeter_msg_count, .count = -1 };
    au_value_free(&au_type_greeter_msg, &c);
    assert_int_equal(c.count, -1);
    greeter_msg junk = { .tag = (greeter_msg_tag)-5 };
    au_value_free(&au_type_greeter_msg, &junk);
}

static void string_bytes_and_buffer_helpers(void **state) {
    au_str v = au_str_view("view");
    assert_int_equal(v.len, 4);
    assert_int_equal(v.owned, 0);
    au_str d = au_str_dup("abcdef", 3);
    assert_string_equal(d.ptr, "abc");
    assert_int_equal(d.owned, 1);
    au_str_free(&d);
    assert_int_equal(d.len, 0);
    assert_string_equal(d.ptr, "");
    au_str_free(&v); /* unowned: nothing freed */

    au_bytes b = au_bytes_dup("\0\1\2", 3);
    assert_int_equal(b.len, 3);
    assert_int_equal(b.ptr[2], 2);
    au_bytes_free(&b);
    assert_null(b.ptr);
    au_bytes e = au_bytes_dup(NULL, 0);
    assert_non_null(e.ptr); /* NULL would mean allocation failure */
    au_bytes_free(&e);

    au_buf buf = { 0 };
    for (int i = 0; i < 1000; i++) assert_int_equal(au_buf_append(&buf, "0123456789", 10), AU_OK);
    assert_int_equal(buf.len, 10000);
    assert_memory_equal(buf.data + 9990, "0123456789", 10);
    assert_int_equal(au_buf_append(&buf, NULL, 0), AU_OK);
    au_buf_free(&buf);
    assert_null(buf.data);
    assert_int_equal(buf.cap, 0);
}

/* ---- hostile input ---------------------------------------------------------------------------- */

static void every_truncated_prefix_is_an_error_without_leaks(void **state) {
    greeting gs[2];
    int32_t_array rows[3];
    int32_t cells[6];
    tagged label;
    rich in = make_rich(gs, rows, cells, &label), out;
    au_buf b = { 0 };
    assert_int_equal(au_encode(&au_type_rich, &in, &b, &refs), AU_OK);
    for (size_t n = 0; n < b.len; n++) {
        memset(&out, 0x5A, sizeof out);
        au_err err = au_decode(&au_type_rich, &out, b.data, n, NULL, &refs);
        assert_int_not_equal(err, AU_OK);
        assert_true(all_zero(&out, sizeof out));
    }
    assert_int_equal(au_decode(&au_type_rich, &out, b.data, b.len, NULL, &refs), AU_OK);
    assert_true(equal(&au_type_rich, &in, &out));
    au_value_free(&au_type_rich, &out);
    au_buf_free(&b);
}

static void trailing_bytes_are_rejected(void **state) {
    EXPECT_DECODE(greeting, AU_OK, 0x82, 0x61, 'a', 0x01);
    EXPECT_DECODE(greeting, AU_EDECODE, 0x82, 0x61, 'a', 0x01, 0x00);
    EXPECT_DECODE(uint8_t, AU_EDECODE, 0x01, 0x01);
    { /* nothing at all */
        greeting out_;
        memset(&out_, 0xAB, sizeof out_);
        assert_int_equal(au_decode(&au_type_greeting, &out_, (const uint8_t *)"", 0, NULL, &refs),
                         AU_EDECODE);
        assert_true(all_zero(&out_, sizeof out_));
    }
}

static void type_confused_input_is_rejected(void **state) {
    EXPECT_DECODE(greeting, AU_EDECODE, 0xa2, 0x61, 'a', 0x01, 0x61, 'b', 0x02); /* a map */
    EXPECT_DECODE(greeting, AU_EDECODE, 0x82, 0x01, 0x61, 'a');  /* fields swapped */
    EXPECT_DECODE(greeting, AU_EDECODE, 0x82, 0x41, 'a', 0x01);  /* bytes for text */
    EXPECT_DECODE(greeting, AU_EDECODE, 0x81, 0x61, 'a');        /* too few fields */
    EXPECT_DECODE(greeting, AU_EDECODE, 0x83, 0x61, 'a', 0x01, 0x01); /* too many */
    EXPECT_DECODE(greeting, AU_EDECODE, 0x61, 'a');              /* not an array */
    EXPECT_DECODE(int32_t, AU_EDECODE, 0x61, '1');               /* a string for an int */
    EXPECT_DECODE(int32_t, AU_EDECODE, 0xf5);                    /* true for an int */
    EXPECT_DECODE(bool, AU_EDECODE, 0x01);                       /* an int for a bool */
    EXPECT_DECODE(au_unit, AU_EDECODE, 0xf7);                    /* undefined for unit */
    EXPECT_DECODE(au_unit, AU_OK, 0xf6);
    EXPECT_DECODE(float, AU_EDECODE, 0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0); /* double for float */
    EXPECT_DECODE(double, AU_EDECODE, 0xfa, 0x3f, 0x80, 0, 0);  /* float for double */
    EXPECT_DECODE(float, AU_EDECODE, 0xf9, 0x3c, 0x00);          /* half float */
    EXPECT_DECODE(float, AU_EDECODE, 0x01);                      /* int for float */
    EXPECT_DECODE(uint8_t, AU_EDECODE, 0xc1, 0x01);              /* a tag */
    EXPECT_DECODE(greeting_array, AU_EDECODE, 0x9f, 0xff);       /* indefinite array */
    EXPECT_DECODE(au_str, AU_EDECODE, 0x7f, 0x61, 'a', 0xff);    /* indefinite text */
    EXPECT_DECODE(au_bytes, AU_EDECODE, 0x5f, 0x41, 'a', 0xff);  /* indefinite bytes */
    EXPECT_DECODE(uint8_t, AU_EDECODE, 0xff);                    /* a lone break */
    EXPECT_DECODE(uint8_t, AU_EDECODE, 0x1c);                    /* reserved */
    EXPECT_DECODE(uint8_t, AU_EDECODE, 0xf8, 0x20);              /* simple value */
    EXPECT_DECODE(greeter_msg, AU_EDECODE, 0x82, 0x00, 0x01);    /* int payload for greet */
    EXPECT_DECODE(greeter_msg, AU_EDECODE, 0x82, 0x02, 0x80);    /* poke wants null */
    EXPECT_DECODE(greeting_ref, AU_EDECODE, 0x83, 0x61, 'a', 0x61, 'b', 0x01); /* short ref */
}

static void integers_out_of_the_field_range_are_rejected(void **state) {
    EXPECT_DECODE(uint8_t, AU_OK, 0x18, 0xff);
    EXPECT_DECODE(uint8_t, AU_EDECODE, 0x19, 0x01, 0x2c);        /* 300 */
    EXPECT_DECODE(uint8_t, AU_EDECODE, 0x20);                    /* -1 */
    EXPECT_DECODE(uint32_t, AU_EDECODE, 0x20);
    EXPECT_DECODE(uint32_t, AU_EDECODE, 0x1b, 0, 0, 0, 1, 0, 0, 0, 0); /* 2^32 */
    EXPECT_DECODE(uint64_t, AU_EDECODE, 0x3b, 0, 0, 0, 0, 0, 0, 0, 0); /* -1, 8-byte head */
    EXPECT_DECODE(int8_t, AU_OK, 0x38, 0x7f);                    /* -128 */
    EXPECT_DECODE(int8_t, AU_EDECODE, 0x38, 0x80);               /* -129 */
    EXPECT_DECODE(int8_t, AU_EDECODE, 0x18, 0x80);               /* 128 */
    EXPECT_DECODE(int16_t, AU_EDECODE, 0x19, 0x80, 0x00);        /* 32768 */
    EXPECT_DECODE(int32_t, AU_EDECODE, 0x3a, 0x80, 0, 0, 0);     /* -2^31 - 1 */
    EXPECT_DECODE(int64_t, AU_OK, 0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    EXPECT_DECODE(int64_t, AU_EDECODE, 0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0); /* -2^63 - 1 */
    EXPECT_DECODE(int64_t, AU_EDECODE, 0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0); /* 2^63 */
    EXPECT_DECODE(uint16_t, AU_OK, 0x1b, 0, 0, 0, 0, 0, 0, 0, 5); /* long heads are fine */
}

static void bad_variant_indices_are_rejected(void **state) {
    EXPECT_DECODE(greeter_msg, AU_OK, 0x82, 0x01, 0x05);
    EXPECT_DECODE(greeter_msg, AU_EDECODE, 0x82, 0x03, 0xf6);
    EXPECT_DECODE(greeter_msg, AU_EDECODE, 0x82, 0x1b, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0xf6);
    EXPECT_DECODE(greeter_msg, AU_EDECODE, 0x82, 0x20, 0xf6);    /* negative */
    EXPECT_DECODE(greeter_msg, AU_EDECODE, 0x81, 0x02);          /* payload missing */
    EXPECT_DECODE(greeter_msg, AU_EDECODE, 0x83, 0x02, 0xf6, 0xf6);
}

static void invalid_utf8_is_rejected(void **state) {
    EXPECT_DECODE(au_str, AU_OK, 0x64, 0xf0, 0x9d, 0x84, 0x9e);  /* U+1D11E */
    EXPECT_DECODE(au_str, AU_OK, 0x63, 0xe2, 0x9c, 0x93);        /* U+2713 */
    EXPECT_DECODE(au_str, AU_OK, 0x61, 0x00);                    /* U+0000 is valid */
    EXPECT_DECODE(au_str, AU_EDECODE, 0x62, 0xc0, 0x80);         /* overlong NUL */
    EXPECT_DECODE(au_str, AU_EDECODE, 0x63, 0xe0, 0x80, 0xaf);   /* overlong '/' */
    EXPECT_DECODE(au_str, AU_EDECODE, 0x63, 0xed, 0xa0, 0x80);   /* surrogate */
    EXPECT_DECODE(au_str, AU_EDECODE, 0x64, 0xf4, 0x90, 0x80, 0x80); /* > U+10FFFF */
    EXPECT_DECODE(au_str, AU_EDECODE, 0x62, 0xe2, 0x9c);         /* cut sequence */
    EXPECT_DECODE(au_str, AU_EDECODE, 0x61, 0x80);               /* stray continuation */
    EXPECT_DECODE(au_str, AU_EDECODE, 0x69, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 0xff);
}

static void limits_are_enforced(void **state) {
    nest out;
    int32_t cells[] = { 1, 2 };
    int32_t_array rows[] = { { cells, 2, 0 } };
    greeting gs[] = { { au_str_lit("hello"), 1 }, { au_str_lit("world"), 2 } };
    nest in = { .in = { { au_str_lit("inner"), 1 }, 2 }, .gs = { gs, 2, 0 },
                .grid = { rows, 1, 0 } };
    au_buf b = { 0 };
    assert_int_equal(au_encode(&au_type_nest, &in, &b, NULL), AU_OK);

    /* nest > grid > row: three levels of arrays. */
    au_decode_limits lim = { .max_depth = 2 };
    assert_int_equal(au_decode(&au_type_nest, &out, b.data, b.len, &lim, NULL), AU_EDECODE);
    assert_true(all_zero(&out, sizeof out));
    lim.max_depth = 3;
    assert_int_equal(au_decode(&au_type_nest, &out, b.data, b.len, &lim, NULL), AU_OK);
    au_value_free(&au_type_nest, &out);

    lim = (au_decode_limits){ .max_string = 4 }; /* "hello" is 5 */
    assert_int_equal(au_decode(&au_type_nest, &out, b.data, b.len, &lim, NULL), AU_ETOOBIG);
    assert_true(all_zero(&out, sizeof out));
    lim.max_string = 5;
    assert_int_equal(au_decode(&au_type_nest, &out, b.data, b.len, &lim, NULL), AU_OK);
    au_value_free(&au_type_nest, &out);

    lim = (au_decode_limits){ .max_array = 1 }; /* gs has 2 */
    assert_int_equal(au_decode(&au_type_nest, &out, b.data, b.len, &lim, NULL), AU_ETOOBIG);
    assert_true(all_zero(&out, sizeof out));

    /* Allocations: "inner"+1, 2 greetings, "hello"+1, "world"+1, 1 row, 2 cells. */
    size_t need = 6 + 2 * sizeof(greeting) + 6 + 6 + sizeof(int32_t_array) + 2 * sizeof(int32_t);
    lim = (au_decode_limits){ .max_total = need - 1 };
    assert_int_equal(au_decode(&au_type_nest, &out, b.data, b.len, &lim, NULL), AU_ENOMEM);
    assert_true(all_zero(&out, sizeof out));
    lim.max_total = need;
    assert_int_equal(au_decode(&au_type_nest, &out, b.data, b.len, &lim, NULL), AU_OK);
    au_value_free(&au_type_nest, &out);

    /* Byte strings count against max_string too. */
    lim = (au_decode_limits){ .max_string = 2 };
    static const uint8_t three[] = { 0x43, 1, 2, 3 };
    au_bytes bytes;
    assert_int_equal(au_decode(&au_type_au_bytes, &bytes, three, 3 + 1, &lim, NULL), AU_ETOOBIG);

    /* Default depth (32) against a deep recursive value: 20 nodes are 40 levels. */
    tnode chain[20] = { 0 };
    for (int i = 0; i + 1 < 20; i++) chain[i].kids = (tnode_array){ &chain[i + 1], 1, 0 };
    b.len = 0;
    assert_int_equal(au_encode(&tnode_type, chain, &b, NULL), AU_OK);
    tnode t;
    assert_int_equal(au_decode(&tnode_type, &t, b.data, b.len, NULL, NULL), AU_EDECODE);
    assert_true(all_zero(&t, sizeof t));
    lim = (au_decode_limits){ .max_depth = 40 };
    assert_int_equal(au_decode(&tnode_type, &t, b.data, b.len, &lim, NULL), AU_OK);
    au_value_free(&tnode_type, &t);
    /* au_encode_bounded counts the levels as the decoder does: 40 passes, 39 does not */
    lim = (au_decode_limits){ .max_depth = 39 };
    assert_int_equal(au_decode(&tnode_type, &t, b.data, b.len, &lim, NULL), AU_EDECODE);
    size_t whole = b.len;
    b.len = 0;
    assert_int_equal(au_encode_bounded(&tnode_type, chain, &b, NULL, 40), AU_OK);
    assert_int_equal(b.len, whole);
    b.len = 0;
    assert_int_equal(au_encode_bounded(&tnode_type, chain, &b, NULL, 39), AU_EENCODE);
    assert_int_equal(b.len, 0);
    assert_int_equal(au_encode_bounded(&tnode_type, chain, &b, NULL, 0), AU_OK);
    au_buf_free(&b);
}

static void array_counts_beyond_the_input_never_allocate(void **state) {
    /* Counts that pass max_array but cannot fit in the bytes left are caught before any
     * allocation: the error is EDECODE (a lie), not ENOMEM (a budget hit). */
    EXPECT_DECODE(int32_t_array, AU_EDECODE, 0x99, 0x03, 0xe8, 0x01, 0x02, 0x03); /* 1000 */
    au_decode_limits lim = { .max_array = UINT32_MAX, .max_total = SIZE_MAX };
    static const uint8_t huge[] = { 0x9a, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02, 0x03, 0x04, 0x05 };
    greeting_array a;
    assert_int_equal(au_decode(&au_type_greeting_array, &a, huge, sizeof huge, &lim, NULL),
                     AU_EDECODE);
    static const uint8_t huge64[] = { 0x9b, 0, 0, 0, 1, 0, 0, 0, 0, 0x01 }; /* 2^32 */
    assert_int_equal(au_decode(&au_type_greeting_array, &a, huge64, sizeof huge64, &lim, NULL),
                     AU_ETOOBIG);
    /* Same for strings: libcbor reports a length past the end as missing data. */
    EXPECT_DECODE(au_str, AU_EDECODE, 0x7a, 0x00, 0x10, 0x00, 0x00, 'a');
    EXPECT_DECODE(au_bytes, AU_EDECODE, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 1);
}

static void zero_limit_fields_mean_the_defaults(void **state) {
    au_decode_limits zero = { 0 };
    static const uint8_t in[] = { 0x82, 0x61, 'a', 0x01 };
    greeting g;
    assert_int_equal(au_decode(&au_type_greeting, &g, in, sizeof in, &zero, NULL), AU_OK);
    au_value_free(&au_type_greeting, &g);
}

/* au_type_id and au_type_schema of a NULL type: 0 and an empty schema (both crashed). */
static void a_null_type_has_id_0_and_no_schema(void **state) {
    (void)state;
    assert_true(au_type_id(NULL) == 0);
    char buf[8] = "xxxxxxx";
    assert_int_equal(au_type_schema(NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(au_type_schema(NULL, NULL, 0), 0);
    assert_true(au_type_id(&au_type_int64_t) != 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scalars_round_trip_at_their_extremes),
        cmocka_unit_test(floats_round_trip_nan_and_infinities_bit_exactly),
        cmocka_unit_test(encoding_matches_the_documented_table),
        cmocka_unit_test(strings_round_trip_empty_long_and_with_embedded_nul),
        cmocka_unit_test(bytes_round_trip_empty_and_binary),
        cmocka_unit_test(arrays_round_trip_empty_of_records_and_nested),
        cmocka_unit_test(every_root_variant_round_trips),
        cmocka_unit_test(ref_fields_round_trip_through_the_callbacks),
        cmocka_unit_test(refs_without_callbacks_fail_to_encode_and_decode),
        cmocka_unit_test(ref_decode_errors_are_returned_and_leave_nothing),
        cmocka_unit_test(custom_codec_travels_as_one_byte_string),
        cmocka_unit_test(custom_codec_errors_propagate),
        cmocka_unit_test(a_custom_codec_gets_at_most_a_mebibyte_whatever_max_string_says),
        cmocka_unit_test(recursive_types_encode_and_describe_themselves),
        cmocka_unit_test(local_kinds_never_encode_but_local_roots_send_remote_variants),
        cmocka_unit_test(encode_appends_and_restores_the_buffer_on_failure),
        cmocka_unit_test(encode_refuses_values_nested_beyond_its_depth_limit),
        cmocka_unit_test(schema_text_is_canonical),
        cmocka_unit_test(schema_text_truncates_but_reports_the_full_length),
        cmocka_unit_test(type_id_is_the_hash_of_the_schema_and_is_cached),
        cmocka_unit_test(type_id_ignores_layout_and_declaration_style),
        cmocka_unit_test(type_id_changes_with_any_schema_change),
        cmocka_unit_test(value_copy_is_deep_and_owned),
        cmocka_unit_test(value_free_frees_owned_parts_only),
        cmocka_unit_test(string_bytes_and_buffer_helpers),
        cmocka_unit_test(every_truncated_prefix_is_an_error_without_leaks),
        cmocka_unit_test(trailing_bytes_are_rejected),
        cmocka_unit_test(type_confused_input_is_rejected),
        cmocka_unit_test(integers_out_of_the_field_range_are_rejected),
        cmocka_unit_test(bad_variant_indices_are_rejected),
        cmocka_unit_test(invalid_utf8_is_rejected),
        cmocka_unit_test(limits_are_enforced),
        cmocka_unit_test(array_counts_beyond_the_input_never_allocate),
        cmocka_unit_test(zero_limit_fields_mean_the_defaults),
        cmocka_unit_test(a_null_type_has_id_0_and_no_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
