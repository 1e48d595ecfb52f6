/* aurum/schema.h — declare a message type once; get the struct, its descriptor (name, type id,
 * codec), and its typed references.
 *
 * These are the only macros of the library that generate code. Each is meant for a header: every
 * translation unit that includes it gets the same types and a private (static) copy of the small
 * descriptors; descriptors are compared by type id, never by address.
 *
 * Type names must be single identifiers (use a typedef for pointers: typedef FILE *file_ptr;).
 * Built-in field types: bool int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t
 * float double au_str au_bytes au_unit, any T_array (AU_ARRAY), record, root, and T_ref.
 * (This example is compiled as it stands by tests/compile_fail/header_example.sh.)
 *
 *   AU_RECORD(greeting, (au_str, text), (uint32_t, times));
 *   AU_ARRAY(greeting);                               // greeting_array: { ptr, len, owned }
 *   AU_ROOT(greeter_msg,
 *           (greet, greeting, AU_REMOTE),             // greeting is a remote interface
 *           (count, int64_t,  AU_REMOTE),
 *           (poke,  au_unit,  AU_PLAIN));             // reachable only through greeter_msg_ref
 *
 *   typedef FILE *file_ptr;
 *   AU_LOCAL_TYPE(file_ptr);                          // only file_ptr_lref exists
 *   AU_LOCAL_ROOT(logger_msg,                         // a root with a local-only variant
 *           (line, au_str,   AU_REMOTE),
 *           (sink, file_ptr, AU_LOCAL));
 *
 * A root R gets: struct R { R_tag tag; union { <payloads> }; }, enum constants R_<variant> for
 * the tags, R_ref (only for AU_ROOT) and R_lref. Variant modes: AU_PLAIN, AU_REMOTE (interface
 * reachable locally and remotely), AU_LOCAL (interface reachable only on this node). An
 * interface type may appear in one variant only (a second one does not compile). */
#ifndef AURUM_SCHEMA_H
#define AURUM_SCHEMA_H

#include <stddef.h>

#include <aurum/export.h>
#include <aurum/pp.h>
#include <aurum/ref.h>
#include <aurum/types.h>

#define AU_UNUSED_ __attribute__((unused))

/* ---- references (T_ref, T_lref) ------------------------------------------------------------ */

/* The `type_` member is never read; it carries T for the compile-time checks of au_send. A
 * serializable type also gets T_promise, the handle of a promise for one reply of type T (see
 * au_promise_new): a distinct struct per T, so a promise cannot be referenced or waited on as
 * another type. */
