/* The UDP wire format: header encode/parse, the datagram parser and the packer.
 *
 * Owns the byte layout described in docs/wire-format.md. Relies on xxHash (inlined, so the
 * checksum costs one pass and no call into a shared library) and on core/seal.c for sealed
 * datagrams.
 *
 * Invariants:
 *  - Every read from a received datagram is preceded by a check that the bytes are there;
 *    lengths are compared by subtraction from the end pointer, never by adding to a pointer
 *    that could then point past the buffer.
 *  - au_wire_datagram_open walks every frame before it returns AU_WIRE_OK, with the same code
 *    the reader uses afterwards, so what was validated is exactly what is iterated.
 *  - The packer's buf[frames_start, pos) always holds whole frames; pos <= frames_end.
 */
#include "proto/wire.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "proto/seal.h"

/* A fragment is started in a partly filled datagram only when at least this many body bytes
 * fit; below that the fragment header would cost more than the bytes it carries. */
#define MIN_SHARED_CHUNK 64u

/* ---- big-endian helpers: memcpy keeps them alignment-safe and compiles to a load + bswap -- */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define BE16(x) (x)
#define BE32(x) (x)
#define BE64(x) (x)
#else
#define BE16(x) __builtin_bswap16(x)
#define BE32(x) __builtin_bswap32(x)
#define BE64(x) __builtin_bswap64(x)
#endif

static inline uint16_t get_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return BE16(v);
}
static inline uint32_t get_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return BE32(v);
}
static inline uint64_t get_u64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return BE64(v);
}
static inline void put_u16(uint8_t *p, uint16_t v) {
    v = BE16(v);
    memcpy(p, &v, sizeof v);
}
static inline void put_u32(uint8_t *p, uint32_t v) {
    v = BE32(v);
    memcpy(p, &v, sizeof v);
}
static inline void put_u64(uint8_t *p, uint64_t v) {
    v = BE64(v);
    memcpy(p, &v, sizeof v);
}

static inline size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* ---- statuses and limits ------------------------------------------------------------------- */

const char *au_wire_status_str(int status) {
    switch ((enum au_wire_status)status) {
    case AU_WIRE_OK: return "ok";
    case AU_WIRE_INCOMPLETE: return "incomplete message";
    case AU_WIRE_DUPLICATE: return "duplicate fragment";
    case AU_WIRE_TRUNCATED: return "truncated";
    case AU_WIRE_BAD_MAGIC: return "bad magic";
    case AU_WIRE_BAD_VERSION: return "unsupported wire version";
    case AU_WIRE_BAD_FLAGS: return "reserved flag set";
    case AU_WIRE_BAD_CHECKSUM: return "bad checksum";
    case AU_WIRE_DATAGRAM_TOO_LARGE: return "datagram larger than mtu";
    case AU_WIRE_NO_FRAMES: return "datagram without frames";
    case AU_WIRE_BAD_FRAME: return "bad frame";
    case AU_WIRE_LENGTH_PAST_END: return "length past end";
    case AU_WIRE_BAD_KIND: return "bad message kind";
    case AU_WIRE_NAME_TOO_LONG: return "actor name too long";
    case AU_WIRE_MESSAGE_TOO_LARGE: return "message too large";
    case AU_WIRE_FRAGMENT_OUT_OF_RANGE: return "fragment out of range";
    case AU_WIRE_FRAGMENT_OVERLAP: return "overlapping fragment";
    case AU_WIRE_TOTAL_MISMATCH: return "inconsistent total length";
    case AU_WIRE_TOO_MANY_PARTIALS: return "too many partial messages";
    case AU_WIRE_MEMORY_LIMIT: return "reassembly memory limit reached";
    case AU_WIRE_NO_MEMORY: return "out of memory";
    case AU_WIRE_BAD_LIMITS: return "invalid wire limits";
    case AU_WIRE_NOT_SEALED: return "unsealed datagram while a cluster key is set";
    case AU_WIRE_NO_KEY: return "sealed datagram but no cluster key";
    case AU_WIRE_UNKNOWN_KEY: return "sealed with a key id not in the key ring";
    case AU_WIRE_BAD_SEAL: return "authentication failed";
    case AU_WIRE_REPLAYED: return "replayed datagram";
    case AU_WIRE_TOO_OLD: return "datagram older than the replay window";
    }
    return "unknown status";
}

au_wire_limits au_wire_limits_default(void) {
    return (au_wire_limits){
        .mtu = 1400,
        .max_message = (size_t)16 << 20,
        .max_name = AU_WIRE_MAX_NAME,
        .max_partials = 64,
        .max_buffered = (size_t)64 << 20,
        .reassembly_timeout_ns = 1000000000ull,
    };
}

