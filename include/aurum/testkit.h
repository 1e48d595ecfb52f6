/* aurum/testkit.h — the test tools: probes (below), failure injection (aurum/faults.h) and
 * deterministic simulation (aurum/sim.h), the last two as node drivers.
 *
 * Probes: actors whose received messages a plain test thread waits on.
 *
 * A probe is an actor for one message type R (a root type, or any type T that references can
 * point to: int64_t, a record, ...). Hand its reference to the code under test, then wait on
 * what arrives:
 *
 *   au_probe *p = au_probe_new(node, int64_t);
 *   worker_msg req = { .tag = worker_msg_reply_to, .reply_to = au_probe_ref(p, int64_t) };
 *   au_send(worker, req);
 *   int64_t got;
 *   assert_int_equal(au_probe_expect(p, int64_t, &got, AU_SEC(5)), AU_OK);
 *   assert_int_equal(au_probe_expect_none(p, AU_MSEC(50)), AU_OK);   // and nothing more
 *   au_probe_free(p);
 *
 * A probe for a root type receives through any interface of it: au_narrow(R, T, au_probe_ref(p,
 * R)) is a T_ref whose messages arrive at the probe as R with the tag of T's variant.
 *
 * Messages are moved into the probe's queue in arrival order; every expect/collect takes them
 * from the front and moves them into the caller's variables, which then own them (free with
 * au_value_free(&au_type_R, &msg) when they hold strings, bytes or arrays).
 *
 * Time: the timeouts here are real time (CLOCK_MONOTONIC of the test thread), not the node's
 * clock. Probes are for real-time tests; a deterministic simulation drives its own clock and
 * should observe its actors through it instead.
 *
 * Threads: one probe may be waited on by several threads at once, but au_probe_free must not
 * race with any other call on the same probe. A probe may be freed before or after its node
 * stops. */
#ifndef AURUM_TESTKIT_H
#define AURUM_TESTKIT_H

#include <aurum/actor.h>
#include <aurum/export.h>
#include <aurum/faults.h>
#include <aurum/sim.h>
#include <aurum/ref.h>
#include <aurum/schema.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A test probe (opaque). */
typedef struct au_probe au_probe;

/** Messages a probe holds at most unless configured otherwise. */
#define AU_PROBE_DEFAULT_CAPACITY 1000000u

/** Options of au_probe_new_with. Zero means "the default" for every field. */
typedef struct au_probe_opts {
    const char *name;  /**< register the probe under this name, reachable by au_forge;
                            NULL = anonymous */
    size_t capacity;   /**< most messages queued at once; later ones are dropped and counted
                            (au_probe_dropped); default AU_PROBE_DEFAULT_CAPACITY */
} au_probe_opts;

/** A new probe for messages of type R on `node`; NULL on failure (see au_last_error()). */
#define au_probe_new(node, R) au_probe_new_((node), &au_type_##R, NULL)
/** Like au_probe_new, with options: au_probe_new_with(node, R, &(au_probe_opts){ .name = "p" }). */
#define au_probe_new_with(node, R, opts) au_probe_new_((node), &au_type_##R, (opts))

/** The probe's R_ref (R must be the probe's type and serializable; a null reference if the type
 *  is not the probe's). */
#define au_probe_ref(p, R) ((R##_ref){ .raw = au_probe_ref_((p), &au_type_##R) })
/** The probe's R_lref: the only reference for a local-only R (AU_LOCAL_ROOT, AU_LOCAL_RECORD). */
#define au_probe_lref(p, R) ((R##_lref){ .raw = au_probe_ref_((p), &au_type_##R) })

/** Stops the probe's actor (if it still runs) and frees the probe with every message still
 *  queued. Messages arriving afterwards are dropped by the runtime. Safe with NULL. */
AU_API void au_probe_free(au_probe *p);

/** Waits for the next message and moves it into *out (an R *). AU_OK; AU_ETIMEDOUT when nothing
 *  arrived within `timeout` (0: do not wait); AU_ESTOPPED when the queue is empty and the
 *  probe's actor has stopped (nothing can arrive any more); AU_ETYPE if R is not the probe's
 *  type. */
#define au_probe_expect(p, R, out, timeout) \
    au_probe_expect_((p), &au_type_##R, _Generic((out), R *: (out)), (timeout))

/** Waits for the next message that satisfies pred(msg, arg), pred being
 *  bool (*)(const R *msg, void *arg), and moves it into *out. Like Akka's fishForMessage, every
 *  message examined before it that does not match is dropped (freed), also when the wait then
 *  times out; messages behind the match stay queued. Results as au_probe_expect. pred runs
 *  under the probe's lock, on the waiting thread: it must not call this probe. */
#define au_probe_expect_match(p, R, pred, arg, out, timeout)                                  \
    au_probe_expect_match_((p), &au_type_##R,                                                 \
                           (au_probe_pred_)_Generic((pred), bool (*)(const R *, void *): (pred)), \
                           (arg), _Generic((out), R *: (out)), (timeout))

/** Passes (AU_OK) if no message is queued now nor arrives within `duration`; else returns
 *  AU_ESTATE as soon as one is there, and that message stays queued (take it with expect). */
AU_API au_err au_probe_expect_none(au_probe *p, au_nanos duration);

/** Waits until n messages are queued and moves them, in arrival order, into out[0..n-1] (an
 *  R *). `timeout` bounds the whole wait. On AU_ETIMEDOUT or AU_ESTOPPED nothing is taken: the
 *  messages that did arrive stay queued (au_probe_count says how many). AU_EINVAL if n exceeds
 *  the probe's capacity. Comparing as a set (order ignored) is up to the test. */
#define au_probe_collect(p, R, n, out, timeout) \
    au_probe_collect_((p), &au_type_##R, (n), _Generic((out), R *: (out)), (timeout))

/** Messages queued now (received, not yet taken). */
AU_API size_t au_probe_count(au_probe *p);

/** Messages dropped because the probe was full. */
AU_API uint64_t au_probe_dropped(au_probe *p);

/* ---- implementation details of the macros above -------------------------------------------- */

typedef bool (*au_probe_pred_)(const void *msg, void *arg);
AU_API au_probe *au_probe_new_(au_node *node, au_type *type, const au_probe_opts *opts);
AU_API au_ref au_probe_ref_(au_probe *p, au_type *type);
AU_API au_err au_probe_expect_(au_probe *p, au_type *type, void *out, au_nanos timeout);
AU_API au_err au_probe_expect_match_(au_probe *p, au_type *type, au_probe_pred_ pred, void *arg,
                                     void *out, au_nanos timeout);
AU_API au_err au_probe_collect_(au_probe *p, au_type *type, size_t n, void *out, au_nanos timeout);

#ifdef __cplusplus
}
#endif
#endif