#define AU_DECLARE_LREF_(T)                                                                   \
    typedef struct T##_lref { union { au_ref raw; T *type_; }; } T##_lref;                   \
    static AU_UNUSED_ au_type au_type_##T##_lref = {                                          \
        .name = #T "_lref", .kind = AU_KIND_LOCAL, .local = true, .size = sizeof(T##_lref) }; \
    enum { au_remote__##T##_lref = 0 };

#define AU_DECLARE_REFS_(T)                                                                   \
    AU_DECLARE_LREF_(T)                                                                       \
    typedef struct T##_ref { union { au_ref raw; T *type_; }; } T##_ref;                     \
    typedef struct T##_promise { union { au_promise *raw; T *type_; }; } T##_promise;        \
    static AU_UNUSED_ au_type au_type_##T##_ref = {                                           \
        .name = #T "_ref", .kind = AU_KIND_REF, .size = sizeof(T##_ref),                     \
        .elem = &au_type_##T };                                                               \
    enum { au_remote__##T = 1, au_remote__##T##_ref = 1 };

/* ---- records --------------------------------------------------------------------------------- */

#define AU_FIELD_DECL_(R, f) AU_PP_APPLY(AU_FIELD_DECL_I_, R, AU_PP_UNPAREN f)
#define AU_FIELD_DECL_I_(R, FT, name) FT name;
#define AU_FIELD_DESC_(R, f) AU_PP_APPLY(AU_FIELD_DESC_I_, R, AU_PP_UNPAREN f)
#define AU_FIELD_DESC_I_(R, FT, name) { #name, offsetof(R, name), &au_type_##FT },
#define AU_FIELD_REMOTE_(R, f) AU_PP_APPLY(AU_FIELD_REMOTE_I_, R, AU_PP_UNPAREN f)
#define AU_FIELD_REMOTE_I_(R, FT, name)                                                       \
    _Static_assert(au_remote__##FT, "field " #name " of " #R " is local-only; use AU_LOCAL_RECORD");

/* The type and its descriptor are declared first, so fields may refer to T_ref or T_array. */
#define AU_FORWARD_(T)                                                                        \
    typedef struct T T;                                                                       \
    static AU_UNUSED_ au_type au_type_##T;

#define AU_RECORD_COMMON_(T, local_, ...)                                                     \
    typedef struct T { AU_PP_FOREACH(AU_FIELD_DECL_, T, __VA_ARGS__) } T;                     \
    static AU_UNUSED_ const au_field au_fields_##T[] = {                                      \
        AU_PP_FOREACH(AU_FIELD_DESC_, T, __VA_ARGS__) };                                      \
    static AU_UNUSED_ au_type au_type_##T = {                                                 \
        .name = #T, .kind = AU_KIND_RECORD, .local = local_, .size = sizeof(T),              \
        .fields = au_fields_##T, .count = AU_PP_NARGS(__VA_ARGS__) };

/** A serializable record: AU_RECORD(point, (int32_t, x), (int32_t, y)); declares struct point,
 *  its descriptor, point_ref and point_lref. Every field must be of a serializable type. */
#define AU_RECORD(T, ...)                                                                     \
    AU_FORWARD_(T)                                                                            \
    AU_DECLARE_REFS_(T)                                                                       \
    AU_RECORD_COMMON_(T, false, __VA_ARGS__)                                                  \
    AU_PP_FOREACH(AU_FIELD_REMOTE_, T, __VA_ARGS__)                                           \
    AU_DECL_END_

/** A record that may hold local-only fields; only T_lref exists, it never leaves the node. */
#define AU_LOCAL_RECORD(T, ...)                                                               \
    AU_FORWARD_(T)                                                                            \
    AU_DECLARE_LREF_(T)                                                                       \
    enum { au_remote__##T = 0 };                                                              \
    AU_RECORD_COMMON_(T, true, __VA_ARGS__)                                                   \
    AU_DECL_END_

/** A serializable, user-encoded type: the user defines struct T and an au_custom_codec. */
#define AU_CUSTOM_TYPE(T, codec_ptr)                                                          \
    static AU_UNUSED_ au_type au_type_##T = {                                                 \
        .name = #T, .kind = AU_KIND_RECORD, .size = sizeof(T), .codec = (codec_ptr) };       \
    AU_DECLARE_REFS_(T)                                                                       \
    AU_DECL_END_

/** A local-only type (a pointer, a handle): it may be a payload of an AU_LOCAL variant or a
 *  field of an AU_LOCAL_RECORD, and has only T_lref. T must be a typedef name. */
#define AU_LOCAL_TYPE(T)                                                                      \
    static AU_UNUSED_ au_type au_type_##T = {                                                 \
        .name = #T, .kind = AU_KIND_LOCAL, .local = true, .size = sizeof(T) };               \
    AU_DECLARE_LREF_(T)                                                                       \
    enum { au_remote__##T = 0 };                                                              \
    AU_DECL_END_

/** An array of a serializable type: T_array { T *ptr; uint32_t len; uint32_t owned; }. Owned
 *  arrays (and their elements) are freed with the message that holds them. */
#define AU_ARRAY(T)                                                                           \
    typedef struct T##_array { T *ptr; uint32_t len; uint32_t owned; } T##_array;            \
    _Static_assert(au_remote__##T, "AU_ARRAY(" #T "): element type must be serializable");   \
    static AU_UNUSED_ au_type au_type_##T##_array = {                                         \
        .name = #T "_array", .kind = AU_KIND_ARRAY, .size = sizeof(T##_array),               \
        .elem = &au_type_##T };                                                               \
    AU_DECLARE_REFS_(T##_array)                                                               \
    AU_DECL_END_

/* ---- roots ------------------------------------------------------------------------------------ */

#define AU_MODE_VALUE_AU_PLAIN AU_MODE_PLAIN
#define AU_MODE_VALUE_AU_REMOTE AU_MODE_REMOTE
#define AU_MODE_VALUE_AU_LOCAL AU_MODE_LOCAL

#define AU_VARIANT_TAG_(R, v) AU_PP_APPLY(AU_VARIANT_TAG_I_, R, AU_PP_UNPAREN v)
#define AU_VARIANT_TAG_I_(R, name, T, mode) R##_##name,
#define AU_VARIANT_MEMBER_(R, v) AU_PP_APPLY(AU_VARIANT_MEMBER_I_, R, AU_PP_UNPAREN v)
#define AU_VARIANT_MEMBER_I_(R, name, T, mode) T name;
#define AU_VARIANT_DESC_(R, v) AU_PP_APPLY(AU_VARIANT_DESC_I_, R, AU_PP_UNPAREN v)
#define AU_VARIANT_DESC_I_(R, name, T, mode) \
    { #name, offsetof(R, name), &au_type_##T, AU_MODE_VALUE_##mode },

/* Interface constants: R__riface__T (remote) and R__liface__T (local) name the variant that
 * carries T. A missing constant is what makes a bad au_narrow/au_forge fail to compile. */
#define AU_VARIANT_IFACE_(R, v) AU_PP_APPLY(AU_VARIANT_IFACE_I_, R, AU_PP_UNPAREN v)
#define AU_VARIANT_IFACE_I_(R, name, T, mode) AU_IFACE_##mode(R, name, T)
#define AU_IFACE_AU_PLAIN(R, name, T)
#define AU_IFACE_AU_REMOTE(R, name, T) R##__riface__##T = R##_##name, R##__liface__##T = R##_##name,
#define AU_IFACE_AU_LOCAL(R, name, T) R##__liface__##T = R##_##name,

/* Payload checks: every payload of a remote root, and every AU_REMOTE payload, is serializable. */
#define AU_VARIANT_CHECK_(R, v) AU_PP_APPLY(AU_VARIANT_CHECK_I_, R, AU_PP_UNPAREN v)
#define AU_VARIANT_CHECK_I_(R, name, T, mode) AU_ROOT_CHECK_##mode(R, name, T)
#define AU_ROOT_CHECK_AU_PLAIN(R, name, T) \
    _Static_assert(au_remote__##T, "variant " #name " of " #R " is not serializable; use AU_LOCAL_ROOT");
#define AU_ROOT_CHECK_AU_REMOTE(R, name, T) \
    _Static_assert(au_remote__##T, "remote interface " #name " of " #R " must be serializable");
#define AU_ROOT_CHECK_AU_LOCAL(R, name, T) \
    _Static_assert(0, "variant " #name " of " #R " is local-only; declare the root with AU_LOCAL_ROOT");
#define AU_LVARIANT_CHECK_(R, v) AU_PP_APPLY(AU_LVARIANT_CHECK_I_, R, AU_PP_UNPAREN v)
#define AU_LVARIANT_CHECK_I_(R, name, T, mode) AU_LROOT_CHECK_##mode(R, name, T)
#define AU_LROOT_CHECK_AU_PLAIN(R, name, T)
#define AU_LROOT_CHECK_AU_REMOTE(R, name, T) AU_ROOT_CHECK_AU_REMOTE(R, name, T)
#define AU_LROOT_CHECK_AU_LOCAL(R, name, T)

#define AU_ROOT_COMMON_(R, local_, ...)                                                       \
    typedef enum R##_tag { AU_PP_FOREACH(AU_VARIANT_TAG_, R, __VA_ARGS__) } R##_tag;         \
    typedef struct R {                                                                        \
        R##_tag tag;                                                                          \
        union { AU_PP_FOREACH(AU_VARIANT_MEMBER_, R, __VA_ARGS__) };                         \
    } R;                                                                                      \
    _Static_assert(sizeof(R##_tag) == sizeof(int), "the runtime writes tags as int");        \
    static AU_UNUSED_ const au_variant au_variants_##R[] = {                                  \
        AU_PP_FOREACH(AU_VARIANT_DESC_, R, __VA_ARGS__) };                                    \
    static AU_UNUSED_ au_type au_type_##R = {                                                 \
        .name = #R, .kind = AU_KIND_ROOT, .local = local_, .size = sizeof(R),                \
        .tag_offset = offsetof(R, tag), .variants = au_variants_##R,                          \
        .count = AU_PP_NARGS(__VA_ARGS__) };

/** A root message type whose every variant is serializable: R_ref and R_lref exist, R itself
 *  can be sent remotely, and au_spawn of an actor with this root returns R_ref. */
#define AU_ROOT(R, ...)                                                                       \
    AU_FORWARD_(R)                                                                            \
    AU_DECLARE_REFS_(R)                                                                       \
    AU_ROOT_COMMON_(R, false, __VA_ARGS__)                                                    \
    AU_PP_FOREACH(AU_VARIANT_CHECK_, R, __VA_ARGS__)                                          \
    enum { AU_PP_FOREACH(AU_VARIANT_IFACE_, R, __VA_ARGS__)                                   \
           R##__riface__##R = AU_WHOLE, R##__liface__##R = AU_WHOLE };                       \
    typedef R##_ref R##__spawn_ref_;                                                          \
    static inline AU_UNUSED_ au_ref R##__src_(R##_ref r) { return r.raw; }                   \
    static inline AU_UNUSED_ au_ref R##__lsrc_(R##_lref r) { return r.raw; }                 \
    AU_DECL_END_

/** A root message type with local-only variants: only R_lref exists (au_spawn returns it); its
 *  AU_REMOTE interfaces can still be narrowed to remote references and forged. */
#define AU_LOCAL_ROOT(R, ...)                                                                 \
    AU_FORWARD_(R)                                                                            \
    AU_DECLARE_LREF_(R)                                                                       \
    enum { au_remote__##R = 0 };                                                              \
    AU_ROOT_COMMON_(R, true, __VA_ARGS__)                                                     \
    AU_PP_FOREACH(AU_LVARIANT_CHECK_, R, __VA_ARGS__)                                         \
    enum { AU_PP_FOREACH(AU_VARIANT_IFACE_, R, __VA_ARGS__) R##__liface__##R = AU_WHOLE };   \
    typedef R##_lref R##__spawn_ref_;                                                         \
    static inline AU_UNUSED_ au_ref R##__src_(R##_lref r) { return r.raw; }                  \
    static inline AU_UNUSED_ au_ref R##__lsrc_(R##_lref r) { return r.raw; }                 \
    AU_DECL_END_

/* ---- built-in types ----------------------------------------------------------------------- */

#define AU_BUILTIN_(T)                                                                        \
    AU_API extern au_type au_type_##T;                                                        \
    AU_DECLARE_REFS_(T)
AU_BUILTIN_(_Bool)
AU_BUILTIN_(int8_t)
AU_BUILTIN_(int16_t)
AU_BUILTIN_(int32_t)
AU_BUILTIN_(int64_t)
AU_BUILTIN_(uint8_t)
AU_BUILTIN_(uint16_t)
AU_BUILTIN_(uint32_t)
AU_BUILTIN_(uint64_t)
AU_BUILTIN_(float)
AU_BUILTIN_(double)
AU_BUILTIN_(au_str)
AU_BUILTIN_(au_bytes)
AU_BUILTIN_(au_unit)
/* `bool` is a macro for _Bool: these let both spellings name the same type. */
#define au_type_bool au_type__Bool
typedef _Bool_ref bool_ref;
typedef _Bool_lref bool_lref;
typedef _Bool_promise bool_promise;

#endif
