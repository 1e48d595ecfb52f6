/* aurum/crdt.h — delta-state CRDTs: the vtable a dispersal actor works with, and a library.
 *
 * A CRDT state is an opaque object. Every type has one au_crdt_type vtable (join, equal, encode,
 * decode, ...) used generically, and typed functions for its mutators and reads. Mutators are
 * δ-mutators (Almeida, Shoker, Baquero, "Delta state replicated data types"): they change the
 * state in place and join the change into a delta accumulator, so afterwards
 *     state_after == state_before ⊔ delta        (for a delta that started at bottom)
 * and the delta is what a replica ships to its peers. A delta is an object of the same type; pass
 * NULL when no delta is wanted. Create accumulators with au_<type>_new_delta(): a delta object
 * keeps removals attached to the element they removed, which keeps joining it into a large state
 * (and removing redundancy from it) proportional to the delta, not to the state.
 *
 * Mutators take a state (a causal type refuses a delta accumulator: AU_ESTATE) and the id of the
 * replica making the change: the cluster's member id. Replica ids are never reused, and a dot
 * (replica, counter) names one change of one object: join only replicas of one object (one
 * shared CRDT), never two unrelated objects that happen to share replica ids — a dot of one
 * would read as the other's (an ORSet joined with an unrelated map value of the same replica
 * can lose elements). Two replicas using one id make colliding dots and lose updates; the dot
 * stores (MVRegister, the flags, the counters) then keep the greater of the two payloads under a
 * dot whichever side joins first, so they still converge (an ORSet's or ORMap's elements and keys
 * may not). On an error
 * the state is unchanged (on AU_ENOMEM the delta may already hold the change, which is harmless:
 * joining it later only re-applies it). A mutator returns AU_EINVAL, reading nothing and changing
 * nothing, for a NULL state, a delta that is the state itself, or bytes (element, key, value)
 * longer than 2^31 or NULL with a nonzero length; NULL with length 0 is the empty string. A
 * state or delta of another type (see au_crdt_type; e.g. an ORMap's value handed to another
 * value type's mutator through void *) is refused with AU_ETYPE, nothing changed.
 *
 * Redundancy removal (Enes et al., "Efficient synchronization of state-based CRDTs"):
 * delta_minus(d, s) removes from a received delta d what the local state s already has, so that
 * s ⊔ d' == s ⊔ d and, if d adds nothing to s (d ⊑ s), d' is bottom. A dispersal actor buffers
 * and forwards d' instead of d, so buffered delta groups do not degenerate into full states.
 * It costs the size of d for deltas made by mutators, and one pass over s when d is a full state.
 *
 * Encodings are a compact format of our own (LEB128 varints, 8-byte replica ids; why not CBOR:
 * see src/crdt/codec.c): one update's delta takes at most 32 bytes beyond its element, key or
 * value bytes (tests/crdt/test_crdt_sizes.c prints the table).
 *
 * Elements and keys are byte strings (pointer + length). Reads return views into the state that
 * stay valid until the state is next changed or freed. Reads take a NULL object, or an object
 * of another type (e.g. a map of maps' value read one level short), as bottom, and bytes a
 * mutator would refuse (see above) as absent, without reading them.
 *
 * Causal types (ORSet, MVRegister, the flags, the counters and ORMap) keep a causal context: a
 * compact version vector plus a dot cloud. Limits: 65,534 replicas per state and 2^48 - 2 dots
 * per replica; beyond them mutators and joins return AU_EFULL.
 *
 * Not thread-safe: one state belongs to one actor (or one thread) at a time. */
#ifndef AURUM_CRDT_H
#define AURUM_CRDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <aurum/error.h>
#include <aurum/export.h>
#include <aurum/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the vtable --------------------------------------------------------------------------- */

/** A read-only view of a byte string inside a CRDT state. */
typedef struct au_crdt_bytes {
    const void *ptr;
    size_t len;
} au_crdt_bytes;

/** Cursor for the au_<type>_next() iteration functions; start it at AU_CRDT_ITER_INIT. Any
 *  change to the state invalidates it: later calls with it stay in bounds and reach the end,
 *  but may skip or repeat elements. Order is unspecified (hash order). */
typedef struct au_crdt_iter {
    uint32_t pos_;
} au_crdt_iter;
/** The starting value of an au_crdt_iter. */
#define AU_CRDT_ITER_INIT { 0 }

struct au_crdt_causal_;
typedef struct au_crdt_type au_crdt_type;

/** How a CRDT is described to generic code (the dispersal actor). Every function is total on its
 *  documented inputs; allocation failures return AU_ENOMEM and leave the target unchanged or, for
 *  join and delta_minus, still a valid state that is at most the expected result. Objects are
 *  ones the library made (create, decode, copy). A NULL object or out is never read through:
 *  join, encode, copy, delta_minus and prune return AU_EINVAL (copy with *out NULL; decode with
 *  a NULL out or a NULL type too, *out then NULL), equal is true only for two NULLs, is_bottom is true, digest 0, free does
 *  nothing. Objects of another
 *  type (another vtable, or an ORMap with another value type) are told apart: join and
 *  delta_minus refuse them with AU_ETYPE and change nothing, equal is false, and free frees
 *  any built-in object whichever built-in vtable it is given to; the other functions take
 *  objects of their own type only (anything else is undefined). An ORMap type made with
 *  AU_CRDT_ORMAP_TYPE over the same value type is the same lattice and joins. */
