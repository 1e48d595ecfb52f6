/* The UDP wire format: the bytes of a datagram, and nothing else.
 *
 * Owns: the datagram header, the two frame kinds (a complete message, a fragment of a large
 * one), the message body that names its destination, the packer that coalesces and fragments
 * outgoing messages for one peer, and the parser that validates a received datagram and walks
 * its frames. docs/wire-format.md is the byte-by-byte description; this header is the API.
 *
 * Relies on: xxHash (datagram checksum), core/seal.h (AEAD sealing when a cluster key is set).
 * No sockets, no clocks, no threads: the transport calls in with bytes and gets bytes or views
 * back, so the whole format can be tested and fuzzed in isolation.
 *
 * Invariants:
 *  - All integers on the wire are big-endian; every length and count read from the wire is
 *    checked against the bytes actually present and against au_wire_limits before use.
 *  - The parser never allocates and never writes outside the datagram it was given; the views it
 *    yields point into that datagram and live exactly as long as it does.
 *  - The packer allocates once (its datagram buffer, at init); adding a message never allocates.
 *  - A datagram emitted by a packer is never larger than limits.mtu.
 */
#ifndef AU_CORE_WIRE_H
#define AU_CORE_WIRE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct au_seal_key;
struct au_seal_ring;

/* ---- statuses ------------------------------------------------------------------------------ */

/* Results of every wire, reassembly and seal function. Negative values are failures: the input
 * is dropped and the caller counts it by status. The positive values are not failures: they tell
 * the reassembly caller what happened to a fragment that produced no message. */
enum au_wire_status {
    AU_WIRE_OK = 0,
    AU_WIRE_INCOMPLETE = 1,          /* fragment stored; the message still misses bytes */
    AU_WIRE_DUPLICATE = 2,           /* fragment already received (or message already delivered) */

    AU_WIRE_TRUNCATED = -1,          /* a fixed-size part (header, frame header, trailer) is cut */
    AU_WIRE_BAD_MAGIC = -2,          /* not an aurum datagram */
    AU_WIRE_BAD_VERSION = -3,        /* a wire version this build does not speak */
    AU_WIRE_BAD_FLAGS = -4,          /* a reserved flag bit is set */
    AU_WIRE_BAD_CHECKSUM = -5,       /* unsealed datagram whose XXH3 trailer does not match */
    AU_WIRE_DATAGRAM_TOO_LARGE = -6, /* longer than limits.mtu */
    AU_WIRE_NO_FRAMES = -7,          /* valid header and trailer around zero frames */
    AU_WIRE_BAD_FRAME = -8,          /* unknown frame type, empty fragment */
    AU_WIRE_LENGTH_PAST_END = -9,    /* a declared length runs past the end of its container */
    AU_WIRE_BAD_KIND = -10,          /* message kind is not message (0), signal (1) or system (2) */
    AU_WIRE_NAME_TOO_LONG = -11,     /* actor name longer than limits.max_name */
    AU_WIRE_MESSAGE_TOO_LARGE = -12, /* message body longer than limits.max_message */
    AU_WIRE_FRAGMENT_OUT_OF_RANGE = -13, /* offset + length beyond the message's total length */
    AU_WIRE_FRAGMENT_OVERLAP = -14,  /* fragment partly covers bytes already received */
    AU_WIRE_TOTAL_MISMATCH = -15,    /* fragment disagrees with earlier ones on the total length */
    AU_WIRE_TOO_MANY_PARTIALS = -16, /* peer already has limits.max_partials messages in flight */
    AU_WIRE_MEMORY_LIMIT = -17,      /* would exceed limits.max_buffered bytes for this peer */
    AU_WIRE_NO_MEMORY = -18,         /* the allocator failed */
    AU_WIRE_BAD_LIMITS = -19,        /* an au_wire_limits value outside what the format allows */
    AU_WIRE_NOT_SEALED = -20,        /* a cluster key is configured but the datagram is plain */
    AU_WIRE_NO_KEY = -21,            /* the datagram is sealed but no cluster key is configured */
    AU_WIRE_BAD_SEAL = -22,          /* AEAD authentication failed: forged, corrupted, wrong key */
    AU_WIRE_UNKNOWN_KEY = -25,       /* sealed with a key id the receiver's ring does not hold */
    AU_WIRE_REPLAYED = -23,          /* datagram sequence number already accepted */
    AU_WIRE_TOO_OLD = -24,           /* sequence number behind the replay window */
};

