/* aurum/faults.h — failure injection, for tests: a node driver that wraps another driver.
 *
 * A node whose driver is au_faults_driver(inner) sends through the wrapper, which applies the
 * faults configured below before handing datagrams to `inner` (NULL: the default UDP driver;
 * au_sim_driver(sim): a simulation). The calls below return AU_ESTATE on a node started
 * without it.
 *
 * Every outgoing datagram (or, in per-message mode, every outgoing message) to a destination
 * with faults configured is dropped, delayed, duplicated or held back for reordering with the
 * given probabilities, drawn from a seeded generator; a partition drops everything between
 * chosen groups of nodes until healed. Faults apply to all traffic of the node, user messages
 * included, and can be changed while the node runs. With nothing configured the send path pays
 * one acquire load per batch of datagrams; a node without the wrapper pays nothing.
 *
 *   au_driver faulty = au_faults_driver(NULL);          // real UDP, with faults
 *   au_node_start(&(au_node_config){ .driver = &faulty }, &node);
 *   au_faults_set(node, NULL, &(au_faults){ .drop = 0.25, .delay_min = AU_MSEC(20),
 *                                           .delay_max = AU_MSEC(50) });      // every peer
 *   au_faults_partition((au_node *[]){ a, b }, 2, (au_node *[]){ c }, 1);     // {a,b} | {c}
 *   au_faults_heal((au_node *[]){ a, b, c }, 3);
 */
#ifndef AURUM_FAULTS_H
#define AURUM_FAULTS_H

#include <aurum/driver.h>
#include <aurum/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The fault-injection driver wrapping `inner` (NULL: au_driver_default()). inner must stay
 *  valid until au_node_start returns (the node copies the chain). */
AU_API au_driver au_faults_driver(const au_driver *inner);

/** What to do to outgoing traffic. Zero: nothing. */
typedef struct au_faults {
    double drop;            /**< probability a unit is not sent */
    double duplicate;       /**< probability a unit is sent twice */
    double reorder;         /**< probability a unit is held back so later ones overtake it */
    au_nanos reorder_hold;  /**< how long a held-back unit waits; default 10 ms */
    au_nanos delay_min;     /**< every unit is delayed by a uniform time in [min, max] (sums
                                 saturate: a delay past the end of the clock is never sent, and
                                 is freed when the node stops) */
    au_nanos delay_max;
    bool per_message;       /**< apply to each message instead of each datagram */
} au_faults;

/** Sets the faults for traffic to `dest` ("host:port"), or for every destination without faults
 *  of its own when dest is NULL. f NULL clears them. AU_EINVAL for probabilities outside [0,1]
 *  (NaN included) or delay_min > delay_max; AU_EINVAL or AU_ERESOLVE for a malformed or unknown
 *  destination; AU_ESTATE on a node (NULL included) without a network or not started with
 *  au_faults_driver. */
AU_API au_err au_faults_set(au_node *node, const char *dest, const au_faults *f);

/** Seeds the node's fault generator: the same seed and the same sequence of sends give the
 *  same decisions. A no-op on a node (NULL included) without the wrapper. */
AU_API void au_faults_seed(au_node *node, uint64_t seed);

/** Blocks (or, with blocked = false, unblocks) all traffic from `node` to `dest`. The codes of
 *  au_faults_set; AU_EINVAL for a NULL dest. */
AU_API au_err au_faults_block(au_node *node, const char *dest, bool blocked);

/** Partitions two groups of nodes: nothing passes between a node of one and a node of the other,
 *  in either direction, until healed. The codes of au_faults_block (the first failure; blocks
 *  set before it stay); AU_EINVAL for a NULL group with a count. */
AU_API au_err au_faults_partition(au_node *const *group_a, size_t na, au_node *const *group_b,
                                  size_t nb);

/** Removes every block between the given nodes. As au_faults_partition. */
AU_API au_err au_faults_heal(au_node *const *nodes, size_t n);

/** Counters of injected faults. */
typedef struct au_faults_stats {
    uint64_t dropped, duplicated, delayed, reordered, blocked;
} au_faults_stats;

/** Fills *out with the node's injected-fault counters (zeros for a node without the wrapper;
 *  nothing for a NULL out). */
AU_API void au_faults_stats_get(au_node *node, au_faults_stats *out);

#ifdef __cplusplus
}
#endif
#endif