struct au_crdt_type {
    /** Stable name with a version, e.g. "au.orset.1"; peers sharing a CRDT must agree on it. */
    const char *name;
    /** A new bottom state (delta false) or delta accumulator (delta true); NULL on ENOMEM. */
    void *(*create)(const au_crdt_type *type, bool delta);
    /** Frees a state (NULL is fine). */
    void (*free)(void *state);
    /** state ⊔= other, in place. A semilattice join: commutative, associative, idempotent. */
    au_err (*join)(void *state, const void *other);
    /** True if a and b are the same lattice element (whatever their internal layout). */
    bool (*equal)(const void *a, const void *b);
    /** A 64-bit hash of the lattice element: states for which equal() is true give the same
     *  digest, whatever their history or internal layout (so two replicas can compare states
     *  without sending them); different states differ but for hash collisions. NULL: the type
     *  has none (au_share then falls back to sending full states to a member catching up).
     *  Built-in types: the same on every platform (replicas on different machines compare
     *  them; tests/crdt/test_crdt_digest.c pins some values); one pass over the state, no
     *  sorting, no allocation for a state: about 4 ms (40 ns per element) for a 100,000-element ORSet of 16-byte elements
     *  (bench/crdt/crdt_bench.c, AMD EPYC). A delta accumulator is first normalized into a
     *  temporary state, as equal() does; should that allocation fail, the digest is a value of
     *  that call alone, which matches no other digest but by collision. Compare digests of
     *  states of one type only. */
    uint64_t (*digest)(const void *state);
    /** True if state is bottom (a delta that changes nothing). */
    bool (*is_bottom)(const void *state);
    /** Appends the compact binary encoding of state (or delta) to out. */
    au_err (*encode)(const void *state, au_buf *out);
    /** Decodes bytes made by encode into a new object (*out). Total on hostile input: AU_EDECODE
     *  for anything malformed, truncated or with trailing bytes; allocation is bounded by a
     *  small multiple of len. *out is NULL on failure. data NULL with len > 0: AU_EINVAL
     *  (nothing read); NULL with len 0 is the empty input (AU_EDECODE). */
    au_err (*decode)(const au_crdt_type *type, const uint8_t *data, size_t len, void **out);
    /** A deep copy of state (same mode: state or delta) into *out. */
    au_err (*copy)(const void *state, void **out);
    /** Redundancy removal: shrinks delta so that state ⊔ delta is unchanged and delta holds
     *  nothing state already has; a delta with nothing new for state becomes bottom. delta
     *  becomes a delta accumulator (see the top of this file). delta == state: AU_EINVAL,
     *  nothing changes. */
    au_err (*delta_minus)(void *delta, const void *state);
    /** Prunes the per-replica entries of `departed`, a replica that left for good, on the replica
     *  `self`; the change is joined into delta (NULL: none). See "Pruning" below for each type's
     *  precondition. Types without per-replica entries do nothing and return AU_OK. A departed
     *  the state has never seen: AU_OK, nothing changes (by P2 there is nothing to prune). For
     *  the causal types AU_EINVAL, nothing changed, for departed == self (when the state has
     *  seen it), delta == state, and a counter fold that would overflow self's entry. */
    au_err (*prune)(void *state, void *delta, uint64_t departed, uint64_t self);
    /** True if exactly one replica may prune a given departed replica (the counters fold its
     *  count into the pruner's own entry); false if every replica may prune independently. */
    bool prune_once;
    /** Type parameter: for an ORMap, the vtable of its values; else NULL. */
    const au_crdt_type *param;
    /** Internal: the causal-value interface of built-in types that can be ORMap values. */
    const struct au_crdt_causal_ *causal_;
};

/** A δ-mutator for generic code: applies one change to state and joins it into delta (delta may
 *  be NULL). Returns AU_OK or an error, in which case state and delta are unchanged. */
typedef au_err (*au_crdt_mutator)(void *state, void *delta, void *arg);

/** A new bottom state of type t (NULL on ENOMEM). */
static inline void *au_crdt_new(const au_crdt_type *t) { return t->create(t, false); }
/** A new delta accumulator of type t (NULL on ENOMEM). */
static inline void *au_crdt_new_delta(const au_crdt_type *t) { return t->create(t, true); }