/* A static, human-readable name for a status ("bad checksum"); "unknown status" otherwise. */
const char *au_wire_status_str(int status);

/* ---- format constants ---------------------------------------------------------------------- */

#define AU_WIRE_MAGIC 0x4175u /* "Au" */
#define AU_WIRE_VERSION 1u
#define AU_WIRE_FLAG_SEALED 0x01u
#define AU_WIRE_FLAGS_KNOWN AU_WIRE_FLAG_SEALED

#define AU_WIRE_HEADER_SIZE 20u   /* magic u16, version u8, flags u8, incarnation u64, seq u64 */
#define AU_WIRE_CHECKSUM_SIZE 8u  /* XXH3-64 trailer of an unsealed datagram */
#define AU_WIRE_NONCE_SIZE 24u    /* XChaCha20 nonce, right after the header when sealed */
#define AU_WIRE_TAG_SIZE 16u      /* Poly1305 tag trailer of a sealed datagram */

#define AU_WIRE_FRAME_MESSAGE 0x01u
#define AU_WIRE_FRAME_FRAGMENT 0x02u
#define AU_WIRE_MESSAGE_FRAME_HEADER 3u   /* type u8, body length u16 */
#define AU_WIRE_FRAGMENT_FRAME_HEADER 19u /* type u8, msg id u64, total u32, offset u32, len u16 */
#define AU_WIRE_BODY_HEADER 18u           /* kind u8, name length u8, root u64, interface u64 */

#define AU_WIRE_KIND_MESSAGE 0u
#define AU_WIRE_KIND_SIGNAL 1u
#define AU_WIRE_KIND_SYSTEM 2u /* node-to-node control (remote death watch, net/watch.c) */

#define AU_WIRE_MIN_MTU 96u       /* room for a sealed datagram holding a fragment of a few bytes */
#define AU_WIRE_MAX_MTU 65507u    /* the largest UDP payload over IPv4 */
#define AU_WIRE_MAX_NAME 255u     /* the name length is one byte on the wire */
#define AU_WIRE_MAX_PARTIALS 4096u /* reassembly scans its partials linearly: keep them few */

/* ---- limits -------------------------------------------------------------------------------- */

/* What a node accepts and produces. The same values should hold cluster-wide: a receiver drops
 * datagrams longer than its own mtu. Copy the defaults and adjust:
 *     au_wire_limits l = au_wire_limits_default(); l.mtu = 9000;                             */
typedef struct au_wire_limits {
    size_t mtu;                     /* largest datagram, header and trailer included (1400) */
    size_t max_message;             /* largest message body: destination + payload (16 MiB) */
    size_t max_name;                /* longest actor name in bytes, <= 255 (255) */
    size_t max_partials;            /* messages being reassembled per peer at once (64) */
    size_t max_buffered;            /* reassembly bytes held per peer, bookkeeping included (64 MiB) */
    uint64_t reassembly_timeout_ns; /* a partial message is dropped this long after its first
                                       fragment arrived (1 s) */
} au_wire_limits;

au_wire_limits au_wire_limits_default(void);

/* AU_WIRE_OK, or AU_WIRE_BAD_LIMITS when a value is zero or outside what the format encodes
 * (mtu outside [AU_WIRE_MIN_MTU, AU_WIRE_MAX_MTU], max_name > 255, max_message >= 4 GiB,
 * max_partials > AU_WIRE_MAX_PARTIALS). */
int au_wire_limits_check(const au_wire_limits *limits);

/* ---- header -------------------------------------------------------------------------------- */

typedef struct au_wire_header {
    uint8_t version;
    uint8_t flags;        /* AU_WIRE_FLAG_SEALED or 0 */
    uint64_t incarnation; /* the sending node's incarnation id, random per node start */
    uint64_t seq;         /* datagram sequence number, per (sender incarnation, receiver) */
    uint64_t sender;      /* sealed only (set by au_wire_datagram_open): the sender id named in
                             the authenticated nonce; 0 for a plain datagram */
    uint8_t key_id;       /* sealed only: the id of the key that opened it */
} au_wire_header;

