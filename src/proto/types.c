/* The runtime of the type layer: built-in descriptors, the value helpers of <aurum/types.h>,
 * canonical schema text and type ids, and deep free / copy of values.
 *
 * Invariants:
 *  - The canonical schema text is a pure function of the descriptor graph (names, kinds, field
 *    and variant names, modes, custom schema strings), never of addresses or sizes, so the same
 *    type declared in two translation units, two builds or by hand gets the same text and id.
 *  - Schema walks terminate on recursive types: a record or root already being written is
 *    emitted as its keyword and name only ("record node"), the full form always has braces.
 *  - au_value_free frees exactly what the value owns (owned strings, bytes and arrays, and
 *    recursively their contents); references and local kinds own nothing. After it, pointers it
 *    freed are reset, so a second call is harmless.
 *  - au_value_copy is all-or-nothing: on failure dst is zeroed and nothing is leaked.
 *  - au_value_own replaces each borrowed part (an .owned == 0 string, bytes or array) by an
 *    owned copy, one part at a time and each all-or-nothing, and keeps the owned parts as they
 *    are: so after it, success or failure, au_value_free frees exactly what the value owns. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack: hashing never allocates */
#include <xxhash.h>

#include "proto/codec.h"
#include "proto/utf8.h"
#include "proto/value.h"

#include <aurum/schema.h> /* declares the built-in descriptors below (exported, AU_API) */
#include <aurum/types.h>

/* ---- built-in descriptors ------------------------------------------------------------------ */

#define BUILTIN(T, nm, k) au_type au_type_##T = { .name = nm, .kind = k, .size = sizeof(T) };
BUILTIN(_Bool, "bool", AU_KIND_BOOL)
BUILTIN(int8_t, "int8_t", AU_KIND_I8)
BUILTIN(int16_t, "int16_t", AU_KIND_I16)
BUILTIN(int32_t, "int32_t", AU_KIND_I32)
BUILTIN(int64_t, "int64_t", AU_KIND_I64)
BUILTIN(uint8_t, "uint8_t", AU_KIND_U8)
BUILTIN(uint16_t, "uint16_t", AU_KIND_U16)
BUILTIN(uint32_t, "uint32_t", AU_KIND_U32)
BUILTIN(uint64_t, "uint64_t", AU_KIND_U64)
BUILTIN(float, "float", AU_KIND_F32)
BUILTIN(double, "double", AU_KIND_F64)
BUILTIN(au_str, "au_str", AU_KIND_STR)
BUILTIN(au_bytes, "au_bytes", AU_KIND_BYTES)
BUILTIN(au_unit, "au_unit", AU_KIND_UNIT)
#undef BUILTIN

/* ---- buffers, strings, bytes --------------------------------------------------------------- */

/* A counter's data: a mark, never written or freed (cap 0). */
static uint8_t counter_mark;

au_buf au_buf_counter(void) { return (au_buf){ .data = &counter_mark }; }

bool au_buf_counting(const au_buf *b) { return b && b->data == &counter_mark; }

au_err au_buf_reserve(au_buf *b, size_t n) {
    if (!b) return AU_EINVAL;
    if (b->data == &counter_mark) return AU_ENOMEM; /* nothing to write into */
    if (b->cap - b->len >= n) return AU_OK;
    /* No object is larger than PTRDIFF_MAX: refused here, not handed to realloc (which fails,
     * or under ASan aborts the process). */
    if (n > (size_t)PTRDIFF_MAX - b->len) return AU_ENOMEM;
    size_t want = b->len + n;
    /* Doubling keeps appends amortized O(1); 64 avoids a string of tiny reallocations. */
    size_t cap = b->cap < 64 ? 64 : b->cap;
    while (cap < want) cap = cap > (size_t)PTRDIFF_MAX / 2 ? want : cap * 2;
    uint8_t *data = realloc(b->data, cap);
    if (!data) return AU_ENOMEM;
    b->data = data;
    b->cap = cap;
    return AU_OK;
}