/* ---- Pruning -------------------------------------------------------------------------------
 *
 * When a replica leaves for good (its id will never mutate again), its per-replica entries can be
 * pruned with prune(state, delta, departed, self). Common precondition for every type:
 *   (P1) `departed` never mutates the CRDT again (member ids are not reused);
 *   (P2) `self`'s state already includes every update `departed` ever made (e.g. prune a while
 *        after the departure event, once its last deltas have been delivered).
 * If P2 is violated, updates of `departed` that had not reached `self` are lost (never
 * resurrected, never counted twice).
 *
 * GCounter, PNCounter (prune_once = true): `departed`'s count is folded into `self`'s entry and
 * `departed` is retired. Additionally (P3): exactly one replica prunes a given `departed` — e.g.
 * the live member with the lowest id at the departure event — and ships the delta; every other
 * replica only joins it. The retirement travels with the delta, so stale states or deltas still
 * carrying `departed`'s entry are absorbed without counting it twice. A prune that finds no
 * entry of `departed`'s to fold (it was retired already) changes nothing and leaves delta as it
 * was (a retirement alone would read as the removal of live entries elsewhere).
 *
 * ORSet, MVRegister, the flags, ORMap (prune_once = false): `departed` is retired in the causal
 * context — it is known to have no dot the state has not seen, so its version-vector entry
 * becomes a final marker and any dot cloud entries of it (gaps that will never fill because its
 * last deltas were lost) are dropped. Every replica does this on its own once P2 holds: delta
 * stays unchanged (shipped alone, "every dot of departed is known" would read as the removal of
 * its live dots; a full state carries the marker together with them). Elements it added stay
 * (they are data); a stale delta re-adding something removed is rejected, exactly as before, so
 * nothing removed comes back. Counters inside an ORMap are not folded (a fold is an update
 * concurrent with a possible removal of the key, and would revive it).
 *
 * What remains of a retired replica is its id and one marker word. Dropping those too would need
 * global quiescence (every replica retired it and no older state is in flight anywhere), which a
 * state cannot observe; they are kept.
 *
 * GSet, 2PSet, LWWRegister, LWWMap keep no per-replica entries: prune does nothing.
 * ------------------------------------------------------------------------------------------- */

/* Generates the generic operations of au_<T> as type-checked inline functions:
 * au_T_new, au_T_new_delta, au_T_free, au_T_join, au_T_equal, au_T_digest, au_T_is_bottom,
 * au_T_encode, au_T_decode, au_T_copy, au_T_delta_minus, au_T_prune; all forward to au_T_type. */
#define AU_CRDT_TYPED_OPS_(T)                                                                      \
    static inline au_##T *au_##T##_new(void) {                                                    \
        return (au_##T *)au_##T##_type.create(&au_##T##_type, false);                             \
    }                                                                                              \
    static inline au_##T *au_##T##_new_delta(void) {                                              \
        return (au_##T *)au_##T##_type.create(&au_##T##_type, true);                              \
    }                                                                                              \
    static inline void au_##T##_free(au_##T *s) { au_##T##_type.free(s); }                        \
    static inline au_err au_##T##_join(au_##T *s, const au_##T *other) {                         \
        return au_##T##_type.join(s, other);                                                      \
    }                                                                                              \
    static inline bool au_##T##_equal(const au_##T *a, const au_##T *b) {                        \
        return au_##T##_type.equal(a, b);                                                         \
    }                                                                                              \
    static inline uint64_t au_##T##_digest(const au_##T *s) { return au_##T##_type.digest(s); }   \
    static inline bool au_##T##_is_bottom(const au_##T *s) { return au_##T##_type.is_bottom(s); } \
    static inline au_err au_##T##_encode(const au_##T *s, au_buf *out) {                          \
        return au_##T##_type.encode(s, out);                                                      \
    }                                                                                              \
    static inline au_err au_##T##_decode(const uint8_t *data, size_t len, au_##T **out) {         \
        void *v = NULL;                                                                            \
        au_err err = au_##T##_type.decode(&au_##T##_type, data, len, &v);                         \
        *out = (au_##T *)v;                                                                        \
        return err;                                                                                \
    }                                                                                              \
    static inline au_err au_##T##_copy(const au_##T *s, au_##T **out) {                           \
        void *v = NULL;                                                                            \
        au_err err = au_##T##_type.copy(s, &v);                                                   \
        *out = (au_##T *)v;                                                                        \
        return err;                                                                                \
    }                                                                                              \
    static inline au_err au_##T##_delta_minus(au_##T *delta, const au_##T *state) {               \
        return au_##T##_type.delta_minus(delta, state);                                           \
    }                                                                                              \
    static inline au_err au_##T##_prune(au_##T *s, au_##T *delta, uint64_t departed,             \
                                        uint64_t self) {                                           \
        return au_##T##_type.prune(s, delta, departed, self);                                     \
    }                                                                                              \
    AU_DECL_END_

/* ---- GCounter: a grow-only counter --------------------------------------------------------- */

typedef struct au_gcounter au_gcounter;
/** The vtable of GCounter ("au.gcounter.1"). Usable as an ORMap value. */
AU_API extern const au_crdt_type au_gcounter_type;
AU_CRDT_TYPED_OPS_(gcounter);
/** Adds n to replica's entry. AU_EINVAL if the entry would overflow uint64_t. */
AU_API au_err au_gcounter_inc(au_gcounter *s, au_gcounter *delta, uint64_t replica, uint64_t n);
/** The counter's value: the sum of every replica's entry (wraps modulo 2^64). */
AU_API uint64_t au_gcounter_value(const au_gcounter *s);

