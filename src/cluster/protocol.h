/* protocol.h — the cluster's wire protocol: the messages cluster actors send each other, and the
 * cluster actor's own root type.
 *
 * Every message names its sender (address and run id) and may carry member updates: a member's
 * address, run id, incarnation, state and vnodes, plus for a suspicion the hash of the accuser's
 * address. No message on the steady-state path grows with the cluster: heartbeats, gossip,
 * probes and acks carry at most max_piggyback updates, a sync digest at most CL_DIGEST_MAX
 * bucket hashes, and a digest causes at most CL_SYNC_BUDGET entries each way in messages of
 * CL_SYNC_ENTRIES. Only joins and merges of two clusters
 * stream a whole member table (in chunks of CL_SYNC_ENTRIES). Without a cluster key, every chunk
 * of an answer is paid from the node's answer budget (cluster.c), or withheld.
 *
 * Messages (cl_wire):
 *   join      cl_hello  a joiner to a seed: its member, compatibility hash and a nonce
 *   refuse    cl_hello  a seed to an incompatible joiner, echoing the join's nonce
 *   hb        cl_beat   a charge to its managers, every hb_interval
 *   gossip    cl_beat   news to random members, every gossip_interval while there is news
 *   probe     cl_probe  "are you alive?" to a silent charge (directly, or from an intermediary)
 *   probe_req cl_probe  "probe target for me" to an intermediary (origin = the asker)
 *   ack       cl_probe  the answer to a probe (echoing its nonce); an intermediary relays it
 *                       to the origin
 *   sync      cl_sync   anti-entropy digest, bucket entries, reconnects, full streams */
#ifndef AU_CLUSTER_PROTOCOL_H
#define AU_CLUSTER_PROTOCOL_H

#include <aurum/cluster.h>

/* Member states, in precedence order for one (id, incarnation): a later state wins. */
enum { CL_ALIVE = 0, CL_SUSPECT = 1, CL_DEAD = 2, CL_LEFT = 3 };

/* sync flags */
enum {
    CL_SYNC_DIGEST = 1,    /* digest[] holds bucket hashes of level `level` from `start`,
                              wrapping at 2^level */
    CL_SYNC_BUCKETS = 2,   /* reply: entries of differing buckets; digest[] lists those served,
                              `start` is where the initiator's next window starts; more entries
                              may follow as PUSH */
    CL_SYNC_PUSH = 4,      /* the initiator's entries of those buckets; no reply */
    CL_SYNC_RECONNECT = 8, /* to a removed member or a seed: [sender, receiver as known] */
    CL_SYNC_RECONNECT_REPLY = 16,
    CL_SYNC_FULL = 32,     /* a chunk of a whole member table (live entries) */
    CL_SYNC_FULL_REQ = 64, /* ... and please send yours */
    CL_SYNC_JOIN = 128,    /* the reply to a join: the joiner is a member */
};

enum {
    CL_DIGEST_MAX = 64,    /* bucket hashes per digest */
    CL_SYNC_ENTRIES = 24,  /* entries per sync message */
    CL_SYNC_BUDGET = 96,   /* entries one digest may cause each way (CL_SYNC_ENTRIES per message) */
    CL_MAX_UPDATES = 64,   /* updates accepted per message */
    CL_LEVELS = 10,        /* digest tree: up to 2^10 buckets */
};

AU_RECORD(cl_update, (au_str, addr), (uint64_t, id), (uint32_t, inc), (uint8_t, state),
          (uint16_t, vnodes), (uint64_t, by));
AU_ARRAY(cl_update);
AU_ARRAY(uint64_t);

/* nonce: in a join, a random value of the joiner's; a refusal echoes the join's, and is believed
 * for it (not for where it comes from). In a probe with seq 0 (a confirmation), a value only
 * the asker can make (cluster.c, confirm_nonce); the ack echoes it, and the target's own record
 * in that ack is believed for it, whatever the datagram's source address. 0 elsewhere. */
AU_RECORD(cl_hello, (au_str, from), (uint64_t, id), (uint32_t, inc), (uint16_t, vnodes),
          (uint64_t, compat), (uint64_t, nonce));
AU_RECORD(cl_beat, (au_str, from), (uint64_t, id), (cl_update_array, updates));
AU_RECORD(cl_probe, (au_str, from), (uint64_t, id), (au_str, target), (uint64_t, target_id),
          (au_str, origin), (uint32_t, seq), (uint64_t, nonce), (cl_update_array, updates));
AU_RECORD(cl_sync, (au_str, from), (uint64_t, id), (uint64_t, compat), (uint8_t, flags),
          (uint8_t, level), (uint16_t, start), (uint64_t_array, digest),
          (cl_update_array, entries));

AU_ROOT(cl_wire,
        (join, cl_hello, AU_PLAIN), (refuse, cl_hello, AU_PLAIN),
        (hb, cl_beat, AU_PLAIN), (gossip, cl_beat, AU_PLAIN),
        (probe, cl_probe, AU_PLAIN), (probe_req, cl_probe, AU_PLAIN), (ack, cl_probe, AU_PLAIN),
        (sync, cl_sync, AU_PLAIN));

/* The cluster actor's root: the wire protocol (remote), its tick and the local commands. */
AU_LOCAL_ROOT(cl_msg,
              (wire, cl_wire, AU_REMOTE),
              (tick, au_unit, AU_PLAIN),
              (subscribe, au_cluster_update_lref, AU_PLAIN),
              (leave, au_unit, AU_PLAIN));

#endif
