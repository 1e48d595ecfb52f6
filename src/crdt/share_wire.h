/* share_wire.h — the protocol of the CRDT dispersal actor (share.c): what replicas send each
 * other, and the actor's own root type. Private to src/crdt (and white-box tests).
 *
 * A delta names its sender's member id, address (for the ack) and type hash until the receiver
 * acks it, and again when a send went unacked for a timeout (share.c: need_meta); after that the
 * id is 0 (omitted: the receiver finds the sender by the datagram's source address,
 * au_ctx_origin), unless an id-less send to that receiver went unacked. An ack never carries the
 * address (it is empty) and omits the id until its receiver re-sends deltas already acked. No field is trusted:
 * share.c checks sizes, clocks and the type hash before decoding the payload. */
#ifndef AU_CRDT_SHARE_WIRE_H
#define AU_CRDT_SHARE_WIRE_H

#include <aurum/cluster.h>
#include <aurum/crdt_share.h>
#include <aurum/schema.h>

/* delta: the sender's changes [base, clock) (minus what came from the receiver), or with full
 * set its whole state (base 0), in chunks (SH_CHUNK); type is a 32-bit hash of the type's name. ack: the receiver has
 * everything of the sender's up to clock if it had everything up to base; base and clock 0: a
 * vouch, only its via counts (share.c: vouch_round). */
AU_ARRAY(au_bytes);
/* A payload above SH_CHUNK bytes (the codec takes byte strings of at most 1 MiB) travels as
 * data (the first SH_CHUNK bytes) followed by the chunks of rest, concatenated by the receiver. */
#define SH_CHUNK ((size_t)512 << 10)
/* ack_base/ack_clock: an ack riding on the delta (as sh_ack, for the receiver's own deltas;
 * ack_clock 0: none). type 0: omitted (sent once the receiver has acked; share.c: need_meta). */
/* full: SH_GROUP, SH_WHOLE (the group holds every delta of [base, clock) that the receiver may
 * lack: with what it had below base it has the sender's state at clock), or SH_FULL (the whole
 * state). via: what the sender has of other members' deltas, "every delta of member id below
 * clock" (share.c: make_via; empty: nothing new to tell). */
enum { SH_GROUP = 0, SH_FULL = 1, SH_WHOLE = 2 };
AU_RECORD(sh_delta, (au_str, from), (uint64_t, id), (uint32_t, type), (uint64_t, base),
          (uint64_t, clock), (uint64_t, ack_base), (uint64_t, ack_clock), (uint8_t, full),
          (au_bytes, data), (au_bytes_array, rest), (au_bytes, via));
AU_RECORD(sh_ack, (au_str, from), (uint64_t, id), (uint64_t, base), (uint64_t, clock),
          (au_bytes, via));
/* relay: member id (the sender) has had no ack moving from the members listed in `to` for
 * relay_after while they lacked deltas of its: the receiver passes its deltas on to them instead
 * of relying on it (share.c: on_relay). `to`: per member 16 bytes, little endian: its id, then
 * how far it has acked the sender's deltas (at most RELAY_MAX members). */
AU_RECORD(sh_relay, (uint64_t, id), (au_bytes, to));
#define RELAY_MAX 8
AU_ROOT(sh_wire, (delta, sh_delta, AU_PLAIN), (ack, sh_ack, AU_PLAIN), (relay, sh_relay, AU_PLAIN));

/* What a member vouches for (a via entry): "every delta of member id below clock". */
typedef struct sh_kn { uint64_t id, clock; } sh_kn;
#define VIA_MAX_RX 16 /* via entries accepted in one message */

/* The receiving side's checks, without the actor (share.c; fuzz/fuzz_share_msg.c calls them):
 * sh_read_via reads a via field into out (at most VIA_MAX_RX entries), false if malformed;
 * sh_delta_ok checks a delta's fields (an id of 0 is allowed: the sender left it out, §1.6) and
 * reads its via; sh_delta_payload concatenates data and
 * rest (their total into *total) and decodes them as type t into a new *obj: AU_ETOOBIG above
 * max_message, AU_ENOMEM if the concatenation could not be allocated (the sender resends),
 * AU_EDECODE if the bytes are not an object of type t (*obj NULL on any error). */
bool sh_read_via(const au_bytes *b, sh_kn *out, size_t *n);
bool sh_delta_ok(const sh_delta *d, sh_kn *via, size_t *nvia);
au_err sh_delta_payload(const au_crdt_type *t, size_t max_message, const sh_delta *d,
                        size_t *total, void **obj);

typedef void (*sh_fn)(void);
AU_LOCAL_TYPE(sh_fn);
typedef au_share_tramp_ sh_tramp;
AU_LOCAL_TYPE(sh_tramp);
AU_LOCAL_RECORD(sh_mut, (sh_fn, fn), (sh_tramp, tramp), (au_bytes, arg));

AU_LOCAL_ROOT(sh_msg,
              (wire, sh_wire, AU_REMOTE),
              (update, au_cluster_update, AU_LOCAL),
              (mutate, sh_mut, AU_LOCAL),
              (subscribe, au_share_changed_lref, AU_PLAIN),
              (flush, au_unit, AU_PLAIN),
              (tick, au_unit, AU_PLAIN),
              (acktick, au_unit, AU_PLAIN));

/* The replica's actor, for white-box tests (tests/crdt/test_crdt_share_prune.c hands it
 * membership updates of its own making: thousands of departures without thousands of nodes). */
sh_msg_lref sh_actor(au_share *s);

#endif