au_err au_buf_append(au_buf *b, const void *p, size_t n) {
    if (!b || (n && !p)) return AU_EINVAL; /* nowhere to append, or nothing to copy from */
    if (n == 0) return AU_OK;
    if (b->data == &counter_mark) { /* counts only */
        if (n > (size_t)PTRDIFF_MAX - b->len) return AU_ENOMEM;
        b->len += n;
        return AU_OK;
    }
    au_err err = au_buf_reserve(b, n);
    if (err) return err;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return AU_OK;
}

void au_buf_free(au_buf *b) {
    if (!b) return;
    if (b->data != &counter_mark) free(b->data);
    *b = (au_buf){ 0 };
}

au_str au_str_view(const char *s) {
    if (!s) return (au_str){ .ptr = "", .len = 0, .owned = 0 };
    /* A string of 4 GiB or more cannot be described by an au_str; it is cut, not wrapped. */
    size_t n = strlen(s);
    return (au_str){ .ptr = s, .len = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n, .owned = 0 };
}

au_str au_str_dup(const char *s, size_t n) {
    if (n >= UINT32_MAX || (!s && n)) return (au_str){ 0 };
    char *p = malloc(n + 1);
    if (!p) return (au_str){ 0 };
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    return (au_str){ .ptr = p, .len = (uint32_t)n, .owned = 1 };
}

void au_str_free(au_str *s) {
    if (!s) return;
    if (s->owned) free((void *)s->ptr);
    /* Reset to a valid empty string rather than NULL: a freed field stays printable. */
    *s = (au_str){ .ptr = "", .len = 0, .owned = 0 };
}

au_bytes au_bytes_dup(const void *p, size_t n) {
    if (n > UINT32_MAX || (!p && n)) return (au_bytes){ 0 };
    /* Even an empty copy gets storage, so that ptr == NULL always means allocation failure. */
    uint8_t *d = malloc(n ? n : 1);
    if (!d) return (au_bytes){ 0 };
    if (n) memcpy(d, p, n);
    return (au_bytes){ .ptr = d, .len = (uint32_t)n, .owned = 1 };
}

void au_bytes_free(au_bytes *b) {
    if (!b) return;
    if (b->owned) free(b->ptr);
    *b = (au_bytes){ 0 };
}

/* ---- canonical schema text and type ids ---------------------------------------------------- */

/* Where schema text goes: into a caller's buffer (truncated, but counted in full) or into a
 * running XXH64, so that au_type_id needs no allocation and no size limit. */
typedef struct sink {
    char *buf;
    size_t size, len;
    XXH64_state_t *hash;
} sink;

/* The records and roots being written, innermost first (a list on the C stack). */
typedef struct frame {
    const au_type *type;
    const struct frame *up;
} frame;

static void put(sink *s, const char *p, size_t n) {
    if (s->hash) XXH64_update(s->hash, p, n);
    if (s->buf && s->len < s->size) {
        size_t room = s->size - s->len;
        memcpy(s->buf + s->len, p, n < room ? n : room);
    }
    s->len += n;
}

static void puts_(sink *s, const char *p) { put(s, p, p ? strlen(p) : 0); }

static bool on_stack(const frame *f, const au_type *t) {
    for (; f; f = f->up)
        if (f->type == t) return true;
    return false;
}

