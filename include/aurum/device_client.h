/* aurum/device_client.h — the device client: what runs on a device outside the cluster.
 *
 * A device announces itself to the cluster's device servers (the seeds), answers the heartbeat
 * requests of the one server node that owns it (and, when a request grants a lease of several
 * beats, sends the heartbeats that follow unprompted, one per interval), notices when no request comes any more and then
 * announces itself again, and exchanges user messages (a type id and CBOR bytes) with the cluster
 * through its owner. It speaks aurum's wire format (docs/wire-format.md), plain with an XXH3
 * checksum or sealed with a device key (XChaCha20-Poly1305), and the device protocol of
 * docs/devices.md.
 *
 * Standalone: this header and src/devices/client/ compile without the rest of aurum, without
 * libuv, threads or malloc, and call no libc function, for a microcontroller as well as for
 * Linux (`make size`; docs/devices.md §6). All state is one au_dc the caller allocates (statically, typically); datagrams
 * are built and parsed in two caller-supplied buffers. The world is reached through three
 * platform functions (au_dc_platform); aurum/device_client_posix.h is a ready adapter for
 * Linux/POSIX sockets.
 *
 * Use: fill an au_dc_config (zero fields take their defaults), au_dc_init(), then call
 * au_dc_poll() from the main loop; it returns how many milliseconds may pass before it must be
 * called again (sleep until then or until a datagram arrives). Nothing here blocks, and nothing
 * is called back from anywhere but au_dc_poll / au_dc_input / au_dc_tick. Not thread-safe: one
 * thread (or one interrupt level) drives one au_dc.
 *
 * Build options (compile-time, for the whole client): AU_DC_SEALING (default 1) compiles the
 * AEAD; 0 leaves it out, and a config with a key is then refused. AU_DC_PLAIN (default 1)
 * compiles the plain (checksummed) mode; 0 leaves XXH3 out, and a config without a key is then
 * refused. Set them alike for every file of the client; au_dc's layout does not depend on them. */
#ifndef AURUM_DEVICE_CLIENT_H
#define AURUM_DEVICE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <aurum/export.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef AU_DC_SEALING
#define AU_DC_SEALING 1
#endif
#ifndef AU_DC_PLAIN
#define AU_DC_PLAIN 1
#endif
#if !AU_DC_SEALING && !AU_DC_PLAIN
#error "the device client needs AU_DC_SEALING or AU_DC_PLAIN"
#endif

/* ---- protocol constants (docs/devices.md) ------------------------------------------------- */

/** Type id of the uplink root au_device_up (aurum/device_protocol.h), the root type and the
 *  interface of every message a device sends. tests/devices checks it against au_type_id(). */
#define AU_DC_UP_TYPE_ID 0x5a3d138477d1871eull
/** Type id of the downlink root au_device_down, of every message a device accepts. */
#define AU_DC_DOWN_TYPE_ID 0x8bf366c6de14b56bull
/** The longest lease a device takes: a request asking for more beats gets this many. */
#define AU_DC_MAX_BEATS 16u
/** The longest interval (ms) a device asking for interval_ms takes from a request: 64 times
 *  its own or 60,000 ms, whichever is more, but at most AU_DC_GRANT_SPAN_MS (so that its
 *  silence, counted in it, stays measurable), and never less than its own. A longer grant counts
 *  as this; a server polls no slower than this, whatever its min_interval_ms. An unsigned long
 *  long. */
#define AU_DC_MAX_GRANT_MS(interval_ms)                                                          \
    ((unsigned long long)(interval_ms) > AU_DC_GRANT_SPAN_MS                                     \
         ? (unsigned long long)(interval_ms)                                                     \
     : (unsigned long long)(interval_ms) * 64u > AU_DC_GRANT_SPAN_MS ? AU_DC_GRANT_SPAN_MS      \
     : (unsigned long long)(interval_ms) * 64u < 60000u             ? 60000ull                  \
                                                                     : (unsigned long long)(interval_ms) * 64u)
/** The bound of AU_DC_MAX_GRANT_MS: 3,962,146 ms (about 66 min), 2^30 ms over the longest lease
 *  and lost_after (AU_DC_MAX_BEATS + 255 intervals). */