int au_wire_limits_check(const au_wire_limits *limits) {
    if (limits->mtu < AU_WIRE_MIN_MTU || limits->mtu > AU_WIRE_MAX_MTU) return AU_WIRE_BAD_LIMITS;
    if (limits->max_name > AU_WIRE_MAX_NAME) return AU_WIRE_BAD_LIMITS;
    /* The total length of a fragmented body is a u32 on the wire. */
    if (limits->max_message < AU_WIRE_BODY_HEADER || limits->max_message > UINT32_MAX)
        return AU_WIRE_BAD_LIMITS;
    if (limits->max_partials == 0 || limits->max_partials > AU_WIRE_MAX_PARTIALS)
        return AU_WIRE_BAD_LIMITS;
    if (limits->max_buffered == 0) return AU_WIRE_BAD_LIMITS;
    if (limits->reassembly_timeout_ns == 0) return AU_WIRE_BAD_LIMITS;
    return AU_WIRE_OK;
}

/* ---- header -------------------------------------------------------------------------------- */

void au_wire_header_encode(const au_wire_header *header, uint8_t out[AU_WIRE_HEADER_SIZE]) {
    put_u16(out, AU_WIRE_MAGIC);
    out[2] = AU_WIRE_VERSION;
    out[3] = header->flags;
    put_u64(out + 4, header->incarnation);
    put_u64(out + 12, header->seq);
}

int au_wire_header_parse(const uint8_t *dgram, size_t len, au_wire_header *header) {
    if (len < AU_WIRE_HEADER_SIZE) return AU_WIRE_TRUNCATED;
    if (get_u16(dgram) != AU_WIRE_MAGIC) return AU_WIRE_BAD_MAGIC;
    if (dgram[2] != AU_WIRE_VERSION) return AU_WIRE_BAD_VERSION;
    if (dgram[3] & ~AU_WIRE_FLAGS_KNOWN) return AU_WIRE_BAD_FLAGS;
    header->version = dgram[2];
    header->flags = dgram[3];
    header->incarnation = get_u64(dgram + 4);
    header->seq = get_u64(dgram + 12);
    return AU_WIRE_OK;
}

/* ---- parsing frames ------------------------------------------------------------------------ */

static int decode_body(size_t max_name, size_t max_message, const uint8_t *body, size_t len,
                       au_wire_message *msg) {
    if (len > max_message) return AU_WIRE_MESSAGE_TOO_LARGE;
    if (len < AU_WIRE_BODY_HEADER) return AU_WIRE_TRUNCATED;
    uint8_t kind = body[0];
    size_t name_len = body[1];
    if (kind > AU_WIRE_KIND_SYSTEM) return AU_WIRE_BAD_KIND;
    if (name_len > max_name) return AU_WIRE_NAME_TOO_LONG;
    if (name_len > len - AU_WIRE_BODY_HEADER) return AU_WIRE_LENGTH_PAST_END;
    msg->dest.kind = kind;
    msg->dest.name_len = name_len;
    msg->dest.root_type = get_u64(body + 2);
    msg->dest.iface_type = get_u64(body + 10);
    msg->dest.name = body + AU_WIRE_BODY_HEADER;
    msg->payload = msg->dest.name + name_len;
    msg->payload_len = len - AU_WIRE_BODY_HEADER - name_len;
    return AU_WIRE_OK;
}

int au_wire_message_decode(const au_wire_limits *limits, const uint8_t *body, size_t len,
                           au_wire_message *msg) {
    return decode_body(limits->max_name, limits->max_message, body, len, msg);
}

static int read_message_frame(au_wire_reader *r, au_wire_frame *frame) {
    size_t left = (size_t)(r->end - r->pos);
    if (left < AU_WIRE_MESSAGE_FRAME_HEADER) return AU_WIRE_TRUNCATED;
    size_t body_len = get_u16(r->pos + 1);
    if (body_len > left - AU_WIRE_MESSAGE_FRAME_HEADER) return AU_WIRE_LENGTH_PAST_END;
    const uint8_t *body = r->pos + AU_WIRE_MESSAGE_FRAME_HEADER;
    int rc = decode_body(r->max_name, r->max_message, body, body_len, &frame->as.message);
    if (rc != AU_WIRE_OK) return rc;
    frame->type = AU_WIRE_FRAME_MESSAGE;
    r->pos = body + body_len;
    return 1;
}