static void schema(sink *s, const au_type *t, const frame *up) {
    static const char *const scalar[] = {
        [AU_KIND_UNIT] = "unit", [AU_KIND_BOOL] = "bool", [AU_KIND_I8] = "i8",
        [AU_KIND_I16] = "i16",   [AU_KIND_I32] = "i32",   [AU_KIND_I64] = "i64",
        [AU_KIND_U8] = "u8",     [AU_KIND_U16] = "u16",   [AU_KIND_U32] = "u32",
        [AU_KIND_U64] = "u64",   [AU_KIND_F32] = "f32",   [AU_KIND_F64] = "f64",
        [AU_KIND_STR] = "str",   [AU_KIND_BYTES] = "bytes",
    };
    if (!t) {
        puts_(s, "?");
        return;
    }
    if (t->codec) {
        /* The custom schema string stands in for the shape the codec hides. */
        puts_(s, "custom ");
        puts_(s, t->name);
        puts_(s, "(");
        puts_(s, t->codec->schema);
        puts_(s, ")");
        return;
    }
    switch (t->kind) {
    case AU_KIND_ARRAY:
        puts_(s, "array<");
        schema(s, t->elem, up);
        puts_(s, ">");
        return;
    case AU_KIND_REF:
        puts_(s, "ref<");
        schema(s, t->elem, up);
        puts_(s, ">");
        return;
    case AU_KIND_LOCAL:
        puts_(s, "local ");
        puts_(s, t->name);
        return;
    case AU_KIND_RECORD:
    case AU_KIND_ROOT: {
        bool root = t->kind == AU_KIND_ROOT;
        puts_(s, root ? "root " : "record ");
        puts_(s, t->name);
        if (on_stack(up, t)) return;
        frame here = { t, up };
        puts_(s, "{");
        for (uint32_t i = 0; i < t->count; i++) {
            if (i) puts_(s, root ? "|" : ",");
            puts_(s, root ? t->variants[i].name : t->fields[i].name);
            puts_(s, ":");
            schema(s, root ? t->variants[i].type : t->fields[i].type, &here);
            if (root && t->variants[i].mode == AU_MODE_REMOTE) puts_(s, "=remote");
            if (root && t->variants[i].mode == AU_MODE_LOCAL) puts_(s, "=local");
        }
        puts_(s, "}");
        return;
    }
    default:
        if ((size_t)t->kind < sizeof scalar / sizeof scalar[0] && scalar[t->kind])
            puts_(s, scalar[t->kind]);
        else
            puts_(s, "?");
        return;
    }
}

size_t au_type_schema(au_type *type, char *buf, size_t size) {
    if (!type) {
        if (buf && size) buf[0] = '\0';
        return 0;
    }
    sink s = { .buf = buf, .size = size };
    schema(&s, type, NULL);
    if (buf && size) buf[s.len < size ? s.len : size - 1] = '\0';
    return s.len;
}

uint64_t au_type_id(au_type *type) {
    if (!type) return 0;
    uint64_t id = atomic_load_explicit(&type->id_cache, memory_order_relaxed);
    if (id) return id;
    XXH64_state_t st;
    XXH64_reset(&st, 0);
    sink s = { .hash = &st };
    schema(&s, type, NULL);
    /* High half: the type's name; low half: its whole canonical schema. A receiver that knows
     * a type of the same name but not this id can then say "schema mismatch" (two builds with
     * different versions of one type) rather than "unknown type". */
    id = (XXH64(type->name, strlen(type->name), 0) & AU_TYPE_ID_NAME_MASK) |
         (XXH64_digest(&st) & ~AU_TYPE_ID_NAME_MASK);
    /* Relaxed is enough: the id is a pure function of the descriptor, so threads racing here
     * compute and store the same value, and a reader sees either 0 (and recomputes) or it.
     * (A schema hashing to 0 is simply recomputed every time.) */
    atomic_store_explicit(&type->id_cache, id, memory_order_relaxed);
    return id;
}

/* ---- deep free and copy -------------------------------------------------------------------- */

/* The generic layout of every T_array from AU_ARRAY (all object pointers share a representation
 * on the platforms we build for). */
typedef struct raw_array {
    void *ptr;
    uint32_t len;
    uint32_t owned;
} raw_array;

/* A root's tag is its C enum R_tag, which is int-sized (we never build with -fshort-enums);
 * memcpy because the tag field is typed R_tag, not int. */
static int read_tag(const au_type *t, const void *value) {
    int tag;
    memcpy(&tag, (const char *)value + t->tag_offset, sizeof tag);
    return tag;
}

int au_root_tag(const au_type *root, const void *value) {
    int tag = read_tag(root, value);
    return tag >= 0 && (uint32_t)tag < root->count ? tag : -1;
}

