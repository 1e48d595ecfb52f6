/* log.c — process-wide log levels and sink, the AU_LOG environment variable, and the default
 * stderr sink's line format.
 *
 * Levels are relaxed atomics: a level change becomes visible to other threads soon, in no
 * particular order with other memory, which is all logging needs. The sink pointer pair is
 * guarded by a mutex so a sink is never called with another sink's user pointer.
 *
 * AU_LOG is read once, on first use: until then every level is AU_LOG_TRACE, so the first au_log
 * of any module reaches au_log_write_, which runs the initialisation (pthread_once: WARN for every
 * module, then AU_LOG applied) and checks the level again. The level functions initialise first
 * too, so what they set overrides AU_LOG. Warnings about a bad spec go to the sink directly
 * (emit), never through au_log_write_, which would re-enter pthread_once. */
#include <aurum/log.h>

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* AU_LOG_TRACE (0) until initialised: see above. */
_Atomic unsigned char au_log_levels_[AU_LOG_MODULES];

static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static au_log_sink current_sink;
static void *current_user;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static const char *const level_names[] = { "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF" };
static const char *const module_names[] = { "core", "net", "cluster", "crdt", "devices", "testkit",
                                            "user" };
_Static_assert(sizeof module_names / sizeof module_names[0] == AU_LOG_MODULES, "a name per module");

static au_err configure(const char *spec, const char *origin);

static void init(void) {
    for (int m = 0; m < AU_LOG_MODULES; m++)
        atomic_store_explicit(&au_log_levels_[m], AU_LOG_WARN, memory_order_relaxed);
    const char *env = getenv("AU_LOG");
    if (env) configure(env, "AU_LOG");
}

static void ensure_init(void) { pthread_once(&init_once, init); }

static void store_level(au_log_module module, au_log_level level) {
    atomic_store_explicit(&au_log_levels_[module], (unsigned char)level, memory_order_relaxed);
}

void au_log_set_level(au_log_module module, au_log_level level) {
    ensure_init();
    if ((unsigned)module >= AU_LOG_MODULES || (unsigned)level > AU_LOG_OFF) return;
    store_level(module, level);
}

void au_log_set_all_levels(au_log_level level) {
    for (int m = 0; m < AU_LOG_MODULES; m++) au_log_set_level((au_log_module)m, level);
}

au_log_level au_log_get_level(au_log_module module) {
    ensure_init();
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
    return (unsigned)level <= AU_LOG_OFF ? level_names[level] : "?";
}

const char *au_log_module_name(au_log_module module) {
    return (unsigned)module < AU_LOG_MODULES ? module_names[module] : "?";
}

/* "2024-05-01T12:00:00.123456Z": UTC wall-clock time, microseconds (see log.h for why). */
static void timestamp(char *buf, size_t size) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%06ldZ", ts.tv_nsec / 1000);
}

/* One line to the sink, unconditionally. */
static void emit(au_log_module module, au_log_level level, const char *file, int line,
                 const char *message) {
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    pthread_mutex_lock(&sink_lock);
    if (current_sink) {
        current_sink(current_user, module, level, base, line, message);
    } else {
        char when[40];
        timestamp(when, sizeof when);
        fprintf(stderr, "%s %-5s %s %s:%d %s\n", when, au_log_level_name(level),
                au_log_module_name(module), base, line, message);
    }
    pthread_mutex_unlock(&sink_lock);
}

static size_t put_hex(char *out, unsigned char c) {
    static const char hex[] = "0123456789abcdef";
    out[0] = '\\';
    out[1] = 'x';
    out[2] = hex[c >> 4];
    out[3] = hex[c & 15];
    return 4;
}

/* Copies in to out (size bytes, NUL-terminated), each control character written as \xNN: the
 * C0 controls and DEL, and the C1 controls encoded in UTF-8 (C2 80 .. C2 9F). A message may hold
 * bytes from the network (an actor's name in a datagram): a newline there must not start a
 * forged line, nor an escape sequence reach a terminal. Truncated between characters. */