/* ---- PNCounter: a counter that goes up and down -------------------------------------------- */

typedef struct au_pncounter au_pncounter;
/** The vtable of PNCounter ("au.pncounter.1"). Usable as an ORMap value. */
AU_API extern const au_crdt_type au_pncounter_type;
AU_CRDT_TYPED_OPS_(pncounter);
/** Adds n (negative: subtracts) on behalf of replica. AU_EINVAL if an entry would overflow. */
AU_API au_err au_pncounter_add(au_pncounter *s, au_pncounter *delta, uint64_t replica, int64_t n);
/** The counter's value: increments minus decrements (wraps modulo 2^64). */
AU_API int64_t au_pncounter_value(const au_pncounter *s);

/* ---- GSet: a grow-only set of byte strings ------------------------------------------------- */

typedef struct au_gset au_gset;
/** The vtable of GSet ("au.gset.1"). */
AU_API extern const au_crdt_type au_gset_type;
AU_CRDT_TYPED_OPS_(gset);
/** Adds elem (len bytes; up to 2^31 bytes). */
AU_API au_err au_gset_add(au_gset *s, au_gset *delta, const void *elem, size_t len);
/** True if elem is in the set. */
AU_API bool au_gset_contains(const au_gset *s, const void *elem, size_t len);
/** Number of elements. */
AU_API size_t au_gset_size(const au_gset *s);
/** Next element into *elem; false at the end. */
AU_API bool au_gset_next(const au_gset *s, au_crdt_iter *it, au_crdt_bytes *elem);

/* ---- 2PSet: a set whose removals are final ------------------------------------------------- */

typedef struct au_twopset au_twopset;
/** The vtable of 2PSet ("au.twopset.1"). A removed element stays removed (its tombstone is
 *  kept forever); use ORSet when elements come back. */
AU_API extern const au_crdt_type au_twopset_type;
AU_CRDT_TYPED_OPS_(twopset);
/** Adds elem; AU_ESTATE (nothing changes) if elem was removed before. */
AU_API au_err au_twopset_add(au_twopset *s, au_twopset *delta, const void *elem, size_t len);
/** Removes elem for good (also if it was never added here: the removal wins over any add). */
AU_API au_err au_twopset_remove(au_twopset *s, au_twopset *delta, const void *elem, size_t len);
/** True if elem was added and never removed. */
AU_API bool au_twopset_contains(const au_twopset *s, const void *elem, size_t len);
/** Number of elements (added, not removed). */
AU_API size_t au_twopset_size(const au_twopset *s);
/** Next element (added, not removed) into *elem; false at the end. */
AU_API bool au_twopset_next(const au_twopset *s, au_crdt_iter *it, au_crdt_bytes *elem);

/* ---- ORSet: an add-wins observed-remove set ------------------------------------------------ */

typedef struct au_orset au_orset;
/** The vtable of ORSet ("au.orset.1"). An add concurrent with a remove of the same element wins;
 *  a remove removes exactly the adds it has seen, which never come back. No tombstones: memory
 *  is proportional to the elements present. Usable as an ORMap value. */
AU_API extern const au_crdt_type au_orset_type;
AU_CRDT_TYPED_OPS_(orset);
/** Adds elem (up to 2^31 bytes) on behalf of replica. */
AU_API au_err au_orset_add(au_orset *s, au_orset *delta, uint64_t replica, const void *elem,
                           size_t len);
/** Removes elem (the adds of it this state has seen); nothing happens if it is absent. */
AU_API au_err au_orset_remove(au_orset *s, au_orset *delta, const void *elem, size_t len);
/** Removes every element. */
AU_API au_err au_orset_clear(au_orset *s, au_orset *delta);
/** True if elem is in the set. */
AU_API bool au_orset_contains(const au_orset *s, const void *elem, size_t len);
/** Number of elements. */
AU_API size_t au_orset_size(const au_orset *s);
/** Next element into *elem; false at the end. */
AU_API bool au_orset_next(const au_orset *s, au_crdt_iter *it, au_crdt_bytes *elem);
/** Bytes of memory the set holds (tables, element storage, context), for measurements; 0 for
 *  NULL. */
AU_API size_t au_orset_memory(const au_orset *s);

/* ---- LWWRegister: a last-writer-wins register ---------------------------------------------- */

typedef struct au_lwwreg au_lwwreg;
/** The vtable of LWWRegister ("au.lwwreg.1"). Writes are ordered by (timestamp, replica); the
 *  caller supplies timestamps (e.g. milliseconds of wall-clock or a hybrid logical clock). */
AU_API extern const au_crdt_type au_lwwreg_type;
AU_CRDT_TYPED_OPS_(lwwreg);
/** Writes value. The write gets timestamp max(timestamp, current timestamp + 1), so a local
 *  write always supersedes what this replica has seen. */
