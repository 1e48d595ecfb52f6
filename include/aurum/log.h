/* aurum/log.h — leveled logging, per module, with a pluggable sink.
 *
 * Levels are set per module at run time. A disabled level costs one relaxed atomic load and a
 * compare: the arguments are not evaluated and nothing is formatted. Logging is process-wide
 * (all nodes of a process share the levels and the sink). Default: WARN for every module, to
 * stderr.
 *
 * From the environment: AU_LOG holds a spec (the grammar of au_log_configure), read once, at the
 * first use of logging — the first au_log line, or the first call of au_log_set_level,
 * au_log_set_all_levels, au_log_get_level or au_log_configure, whichever comes first (not
 * au_log_set_sink, so a sink set before anything else also receives AU_LOG's warnings). Levels
 * set by those calls afterwards override it. For example:
 *     AU_LOG=debug ./server              every module at DEBUG
 *     AU_LOG=net=debug,core=info ./server
 *     AU_LOG=info,net=off ./server       every module at INFO but net, which is silent
 *
 * The default sink writes one line per message to stderr:
 *     2024-05-01T12:00:00.123456Z WARN  net net.c:101 127.0.0.1:4000: no cluster key, ...
 * that is the time, the level (padded to 5), the module, file:line and the message. A message
 * is one line for every sink: its control characters (C0, DEL, C1), which may be bytes from the
 * network such as an actor's name in a datagram, are written as \xNN, so no message can forge
 * a line or send an escape sequence to a terminal. The time is
 * wall-clock UTC (CLOCK_REALTIME) with microseconds, not a monotonic reading, so lines from
 * several processes and hosts, and from other programs, can be merged and matched to what
 * happened when; it can step when the system clock is set, so measure durations with the node's
 * clock (au_node_now) rather than from log lines. A custom sink gets no timestamp and takes its
 * own if it wants one. */
#ifndef AURUM_LOG_H
#define AURUM_LOG_H

#include <stdatomic.h>

#include <aurum/error.h>
#include <aurum/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Severity, lowest first. AU_LOG_OFF disables a module. */
typedef enum au_log_level {
    AU_LOG_TRACE, AU_LOG_DEBUG, AU_LOG_INFO, AU_LOG_WARN, AU_LOG_ERROR, AU_LOG_OFF
} au_log_level;

/** The modules that log; each has its own level. */
typedef enum au_log_module {
    AU_LOG_CORE,     /**< runtime: nodes, actors, scheduler, timers */
    AU_LOG_NET,      /**< transport, wire format, remote delivery and drops */
    AU_LOG_CLUSTER,
    AU_LOG_CRDT,
    AU_LOG_DEVICES,
    AU_LOG_TESTKIT,
    AU_LOG_USER,     /**< for applications */
    AU_LOG_MODULES
} au_log_module;

/** A log sink: receives every enabled, formatted line. Called from any thread, one call at a
 *  time (calls are serialized); it must not log or change the sink itself. */
typedef void (*au_log_sink)(void *user, au_log_module module, au_log_level level,
                            const char *file, int line, const char *message);

/** Sets the level of one module (AU_LOG_OFF silences it); an unknown module or level is ignored. */
AU_API void au_log_set_level(au_log_module module, au_log_level level);
/** Sets the level of every module. */
AU_API void au_log_set_all_levels(au_log_level level);
/** The current level of a module; AU_LOG_OFF for one that is not a module. */
AU_API au_log_level au_log_get_level(au_log_module module);
/** Replaces the sink (NULL restores the default stderr sink). */
AU_API void au_log_set_sink(au_log_sink sink, void *user);
/** Applies a level spec, the grammar AU_LOG uses: comma-separated items, each `level` (every
 *  module) or `module=level`, applied left to right (so "debug,net=warn" is DEBUG for all but
 *  net, and "net=warn,debug" is DEBUG for all). Levels: trace, debug, info, warn, error, off;
 *  modules: the names of au_log_module_name (core, net, cluster, crdt, devices, testkit, user).
 *  Names are compared without case, blanks around items and around '=' are skipped, empty items
 *  are ignored. Strict otherwise: an item naming an unknown module or level (or a module without
 *  "=level") is ignored and gives one WARN line (module core, written even when core's level
 *  would hide it) naming the item and the valid choices; the other items still apply.
 *  Returns AU_OK if every item applied, AU_EINVAL if one was ignored or spec is NULL. Takes
 *  effect at once for every thread. */
AU_API au_err au_log_configure(const char *spec);
/** The name of a level ("TRACE" … "ERROR", "OFF") or of a module ("core", "net", …); "?" for a
 *  value that is neither. */
AU_API const char *au_log_level_name(au_log_level level);
AU_API const char *au_log_module_name(au_log_module module);

/** Logs a printf-style message if `level` is enabled for `module`. A module that is not one of
 *  au_log_module, or a level that is not a severity (AU_LOG_OFF or beyond, or negative), logs
 *  nothing. */
#define au_log(module, level, ...)                                                            \
    do {                                                                                      \
        unsigned au_log_m_ = (unsigned)(module);                                              \
        int au_log_l_ = (int)(level);                                                         \
        if (au_log_m_ < AU_LOG_MODULES &&                                                     \
            au_log_l_ >= (int)atomic_load_explicit(&au_log_levels_[au_log_m_],                \
                                                   memory_order_relaxed))                     \
            au_log_write_((au_log_module)au_log_m_, (au_log_level)au_log_l_, __FILE__, __LINE__, \
                          __VA_ARGS__);                                                       \
    } while (0)

/* Implementation details of au_log. */
AU_API extern _Atomic unsigned char au_log_levels_[AU_LOG_MODULES];
AU_API void au_log_write_(au_log_module module, au_log_level level, const char *file, int line,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#ifdef __cplusplus
}
#endif
#endif