static void printable(const char *in, char *out, size_t size) {
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;
    while (*p) {
        size_t n = p[0] < 0x20 || p[0] == 0x7F                      ? 1 /* C0, DEL */
                   : p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F ? 2 /* C1 */
                                                                  : 0;
        if (o + (n ? 4 * n : 1) >= size) break;
        if (!n) {
            out[o++] = (char)*p++;
            continue;
        }
        for (size_t k = 0; k < n; k++) o += put_hex(out + o, *p++);
    }
    out[o] = 0;
}

void au_log_write_(au_log_module module, au_log_level level, const char *file, int line,
                   const char *fmt, ...) {
    ensure_init();
    if ((unsigned)module >= AU_LOG_MODULES || (unsigned)level >= AU_LOG_OFF ||
        (int)level < (int)atomic_load_explicit(&au_log_levels_[module], memory_order_relaxed))
        return; /* logged before AU_LOG was read, at a level it turned out to disable; or at
                 * AU_LOG_OFF or beyond, which is no severity (it passed the check of a module
                 * set to OFF, which it would otherwise get through) */
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    char line_text[sizeof message];
    printable(message, line_text, sizeof line_text);
    emit(module, level, file, line, line_text);
}

/* ---- AU_LOG and au_log_configure ------------------------------------------------------------ */

static void trim(const char **s, const char **end) {
    while (*s < *end && isspace((unsigned char)**s)) (*s)++;
    while (*end > *s && isspace((unsigned char)(*end)[-1])) (*end)--;
}

/* The index of [s, end) in names (compared without case), or -1. */
static int lookup(const char *s, const char *end, const char *const *names, int n) {
    size_t len = (size_t)(end - s);
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == len && strncasecmp(s, names[i], len) == 0) return i;
    return -1;
}

static void reject(const char *origin, const char *item, const char *item_end, const char *why,
                   const char *word, const char *word_end, const char *choices) {
    char message[512];
    snprintf(message, sizeof message, "%s: ignored \"%.*s\": %s \"%.*s\" (%s)", origin,
             (int)(item_end - item > 100 ? 100 : item_end - item), item, why,
             (int)(word_end - word > 100 ? 100 : word_end - word), word, choices);
    emit(AU_LOG_CORE, AU_LOG_WARN, __FILE__, __LINE__, message);
}

static au_err configure(const char *spec, const char *origin) {
    static const char *const lower_levels[] = { "trace", "debug", "info", "warn", "error", "off" };
    au_err result = AU_OK;
    for (const char *item = spec; *item;) {
        const char *item_end = item + strcspn(item, ",");
        const char *next = *item_end ? item_end + 1 : item_end;
        trim(&item, &item_end);
        if (item == item_end) { /* an empty item ("a,,b", a trailing comma): nothing to do */
            item = next;
            continue;
        }
        const char *eq = memchr(item, '=', (size_t)(item_end - item));
        const char *mod = item, *mod_end = eq ? eq : item, *lvl = eq ? eq + 1 : item,
                   *lvl_end = item_end;
        trim(&mod, &mod_end);
        trim(&lvl, &lvl_end);
        int module = -1;
        if (eq && (module = lookup(mod, mod_end, module_names, AU_LOG_MODULES)) < 0) {
            reject(origin, item, item_end, "unknown module", mod, mod_end,
                   "modules: core, net, cluster, crdt, devices, testkit, user");
            result = AU_EINVAL;
        } else {
            int level = lookup(lvl, lvl_end, lower_levels, AU_LOG_OFF + 1);
            if (level < 0 && !eq && lookup(lvl, lvl_end, module_names, AU_LOG_MODULES) >= 0) {
                reject(origin, item, item_end, "no level for module", lvl, lvl_end,
                       "write module=level, e.g. net=debug");
                result = AU_EINVAL;
            } else if (level < 0) {
                reject(origin, item, item_end, "unknown level", lvl, lvl_end,
                       "levels: trace, debug, info, warn, error, off");
                result = AU_EINVAL;
            } else if (eq) {
                store_level((au_log_module)module, (au_log_level)level);
            } else {
                for (int m = 0; m < AU_LOG_MODULES; m++)
                    store_level((au_log_module)m, (au_log_level)level);
            }
        }
        item = next;
    }
    return result;
}

au_err au_log_configure(const char *spec) {
    ensure_init();
    if (!spec) return AU_EINVAL;
    return configure(spec, "au_log_configure");
}
