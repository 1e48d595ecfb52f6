/* aurum/ref.h — references to actors, and sending through them.
 *
 * For every message type T the schema macros generate two reference types:
 *   T_ref   location-transparent: the actor may be on this node or another; serializable, so it
 *           can be a field of a message. Only exists for remote (serializable) types.
 *   T_lref  local-only: the actor is on this node; never serialized. Exists for every type.
 * Both are distinct C types wrapping the untyped au_ref, so au_send(r, msg) with a message that is
 * not exactly T fails to compile, and so do narrowing and forging to undeclared interfaces.
 *
 * A reference is a small value (copy it freely). It never keeps an actor alive: sending to an
 * actor that has stopped is a counted drop, never a crash, even if its memory was reused.
 * A reference belongs to the node it was created or decoded on, and sends through that node.
 * Once that node has stopped (au_node_stop freed it), a reference kept past it may still be
 * copied and tested with au_ref_is_null; sending, stopping, watching, narrowing, formatting or
 * comparing through it reads the freed node and must not be done. */
#ifndef AURUM_REF_H
#define AURUM_REF_H

#include <aurum/export.h>
#include <aurum/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct au_node au_node;
/** The context of a running hook (see <aurum/actor.h>). */
typedef struct au_ctx au_ctx;
/** A one-shot reply target for a plain thread (see au_promise_new in <aurum/actor.h>); user code
 *  holds it as a typed T_promise. */
typedef struct au_promise au_promise;

/** `variant` value meaning "the whole root type, not one of its variants". */
#define AU_WHOLE 0xFFFF

/** The untyped reference inside every T_ref / T_lref (fields are private). */
typedef struct au_ref {
    void *target;       /* struct au_cell * (local) or struct au_remote * (remote) */
    au_type *iface;     /* the message type this reference accepts */
    uint32_t gen;       /* incarnation of the local cell */
    uint16_t variant;   /* root variant the interface maps to, or AU_WHOLE (through the root
                           itself); a remote reference's is AU_WHOLE or not, its index unused */
    uint16_t flags;     /* AU_REF_F_* */
} au_ref;

/** True if r refers to nothing (a failed spawn, forge or narrowing). */
static inline bool au_ref_is_null(au_ref r) { return r.target == NULL; }
/** True if two references designate the same actor through the same interface. */
AU_API bool au_ref_equal(au_ref a, au_ref b);
/** True if r designates an actor on its own node. */
AU_API bool au_ref_is_local(au_ref r);
/** Writes a human-readable form of r ("greeter@127.0.0.1:4000 as greeting") into buf. */
AU_API size_t au_ref_format(au_ref r, char *buf, size_t size);

/** Sends msg (an expression of exactly the reference's message type) through ref. The message
 *  is moved: whatever it owns (strings, bytes, arrays) now belongs to the receiver, or is freed
 *  if the send fails.
 *
 *  Value semantics, the same for local and remote references: the receiver gets a value, never
 *  a window onto the sender's memory. What the message only borrows — a string, bytes or array
 *  with .owned == 0 (au_str_lit, au_str_view, { buf, len, 0 }) — is deep-copied by au_send
 *  before it returns (a remote send encodes it; a local one copies it into the envelope), so the
 *  sender may overwrite or free its buffers as soon as au_send returns, and the receiver sees
 *  the values as they were at the send. Every message a hook receives therefore owns all it
 *  holds (.owned == 1), whichever way it came. Owned parts are moved, not copied: a local send
 *  of an au_str_dup'ed string hands over that very allocation. The copy costs one allocation
 *  per borrowed part; a message type that can hold no string, bytes or array (numbers,
 *  references, records of them) pays nothing for it. Two things are passed as they are, as the
 *  bits they are: custom-codec values (AU_CUSTOM_TYPE) on the local path, and local-only
 *  payloads (pointers, handles of AU_LOCAL_TYPE) — what they point to is shared by design.
 *  A borrowed part that has a length but no pointer cannot be copied, and a string (owned or
 *  borrowed) that is not valid UTF-8 (RFC 3629) cannot be encoded: AU_EENCODE for both, local or
 *  remote, so a message a remote send refuses is refused locally too.
 *  The same holds for au_send_after (copied when the timer is set), au_try_send,
 *  au_send_wait, au_send_or_notify and au_send_control; on the results that leave the message
 *  with the caller (AU_EFULL, AU_ETIMEDOUT of those), nothing was copied.
 *
 *  Returns AU_OK, or AU_EINVAL for a null reference, AU_ESTOPPED if the actor or node is known
 *  to be gone, AU_EFULL if the actor's bounded mailbox is full and its policy is to refuse
 *  (aurum/actor.h, au_mailbox_policy; the message is freed: see au_try_send to keep it),
 *  AU_ETOOBIG for remote sends, AU_EENCODE for a message that cannot be encoded (remote: one
 *  holding a reference to an actor of a node without a network, too, as a reference to an
 *  actor of another node of this process travels as that node's; and one nested more than 32
 *  deep, each record, root, array and reference counting one level, as the receiving node
 *  decodes no deeper: it was sent, AU_OK, and dropped on arrival) or copied (see above) and for a
 *  root message whose tag names none of its variants, or that holds such a root anywhere inside
 *  it (a record field, a variant's payload, an array element; local or remote, logged; a type
 *  that can hold no root below its top pays one cached look), AU_ENOMEM. Delivery is
 *  at-most-once; messages from one sender to one receiver arrive in order.
 *
 *  A reference whose bytes lie about its type (built by hand from an au_ref, or reinterpreted
 *  through a cast or a void *) is not trusted: a message whose size is not its interface's, or
 *  an interface that is not the type of the root variant it targets, is dropped, counted in
 *  drops_wrong_interface_local (au_node_stats_get) and fails with AU_ETYPE. */
