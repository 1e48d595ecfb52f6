/* libFuzzer harness for the schema-driven CBOR codec (core/codec).
 *
 * Each input is decoded as a rich root type (records with strings and bytes, arrays of records,
 * nested arrays, a custom codec, a reference field resolved by a fake callback, several scalar
 * and unit variants) under the default limits and under tight ones, and as a hand-built
 * recursive type. Properties checked:
 *  - a failed decode leaves the value all zero (and nothing leaked: LeakSanitizer);
 *  - every value the decoder accepts encodes again, and decoding that encoding gives an equal
 *    value (encode . decode is the identity on values) whose encoding is byte-identical;
 *  - au_value_copy of an accepted value is equal to it and independently freeable.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <aurum/schema.h>

#include "proto/codec.h"

/* ---- the types under test ------------------------------------------------------------------ */

AU_RECORD(point, (int32_t, x), (int32_t, y));
AU_ARRAY(point);
AU_RECORD(person, (au_str, name), (uint8_t, age), (au_bytes, avatar), (point_array, path),
          (bool, admin));
AU_ARRAY(person);
AU_ARRAY(au_str);
AU_ARRAY(au_str_array);

/* A custom type that allocates: "C" followed by text without NUL. */
typedef struct ctext {
    char *text;
} ctext;

static au_err ctext_encode(const void *v, au_buf *out) {
    const ctext *c = v;
    if (!c->text) return AU_EENCODE;
    au_err err = au_buf_append(out, "C", 1);
    return err ? err : au_buf_append(out, c->text, strlen(c->text));
}

static au_err ctext_decode(void *v, const uint8_t *data, size_t len) {
    if (len < 1 || data[0] != 'C' || memchr(data + 1, 0, len - 1)) return AU_EDECODE;
    char *s = malloc(len);
    if (!s) return AU_ENOMEM;
    memcpy(s, data + 1, len - 1);
    s[len - 1] = '\0';
    ((ctext *)v)->text = s;
    return AU_OK;
}

static void ctext_free(void *v) {
    ctext *c = v;
    free(c->text);
    c->text = NULL;
}

static const au_custom_codec ctext_codec = { ctext_encode, ctext_decode, ctext_free, "c1" };
AU_CUSTOM_TYPE(ctext, &ctext_codec);

AU_RECORD(envelope, (au_str, note), (person_ref, to), (uint64_t, seq), (int16_t, k),
          (ctext, label));

AU_ROOT(fz_msg,
        (hello, person, AU_REMOTE),
        (crowd, person_array, AU_PLAIN),
        (words, au_str_array_array, AU_PLAIN),
        (num, int64_t, AU_PLAIN),
        (ratio, double, AU_PLAIN),
        (tiny, float, AU_PLAIN),
        (label, ctext, AU_PLAIN),
        (stop, au_unit, AU_PLAIN),
        (mail, envelope, AU_PLAIN),
        (flag, bool, AU_PLAIN));

/* A recursive type (the macros cannot declare one). */
typedef struct tnode tnode;
typedef struct tnode_array {
    tnode *ptr;
    uint32_t len;
    uint32_t owned;
} tnode_array;
struct tnode {
    int8_t val;
    au_str tag;
    tnode_array kids;
};
static au_type tnode_type;
static au_type tnode_array_type = { .name = "tnode_array", .kind = AU_KIND_ARRAY,
                                    .size = sizeof(tnode_array), .elem = &tnode_type };
static const au_field tnode_fields[] = {
    { "val", offsetof(tnode, val), &au_type_int8_t },
    { "tag", offsetof(tnode, tag), &au_type_au_str },
    { "kids", offsetof(tnode, kids), &tnode_array_type },
};
static au_type tnode_type = { .name = "tnode", .kind = AU_KIND_RECORD, .size = sizeof(tnode),
                              .fields = tnode_fields, .count = 3 };

/* ---- fake references: a few known actors, ids checked like a real node would --------------- */

static const char *const actor_names[] = { "a", "bob", "carol" };
enum { N_ACTORS = 3 };
static char actors[N_ACTORS]; /* their addresses are the reference targets */

static au_err ref_encode(void *user, const au_ref *ref, au_wire_ref *out) {
    const char *a = ref->target;
    if (a < actors || a >= actors + N_ACTORS) abort(); /* only decoded refs reach here */
    const char *name = actor_names[a - actors];
    *out = (au_wire_ref){ .addr = "10.0.0.1:9", .addr_len = 10, .name = name,
                          .name_len = strlen(name), .root_id = 7,
                          .iface_id = au_type_id(ref->iface) };
    return AU_OK;
}