/* True if values of t own no memory, so frees can skip them (and arrays of them) entirely. */
static bool owns_nothing(const au_type *t) {
    if (t->codec) return t->codec->free == NULL;
    switch (t->kind) {
    case AU_KIND_STR: case AU_KIND_BYTES: case AU_KIND_ARRAY:
    case AU_KIND_RECORD: case AU_KIND_ROOT:
        return false;
    default:
        return true;
    }
}

/* Deep version, cached in the descriptor: a record or root whose every field or variant owns
 * nothing needs no walk at all when freed (most small messages). Depth-bounded: a deeper type
 * is conservatively taken to own memory. Relaxed cache: the answer is a pure function of the
 * descriptor, so a race stores the same value. */
static bool deep_owns_nothing(const au_type *t, unsigned depth) {
    if (depth > 16) return false;
    uint8_t c = atomic_load_explicit(&((au_type *)t)->owns_cache, memory_order_relaxed);
    if (c) return c == 1;
    bool nothing;
    if (t->codec || t->kind == AU_KIND_ARRAY) {
        nothing = owns_nothing(t);
    } else if (t->kind == AU_KIND_RECORD) {
        nothing = true;
        for (uint32_t i = 0; i < t->count && nothing; i++)
            nothing = deep_owns_nothing(t->fields[i].type, depth + 1);
    } else if (t->kind == AU_KIND_ROOT) {
        nothing = true;
        for (uint32_t i = 0; i < t->count && nothing; i++)
            nothing = deep_owns_nothing(t->variants[i].type, depth + 1);
    } else {
        nothing = owns_nothing(t);
    }
    atomic_store_explicit(&((au_type *)t)->owns_cache, nothing ? 1 : 2, memory_order_relaxed);
    return nothing;
}

void au_value_free(const au_type *type, void *value) {
    if (!type || !value || deep_owns_nothing(type, 0)) return;
    if (type->codec) {
        if (type->codec->free) type->codec->free(value);
        return;
    }
    char *base = value;
    switch (type->kind) {
    case AU_KIND_STR:
        au_str_free(value);
        return;
    case AU_KIND_BYTES:
        au_bytes_free(value);
        return;
    case AU_KIND_ARRAY: {
        raw_array *a = value;
        if (!a->owned) return; /* a borrowed array: neither storage nor elements are ours */
        if (a->ptr && !owns_nothing(type->elem))
            for (uint32_t i = 0; i < a->len; i++)
                au_value_free(type->elem, (char *)a->ptr + (size_t)i * type->elem->size);
        free(a->ptr);
        *a = (raw_array){ 0 };
        return;
    }
    case AU_KIND_RECORD:
        for (uint32_t i = 0; i < type->count; i++)
            au_value_free(type->fields[i].type, base + type->fields[i].offset);
        return;
    case AU_KIND_ROOT: {
        int tag = au_root_tag(type, value);
        /* Only the active variant is live; an out-of-range tag means nothing to free. */
        if (tag >= 0)
            au_value_free(type->variants[tag].type, base + type->variants[tag].offset);
        return;
    }
    default:
        return; /* scalars, references and local kinds own nothing */
    }
}

/* A custom type has no copy hook; its own encode/decode pair is a faithful copy by contract. */
static au_err copy_custom(const au_type *t, void *dst, const void *src) {
    au_buf b = { 0 };
    au_err err = t->codec->encode(src, &b);
    if (err == AU_OK) err = t->codec->decode(dst, b.data ? b.data : (const uint8_t *)"", b.len);
    au_buf_free(&b);
    return err;
}