/* Writes the AU_WIRE_HEADER_SIZE header bytes (magic and version are always the current ones). */
void au_wire_header_encode(const au_wire_header *header, uint8_t out[AU_WIRE_HEADER_SIZE]);

/* Reads and checks the header only (size, magic, version, flags): a cheap look at who sent a
 * datagram before deciding to open it. Does not verify the checksum or seal. */
int au_wire_header_parse(const uint8_t *dgram, size_t len, au_wire_header *header);

/* ---- messages and frames ------------------------------------------------------------------- */

/* Where a message goes. Actor identity on the wire is (name, root type id, interface type id). */
typedef struct au_wire_dest {
    uint8_t kind;          /* AU_WIRE_KIND_MESSAGE, _SIGNAL or _SYSTEM */
    const uint8_t *name;   /* not NUL-terminated */
    size_t name_len;
    uint64_t root_type;
    uint64_t iface_type;
} au_wire_dest;

/* A complete message: its destination and its opaque payload (CBOR, decoded by the layer above).
 * The pointers are views into a datagram or a reassembled body. */
typedef struct au_wire_message {
    au_wire_dest dest;
    const uint8_t *payload;
    size_t payload_len;
} au_wire_message;

/* A piece of a message body too large for one datagram: bytes [offset, offset + chunk_len) of
 * a body of total_len bytes, identified by msg_id (unique per sender incarnation). */
typedef struct au_wire_fragment {
    uint64_t msg_id;
    uint32_t total_len;
    uint32_t offset;
    const uint8_t *chunk;
    size_t chunk_len;
} au_wire_fragment;

typedef struct au_wire_frame {
    uint8_t type; /* AU_WIRE_FRAME_MESSAGE or AU_WIRE_FRAME_FRAGMENT */
    union {
        au_wire_message message;
        au_wire_fragment fragment;
    } as;
} au_wire_frame;

/* Parses a message body (body header, name, payload) as found in a message frame or produced by
 * reassembly. The message's pointers point into body. */
int au_wire_message_decode(const au_wire_limits *limits, const uint8_t *body, size_t len,
                           au_wire_message *msg);

/* ---- parser -------------------------------------------------------------------------------- */

/* Walks the frames of an opened datagram. Plain data so it lives on the caller's stack. */
typedef struct au_wire_reader {
    const uint8_t *pos;
    const uint8_t *end;
    size_t max_name;
    size_t max_message;
} au_wire_reader;

/* Validates a received datagram completely and prepares a reader over its frames.
 *
 * Checks, in order: length <= mtu, header (magic, version, flags), then integrity: with a key,
 * the datagram must be sealed and is authenticated and decrypted in place (hence the mutable
 * buffer); without one, it must be plain and its checksum must match. Finally every frame is
 * checked, so a datagram is either accepted whole or rejected whole: the reader then cannot
 * fail. After a failure the buffer's contents are unspecified (a failed decryption clears its
 * output): drop it. Replay protection is separate (au_replay_window_accept, core/seal.h) because its state
 * is per peer. Never allocates. */
int au_wire_datagram_open(const au_wire_limits *limits, const struct au_seal_key *key,
                          uint8_t *dgram, size_t len, au_wire_header *header,
                          au_wire_reader *reader);

/* The same with a key ring (NULL: plain datagrams only): a sealed datagram is opened with the
 * ring's key of the id its nonce names (AU_WIRE_UNKNOWN_KEY if none), and header->sender and
 * header->key_id say who sealed it with which key. */
int au_wire_datagram_open_ring(const au_wire_limits *limits, const struct au_seal_ring *ring,
                               uint8_t *dgram, size_t len, au_wire_header *header,
                               au_wire_reader *reader);

/* For a datagram that au_wire_datagram_open refused with AU_WIRE_MESSAGE_TOO_LARGE (its integrity
 * was verified, so its frames are readable in place): the message ids of up to max fragments
 * that belong to messages over limits->max_message, into ids; returns how many. Lets a receiver
 * count a too-large message once, not once per datagram. */