static au_err ref_decode(void *user, const au_wire_ref *in, au_type *ref_type, au_ref *out) {
    if (ref_type->kind != AU_KIND_REF) abort();
    if (in->iface_id != au_type_id(ref_type->elem)) return AU_ETYPE;
    for (int i = 0; i < N_ACTORS; i++) {
        if (in->name_len == strlen(actor_names[i]) &&
            memcmp(in->name, actor_names[i], in->name_len) == 0) {
            *out = (au_ref){ .target = &actors[i], .iface = ref_type->elem, .variant = AU_WHOLE };
            return AU_OK;
        }
    }
    return AU_ENOTFOUND;
}

static const au_codec_refs refs = { ref_encode, ref_decode, NULL };

/* ---- checks ------------------------------------------------------------------------------------ */

static int read_tag(const au_type *t, const void *v) {
    int tag;
    memcpy(&tag, (const char *)v + t->tag_offset, sizeof tag);
    return tag;
}

typedef struct any_array {
    void *ptr;
    uint32_t len;
    uint32_t owned;
} any_array;

/* Deep equality by descriptor; floats by bit pattern (NaN payloads must survive). */
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
    case AU_KIND_STR: {
        const au_str *s = a, *r = b;
        return s->len == r->len && (s->len == 0 || memcmp(s->ptr, r->ptr, s->len) == 0) &&
               s->ptr[s->len] == '\0' && r->ptr[r->len] == '\0';
    }
    case AU_KIND_BYTES: {
        const au_bytes *s = a, *r = b;
        return s->len == r->len && (s->len == 0 || memcmp(s->ptr, r->ptr, s->len) == 0);
    }
    case AU_KIND_ARRAY: {
        const any_array *s = a, *r = b;
        if (s->len != r->len) return false;
        for (uint32_t i = 0; i < s->len; i++)
            if (!equal(t->elem, (const char *)s->ptr + (size_t)i * t->elem->size,
                       (const char *)r->ptr + (size_t)i * t->elem->size))
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
        if (tag != read_tag(t, b) || tag < 0 || (uint32_t)tag >= t->count) return false;
        return equal(t->variants[tag].type, x + t->variants[tag].offset,
                     y + t->variants[tag].offset);
    }
    case AU_KIND_REF: {
        const au_ref *s = a, *r = b;
        return s->target == r->target && s->iface == r->iface;
    }
    default: return memcmp(a, b, t->size) == 0; /* scalars */
    }
}

static void check_zero(const void *v, size_t n) {
    const uint8_t *p = v;
    for (size_t i = 0; i < n; i++)
        if (p[i]) abort(); /* a failed decode must leave the value zeroed */
}

/* Decodes data as type t; on success checks the round-trip properties. */
static void try_type(au_type *t, const uint8_t *data, size_t size, const au_decode_limits *lim) {
    _Alignas(max_align_t) uint8_t v1[256], v2[256], v3[256];
    if (t->size > sizeof v1) abort();
    if (au_decode(t, v1, data, size, lim, &refs) != AU_OK) {
        check_zero(v1, t->size);
        return;
    }
    au_buf e1 = { 0 }, e2 = { 0 };
    if (au_encode(t, v1, &e1, &refs) != AU_OK) abort();      /* accepted => encodable */
    if (au_decode(t, v2, e1.data, e1.len, NULL, &refs) != AU_OK) abort();
    if (!equal(t, v1, v2)) abort();                           /* decode . encode = id */
    if (au_encode(t, v2, &e2, &refs) != AU_OK) abort();
    if (e1.len != e2.len || memcmp(e1.data, e2.data, e1.len) != 0) abort(); /* canonical */
    if (au_value_copy(t, v3, v1) != AU_OK) abort();
    au_value_free(t, v1);
    if (!equal(t, v2, v3)) abort();                            /* the copy shares nothing */
    au_value_free(t, v2);
    au_value_free(t, v3);
    au_buf_free(&e1);
    au_buf_free(&e2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const au_decode_limits tight = { .max_depth = 4, .max_string = 16, .max_array = 8,
                                            .max_total = 256 };
    try_type(&au_type_fz_msg, data, size, NULL);
    try_type(&au_type_fz_msg, data, size, &tight);
    try_type(&tnode_type, data, size, NULL);
    try_type(&au_type_envelope, data, size, NULL);
    return 0;
}