#define AU_DC_GRANT_SPAN_MS (0x7fffffffull / 2u / (AU_DC_MAX_BEATS + 255u))
/** How far from the clock it holds (modulo 2^32: clocks compare by difference, so they wrap
 *  instead of saturating) an interval clock may be taken from the other end: 65,536. A device
 *  takes no clock further ahead from a request (it announces its own instead), and a server
 *  drops an announce whose clock is further ahead or behind (drops_clock_far); the device's
 *  heartbeats carry its clock, and a server whose record differs from it moves the record
 *  behind it, so that the device's next announce wins (docs/devices.md §4.3). */
#define AU_DC_CLOCK_WINDOW 0x10000u
/** Default name of the servers' endpoint (AU_DEVICE_SERVER_NAME). */
#define AU_DC_SERVER_NAME "au.devices"
/** Name downlink messages must be addressed to (AU_DEVICE_CLIENT_NAME). */
#define AU_DC_CLIENT_NAME "au.device"

/** Bytes of a device key (XChaCha20-Poly1305). */
#define AU_DC_KEY_SIZE 32u
/** Bytes a datagram spends around its one message frame: header 20, frame header 3, body header
 *  18, then 8 (plain: checksum) or 40 (sealed: nonce and tag). Add the name and the CBOR. */
#define AU_DC_OVERHEAD_PLAIN (20u + 3u + 18u + 8u)
#define AU_DC_OVERHEAD_SEALED (20u + 3u + 18u + 24u + 16u)
/** The smallest tx buffer au_dc_init accepts: the overhead, the server name and the largest
 *  control message (an announce, 45 bytes of CBOR). */
#define AU_DC_TX_MIN(sealed, name_len) \
    (((sealed) ? AU_DC_OVERHEAD_SEALED : AU_DC_OVERHEAD_PLAIN) + (name_len) + 45u)
/** The largest datagram a device sends: the servers' node mtu (au_node_config.mtu, default
 *  1400 bytes), above which a node drops a datagram unread (drops_too_big). au_dc_send refuses a
 *  user message that would need more (AU_DC_ETOOBIG), whatever tx_cap. Define it when building
 *  the client (-DAU_DC_MAX_DATAGRAM=...) for servers whose nodes take larger ones. */
#ifndef AU_DC_MAX_DATAGRAM
#define AU_DC_MAX_DATAGRAM 1400u
#endif
/** The smallest rx buffer au_dc_init accepts (a heartbeat request, sealed, fits in it). */
#define AU_DC_RX_MIN 160u

/* ---- the platform ------------------------------------------------------------------------- */

/** Longest address: family (1) + port (2) + IPv6 address (16). */
#define AU_DC_ADDR_MAX 19u

/** A datagram peer's address, opaque to the client: it only copies and compares them (bytewise
 *  over len). The platform layer decides the encoding (the POSIX adapter: family, port, address). */
typedef struct au_dc_addr {
    uint8_t len;                    /**< bytes used, <= AU_DC_ADDR_MAX */
    uint8_t bytes[AU_DC_ADDR_MAX];
} au_dc_addr;

/** The three calls through which the client reaches the world. ctx is passed back to each. */
typedef struct au_dc_platform {
    /** Sends one datagram to `to`. Returns 0, or a negative value (counted in send_errors; the
     *  protocol tolerates loss, nothing is retried). Must not block for long. */
    int (*send)(void *ctx, const au_dc_addr *to, const uint8_t *data, size_t len);
    /** Receives one pending datagram into buf without blocking: returns its length (a value
     *  larger than cap means it was cut and is dropped), 0 when none is pending, or a negative
     *  value on error. NULL when datagrams are pushed with au_dc_input instead. */
    int (*recv)(void *ctx, au_dc_addr *from, uint8_t *buf, size_t cap);
    /** A monotonic clock in milliseconds. It may wrap around 2^32: the client compares times by
     *  difference, so only spans below 2^31 ms (24 days) must be told apart. Should it go
     *  backwards anyway, the timers count again from the new time (the owner's last request,
     *  the next re-announcement): the device is not silenced for the size of the jump. */
    uint32_t (*now_ms)(void *ctx);
    void *ctx;
} au_dc_platform;

/* ---- configuration ------------------------------------------------------------------------ */

/** A user message from the cluster: type is the id of its user type, payload its CBOR (valid
 *  only during the call), server the id of the node that sent it. */
typedef void (*au_dc_message_fn)(void *user, uint64_t server, uint64_t type,
                                 const uint8_t *payload, size_t len);
/** The server believed to own the device changed; 0: none (it stopped polling). */
typedef void (*au_dc_owner_fn)(void *user, uint64_t owner);