size_t au_wire_oversized_ids(const au_wire_limits *limits, const uint8_t *dgram, size_t len,
                             uint8_t flags, uint64_t *ids, size_t max);

/* 1 and *frame filled, 0 when the frames are exhausted, or a negative status if the reader
 * was not produced by au_wire_datagram_open and meets malformed bytes. */
int au_wire_reader_next(au_wire_reader *reader, au_wire_frame *frame);

/* ---- packer -------------------------------------------------------------------------------- */

/* Node-wide source of message ids for fragmented messages. Every packer of a node shares one,
 * so ids are unique per sender incarnation whatever the number of peers. */
typedef struct au_wire_ids {
    _Atomic uint64_t next;
} au_wire_ids;

void au_wire_ids_init(au_wire_ids *ids);

/* Receives each finished datagram. The bytes belong to the packer and are overwritten after
 * the call returns: send them now (uv_udp_try_send) or copy them. */
typedef void (*au_wire_emit_fn)(void *user, const uint8_t *dgram, size_t len);

/* Outgoing datagrams for one peer. Exactly one packer per (local incarnation, peer): the
 * sequence numbers it stamps are what the peer's replay window tracks. Not thread-safe; the
 * shared ids and key are. */
typedef struct au_wire_packer {
    au_wire_limits limits;
    struct au_seal_key *key; /* NULL: plain datagrams with a checksum trailer */
    struct au_seal_key *_Atomic *primary; /* if set: the key to seal with, read per datagram
                                             (rotation); key must then be non-NULL too */
    _Atomic uint64_t *shared_seq; /* if set: sequence numbers come from this node-wide counter */
    au_wire_ids *ids;
    uint64_t incarnation;
    uint64_t next_seq;
    au_wire_emit_fn emit;
    void *user;
    uint8_t *buf;       /* limits.mtu bytes */
    size_t frames_start; /* first frame byte: after the header (and nonce when sealed) */
    size_t frames_end;   /* one past the last byte frames may use: mtu minus the trailer */
    size_t pos;          /* next free byte; == frames_start when nothing is pending */
} au_wire_packer;

/* Allocates the datagram buffer. key may be NULL. The limits are copied; ids and key must
 * outlive the packer. AU_WIRE_BAD_LIMITS or AU_WIRE_NO_MEMORY on failure. */
int au_wire_packer_init(au_wire_packer *packer, const au_wire_limits *limits, uint64_t incarnation,
                        au_wire_ids *ids, struct au_seal_key *key, au_wire_emit_fn emit,
                        void *user);

/* Seals with whatever key *primary holds when each datagram is finished (a node's rotating
 * primary key) instead of the key given at init, which must have been non-NULL. */
void au_wire_packer_follow(au_wire_packer *packer, struct au_seal_key *_Atomic *primary);

/* Takes sequence numbers from a counter shared by every packer of the node instead of its own:
 * then a packer made again for a receiver (after its predecessor was evicted) never goes back
 * to numbers that receiver's replay window has passed. */
void au_wire_packer_share_seq(au_wire_packer *packer, _Atomic uint64_t *seq);

/* Frees the buffer. Pending frames are discarded: flush first to send them. */
void au_wire_packer_destroy(au_wire_packer *packer);

/* Appends one message. It joins the pending datagram when it fits, starts a new one when it
 * fits an empty datagram, and is otherwise split into fragments, the first filling the pending
 * datagram. Full datagrams are emitted on the way; the last one stays pending so following
 * messages can share it. Copies dest->name and payload before returning. Fails (and appends
 * nothing) with AU_WIRE_BAD_KIND, AU_WIRE_NAME_TOO_LONG or AU_WIRE_MESSAGE_TOO_LARGE. */
int au_wire_packer_add(au_wire_packer *packer, const au_wire_dest *dest, const uint8_t *payload,
                       size_t payload_len);

/* Emits the pending datagram, if any. Call at the end of every send batch. */
void au_wire_packer_flush(au_wire_packer *packer);

#endif
