/* members.h — one node's membership table: every member it knows (alive, suspected, removed),
 * the merge rule for updates, the queue of changes still to disseminate, and the digest tree
 * for anti-entropy.
 *
 * Keyed by address (a member is a run of the node at that address; a greater id is a later run
 * and replaces the earlier one). For one id, (incarnation, state) orders updates: a greater
 * incarnation wins, and for equal incarnations a later state (ALIVE < SUSPECT < DEAD, LEFT).
 * Only the member itself raises its incarnation (to refute a suspicion, or to leave), so every
 * node that applies the same updates in any order ends with the same table: the merge is a
 * join (per-address maximum).
 *
 * The digest: the live entries' hashes (of address, id, incarnation, state) XORed into buckets
 * at every level of a binary tree (level L: 2^L buckets by the top L bits of the address hash),
 * so a change costs CL_LEVELS + 1 XORs and a digest of any level is read off directly.
 *
 * Not thread-safe: owned by the cluster actor. */
#ifndef AU_CLUSTER_MEMBERS_H
#define AU_CLUSTER_MEMBERS_H

#include "cluster/protocol.h"
#include "util/u64map.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CL_QLEVELS 32 /* dissemination queue levels (members.c) */

/* One per (node, member it knows): a simulation of N nodes holds N² of them, so the fields are
 * ordered to pack and what only a suspect needs is allocated when it is first accused. */
typedef struct cl_member {
    char *addr;
    uint64_t key;          /* XXH3 of addr, never 0 */
    uint64_t id;
    uint32_t inc;
    uint16_t vnodes;
    uint8_t state;
    bool self;             /* this node: never in live[] */
    uint32_t addr_len;     /* strlen(addr): compared on every lookup */
    bool forged;           /* ref holds a forge of ours (undone when the member is dropped) */
    bool queued;           /* in the table's queue, at level tx_done (capped) */
    uint8_t naccusers;
    size_t live_index;     /* in the table's live[], or SIZE_MAX */
    /* suspicion */
    au_nanos suspect_since;
    uint64_t *accusers;    /* CL_MAX_ACCUSERS, allocated at the first accusation; freed with m */
    /* tombstone */
    au_nanos removed_at;
    au_nanos told_at;      /* last time it was told it is dead (rate limit) */
    au_nanos heard_at;     /* last message from it, directly */
    au_nanos confirm_at;   /* last probe asking a claimed run of it (newer, or far ahead) to confirm */
    uint64_t confirm_id;   /* the run that probe asked for */
    uint64_t msg_seen;     /* the last message (cl_state.msg_no) that named it */
    cl_wire_ref ref;       /* forged lazily */
    au_nanos forge_retry_at; /* a failed forge (a full table) is tried again from then on */
    /* dissemination: transmissions left, and done so far (fewest first) */
    unsigned tx_left, tx_done;
    struct cl_member *q_prev, *q_next; /* in its level's list, oldest first */
} cl_member;

#define CL_MAX_ACCUSERS 8

/* The member's address as a borrowed string (no strlen). */
static inline au_str cl_member_addr(const cl_member *m) {
    return (au_str){ .ptr = m->addr, .len = m->addr_len };
}

typedef struct cl_table {
    au_u64map by_key;      /* key -> cl_member * */
    cl_member **live;      /* alive and suspected, self excluded */
    size_t nlive, live_cap;
    /* members with changes still to send, by transmissions done so far (level tx_done, the
     * last level taking the rest), each level in the order its members reached it: taking
     * the least-sent is a walk from level 0, not a scan of the queue */
    cl_member *qhead[CL_QLEVELS], *qtail[CL_QLEVELS];
    size_t nqueue;
    size_t ntombstones;
    uint64_t tree[(2u << CL_LEVELS) - 1]; /* level L at offset 2^L - 1 */
} cl_table;