/** What au_dc_init needs. Zero means the default where one is given. The client keeps a
 *  pointer to it: it must outlive the client and not change (a const static, typically). */
typedef struct au_dc_config {
    uint64_t device;          /**< this device's id: nonzero, unique in the fleet (required) */
    uint64_t incarnation;     /**< this run's incarnation: nonzero and larger than that of every
                                   earlier run of the device (a boot counter kept in flash, or
                                   wall-clock time), or servers drop its datagrams as replays
                                   (required) */
    uint32_t interval_ms;     /**< heartbeat interval the device asks for (1000 ms); >= 10. A
                                   server may grant a longer one (its min_interval_ms): the
                                   device then takes that one, without announcing again, up
                                   to 64 times its own or 60 s, whichever is more (a longer
                                   grant counts as that) */
    uint32_t announce_max_ms; /**< while no server polls the device it re-announces after one
                                   interval, then doubling up to this (default 8 × interval_ms,
                                   at most 30000 ms) */
    uint8_t lost_after;       /**< intervals without a request, counted from the end of the
                                   owner's lease (its last request's beats), after which the
                                   owner is taken for lost and the device announces again (3);
                                   >= 2. The interval is the one the owner polls at: the
                                   longer of the one its last request granted and the device's
                                   own (after au_dc_set_interval the owner may poll at either
                                   until its requests carry the new one) */
    uint8_t nseeds;           /**< number of seeds (required, >= 1) */
    uint8_t key_id;           /**< the key's id, named in every sealed datagram (0) */
    uint8_t nonce_random[7];  /**< sealed: 7 bytes from a hardware RNG, fresh at every start.
                                   All zero (no RNG): the low 56 bits of incarnation are used
                                   instead, which must then never repeat under the key */
    const au_dc_addr *seeds;  /**< device servers to announce to (any cluster nodes running one) */
    const char *server_name;  /**< NUL-terminated name of the servers' endpoint
                                   (AU_DC_SERVER_NAME), at most 64 bytes */
    const uint8_t *key;       /**< AU_DC_KEY_SIZE bytes: this device's key or the fleet's; NULL:
                                   plain datagrams. See docs/devices.md §4 for what each protects */
    uint8_t *rx_buf;          /**< receive buffer; its size is the largest datagram accepted */
    size_t rx_cap;            /**< >= AU_DC_RX_MIN; recv is given at most 65,535 (no datagram
                                   is longer), so a larger buffer is used up to that */
    uint8_t *tx_buf;          /**< send buffer, distinct from rx_buf; its size bounds the largest
                                   user message (au_dc_send), and so does AU_DC_MAX_DATAGRAM: a
                                   datagram is never larger than either */
    size_t tx_cap;            /**< >= AU_DC_TX_MIN(key != NULL, strlen(server_name)) */
    au_dc_platform platform;  /**< send, now_ms required; recv optional */
    au_dc_message_fn on_message; /**< user messages from the cluster; NULL: counted, ignored */
    au_dc_owner_fn on_owner;  /**< owner changes; NULL: none reported */
    void *user;               /**< passed to on_message and on_owner */
} au_dc_config;

/* ---- state -------------------------------------------------------------------------------- */

/** Counters of what happened, for diagnostics and tests. They wrap at 2^32. */
typedef struct au_dc_stats {
    uint32_t received;        /**< datagrams handed to the client */
    uint32_t accepted;        /**< datagrams acted on (every other one is counted below) */
    uint32_t drop_malformed;  /**< bad header, frame, body or CBOR; fragments; too long; a
                                   header naming sender incarnation 0 (no node runs at 0) */
    uint32_t drop_integrity;  /**< checksum or seal failed; plain when a key is set and sealed
                                   when not; a sealed sender id that its message contradicts */
    uint32_t drop_replayed;   /**< sequence number seen before or behind the window; plain,
                                   one further ahead of it than the server can have sent since
                                   (docs/devices.md §4.3); sealed, a server incarnation older
                                   than the one known */
    uint32_t drop_not_mine;   /**< another destination, device id or device incarnation */
    uint32_t sent;            /**< datagrams sent */
    uint32_t send_errors;     /**< platform send failures */
    uint32_t announces;       /**< announce datagrams sent */
    uint32_t heartbeats;      /**< heartbeats sent: answers to requests and the unprompted
                                   beats of a lease */
    uint32_t conflicts;       /**< interleaved owners detected (each reported to both) */
    uint32_t owner_changes;   /**< a new owner polled the device */
    uint32_t owner_lost;      /**< the owner fell silent for lost_after intervals */
    uint32_t messages_in;     /**< user messages delivered to on_message */
    uint32_t messages_out;    /**< user messages sent (au_dc_send) */
    uint32_t claims;          /**< plain: datagrams accepted at a server incarnation other than
                                   the one the device holds for that server: a restart not yet
                                   confirmed, or a forger's claim (docs/devices.md §4.3) */
} au_dc_stats;