/* Copies into zeroed dst; on failure frees what it built and leaves dst zeroed. */
static au_err copy(const au_type *t, void *dst, const void *src) {
    if (t->codec) {
        au_err err = copy_custom(t, dst, src);
        if (err != AU_OK) memset(dst, 0, t->size);
        return err;
    }
    const char *s = src;
    char *d = dst;
    switch (t->kind) {
    case AU_KIND_STR: {
        const au_str *in = src;
        if (in->len && !in->ptr) return AU_EINVAL;
        if (in->len && !au_utf8_valid((const uint8_t *)in->ptr, in->len)) return AU_EENCODE;
        au_str out = au_str_dup(in->ptr, in->len);
        if (!out.ptr) return AU_ENOMEM;
        *(au_str *)dst = out;
        return AU_OK;
    }
    case AU_KIND_BYTES: {
        const au_bytes *in = src;
        if (in->len == 0) return AU_OK; /* the empty value is { NULL, 0, 0 } */
        if (!in->ptr) return AU_EINVAL;
        au_bytes out = au_bytes_dup(in->ptr, in->len);
        if (!out.ptr) return AU_ENOMEM;
        *(au_bytes *)dst = out;
        return AU_OK;
    }
    case AU_KIND_ARRAY: {
        const raw_array *in = src;
        if (in->len == 0) return AU_OK;
        if (!in->ptr) return AU_EINVAL;
        size_t esz = t->elem->size;
        void *p = calloc(in->len, esz);
        if (!p) return AU_ENOMEM;
        for (uint32_t i = 0; i < in->len; i++) {
            au_err err = copy(t->elem, (char *)p + (size_t)i * esz,
                              (const char *)in->ptr + (size_t)i * esz);
            if (err != AU_OK) {
                raw_array built = { p, i, 1 };
                au_value_free(t, &built);
                return err;
            }
        }
        *(raw_array *)dst = (raw_array){ p, in->len, 1 };
        return AU_OK;
    }
    case AU_KIND_RECORD:
        for (uint32_t i = 0; i < t->count; i++) {
            const au_field *f = &t->fields[i];
            au_err err = copy(f->type, d + f->offset, s + f->offset);
            if (err != AU_OK) {
                for (uint32_t j = 0; j < i; j++)
                    au_value_free(t->fields[j].type, d + t->fields[j].offset);
                memset(dst, 0, t->size);
                return err;
            }
        }
        return AU_OK;
    case AU_KIND_ROOT: {
        int tag = au_root_tag(t, src);
        if (tag < 0) return AU_EINVAL;
        const au_variant *v = &t->variants[tag];
        au_err err = copy(v->type, d + v->offset, s + v->offset);
        if (err != AU_OK) return err;
        memcpy(d + t->tag_offset, &tag, sizeof tag);
        return AU_OK;
    }
    default:
        /* Scalars, references (plain values) and local kinds (handles) are copied bitwise. */
        memcpy(dst, src, t->size);
        return AU_OK;
    }
}

au_err au_value_copy(const au_type *type, void *dst, const void *src) {
    if (!type || !dst || !src) return AU_EINVAL;
    memset(dst, 0, type->size);
    return copy(type, dst, src);
}

/* One part at a time; a part either stays as it was or becomes an owned copy (see the top). */
static au_err own(const au_type *t, void *value) {
    if (t->codec) return AU_OK; /* a custom value is its codec's business: moved as it is */
    char *base = value;
    switch (t->kind) {
    case AU_KIND_STR: {
        au_str tmp;
        const au_str *in = value;
        if (in->owned) /* moved as it is, but only if a remote send could encode it */
            return !in->len || (in->ptr && au_utf8_valid((const uint8_t *)in->ptr, in->len))
                       ? AU_OK
                       : AU_EENCODE;
        au_err err = copy(t, &tmp, value);
        if (err == AU_OK) *(au_str *)value = tmp;
        return err;
    }
    case AU_KIND_BYTES: {
        au_bytes tmp = { 0 };
        if (((au_bytes *)value)->owned) return AU_OK;
        au_err err = copy(t, &tmp, value);
        if (err == AU_OK) *(au_bytes *)value = tmp;
        return err;
    }
    case AU_KIND_ARRAY: {
        raw_array *a = value;
        if (!a->owned) {
            /* Borrowed storage: neither it nor the elements are ours; copy it all. */
            raw_array tmp;
            au_err err = au_value_copy(t, &tmp, a);
            if (err == AU_OK) *a = tmp;
            return err;
        }
        if (!a->ptr || deep_owns_nothing(t->elem, 0)) return AU_OK;
        for (uint32_t i = 0; i < a->len; i++) {
            au_err err = own(t->elem, (char *)a->ptr + (size_t)i * t->elem->size);
            if (err != AU_OK) return err;
        }
        return AU_OK;
    }
    case AU_KIND_RECORD:
        for (uint32_t i = 0; i < t->count; i++) {
            au_err err = own(t->fields[i].type, base + t->fields[i].offset);
            if (err != AU_OK) return err;
        }
        return AU_OK;
    case AU_KIND_ROOT: {
        int tag = au_root_tag(t, value);
        if (tag < 0) return AU_OK; /* nothing live to own */
        return own(t->variants[tag].type, base + t->variants[tag].offset);
    }
    default:
        return AU_OK; /* scalars, references and local kinds are plain values */
    }
}

