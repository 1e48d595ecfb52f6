/* Reassembly of fragmented messages received from one peer.
 *
 * Owns: the partial messages of one peer, keyed by (sender incarnation, message id), their
 * buffers, and the limits on them. The transport keeps one au_reassembly per peer, feeds it the
 * fragment frames of every accepted datagram, and calls au_reassembly_expire from a timer.
 *
 * Relies on core/wire.h for fragment views, limits and statuses. Never reads a clock: every
 * call that needs time takes now_ns from the caller (whose node clock may be simulated).
 *
 * Invariants:
 *  - At most limits.max_partials partial messages, holding at most limits.max_buffered bytes
 *    (message buffers plus their received-byte bitmaps), exist at any time; with a shared
 *    budget, all reassemblers sharing it together hold at most budget.max bytes.
 *  - A message buffer is allocated when the first fragment of the message arrives, sized by its
 *    total length, which has been checked against limits.max_message beforehand.
 *  - Every byte of a message is written exactly once: a fragment that repeats received bytes
 *    is ignored, one that overlaps them partly is rejected.
 */
#ifndef AU_CORE_REASSEMBLY_H
#define AU_CORE_REASSEMBLY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"

typedef struct au_reassembly au_reassembly;

/* A complete message handed over by au_reassembly_feed. data is a heap buffer now owned by the
 * caller (release it with free()); msg points into it. */
typedef struct au_reassembled {
    uint8_t *data;
    size_t len;
    au_wire_message msg;
} au_reassembled;

/* A byte budget shared by several reassemblers (a node's, across all its senders): what each
 * partial costs is reserved here too, so the sum stays below max whatever the number of peers.
 * `used` is updated with atomic operations (several reassemblers may run on several threads). */
typedef struct au_reassembly_budget {
    _Atomic uint64_t *used; /* bytes reserved now */
    uint64_t max;
} au_reassembly_budget;

/* AU_WIRE_BAD_LIMITS or AU_WIRE_NO_MEMORY on failure. The limits are copied. */
int au_reassembly_create(const au_wire_limits *limits, au_reassembly **out);

/* The same, with a shared budget (which must outlive the reassembler; NULL: none). A partial
 * that does not fit it is refused with AU_WIRE_MEMORY_LIMIT, like one over max_buffered. */
int au_reassembly_create_shared(const au_wire_limits *limits, au_reassembly_budget *budget,
                                au_reassembly **out);

/* Frees every partial message and the reassembler. */
void au_reassembly_destroy(au_reassembly *reassembly);

/* Stores one fragment sent by sender_incarnation. Returns
 *   AU_WIRE_OK          the message is complete and well formed: *out is filled;
 *   AU_WIRE_INCOMPLETE  stored, more fragments needed;
 *   AU_WIRE_DUPLICATE   these bytes were already received, or the message already delivered:
 *                       ignored;
 *   negative            the fragment is dropped (the partial message, if any, stays):
 *     AU_WIRE_BAD_FRAME (empty), AU_WIRE_MESSAGE_TOO_LARGE, AU_WIRE_FRAGMENT_OUT_OF_RANGE,
 *     AU_WIRE_TOTAL_MISMATCH, AU_WIRE_FRAGMENT_OVERLAP, AU_WIRE_TOO_MANY_PARTIALS,
 *     AU_WIRE_MEMORY_LIMIT, AU_WIRE_NO_MEMORY; or the completed body failed
 *     au_wire_message_decode (AU_WIRE_BAD_KIND, AU_WIRE_NAME_TOO_LONG, ...), in which case the
 *     message is dropped whole.
 * When a limit is reached, timed-out partials are expired first, so a caller that forgets to
 * call au_reassembly_expire still does not lock itself out. */
int au_reassembly_feed(au_reassembly *reassembly, uint64_t sender_incarnation,
                       const au_wire_fragment *fragment, uint64_t now_ns, au_reassembled *out);

/* Drops every partial message whose first fragment arrived limits.reassembly_timeout_ns or more
 * before now_ns. Returns how many were dropped. */
size_t au_reassembly_expire(au_reassembly *reassembly, uint64_t now_ns);

/* Partial messages currently held, and the bytes they account for. */
/* The largest message, in bytes, whose reassembly fits in max_buffered bytes (its buffer and
 * its bitmap): a fragmented message larger than this can never be reassembled. */
size_t au_reassembly_largest(size_t max_buffered);
size_t au_reassembly_partials(const au_reassembly *reassembly);
size_t au_reassembly_buffered(const au_reassembly *reassembly);

#endif