/* What a merge did. */
typedef enum cl_change {
    CL_NONE = 0,
    CL_NEW_LIVE,      /* an unknown member, alive or suspect */
    CL_NEW_TOMBSTONE, /* an unknown member, already removed */
    CL_REPLACED,      /* a newer run replaced a member (old may have been live) */
    CL_SUSPECTED,     /* alive -> suspect (or a new accuser of a suspect) */
    CL_REFRESHED,     /* a newer incarnation of the same state class */
    CL_REMOVED,       /* live -> dead or left */
    CL_REVIVED,       /* dead or left -> alive or suspect (refuted, healed) */
} cl_change;

static inline bool cl_is_live(uint8_t state) { return state <= CL_SUSPECT; }

/* Longest member address (host:port), bytes. */
#define CL_MAX_ADDR 63

/* The checks every received message passes before it touches the table (cluster.c): an
 * address is host:port of at most CL_MAX_ADDR bytes of [0-9A-Za-z.-[]_:], NUL-terminated at its
 * length; an update has a valid address, a nonzero id, a known state and at most 4096 vnodes; a
 * sync message a valid sender and digest window (level ≤ CL_LEVELS, start and length inside
 * 2^level buckets, at most CL_DIGEST_MAX hashes) and at most CL_MAX_UPDATES entries. */
bool cl_addr_ok(const au_str *a);
bool cl_update_ok(const cl_update *u);
bool cl_sync_ok(const cl_sync *y);

uint64_t cl_key(const char *addr, size_t len);
void cl_table_init(cl_table *t);
void cl_table_free(cl_table *t);
cl_member *cl_table_get(cl_table *t, const char *addr, size_t len);
/* Adds a member that is not in the table (addr copied). NULL when out of memory. */
cl_member *cl_table_add(cl_table *t, const char *addr, size_t len, uint64_t id, uint32_t inc,
                        uint8_t state, uint16_t vnodes);
/* Sets a member's (id, inc, state, vnodes), keeping live[], the counts and the digest right. */
void cl_table_set(cl_table *t, cl_member *m, uint64_t id, uint32_t inc, uint8_t state,
                  uint16_t vnodes);
/* Marks m as this node itself: it stays out of live[]. */
void cl_table_mark_self(cl_table *t, cl_member *m);
/* Removes and frees a member. */
void cl_table_drop(cl_table *t, cl_member *m);

/* Records accuser `by` (0 counts as 1) of suspect m, at most CL_MAX_ACCUSERS, each once; the
 * accuser list is allocated at the first accusation (nothing recorded if that fails). */
void cl_member_accuse(cl_member *m, uint64_t by);
/* Checks the table's invariants (by_key, live[], the counts, the queue, the digest tree):
 * NULL if they hold, else a description of the first that does not. O(table); for tests and
 * the fuzz harness. */
const char *cl_table_check(const cl_table *t);

/* Whether update u would win over the member's current record. */
bool cl_update_wins(const cl_member *m, uint64_t id, uint32_t inc, uint8_t state);

/* Queues m's record for `times` more transmissions (replacing what was left). */
void cl_queue_push(cl_table *t, cl_member *m, unsigned times);
/* Fills out[0..max) with the queued records sent least so far (borrowing their addresses; of
 * those sent equally often, the longest at that count first) and returns how many. count: count one transmission for each (dropping those with none left);
 * false for messages that repeat to the same few members (heartbeats), which must not use up
 * a change's budget before it has spread. */
size_t cl_queue_take(cl_table *t, cl_update *out, size_t max, bool count);

/* The update describing m (borrowing m's address). */
cl_update cl_member_update(const cl_member *m);

/* The digest bucket of key at level L, and a bucket's hash. */
static inline size_t cl_bucket(uint64_t key, unsigned level) {
    return level ? (size_t)(key >> (64 - level)) : 0;
}
static inline uint64_t cl_digest(const cl_table *t, unsigned level, size_t bucket) {
    return t->tree[((size_t)1 << level) - 1 + bucket];
}

#endif