AU_API au_err au_lwwreg_set(au_lwwreg *s, au_lwwreg *delta, uint64_t replica, uint64_t timestamp,
                            const void *value, size_t len);
/** The current value into *value; false if never written. */
AU_API bool au_lwwreg_get(const au_lwwreg *s, au_crdt_bytes *value);
/** Timestamp of the current value (0 if never written). */
AU_API uint64_t au_lwwreg_timestamp(const au_lwwreg *s);

/* ---- MVRegister: a multi-value register ---------------------------------------------------- */

typedef struct au_mvreg au_mvreg;
/** The vtable of MVRegister ("au.mvreg.1"): a write replaces every value it has seen; concurrent
 *  writes are all kept until a later write replaces them. Usable as an ORMap value. */
AU_API extern const au_crdt_type au_mvreg_type;
AU_CRDT_TYPED_OPS_(mvreg);
/** Writes value (up to 2^31 bytes) on behalf of replica. */
AU_API au_err au_mvreg_set(au_mvreg *s, au_mvreg *delta, uint64_t replica, const void *value,
                           size_t len);
/** Removes every value (the register reads as never written). */
AU_API au_err au_mvreg_clear(au_mvreg *s, au_mvreg *delta);
/** Number of current values (0: never written or cleared; 2 or more: concurrent writes). */
AU_API size_t au_mvreg_count(const au_mvreg *s);
/** Next current value into *value; false at the end. */
AU_API bool au_mvreg_next(const au_mvreg *s, au_crdt_iter *it, au_crdt_bytes *value);

/* ---- Flags: enable-wins and disable-wins --------------------------------------------------- */

typedef struct au_ewflag au_ewflag;
/** The vtable of the enable-wins flag ("au.ewflag.1"): starts disabled; an enable concurrent
 *  with a disable wins. Usable as an ORMap value. */
AU_API extern const au_crdt_type au_ewflag_type;
AU_CRDT_TYPED_OPS_(ewflag);
/** Enables the flag on behalf of replica. */
AU_API au_err au_ewflag_enable(au_ewflag *s, au_ewflag *delta, uint64_t replica);
/** Disables the flag (replica is unused; kept for symmetry with the disable-wins flag). */
AU_API au_err au_ewflag_disable(au_ewflag *s, au_ewflag *delta, uint64_t replica);
/** True if enabled. */
AU_API bool au_ewflag_value(const au_ewflag *s);

typedef struct au_dwflag au_dwflag;
/** The vtable of the disable-wins flag ("au.dwflag.1"): starts disabled; a disable concurrent
 *  with an enable wins. Usable as an ORMap value. */
AU_API extern const au_crdt_type au_dwflag_type;
AU_CRDT_TYPED_OPS_(dwflag);
/** Enables the flag on behalf of replica. */
AU_API au_err au_dwflag_enable(au_dwflag *s, au_dwflag *delta, uint64_t replica);
/** Disables the flag on behalf of replica. */
AU_API au_err au_dwflag_disable(au_dwflag *s, au_dwflag *delta, uint64_t replica);
/** True if enabled (some enable is current and no concurrent disable). */
AU_API bool au_dwflag_value(const au_dwflag *s);

/* ---- ORMap: an observed-remove map whose values are causal CRDTs -------------------------- */

typedef struct au_ormap au_ormap;
/** The generic ORMap (Almeida et al.): byte-string keys to values of one causal CRDT type,
 *  sharing the map's causal context. A key is present while its value is not bottom. Updating a
 *  key concurrently with its removal keeps the key (add-wins) with the effects the remover had
 *  not seen: for counters, the updating replica's whole contribution; for sets, the concurrent
 *  adds. A removed key that is updated again later starts from bottom.
 *  Each map type is an au_crdt_type made by AU_CRDT_ORMAP_TYPE (built-ins below). */
/** The value (an object of the map's value type) at key, or NULL if absent. */
AU_API const void *au_ormap_get(const au_ormap *m, const void *key, size_t len);
/** Applies fn(value, value_delta, arg) to the value at key (bottom if absent; created as
 *  needed), then drops the key if its value ended up bottom. fn must use the value type's own
 *  mutators (another type's refuse the value with AU_ETYPE, which update returns, the map
 *  unchanged). delta may be NULL; fn NULL: AU_EINVAL. */
AU_API au_err au_ormap_update(au_ormap *m, au_ormap *delta, const void *key, size_t len,
                              au_crdt_mutator fn, void *arg);
/** Removes key (the updates of it this state has seen); nothing happens if absent. */
AU_API au_err au_ormap_remove(au_ormap *m, au_ormap *delta, const void *key, size_t len);
/** True if key is present. */
AU_API bool au_ormap_contains(const au_ormap *m, const void *key, size_t len);
/** Number of keys. */
AU_API size_t au_ormap_size(const au_ormap *m);
/** Next key and value; false at the end. value may be NULL. */
AU_API bool au_ormap_next(const au_ormap *m, au_crdt_iter *it, au_crdt_bytes *key,
                          const void **value);