/** A server the device has heard from: its identity, where it is, and its replay window.
 *  Private to the client. */
typedef struct au_dc_server {
    uint64_t id;          /**< server id (0: slot unused) */
    uint64_t incarnation; /**< the server's incarnation, from its datagram headers */
    uint64_t top;         /**< highest datagram sequence number accepted from it */
    uint64_t seen;        /**< bit i: top - i accepted */
    uint64_t claim;       /**< plain: another incarnation heard under this id, not confirmed
                               (0: none), with its own window: */
    uint64_t claim_top, claim_seen;
    uint32_t heard_ms;    /**< when its last heartbeat request came */
    uint32_t run_ms;      /**< plain: when a datagram of `incarnation` was last accepted */
    au_dc_addr addr;      /**< where its last datagram came from */
} au_dc_server;

/** A device client. Allocate it (statically, on a device), then au_dc_init. Every member but
 *  stats is private. sizeof(au_dc) is the client's whole state (docs/devices.md §6). */
typedef struct au_dc {
    const au_dc_config *cfg;
    uint64_t seq;             /* next datagram sequence number */
    au_dc_server servers[2];  /* [0] the owner (id 0: none), [1] the previous or another one */
    uint32_t clock;           /* interval version, +1 per au_dc_set_interval */
    uint32_t interval_ms;
    uint32_t announce_at;     /* when to announce next while no owner polls */
    uint32_t backoff_ms;      /* the re-announce delay after the next one */
    uint32_t jitter;          /* xorshift state spreading re-announcements */
    uint64_t lease_request;   /* the owner's request the beats answer */
    uint32_t beat_at;         /* when the next unprompted beat is due */
    uint32_t beat_ms;         /* the lease's interval (the last request's interval_ms) */
    uint8_t beat;             /* the next beat's number; beats: the lease's length (1: none) */
    uint8_t beats;
    uint8_t started;          /* the first announce went out */
    uint8_t name_len;
    uint8_t in_input;         /* inside au_dc_input: rx_buf holds the datagram */
    au_dc_stats stats;
} au_dc;

/* ---- the API ------------------------------------------------------------------------------ */

/** Results (negative: failure). */
enum au_dc_result {
    AU_DC_OK = 0,
    AU_DC_EINVAL = -1,  /**< a config field out of range, or a mode not compiled in */
    AU_DC_ETOOBIG = -2, /**< the message does not fit the tx buffer, or a datagram of
                             AU_DC_MAX_DATAGRAM bytes */
    AU_DC_ESEND = -3,   /**< the platform's send failed (every target, when several) */
};

/** Checks cfg and prepares dc (nothing is sent until the first au_dc_poll or au_dc_tick).
 *  AU_DC_EINVAL for a NULL dc or cfg, and for a config out of range (it names no field: check
 *  the ranges documented in au_dc_config); dc is then left zeroed.
 *  Every call below takes a NULL dc, or one whose au_dc_init failed, and does nothing: the
 *  others return AU_DC_EINVAL or 0, au_dc_poll and au_dc_tick 1000 (no busy loop). */
AU_API int au_dc_init(au_dc *dc, const au_dc_config *cfg);

/** Receives every pending datagram (through platform.recv, when set), then runs au_dc_tick.
 *  Returns the milliseconds until au_dc_poll must run again, at most one interval. */
AU_API uint32_t au_dc_poll(au_dc *dc);

/** Handles one received datagram in buf (it is decrypted in place: buf is clobbered), for
 *  platforms that deliver datagrams by callback; buf may be rx_buf. Everything malformed,
 *  forged, replayed or not for this device is dropped and counted in dc->stats — also a NULL
 *  from, a from whose len exceeds AU_DC_ADDR_MAX, and a NULL buf with len > 0
 *  (drop_malformed). */
AU_API void au_dc_input(au_dc *dc, const au_dc_addr *from, uint8_t *buf, size_t len);

/** Runs the timers only: the first announcement, owner loss, re-announcements. Returns as
 *  au_dc_poll. */