#define au_send(ref, ...) AU_WITH_MSG_(au_send_, ref, (__VA_ARGS__))

/* ---- bounded mailboxes: back-pressure and control sends ------------------------------------
 *
 * An actor spawned with au_spawn_opts.capacity > 0 has a bounded mailbox (aurum/actor.h:
 * au_mailbox_policy says what to choose). au_send into a full one follows the mailbox's policy;
 * the sends below let the sender decide instead. Into an unbounded mailbox all of them behave
 * like au_send. Remote references: the bound is applied where the actor lives and is not
 * reported back over the network, so these behave like au_send there too (a remote message
 * that finds a full reject-policy mailbox is dropped and counted in mailbox_refused).
 *
 * On AU_EFULL and AU_ETIMEDOUT the message is *not* consumed: it still belongs to the caller,
 * who may send it again later (on any other result it is moved as by au_send). */

/** A non-blocking send that reports a full bounded mailbox: AU_EFULL, whatever its policy,
 *  when `capacity` messages are queued; else as au_send. Any thread or actor. */
#define au_try_send(ref, ...) AU_WITH_MSG_(au_try_send_, ref, (__VA_ARGS__))

/** From a plain thread (or a dedicated actor): waits until the bounded mailbox has room, then
 *  sends. `timeout` is real time in nanoseconds, 0 = wait without limit; AU_ETIMEDOUT when it
 *  passes first. Woken once the depth has fallen to the mailbox's low_water; AU_ESTOPPED if the
 *  actor stops meanwhile. Inside a pooled actor's hook it does not block: AU_ESTATE (use
 *  au_send_or_notify); nor on a node whose driver runs the actors on the caller's thread (a
 *  simulation): AU_ESTATE when the mailbox is full. */
#define au_send_wait(ref, timeout, ...) AU_WITH_MSG_ARG_(au_send_wait_, ref, (__VA_ARGS__), (timeout))

/** From an actor's hook: sends if the bounded mailbox has room; if it is full, returns AU_EFULL
 *  and registers the running actor for one `writable` turn (the .writable hook of AU_ACTOR,
 *  given the full actor's root reference) once the depth has fallen to the mailbox's low_water,
 *  or the actor behind ref has stopped. Each AU_EFULL gives exactly one such turn; the hook
 *  typically sends the refused message again and carries on. A worker never blocks. */
#define au_send_or_notify(ctx, ref, ...) \
    AU_WITH_MSG_ARG_(au_send_or_notify_, ref, (__VA_ARGS__), (ctx))

/** Sends a control message: never counted against a bound, dropped or refused by a full
 *  mailbox (like Term and death-watch notifications). For library layers whose protocol
 *  messages (membership, acks, heartbeats) must not be lost to a user's bound; use it for
 *  messages that are few and small, since it bypasses the memory limit the bound gives. */
#define au_send_control(ref, ...) AU_WITH_MSG_(au_send_control_, ref, (__VA_ARGS__))

/** The number of user messages queued in the bounded mailbox behind a local ref: AU_OK and
 *  *depth; AU_ESTATE for an unbounded mailbox (not counted, to keep its sends cheap) or a
 *  remote reference; AU_ESTOPPED if the actor is gone; AU_EINVAL for a null ref. A snapshot:
 *  senders and the actor change it meanwhile. */
#define au_mailbox_depth(ref, depth) au_mailbox_depth_((ref).raw, (depth))

