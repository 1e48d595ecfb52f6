/* The schema-driven CBOR codec: values described by an au_type <-> RFC 8949 bytes.
 *
 * Owns: the wire encoding of every message payload. The type id (au_type_id) already guarantees
 * that both ends agree on the schema, so the encoding carries no field names and no type
 * information, only values in declaration order:
 *
 *   kind                     CBOR
 *   ---------------------    ---------------------------------------------------------------
 *   unit                     null (0xf6)
 *   bool                     false / true
 *   i8 .. i64, u8 .. u64     unsigned (major 0) or negative (major 1) integer
 *   f32 / f64                single (0xfa) / double (0xfb) float, bits preserved (NaN payloads)
 *   str                      text string (valid UTF-8; embedded NUL allowed)
 *   bytes                    byte string
 *   array                    array of the elements
 *   record                   array of the fields, in declaration order
 *   record with custom codec byte string holding the codec's output
 *   root                     array [variant index (uint), payload] (unit payloads are null)
 *   ref                      array [addr text, actor name text, root type id, interface type id]
 *   local                    not encodable (AU_EENCODE / AU_EDECODE)
 *
 * Invariants:
 *  - Decoding is total: any input yields AU_OK with a value that owns everything it points to
 *    (no pointer into the input survives), or an error with nothing allocated and the value
 *    zeroed. Every length read from the input is checked against the bytes left and against
 *    the limits BEFORE anything is allocated.
 *  - Decoding is strict: exactly one item, no trailing bytes; no maps, tags, undefined,
 *    half floats or indefinite-length items (the encoder never produces them, so accepting them
 *    would only widen the attack surface); f32 fields accept only single floats and f64 only
 *    doubles; integers must fit the field (300 into u8 and -1 into u32 are errors); text must be
 *    valid UTF-8 (also checked when encoding, so a bad au_str fails at the sender with
 *    AU_EENCODE rather than as a mysterious drop at the receiver). Integer heads need not be in
 *    their shortest form.
 *  - Encoding appends to the buffer, reserving it once from a sizing pass; it allocates nothing
 *    per field. On failure the buffer is restored to its previous length.
 *  - Decoded strings are owned and NUL-terminated (an empty one too); empty byte strings and
 *    empty arrays decode to { NULL, 0, 0 }; non-empty ones are owned.
 *
 * Relies on: libcbor's allocation-free layer only (cbor_encode_* and cbor_stream_decode), never
 * its item trees, which allocate per item. */
#ifndef AU_CORE_CODEC_H
#define AU_CORE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <aurum/ref.h>
#include <aurum/types.h>

/** A reference as it crosses the wire. Strings are not NUL-terminated. */
typedef struct au_wire_ref {
    const char *addr;
    size_t addr_len;
    const char *name;
    size_t name_len;
    uint64_t root_id, iface_id;
} au_wire_ref;

/** How references cross the codec. Either callback may be NULL: then encoding a reference fails
 *  with AU_EENCODE and decoding one with AU_EDECODE. */
typedef struct au_codec_refs {
    /** Describes *ref for the wire; the strings stay valid until encode returns. An error is
     *  returned by au_encode as is. */
    au_err (*encode)(void *user, const au_ref *ref, au_wire_ref *out);
    /** Turns a wire reference into an au_ref. ref_type is the field's AU_KIND_REF descriptor
     *  (ref_type->elem is the message type) so the ids can be checked. The strings point into
     *  the input being decoded. An error is returned by au_decode as is. */
    au_err (*decode)(void *user, const au_wire_ref *in, au_type *ref_type, au_ref *out);
    void *user;
} au_codec_refs;

/** Bounds on what one au_decode call may accept and allocate. A zero field means its default. */
typedef struct au_decode_limits {
    uint32_t max_depth;  /**< nested CBOR arrays (records, roots, arrays, refs); default 32 */
    uint32_t max_string; /**< bytes of one text or byte string; default 1 MiB (a custom codec's
                              encoding: at most 1 MiB whatever this says, as what the codec
                              allocates is not counted in max_total) */
    uint32_t max_array;  /**< elements of one array; default 1 << 20 */
    size_t max_total;    /**< bytes allocated by one decode (strings, bytes, arrays); 16 MiB */
} au_decode_limits;

#define AU_DECODE_DEFAULT_MAX_DEPTH 32u
#define AU_DECODE_DEFAULT_MAX_STRING (1u << 20)
#define AU_DECODE_DEFAULT_MAX_ARRAY (1u << 20)
#define AU_DECODE_DEFAULT_MAX_TOTAL ((size_t)16 << 20)

/** Values nested deeper than this are refused by the encoder (AU_EENCODE): it bounds the
 *  recursion on the C stack, e.g. for a recursive type whose array points back at itself. */
#define AU_ENCODE_MAX_DEPTH 256u

/** Appends the encoding of *value (of type) to out. Returns AU_OK; AU_EENCODE for a value that
 *  cannot be encoded (a local-only part, an invalid root tag, a NULL pointer with a non-zero
 *  length, invalid UTF-8 in a string, nesting beyond AU_ENCODE_MAX_DEPTH, a reference without
 *  refs->encode); AU_ENOMEM; or the error of a custom codec or of refs->encode. On failure out
 *  keeps its previous length. */
au_err au_encode(au_type *type, const void *value, au_buf *out, const au_codec_refs *refs);

/** au_encode that also refuses (AU_EENCODE) a value whose CBOR nests more than max_depth arrays
 *  (records, roots, arrays, references), counted as au_decode_limits.max_depth counts them: a
 *  value it accepts is not refused for its depth by an au_decode of that max_depth. 0: no bound
 *  but AU_ENCODE_MAX_DEPTH. For the remote path, whose receivers decode with a depth limit. */
au_err au_encode_bounded(au_type *type, const void *value, au_buf *out,
                         const au_codec_refs *refs, uint32_t max_depth);

/** Decodes exactly len bytes into *value (of type; previous contents are ignored, not freed).
 *  limits NULL means the defaults. Returns AU_OK with a fully owned value (free it with
 *  au_value_free), or, with *value zeroed and nothing leaked: AU_EDECODE for malformed,
 *  truncated, trailing or type-confused input and nesting beyond max_depth; AU_ETOOBIG for a
 *  string or array beyond max_string / max_array; AU_ENOMEM when max_total would be exceeded or
 *  malloc fails; or the error of a custom codec or of refs->decode. Allocations made by custom
 *  codecs and by refs->decode are not counted in max_total. */
au_err au_decode(au_type *type, void *value, const uint8_t *data, size_t len,
                 const au_decode_limits *limits, const au_codec_refs *refs);

#endif
