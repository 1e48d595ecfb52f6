/* aurum/sim.h — deterministic simulation: many nodes in one process, on one thread, on a
 * virtual clock, connected by an in-memory network.
 *
 * A node started with the simulation's driver (.driver = &(au_driver){ au_sim_driver(sim) }, or
 * a driver wrapping it, such as fault injection) joins the simulation: it has no threads and no
 * socket; its
 * actors run one turn at a time in a fixed order, its timers, receive timeouts and failure
 * detectors read the virtual clock, and its datagrams travel through the simulated network
 * (with a seeded latency, and with failure injection, au_faults_*, applied as on real UDP when the
 * node's driver is au_faults_driver wrapping the simulation's). Nothing happens unless the test runs the simulation:
 *
 *   au_sim *sim;
 *   au_sim_create(&(au_sim_config){ .seed = 42 }, &sim);
 *   au_driver d = au_sim_driver(sim);
 *   au_node *a, *b;
 *   au_node_start(&(au_node_config){ .driver = &d }, &a);
 *   au_node_start(&(au_node_config){ .driver = &d }, &b);
 *   ... spawn, forge, send ...
 *   au_sim_run_until(sim, done, &state, AU_SEC(60));     // virtual seconds: fast in real time
 *   uint64_t h = au_sim_trace_hash(sim);                  // same seed, same run, same hash
 *   au_node_stop(a); au_node_stop(b); au_sim_destroy(sim);
 *
 * The same seed and the same test code give the same run, event for event. Blocking calls
 * (au_promise_wait) cannot be used with simulated nodes: nothing runs while the test thread
 * blocks, so they return AU_ESTATE at once; observe the simulation through actors and run it
 * with au_sim_run_until. Actors
 * spawned with .dedicated run like pooled ones. All calls on a simulation and its nodes must
 * come from one thread. */
#ifndef AURUM_SIM_H
#define AURUM_SIM_H

#include <aurum/driver.h>
#include <aurum/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A simulation (opaque). */
typedef struct au_sim au_sim;

/** Simulation settings. Zero means the default for every field. */
typedef struct au_sim_config {
    uint64_t seed;           /**< seeds the network latency, node incarnations and au_sim_random */
    au_nanos latency_min;    /**< one-way delivery time of a datagram; default 100 µs (when
                                  latency_max is 0 too: the two default together, else a
                                  zero here is 0) */
    au_nanos latency_max;    /**< default 1 ms; each datagram draws uniformly in [min, max]
                                  (any range, up to [0, UINT64_MAX]) */
    au_nanos start;          /**< virtual time at creation; default 1 s */
} au_sim_config;

/** The simulation as a node driver: a node started with it (au_node_config.driver) lives in the
 *  simulation at 127.0.0.1:<a port of its own>, whatever it asked to bind. The value may be
 *  copied freely; the simulation must outlive its nodes. */
AU_API au_driver au_sim_driver(au_sim *sim);

/** Creates a simulation (cfg NULL: every default). AU_EINVAL for a NULL out or latency_min
 *  above latency_max. */
AU_API au_err au_sim_create(const au_sim_config *cfg, au_sim **out);
/** Frees it; every node of it must have been stopped first: with a node still running it frees
 *  nothing and logs an ERROR (stop the nodes, then call it again). Safe with NULL. */
AU_API void au_sim_destroy(au_sim *sim);

/** Runs until `duration` of virtual time has passed (timers due by then fire) or nothing is left
 *  to do. Returns the number of events processed (0 for a NULL sim). Durations saturate at the
 *  end of virtual time: UINT64_MAX runs until nothing is left (forever if something keeps
 *  re-arming a timer); 0 runs what is due now. */
AU_API uint64_t au_sim_run(au_sim *sim, au_nanos duration);
/** Runs until done(arg) returns true (checked after every event) or `max_duration` of virtual time
 *  passes (AU_ETIMEDOUT) or nothing is left to do while done is false (AU_ESTATE). AU_EINVAL for
 *  a NULL sim or done. */
AU_API au_err au_sim_run_until(au_sim *sim, bool (*done)(void *arg), void *arg,
                               au_nanos max_duration);

/** Stalls `node` (a node of this simulation) for `duration` of virtual time from now, as a
 *  stopped process (SIGSTOP, a long GC pause) would be: none of its actor turns, timers or
 *  datagram deliveries run meanwhile; its arriving datagrams and runnable actors are held in
 *  order. When the pause ends, at one virtual instant, the held datagrams are handed to it, its
 *  actors run and every timer that came due meanwhile fires at once, late. Other nodes run
 *  normally. AU_EINVAL: not a node of this simulation, or duration 0; AU_ESTATE: already
 *  paused. A duration past the end of virtual time (UINT64_MAX) pauses it for good. A node
 *  stopped while paused drops what it held. */
AU_API au_err au_sim_pause(au_sim *sim, au_node *node, au_nanos duration);
/** Whether `node` is paused now (au_sim_pause). */
AU_API bool au_sim_paused(const au_sim *sim, const au_node *node);

/** The virtual time now (this and the three readers below: 0 for a NULL sim). */
AU_API au_nanos au_sim_now(const au_sim *sim);
/** A hash of everything that happened so far (actor turns, datagrams, timers, with their virtual
 *  times): two runs are the same run exactly when their hashes match. */
AU_API uint64_t au_sim_trace_hash(const au_sim *sim);
/** Events processed so far. */
AU_API uint64_t au_sim_events(const au_sim *sim);
/** A draw from the simulation's seeded generator, for tests that need randomness. */
AU_API uint64_t au_sim_random(au_sim *sim);

#ifdef __cplusplus
}
#endif
#endif