/** Asks the actor behind ref to stop (the Term signal): it first processes the messages queued
 *  before the signal, then runs post_stop. Works for local and remote references. Returns
 *  AU_OK (for a remote reference: sent, at most once, like a message), AU_EINVAL for a null
 *  reference, AU_ESTOPPED if the actor is known to be gone.
 *
 *  Any reference stops its actor, whatever interface it is: whoever holds one — a T_ref narrowed
 *  to one interface, a reply reference handed out in a request, or one forged from (address,
 *  name), which anyone who knows the name can do — can send Term, and a remote Term is checked
 *  only as a message is (name, root type, interface). To opt an actor out, spawn it with
 *  au_opts(.term = AU_TERM_LOCAL) (aurum/actor.h, au_term_policy): a Term from another node is
 *  then refused, counted in drops_term_refused and logged, and au_stop through the remote
 *  reference still returns AU_OK (it was sent; nothing comes back). Beyond that, a cluster key
 *  (au_node_config.secret / keys) limits who can send anything at all to key holders
 *  (docs/security.md). With neither, anyone who can send datagrams to the node can stop any
 *  actor of the default policy reachable from the network: the named ones, and the anonymous
 *  ones whose references ever left the node (they are then registered under generated names,
 *  '~' and 11 characters drawn from a keyed hash of a counter under a random key of the node,
 *  e.g. "~Xq3v-9aKc_0": not guessable from each other, so only who was given such a reference
 *  can reach the actor). */
#define au_stop(ref) au_ref_stop_((ref).raw)

/** From a reference to root type R (R_ref, or R_lref for a local root), the reference to its
 *  remote interface T: T_ref. Fails to compile unless R declares T as an AU_REMOTE interface.
 *
 *  The reference must designate an actor whose root type is R, through R itself. An R_ref that
 *  is itself a narrowing (R exposed as an interface of another root Q: au_narrow(Q, R, q)) is
 *  not one: narrowing it again gives a null reference, logs why and sets au_last_error() to
 *  AU_ETYPE (narrow the Q reference to the interface you need instead). */