static int read_fragment_frame(au_wire_reader *r, au_wire_frame *frame) {
    size_t left = (size_t)(r->end - r->pos);
    if (left < AU_WIRE_FRAGMENT_FRAME_HEADER) return AU_WIRE_TRUNCATED;
    au_wire_fragment *f = &frame->as.fragment;
    f->msg_id = get_u64(r->pos + 1);
    f->total_len = get_u32(r->pos + 9);
    f->offset = get_u32(r->pos + 13);
    f->chunk_len = get_u16(r->pos + 17);
    if (f->chunk_len == 0) return AU_WIRE_BAD_FRAME;
    if (f->chunk_len > left - AU_WIRE_FRAGMENT_FRAME_HEADER) return AU_WIRE_LENGTH_PAST_END;
    if (f->total_len > r->max_message) return AU_WIRE_MESSAGE_TOO_LARGE;
    if ((uint64_t)f->offset + f->chunk_len > f->total_len) return AU_WIRE_FRAGMENT_OUT_OF_RANGE;
    f->chunk = r->pos + AU_WIRE_FRAGMENT_FRAME_HEADER;
    frame->type = AU_WIRE_FRAME_FRAGMENT;
    r->pos = f->chunk + f->chunk_len;
    return 1;
}

int au_wire_reader_next(au_wire_reader *reader, au_wire_frame *frame) {
    if (reader->pos >= reader->end) return 0;
    switch (reader->pos[0]) {
    case AU_WIRE_FRAME_MESSAGE: return read_message_frame(reader, frame);
    case AU_WIRE_FRAME_FRAGMENT: return read_fragment_frame(reader, frame);
    default: return AU_WIRE_BAD_FRAME;
    }
}

/* Locates the frames of a datagram whose header is valid: authenticates (and decrypts) or
 * checksums it, and returns the frame region through *start and *end. */
static int verify_integrity(const au_seal_ring *ring, const au_seal_key *key, uint8_t *dgram,
                            size_t len, au_wire_header *header, size_t *start, size_t *end) {
    bool sealed = (header->flags & AU_WIRE_FLAG_SEALED) != 0;
    header->sender = 0;
    header->key_id = 0;
    if (ring || key) {
        if (!sealed) return AU_WIRE_NOT_SEALED;
        int rc = au_seal_peek(dgram, len, &header->key_id, &header->sender);
        if (rc == AU_WIRE_OK) rc = ring ? au_seal_open_ring(ring, dgram, len) : au_seal_open(key, dgram, len);
        if (rc != AU_WIRE_OK) return rc;
        *start = AU_WIRE_HEADER_SIZE + AU_WIRE_NONCE_SIZE;
        *end = len - AU_WIRE_TAG_SIZE;
        return AU_WIRE_OK;
    }
    if (sealed) return AU_WIRE_NO_KEY;
    if (len < AU_WIRE_HEADER_SIZE + AU_WIRE_CHECKSUM_SIZE) return AU_WIRE_TRUNCATED;
    size_t covered = len - AU_WIRE_CHECKSUM_SIZE;
    if (XXH3_64bits(dgram, covered) != get_u64(dgram + covered)) return AU_WIRE_BAD_CHECKSUM;
    *start = AU_WIRE_HEADER_SIZE;
    *end = covered;
    return AU_WIRE_OK;
}

static int open_datagram(const au_wire_limits *limits, const au_seal_ring *ring,
                         const au_seal_key *key, uint8_t *dgram, size_t len,
                         au_wire_header *header, au_wire_reader *reader);

int au_wire_datagram_open(const au_wire_limits *limits, const au_seal_key *key, uint8_t *dgram,
                          size_t len, au_wire_header *header, au_wire_reader *reader) {
    return open_datagram(limits, NULL, key, dgram, len, header, reader);
}

int au_wire_datagram_open_ring(const au_wire_limits *limits, const au_seal_ring *ring,
                               uint8_t *dgram, size_t len, au_wire_header *header,
                               au_wire_reader *reader) {
    return open_datagram(limits, ring, NULL, dgram, len, header, reader);
}

/* With a ring, the key is the one the nonce names; with a single key, that key (whatever id the
 * nonce names: tampering with it fails authentication like any other byte). */
