/* log.c — process-wide log levels and sink.
 *
 * Levels are relaxed atomics: a level change becomes visible to other threads soon, in no
 * particular order with other memory, which is all logging needs. The sink pointer pair is
 * guarded by a mutex so a sink is never called with another sink's user pointer. */
#include <aurum/log.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

_Atomic unsigned char au_log_levels_[AU_LOG_MODULES] = {
    AU_LOG_WARN, AU_LOG_WARN, AU_LOG_WARN, AU_LOG_WARN, AU_LOG_WARN, AU_LOG_WARN, AU_LOG_WARN,
};

static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static au_log_sink current_sink;
static void *current_user;

void au_log_set_level(au_log_module module, au_log_level level) {
    if ((unsigned)module >= AU_LOG_MODULES || (unsigned)level > AU_LOG_OFF) return;
    atomic_store_explicit(&au_log_levels_[module], (unsigned char)level, memory_order_relaxed);
}

void au_log_set_all_levels(au_log_level level) {
    for (int m = 0; m < AU_LOG_MODULES; m++) au_log_set_level((au_log_module)m, level);
}

au_log_level au_log_get_level(au_log_module module) {
    if ((unsigned)module >= AU_LOG_MODULES) return AU_LOG_OFF;
    return (au_log_level)atomic_load_explicit(&au_log_levels_[module], memory_order_relaxed);
}

void au_log_set_sink(au_log_sink sink, void *user) {
    pthread_mutex_lock(&sink_lock);
    current_sink = sink;
    current_user = user;
    pthread_mutex_unlock(&sink_lock);
}

const char *au_log_level_name(au_log_level level) {
    static const char *names[] = { "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF" };
    return (unsigned)level <= AU_LOG_OFF ? names[level] : "?";
}

const char *au_log_module_name(au_log_module module) {
    static const char *names[] = { "core", "net", "cluster", "crdt", "devices", "testkit", "user" };
    return (unsigned)module < AU_LOG_MODULES ? names[module] : "?";
}

void au_log_write_(au_log_module module, au_log_level level, const char *file, int line,
                   const char *fmt, ...) {
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;

    pthread_mutex_lock(&sink_lock);
    if (current_sink)
        current_sink(current_user, module, level, base, line, message);
    else
        fprintf(stderr, "%-5s %s %s:%d %s\n", au_log_level_name(level),
                au_log_module_name(module), base, line, message);
    pthread_mutex_unlock(&sink_lock);
}