au_err au_value_own(const au_type *type, void *value) {
    if (!type || !value || deep_owns_nothing(type, 0)) return AU_OK;
    return own(type, value);
}

/* True if a value of t can hold a root below its top: a root field, a root variant payload or a
 * root array element, at any depth. Cached in roots_cache (relaxed, as owns_cache); depth-
 * bounded: a deeper type is conservatively taken to hold one, and the walk then decides. Custom
 * values are their codec's business and references are not values: neither holds one. */
static bool holds_root(const au_type *t, unsigned depth);

static bool is_or_holds_root(const au_type *t, unsigned depth) {
    return (t->kind == AU_KIND_ROOT && !t->codec) || holds_root(t, depth);
}

static bool holds_root(const au_type *t, unsigned depth) {
    if (depth > 16) return true;
    uint8_t c = atomic_load_explicit(&((au_type *)t)->roots_cache, memory_order_relaxed);
    if (c) return c == 2;
    bool any = false;
    if (t->codec) {
        any = false;
    } else if (t->kind == AU_KIND_ARRAY) {
        any = is_or_holds_root(t->elem, depth + 1);
    } else if (t->kind == AU_KIND_RECORD) {
        for (uint32_t i = 0; i < t->count && !any; i++)
            any = is_or_holds_root(t->fields[i].type, depth + 1);
    } else if (t->kind == AU_KIND_ROOT) {
        for (uint32_t i = 0; i < t->count && !any; i++)
            any = is_or_holds_root(t->variants[i].type, depth + 1);
    }
    atomic_store_explicit(&((au_type *)t)->roots_cache, any ? 2 : 1, memory_order_relaxed);
    return any;
}

/* The walk: `top` is false below the top level, where a root's own tag is checked. */
static au_err check_roots(const au_type *t, const void *value, bool top, unsigned depth) {
    if (depth > AU_ENCODE_MAX_DEPTH) return AU_EENCODE;
    if (t->codec) return AU_OK;
    const char *base = value;
    switch (t->kind) {
    case AU_KIND_ROOT: {
        int tag = au_root_tag(t, value);
        if (tag < 0) return top ? AU_OK : AU_EENCODE; /* the top's tag is the caller's */
        const au_variant *v = &t->variants[tag];
        if (!is_or_holds_root(v->type, 0)) return AU_OK;
        return check_roots(v->type, base + v->offset, false, depth + 1);
    }
    case AU_KIND_RECORD:
        for (uint32_t i = 0; i < t->count; i++) {
            const au_field *f = &t->fields[i];
            if (!is_or_holds_root(f->type, 0)) continue;
            au_err err = check_roots(f->type, base + f->offset, false, depth + 1);
            if (err != AU_OK) return err;
        }
        return AU_OK;
    case AU_KIND_ARRAY: {
        const raw_array *a = value;
        if (!a->ptr || !is_or_holds_root(t->elem, 0)) return AU_OK; /* (a length without a
                                                                      * pointer: au_value_own's) */
        for (uint32_t i = 0; i < a->len; i++) {
            au_err err = check_roots(t->elem, (const char *)a->ptr + (size_t)i * t->elem->size,
                                     false, depth + 1);
            if (err != AU_OK) return err;
        }
        return AU_OK;
    }
    default:
        return AU_OK;
    }
}

au_err au_value_check_roots(const au_type *type, const void *value) {
    if (!type || !value || !holds_root(type, 0)) return AU_OK;
    return check_roots(type, value, true, 0);
}