static int open_datagram(const au_wire_limits *limits, const au_seal_ring *ring,
                         const au_seal_key *key, uint8_t *dgram, size_t len,
                         au_wire_header *header, au_wire_reader *reader) {
    if (len > limits->mtu) return AU_WIRE_DATAGRAM_TOO_LARGE;
    int rc = au_wire_header_parse(dgram, len, header);
    if (rc != AU_WIRE_OK) return rc;
    size_t start, end;
    rc = verify_integrity(ring, key, dgram, len, header, &start, &end);
    if (rc != AU_WIRE_OK) return rc;

    *reader = (au_wire_reader){
        .pos = dgram + start,
        .end = dgram + end,
        .max_name = limits->max_name,
        .max_message = limits->max_message,
    };
    /* Validate every frame now so that the caller never acts on half a datagram. */
    au_wire_reader walk = *reader;
    au_wire_frame frame;
    size_t frames = 0;
    while ((rc = au_wire_reader_next(&walk, &frame)) > 0) frames++;
    if (rc < 0) return rc;
    return frames ? AU_WIRE_OK : AU_WIRE_NO_FRAMES;
}

size_t au_wire_oversized_ids(const au_wire_limits *limits, const uint8_t *dgram, size_t len,
                             uint8_t flags, uint64_t *ids, size_t max) {
    bool sealed = (flags & AU_WIRE_FLAG_SEALED) != 0;
    size_t start = AU_WIRE_HEADER_SIZE + (sealed ? AU_WIRE_NONCE_SIZE : 0);
    size_t trailer = sealed ? AU_WIRE_TAG_SIZE : AU_WIRE_CHECKSUM_SIZE;
    if (len < start + trailer) return 0;
    au_wire_reader r = { .pos = dgram + start, .end = dgram + len - trailer,
                         .max_name = limits->max_name, .max_message = UINT32_MAX };
    au_wire_frame f;
    size_t n = 0;
    while (n < max && au_wire_reader_next(&r, &f) == 1)
        if (f.type == AU_WIRE_FRAME_FRAGMENT && f.as.fragment.total_len > limits->max_message)
            ids[n++] = f.as.fragment.msg_id;
    return n;
}

/* ---- packer -------------------------------------------------------------------------------- */

void au_wire_ids_init(au_wire_ids *ids) {
    /* relaxed: nothing is published through the counter, it only has to hand out each value once */
    atomic_init(&ids->next, 0);
}

int au_wire_packer_init(au_wire_packer *packer, const au_wire_limits *limits, uint64_t incarnation,
                        au_wire_ids *ids, au_seal_key *key, au_wire_emit_fn emit, void *user) {
    if (au_wire_limits_check(limits) != AU_WIRE_OK) return AU_WIRE_BAD_LIMITS;
    uint8_t *buf = malloc(limits->mtu);
    if (!buf) return AU_WIRE_NO_MEMORY;
    *packer = (au_wire_packer){
        .limits = *limits,
        .key = key,
        .ids = ids,
        .incarnation = incarnation,
        .emit = emit,
        .user = user,
        .buf = buf,
        .frames_start = AU_WIRE_HEADER_SIZE + (key ? AU_WIRE_NONCE_SIZE : 0),
        .frames_end = limits->mtu - (key ? AU_WIRE_TAG_SIZE : AU_WIRE_CHECKSUM_SIZE),
    };
    packer->pos = packer->frames_start;
    return AU_WIRE_OK;
}

void au_wire_packer_follow(au_wire_packer *packer, au_seal_key *_Atomic *primary) {
    packer->primary = primary;
}

void au_wire_packer_share_seq(au_wire_packer *packer, _Atomic uint64_t *seq) {
    packer->shared_seq = seq;
}

void au_wire_packer_destroy(au_wire_packer *packer) {
    free(packer->buf);
    packer->buf = NULL;
}

/* Stamps the header, seals or checksums, emits, and starts an empty datagram. */
static void finish_datagram(au_wire_packer *p) {
    if (p->pos == p->frames_start) return;
    au_wire_header header = {
        .version = AU_WIRE_VERSION,
        .flags = p->key ? AU_WIRE_FLAG_SEALED : 0,
        .incarnation = p->incarnation,
        /* relaxed: only uniqueness and growth matter; nothing is published through it. */
        .seq = p->shared_seq ? atomic_fetch_add_explicit(p->shared_seq, 1, memory_order_relaxed)
                             : p->next_seq++,
    };
    au_wire_header_encode(&header, p->buf);
    size_t len;
    if (p->key) {
        /* acquire: the key's bytes are visible once its pointer is (a node's rotation). */
        au_seal_key *key = p->primary ? atomic_load_explicit(p->primary, memory_order_acquire) : p->key;
        len = au_seal_close(key, p->buf, p->pos);
    } else {
        put_u64(p->buf + p->pos, XXH3_64bits(p->buf, p->pos));
        len = p->pos + AU_WIRE_CHECKSUM_SIZE;
    }
    p->emit(p->user, p->buf, len);
    p->pos = p->frames_start;
}