AU_API uint32_t au_dc_tick(au_dc *dc);

/** Sends a user message (type id, CBOR payload) to the owner, or to every seed while there is
 *  none (any server forwards it). AU_DC_ETOOBIG when its datagram would be larger than tx_cap
 *  or AU_DC_MAX_DATAGRAM (nothing is sent), AU_DC_ESEND; AU_DC_EINVAL for a NULL payload
 *  with len > 0 (NULL with 0 is the empty payload). May be called from on_message. */
AU_API int au_dc_send(au_dc *dc, uint64_t type, const uint8_t *payload, size_t len);

/** Asks for another heartbeat interval (>= 10 ms): the clock advances and the device announces
 *  it to its owner (to the seeds while there is none). AU_DC_EINVAL, AU_DC_ESEND. */
AU_API int au_dc_set_interval(au_dc *dc, uint32_t interval_ms);

/** The id of the server believed to own the device, 0 if none. */
AU_API uint64_t au_dc_owner(const au_dc *dc);

/* ---- CBOR for user payloads ---------------------------------------------------------------- */
/* The subset aurum's codec uses for the common types (src/proto/codec.h): a record is an array
 * of its fields in declaration order, a root an array [variant index, payload], integers are
 * CBOR integers, au_str text, au_bytes a byte string, au_unit null. Floats are not provided.
 * Writer and reader keep a sticky error: check it once at the end. */

/** Appends CBOR to buf[len, cap). err becomes nonzero (and stays) when something does not fit,
 *  when len is past cap (nothing is written), and for a NULL string or bytes with a length. */
typedef struct au_dc_cbor_out {
    uint8_t *buf;
    size_t len, cap;
    int err;
} au_dc_cbor_out;

AU_API void au_dc_cbor_put_array(au_dc_cbor_out *w, uint64_t count); /**< head of an array */
AU_API void au_dc_cbor_put_uint(au_dc_cbor_out *w, uint64_t v);
AU_API void au_dc_cbor_put_int(au_dc_cbor_out *w, int64_t v);
AU_API void au_dc_cbor_put_bytes(au_dc_cbor_out *w, const uint8_t *p, size_t n);
AU_API void au_dc_cbor_put_text(au_dc_cbor_out *w, const char *s, size_t n); /**< UTF-8: the
    receiver refuses invalid UTF-8; the writer does not check it */
AU_API void au_dc_cbor_put_bool(au_dc_cbor_out *w, int v);
AU_API void au_dc_cbor_put_null(au_dc_cbor_out *w);

/** Reads CBOR from [pos, end). err becomes nonzero (and stays) on anything unexpected: another
 *  major type, an indefinite length, a length past the end, a value out of range, a NULL n for
 *  a string's length. Every reader given a NULL reader returns its error value (0 or NULL),
 *  and au_dc_cbor_end of NULL is nonzero. */
typedef struct au_dc_cbor_in {
    const uint8_t *pos, *end;
    int err;
} au_dc_cbor_in;

/** The count of an array head; 0 on error. */
AU_API uint64_t au_dc_cbor_get_array(au_dc_cbor_in *r);
/** An unsigned integer no larger than max (UINT64_MAX: any); 0 on error. */
AU_API uint64_t au_dc_cbor_get_uint(au_dc_cbor_in *r, uint64_t max);
/** A signed integer in [INT64_MIN, INT64_MAX]; 0 on error. */
AU_API int64_t au_dc_cbor_get_int(au_dc_cbor_in *r);
/** A byte string: a view into the input, *n its length; NULL on error (*n 0). A NULL n is an
 *  error: nothing is read and err is set. */
AU_API const uint8_t *au_dc_cbor_get_bytes(au_dc_cbor_in *r, size_t *n);
/** A text string (not NUL-terminated, not checked for UTF-8); NULL on error (*n 0). A NULL n
 *  is an error, as for au_dc_cbor_get_bytes. */
AU_API const char *au_dc_cbor_get_text(au_dc_cbor_in *r, size_t *n);
/** A boolean, 0 or 1; 0 on error. */
AU_API int au_dc_cbor_get_bool(au_dc_cbor_in *r);
/** A null. */
AU_API void au_dc_cbor_get_null(au_dc_cbor_in *r);
/** 0 if everything was read without error and nothing is left over; otherwise nonzero. */
AU_API int au_dc_cbor_end(const au_dc_cbor_in *r);

#ifdef __cplusplus
}
#endif
#endif