/* The operations of every causal type, behind AU_CRDT_ORMAP_TYPE (call them via the vtable). */
AU_API void *au_crdt_causal_create_(const au_crdt_type *type, bool delta);
AU_API au_err au_crdt_causal_decode_(const au_crdt_type *type, const uint8_t *data, size_t len,
                                     void **out);
AU_API void au_crdt_causal_free_(void *s);
AU_API au_err au_crdt_causal_join_(void *s, const void *other);
AU_API bool au_crdt_causal_equal_(const void *a, const void *b);
AU_API uint64_t au_crdt_causal_digest_(const void *s);
AU_API bool au_crdt_causal_is_bottom_(const void *s);
AU_API au_err au_crdt_causal_encode_(const void *s, au_buf *out);
AU_API au_err au_crdt_causal_copy_(const void *s, void **out);
AU_API au_err au_crdt_causal_delta_minus_(void *delta, const void *state);
AU_API au_err au_crdt_causal_prune_(void *s, void *delta, uint64_t departed, uint64_t self);
AU_API extern const struct au_crdt_causal_ au_ormap_causal_;

/** Defines `const au_crdt_type name`, the vtable of ORMaps whose values have vtable
 *  *value_type (a built-in causal type or another ORMap type), e.g.
 *      AU_CRDT_ORMAP_TYPE(sessions_type, "app.sessions.1", &au_ormap_orset_type);
 *  (a map of maps of sets). Returns bottom maps from create; decode checks the value type. A
 *  value_type that is NULL or not causal (GSet, 2PSet, the LWW types) makes a type whose create
 *  returns NULL and whose decode returns AU_EINVAL. */
#define AU_CRDT_ORMAP_TYPE(name_, text_name, value_type)                                          \
    const au_crdt_type name_ = {                                                                  \
        .name = (text_name), .create = au_crdt_causal_create_, .free = au_crdt_causal_free_,            \
        .join = au_crdt_causal_join_, .equal = au_crdt_causal_equal_,                             \
        .digest = au_crdt_causal_digest_,                                                          \
        .is_bottom = au_crdt_causal_is_bottom_, .encode = au_crdt_causal_encode_,                 \
        .decode = au_crdt_causal_decode_, .copy = au_crdt_causal_copy_,                                 \
        .delta_minus = au_crdt_causal_delta_minus_, .prune = au_crdt_causal_prune_,               \
        .prune_once = false, .param = (value_type), .causal_ = &au_ormap_causal_ }

/* Typed ORMaps. AU_ORMAP_OF(T) declares au_ormap_T, a handle (a struct wrapping au_ormap *)
 * distinct for every T, so that a map of counters passed where a map of sets is expected is a
 * compile error, and values come back as `const au_T *`:
 *     au_ormap_pncounter m = au_ormap_pncounter_new(), d = au_ormap_pncounter_new_delta();
 *     au_ormap_pncounter_update(m, d, "k", 1, bump, &ctx);     // bump(au_pncounter *, ...)
 *     int64_t v = au_pncounter_value(au_ormap_pncounter_get(m, "k", 1));  // 0 if absent
 * Generated: _new, _new_delta, _free, _join, _equal, _digest, _is_bottom, _encode, _decode, _copy,
 * _delta_minus, _prune, _get, _update, _remove, _contains, _size, _next; AU_ORMAP_NODELTA(T) is
 * the handle meaning "no delta". The generic map is .map; its vtable is au_ormap_T_type. For the
 * built-in maps, _update's mutator and _next's value pointer are checked exactly (see below). */