#define au_narrow(R, T, ref) AU_NARROW_(R, T, ref)
#define AU_NARROW_(R, T, ref)                                                                 \
    ((T##_ref){ .raw = au_ref_narrow_(R##__src_(ref), &au_type_##R,                          \
                                      (uint16_t)R##__riface__##T, &au_type_##T) })

/** From a local reference to root type R, the local reference to its interface T (remote or
 *  local-only): T_lref. Fails to compile unless R declares T as an interface. The same rule as
 *  au_narrow applies to a reference that is already a narrowing. */
#define au_narrow_local(R, T, lref) AU_NARROW_LOCAL_(R, T, lref)
#define AU_NARROW_LOCAL_(R, T, lref)                                                          \
    ((T##_lref){ .raw = au_ref_narrow_(R##__lsrc_(lref), &au_type_##R,                      \
                                       (uint16_t)R##__liface__##T, &au_type_##T) })

/** Forges T_ref to the actor registered as `name` with root type R on the node at `addr`
 *  ("host:port"; resolved now, not on every send; a host name that this node resolved for a
 *  forge less than 10 s ago is not resolved again, a numeric address never goes to the resolver), sending from `node`. T must be R itself (for a
 *  remote root) or an AU_REMOTE interface of R, else it does not compile. On the receiving node
 *  the (name, root type id, interface type id) triple is checked; a mismatch is dropped and
 *  counted. Nothing is sent by forging: whether an actor is there shows only when a message is
 *  answered (ask with a timeout to find out). A forged reference can also stop the actor (see
 *  au_stop). Returns a null reference on failure (see au_last_error()): AU_EINVAL for a NULL
 *  argument, a name empty or above 255 bytes, or an addr that is not "host:port" (or has port
 *  0); AU_ERESOLVE for a host that does not resolve; AU_ESTATE on a node without a network;
 *  AU_EFULL when the table of remote references (au_node_config.max_remote_refs) holds only
 *  forged targets and ones in use, or the peer table (max_peers) only nodes that such targets
 *  point to; AU_ENOMEM when a new entry of either table cannot be allocated (out of memory,
 *  whatever room the table has). A forged target keeps its entry (and its node's peer entry)
 *  until every au_forge of it is undone by au_unforge: a program that forges references to
 *  ever new addresses (devices, clients) unforges those it is done with. An address the node's
 *  socket cannot send to (an IPv6 one from a node bound to IPv4, a broadcast address, one with
 *  no route) is forged all the same and its sends return AU_OK: each datagram the kernel
 *  refuses is counted in drops_send_failed, and a WARN names the address and the reason (at
 *  most one such line every 10 s per node); other peers' datagrams are not held up by it. A
 *  forge to an address where no single node answers (0.0.0.0 or ::, which the kernel sends to
 *  this host; multicast; broadcast) succeeds too and logs a WARN naming it (one every 10 s per
 *  node).
 *
 *  The host is resolved now, and the reference names the node by the resolved address
 *  ("localhost:4000" becomes "127.0.0.1:4000" if that is what it resolves to): references forged
 *  from either spelling are equal (au_ref_equal), format with the numeric address, and travel
 *  in messages as that address, which the receiver accepts (it never resolves host names that
 *  arrive in messages). */
#define au_forge(R, T, node, name, addr) AU_FORGE_(R, T, node, name, addr)
#define AU_FORGE_(R, T, node, name, addr)                                                     \
    ((T##_ref){ .raw = au_ref_forge_((node), (name), (addr), &au_type_##R,                 \
                                     (uint16_t)R##__riface__##T, &au_type_##T) })

/** Undoes one au_forge: the reference's target no longer needs to be kept for this forge. Each
 *  au_forge is undone at most once (the count is per target: forging the same (node, name,
 *  address) twice and unforging once keeps it). Once a target has no forge left, its entry in
 *  the table of remote references may be reused for another target at any time (when the table,
 *  or the peer table, is full and the entry is not in use), and from then on every copy of the
 *  reference is stale: a send through it returns AU_ESTOPPED and is counted in drops_stale_ref,
 *  au_ref_format writes "(stale remote reference)", au_ref_equal with a fresh forge of the
 *  same target may be false. A stale copy never reaches
 *  another actor. Until the entry is reused the reference keeps working (a message queued
 *  through it, or a watch on it, keeps the entry in place). Forge the target again to have a
 *  reference that is kept. Returns AU_OK; AU_EINVAL for a null or local reference; AU_ESTATE
 *  for a reference that is stale or whose target has no forge left to undo. The count is the
 *  target's, not the copy's: any reference equal to a forged one (one that came in a message
 *  included) undoes one of its forges, so unforge only references that you forged. Any
 *  thread. */
#define au_unforge(ref) au_unforge_((ref).raw)

/** The error of the last failed call on this thread that returns a value instead of an au_err
 *  (au_forge, au_spawn, au_promise_new, ...). */
AU_API au_err au_last_error(void);

/* ---- implementation details of the macros above -------------------------------------------- */

/* Rejects, at compile time, a message whose type is not exactly the reference's message type
 * (int for int64_t included), then calls fn(ref.raw, extra, pointer to a copy of the message,
 * its size); the size lets the runtime refuse a reference whose raw interface is not the type
 * the compiler checked. A statement expression (GNU C, like __typeof__), so the check and the
 * copy live at block scope where compound literals with function calls are fine for every
 * compiler. */
#define AU_WITH_MSG_(fn, ref, msg) AU_WITH_MSG_CALL_(ref, msg, fn(au_ref_.raw, AU_MSG_ARGS_))
#define AU_WITH_MSG_ARG_(fn, ref, msg, arg) \
    AU_WITH_MSG_CALL_(ref, msg, fn(au_ref_.raw, arg, AU_MSG_ARGS_))
#define AU_MSG_ARGS_ (const void *)au_msg_, sizeof au_msg_[0]
#define AU_WITH_MSG_CALL_(ref, msg, call)                                                     \
    __extension__({                                                                           \
        __typeof__(ref) au_ref_ = (ref);                                                      \
        typedef __typeof__(*au_ref_.type_) au_msg_t_;                                         \
        _Static_assert(_Generic((msg), au_msg_t_: 1, default: 0),                              \
                       "au_send: the message's type is not the reference's message type");    \
        au_msg_t_ au_msg_[1] = { msg };                                                        \
        call;                                                                                 \
    })

AU_API au_err au_send_(au_ref ref, const void *msg, size_t size);
AU_API au_err au_ref_send_(au_ref ref, const void *msg); /* the untyped send (timers use it) */
AU_API au_err au_try_send_(au_ref ref, const void *msg, size_t size);
AU_API au_err au_send_wait_(au_ref ref, uint64_t timeout, const void *msg, size_t size);
AU_API au_err au_send_or_notify_(au_ref ref, au_ctx *ctx, const void *msg, size_t size);
AU_API au_err au_send_control_(au_ref ref, const void *msg, size_t size);
AU_API au_err au_mailbox_depth_(au_ref ref, uint32_t *depth);
AU_API au_err au_ref_stop_(au_ref ref);
AU_API au_ref au_ref_narrow_(au_ref ref, au_type *root, uint16_t variant, au_type *iface);
AU_API au_ref au_ref_forge_(au_node *node, const char *name, const char *addr, au_type *root,
                     uint16_t variant, au_type *iface);
AU_API au_err au_unforge_(au_ref ref);
AU_API void au_set_last_error_(au_err err);

#ifdef __cplusplus
}
#endif
#endif