void au_wire_packer_flush(au_wire_packer *packer) { finish_datagram(packer); }

/* Body header and name: the first 18 + name_len bytes of every message body. */
static size_t encode_body_head(uint8_t *out, const au_wire_dest *dest) {
    out[0] = dest->kind;
    out[1] = (uint8_t)dest->name_len;
    put_u64(out + 2, dest->root_type);
    put_u64(out + 10, dest->iface_type);
    if (dest->name_len) memcpy(out + AU_WIRE_BODY_HEADER, dest->name, dest->name_len);
    return AU_WIRE_BODY_HEADER + dest->name_len;
}

static void write_message_frame(au_wire_packer *p, const au_wire_dest *dest,
                                const uint8_t *payload, size_t payload_len, size_t body_len) {
    uint8_t *out = p->buf + p->pos;
    out[0] = AU_WIRE_FRAME_MESSAGE;
    put_u16(out + 1, (uint16_t)body_len);
    size_t head = encode_body_head(out + AU_WIRE_MESSAGE_FRAME_HEADER, dest);
    if (payload_len) memcpy(out + AU_WIRE_MESSAGE_FRAME_HEADER + head, payload, payload_len);
    p->pos += AU_WIRE_MESSAGE_FRAME_HEADER + body_len;
}

/* Copies body bytes [off, off + n) where the body is head followed by payload. */
static void copy_body_range(uint8_t *dst, const uint8_t *head, size_t head_len,
                            const uint8_t *payload, size_t off, size_t n) {
    if (off < head_len) {
        size_t k = min_size(n, head_len - off);
        memcpy(dst, head + off, k);
        dst += k;
        off += k;
        n -= k;
    }
    if (n) memcpy(dst, payload + (off - head_len), n);
}

static void write_fragments(au_wire_packer *p, const au_wire_dest *dest, const uint8_t *payload,
                            size_t body_len) {
    uint8_t head[AU_WIRE_BODY_HEADER + AU_WIRE_MAX_NAME];
    size_t head_len = encode_body_head(head, dest);
    /* relaxed: only uniqueness of the id matters, no memory is published through it */
    uint64_t msg_id = atomic_fetch_add_explicit(&p->ids->next, 1, memory_order_relaxed);

    for (size_t off = 0; off < body_len;) {
        size_t room = p->frames_end - p->pos;
        bool shared = p->pos != p->frames_start;
        if (shared && room < AU_WIRE_FRAGMENT_FRAME_HEADER + MIN_SHARED_CHUNK) {
            finish_datagram(p);
            room = p->frames_end - p->pos;
        }
        /* An empty datagram always has room for a header and at least one byte: the MTU floor
         * guarantees it, so the loop always makes progress. */
        size_t n = min_size(min_size(room - AU_WIRE_FRAGMENT_FRAME_HEADER, body_len - off), UINT16_MAX);
        uint8_t *out = p->buf + p->pos;
        out[0] = AU_WIRE_FRAME_FRAGMENT;
        put_u64(out + 1, msg_id);
        put_u32(out + 9, (uint32_t)body_len);
        put_u32(out + 13, (uint32_t)off);
        put_u16(out + 17, (uint16_t)n);
        copy_body_range(out + AU_WIRE_FRAGMENT_FRAME_HEADER, head, head_len, payload, off, n);
        p->pos += AU_WIRE_FRAGMENT_FRAME_HEADER + n;
        off += n;
    }
}

int au_wire_packer_add(au_wire_packer *p, const au_wire_dest *dest, const uint8_t *payload,
                       size_t payload_len) {
    if (dest->kind > AU_WIRE_KIND_SYSTEM) return AU_WIRE_BAD_KIND;
    if (dest->name_len > p->limits.max_name) return AU_WIRE_NAME_TOO_LONG;
    if (payload_len > p->limits.max_message) return AU_WIRE_MESSAGE_TOO_LARGE;
    size_t body_len = AU_WIRE_BODY_HEADER + dest->name_len + payload_len;
    if (body_len > p->limits.max_message) return AU_WIRE_MESSAGE_TOO_LARGE;

    size_t frame_len = AU_WIRE_MESSAGE_FRAME_HEADER + body_len;
    if (frame_len <= p->frames_end - p->pos) {
        write_message_frame(p, dest, payload, payload_len, body_len);
    } else if (frame_len <= p->frames_end - p->frames_start) {
        finish_datagram(p);
        write_message_frame(p, dest, payload, payload_len, body_len);
    } else {
        write_fragments(p, dest, payload, body_len);
    }
    return AU_WIRE_OK;
}