#define AU_ORMAP_NODELTA(T) ((au_ormap_##T){ NULL })
#define AU_ORMAP_OF(T)                                                                             \
    typedef struct au_ormap_##T {                                                                 \
        au_ormap *map;                                                                             \
    } au_ormap_##T;                                                                                \
    AU_API extern const au_crdt_type au_ormap_##T##_type;                                         \
    typedef au_err (*au_ormap_##T##_mutator)(au_##T *value, au_##T *value_delta, void *arg);      \
    struct au_ormap_##T##_call_ {                                                                 \
        au_ormap_##T##_mutator fn;                                                                \
        void *arg;                                                                                 \
    };                                                                                             \
    static inline au_err au_ormap_##T##_trampoline_(void *v, void *dv, void *arg) {                     \
        struct au_ormap_##T##_call_ *c = (struct au_ormap_##T##_call_ *)arg;                      \
        return c->fn((au_##T *)v, (au_##T *)dv, c->arg);                                         \
    }                                                                                              \
    static inline au_ormap_##T au_ormap_##T##_new(void) {                                         \
        return (au_ormap_##T){ (au_ormap *)au_crdt_causal_create_(&au_ormap_##T##_type, false) };      \
    }                                                                                              \
    static inline au_ormap_##T au_ormap_##T##_new_delta(void) {                                   \
        return (au_ormap_##T){ (au_ormap *)au_crdt_causal_create_(&au_ormap_##T##_type, true) };       \
    }                                                                                              \
    static inline void au_ormap_##T##_free(au_ormap_##T m) { au_crdt_causal_free_(m.map); }      \
    static inline au_err au_ormap_##T##_join(au_ormap_##T m, au_ormap_##T other) {               \
        return au_crdt_causal_join_(m.map, other.map);                                            \
    }                                                                                              \
    static inline bool au_ormap_##T##_equal(au_ormap_##T a, au_ormap_##T b) {                    \
        return au_crdt_causal_equal_(a.map, b.map);                                               \
    }                                                                                              \
    static inline uint64_t au_ormap_##T##_digest(au_ormap_##T m) {                               \
        return au_crdt_causal_digest_(m.map);                                                     \
    }                                                                                              \
    static inline bool au_ormap_##T##_is_bottom(au_ormap_##T m) {                                \
        return au_crdt_causal_is_bottom_(m.map);                                                  \
    }                                                                                              \
    static inline au_err au_ormap_##T##_encode(au_ormap_##T m, au_buf *out) {                    \
        return au_crdt_causal_encode_(m.map, out);                                                \
    }                                                                                              \
    static inline au_err au_ormap_##T##_decode(const uint8_t *data, size_t len,                   \
                                               au_ormap_##T *out) {                               \
        void *v = NULL;                                                                            \
        au_err err = au_crdt_causal_decode_(&au_ormap_##T##_type, data, len, &v);                       \
        out->map = (au_ormap *)v;                                                                  \
        return err;                                                                                \
    }                                                                                              \
    static inline au_err au_ormap_##T##_copy(au_ormap_##T m, au_ormap_##T *out) {                \
        void *v = NULL;                                                                            \
        au_err err = au_crdt_causal_copy_(m.map, &v);                                             \
        out->map = (au_ormap *)v;                                                                  \
        return err;                                                                                \
    }                                                                                              \
    static inline au_err au_ormap_##T##_delta_minus(au_ormap_##T delta, au_ormap_##T state) {    \
        return au_crdt_causal_delta_minus_(delta.map, state.map);                                 \
    }                                                                                              \
    static inline au_err au_ormap_##T##_prune(au_ormap_##T m, au_ormap_##T delta,                \
                                              uint64_t departed, uint64_t self) {                 \
        return au_crdt_causal_prune_(m.map, delta.map, departed, self);                           \
    }                                                                                              \
    static inline const au_##T *au_ormap_##T##_get(au_ormap_##T m, const void *key, size_t len) { \
        return (const au_##T *)au_ormap_get(m.map, key, len);                                     \
    }                                                                                              \
    static inline au_err au_ormap_##T##_update(au_ormap_##T m, au_ormap_##T delta,                \
                                               const void *key, size_t len,                       \
                                               au_ormap_##T##_mutator fn, void *arg) {            \
        struct au_ormap_##T##_call_ c = { fn, arg };                                              \
        return au_ormap_update(m.map, delta.map, key, len, au_ormap_##T##_trampoline_, &c);            \
    }                                                                                              \
    static inline au_err au_ormap_##T##_remove(au_ormap_##T m, au_ormap_##T delta,                \
                                               const void *key, size_t len) {                     \
        return au_ormap_remove(m.map, delta.map, key, len);                                       \
    }                                                                                              \
    static inline bool au_ormap_##T##_contains(au_ormap_##T m, const void *key, size_t len) {    \
        return au_ormap_contains(m.map, key, len);                                                \
    }                                                                                              \
    static inline size_t au_ormap_##T##_size(au_ormap_##T m) { return au_ormap_size(m.map); }    \
    static inline bool au_ormap_##T##_next(au_ormap_##T m, au_crdt_iter *it, au_crdt_bytes *key, \
                                           const au_##T **value) {                                \
        const void *v = NULL;                                                                      \
        bool more = au_ormap_next(m.map, it, key, &v);                                            \
        if (value) *value = (const au_##T *)v;                                                     \
        return more;                                                                               \
    }                                                                                              \
    AU_DECL_END_

/* The built-in typed maps (their vtables live in the library). Reading an absent key's value
 * gives NULL; the read functions of every value type accept NULL as bottom (value 0, empty). */
AU_ORMAP_OF(gcounter);
AU_ORMAP_OF(pncounter);
AU_ORMAP_OF(orset);
AU_ORMAP_OF(mvreg);
AU_ORMAP_OF(ewflag);
AU_ORMAP_OF(dwflag);

/* The built-in typed maps' _update and _next check their typed argument exactly: a mutator of
 * another value type (or of another signature) given to _update, or a `const au_U **` of another
 * value type U given to _next (as the place to read values into), is a hard compile error, where
 * passing it to the function itself would only be an "incompatible pointer" warning before
 * C23-era compilers (GCC 14, Clang 16). _next's value may still be NULL. The macros have the
 * functions' names, so the functions are still there to take the address of. A map declared with
 * AU_ORMAP_OF(T) for a T of one's own gets the functions only; wrap them the same way, e.g.
 *     #define au_ormap_T_update(m, d, k, l, fn, arg) \
 *         au_ormap_T_update((m), (d), (k), (l), AU_ORMAP_CHECK_(au_ormap_T_mutator, fn), (arg))
 * Not covered: _get returns `const au_T *`, and storing that pointer into a `const au_U *` (or
 * passing it to a reader of U) is still only a warning; read the value with the readers of T
 * (a reader of U reads it as bottom, a mutator of U refuses it with AU_ETYPE). */
#define AU_ORMAP_CHECK_(F, x) _Generic((x), F: (x))
#define AU_ORMAP_CHECK_OUT_(F, x) _Generic((x), F: (x), void *: (x))
#define au_ormap_gcounter_update(m, d, key, len, fn, arg)                                 \
    au_ormap_gcounter_update((m), (d), (key), (len), AU_ORMAP_CHECK_(au_ormap_gcounter_mutator, fn), \
                        (arg))
#define au_ormap_gcounter_next(m, it, key, value) \
    au_ormap_gcounter_next((m), (it), (key), AU_ORMAP_CHECK_OUT_(const au_gcounter **, value))
#define au_ormap_pncounter_update(m, d, key, len, fn, arg)                                 \
    au_ormap_pncounter_update((m), (d), (key), (len), AU_ORMAP_CHECK_(au_ormap_pncounter_mutator, fn), \
                        (arg))
#define au_ormap_pncounter_next(m, it, key, value) \
    au_ormap_pncounter_next((m), (it), (key), AU_ORMAP_CHECK_OUT_(const au_pncounter **, value))
#define au_ormap_orset_update(m, d, key, len, fn, arg)                                 \
    au_ormap_orset_update((m), (d), (key), (len), AU_ORMAP_CHECK_(au_ormap_orset_mutator, fn), \
                        (arg))
#define au_ormap_orset_next(m, it, key, value) \
    au_ormap_orset_next((m), (it), (key), AU_ORMAP_CHECK_OUT_(const au_orset **, value))
#define au_ormap_mvreg_update(m, d, key, len, fn, arg)                                 \
    au_ormap_mvreg_update((m), (d), (key), (len), AU_ORMAP_CHECK_(au_ormap_mvreg_mutator, fn), \
                        (arg))
#define au_ormap_mvreg_next(m, it, key, value) \
    au_ormap_mvreg_next((m), (it), (key), AU_ORMAP_CHECK_OUT_(const au_mvreg **, value))
#define au_ormap_ewflag_update(m, d, key, len, fn, arg)                                 \
    au_ormap_ewflag_update((m), (d), (key), (len), AU_ORMAP_CHECK_(au_ormap_ewflag_mutator, fn), \
                        (arg))
#define au_ormap_ewflag_next(m, it, key, value) \
    au_ormap_ewflag_next((m), (it), (key), AU_ORMAP_CHECK_OUT_(const au_ewflag **, value))
#define au_ormap_dwflag_update(m, d, key, len, fn, arg)                                 \
    au_ormap_dwflag_update((m), (d), (key), (len), AU_ORMAP_CHECK_(au_ormap_dwflag_mutator, fn), \
                        (arg))
#define au_ormap_dwflag_next(m, it, key, value) \
    au_ormap_dwflag_next((m), (it), (key), AU_ORMAP_CHECK_OUT_(const au_dwflag **, value))

/* ---- LWWMap: a map of last-writer-wins byte-string values ---------------------------------- */

typedef struct au_lwwmap au_lwwmap;
/** The vtable of LWWMap ("au.lwwmap.1"): every key is an LWWRegister; a removal is a write of
 *  "absent" (its tombstone — key and timestamp — is kept so that older writes stay superseded). */
AU_API extern const au_crdt_type au_lwwmap_type;
AU_CRDT_TYPED_OPS_(lwwmap);
/** Writes value at key, with timestamp max(timestamp, the key's current timestamp + 1). Keys up
 *  to 2^31 bytes, values below 2^31 bytes (AU_EINVAL beyond). */
AU_API au_err au_lwwmap_set(au_lwwmap *m, au_lwwmap *delta, uint64_t replica, uint64_t timestamp,
                            const void *key, size_t klen, const void *value, size_t vlen);
/** Removes key: a write of "absent", timestamped as au_lwwmap_set (also when this replica never
 *  saw the key, so that the removal supersedes older writes made elsewhere). */
AU_API au_err au_lwwmap_remove(au_lwwmap *m, au_lwwmap *delta, uint64_t replica,
                               uint64_t timestamp, const void *key, size_t klen);
/** The value at key into *value; false if absent. */
AU_API bool au_lwwmap_get(const au_lwwmap *m, const void *key, size_t klen, au_crdt_bytes *value);
/** Number of present keys. */
AU_API size_t au_lwwmap_size(const au_lwwmap *m);
/** Next present key and value; false at the end. value may be NULL. */
AU_API bool au_lwwmap_next(const au_lwwmap *m, au_crdt_iter *it, au_crdt_bytes *key,
                           au_crdt_bytes *value);

#ifdef __cplusplus
}
#endif
#endif
