/* test_log.c — logging: per-module levels changed at run time, custom sinks (what they receive,
 * and only that), arguments of disabled levels left unevaluated, restoring the stderr sink.
 * Logging is process-wide: every test starts from and returns to the defaults (WARN for every
 * module, the stderr sink). The default sink's line format, timestamp included, is checked here;
 * AU_LOG and au_log_configure in tests/util/test_log_config.c. */
#include <aurum/log.h>

#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

/* ---- a capturing sink ------------------------------------------------------------------------ */

typedef struct line {
    au_log_module module;
    au_log_level level;
    char file[64];
    int line;
    char message[1100];
} line;

typedef struct capture {
    pthread_mutex_t lock; /* the sink may be called from several threads at once */
    line lines[4100];
    size_t n;
    void *seen_user;
} capture;

static capture cap = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void capture_sink(void *user, au_log_module module, au_log_level level, const char *file,
                         int lineno, const char *message) {
    capture *c = user;
    pthread_mutex_lock(&c->lock);
    c->seen_user = user;
    if (c->n < sizeof c->lines / sizeof c->lines[0]) {
        line *l = &c->lines[c->n++];
        l->module = module;
        l->level = level;
        snprintf(l->file, sizeof l->file, "%s", file);
        l->line = lineno;
        snprintf(l->message, sizeof l->message, "%s", message);
    }
    pthread_mutex_unlock(&c->lock);
}

static int defaults(void **s) {
    au_log_set_all_levels(AU_LOG_WARN);
    au_log_set_sink(NULL, NULL);
    pthread_mutex_lock(&cap.lock);
    cap.n = 0;
    cap.seen_user = NULL;
    pthread_mutex_unlock(&cap.lock);
    return 0;
}

static void capture_on(void) { au_log_set_sink(capture_sink, &cap); }

/* ---- levels ----------------------------------------------------------------------------------- */

static void every_module_starts_at_warn(void **s) {
    /* Runs first, before any test changed a level. */
    for (int m = 0; m < AU_LOG_MODULES; m++)
        assert_int_equal(au_log_get_level((au_log_module)m), AU_LOG_WARN);
}

static void levels_are_per_module_and_take_effect_at_run_time(void **s) {
    capture_on();
    au_log_set_level(AU_LOG_NET, AU_LOG_DEBUG);
    au_log_set_level(AU_LOG_CORE, AU_LOG_ERROR);
    assert_int_equal(au_log_get_level(AU_LOG_NET), AU_LOG_DEBUG);
    assert_int_equal(au_log_get_level(AU_LOG_CORE), AU_LOG_ERROR);
    assert_int_equal(au_log_get_level(AU_LOG_USER), AU_LOG_WARN); /* others untouched */

    au_log(AU_LOG_NET, AU_LOG_TRACE, "net trace");   /* below DEBUG */
    au_log(AU_LOG_NET, AU_LOG_DEBUG, "net debug");
    au_log(AU_LOG_CORE, AU_LOG_WARN, "core warn");   /* below ERROR */
    au_log(AU_LOG_CORE, AU_LOG_ERROR, "core error");
    au_log(AU_LOG_USER, AU_LOG_INFO, "user info");   /* below WARN */
    au_log(AU_LOG_USER, AU_LOG_WARN, "user warn");
    assert_int_equal(cap.n, 3);
    assert_string_equal(cap.lines[0].message, "net debug");
    assert_string_equal(cap.lines[1].message, "core error");
    assert_string_equal(cap.lines[2].message, "user warn");

    /* Changed again while running: the very next call obeys the new level. */
    au_log_set_level(AU_LOG_NET, AU_LOG_OFF);
    au_log(AU_LOG_NET, AU_LOG_ERROR, "net error while off");
    au_log_set_level(AU_LOG_USER, AU_LOG_TRACE);
    au_log(AU_LOG_USER, AU_LOG_TRACE, "user trace");
    assert_int_equal(cap.n, 4);
    assert_string_equal(cap.lines[3].message, "user trace");
}

static void set_all_levels_sets_every_module(void **s) {
    au_log_set_all_levels(AU_LOG_TRACE);
    for (int m = 0; m < AU_LOG_MODULES; m++)
        assert_int_equal(au_log_get_level((au_log_module)m), AU_LOG_TRACE);
    au_log_set_all_levels(AU_LOG_OFF);
    capture_on();
    for (int m = 0; m < AU_LOG_MODULES; m++) au_log((au_log_module)m, AU_LOG_ERROR, "m%d", m);
    assert_int_equal(cap.n, 0);
}

static void invalid_module_or_level_is_ignored(void **s) {
    au_log_set_level((au_log_module)AU_LOG_MODULES, AU_LOG_TRACE);  /* no effect, no crash */
    au_log_set_level(AU_LOG_USER, (au_log_level)(AU_LOG_OFF + 1));
    assert_int_equal(au_log_get_level(AU_LOG_USER), AU_LOG_WARN);
    assert_int_equal(au_log_get_level((au_log_module)AU_LOG_MODULES), AU_LOG_OFF);
    assert_string_equal(au_log_level_name((au_log_level)99), "?");
    assert_string_equal(au_log_module_name((au_log_module)99), "?");
    assert_string_equal(au_log_level_name(AU_LOG_INFO), "INFO");
    assert_string_equal(au_log_module_name(AU_LOG_TESTKIT), "testkit");
}

/* ---- sinks ------------------------------------------------------------------------------------ */

static void custom_sink_receives_exactly_the_enabled_lines_with_their_origin(void **s) {
    capture_on();
    au_log_set_level(AU_LOG_CLUSTER, AU_LOG_INFO);
    au_log(AU_LOG_CLUSTER, AU_LOG_DEBUG, "not this one");
    au_log(AU_LOG_CLUSTER, AU_LOG_INFO, "x=%d y=%s", 3, "abc"); int info_line = __LINE__;
    au_log(AU_LOG_CRDT, AU_LOG_INFO, "nor this one");
    au_log(AU_LOG_CRDT, AU_LOG_ERROR, "merge failed: %s", "conflict"); int error_line = __LINE__;

    assert_int_equal(cap.n, 2);
    assert_ptr_equal(cap.seen_user, &cap);
    assert_int_equal(cap.lines[0].module, AU_LOG_CLUSTER);
    assert_int_equal(cap.lines[0].level, AU_LOG_INFO);
    assert_string_equal(cap.lines[0].file, "test_log.c"); /* the base name, no directories */
    assert_int_equal(cap.lines[0].line, info_line);
    assert_string_equal(cap.lines[0].message, "x=3 y=abc");
    assert_int_equal(cap.lines[1].module, AU_LOG_CRDT);
    assert_int_equal(cap.lines[1].level, AU_LOG_ERROR);
    assert_string_equal(cap.lines[1].file, "test_log.c");
    assert_int_equal(cap.lines[1].line, error_line);
    assert_string_equal(cap.lines[1].message, "merge failed: conflict");
}

static int side_effects;
static int count_evaluation(void) { return ++side_effects; }

static void a_disabled_level_does_not_evaluate_its_arguments(void **s) {
    capture_on();
    side_effects = 0;
    au_log(AU_LOG_USER, AU_LOG_DEBUG, "evaluated %d", count_evaluation());
    au_log(AU_LOG_USER, AU_LOG_INFO, "evaluated %d %d", count_evaluation(), ++side_effects);
    assert_int_equal(side_effects, 0);
    assert_int_equal(cap.n, 0);
    /* Enabled: evaluated exactly once. */
    au_log_set_level(AU_LOG_USER, AU_LOG_DEBUG);
    au_log(AU_LOG_USER, AU_LOG_DEBUG, "evaluated %d", count_evaluation());
    assert_int_equal(side_effects, 1);
    assert_int_equal(cap.n, 1);
    assert_string_equal(cap.lines[0].message, "evaluated 1");
}

static void a_long_message_reaches_the_sink_as_an_intact_prefix(void **s) {
    capture_on();
    static char big[5000];
    memset(big, 'a', sizeof big - 1);
    au_log(AU_LOG_USER, AU_LOG_ERROR, "%s", big);
    assert_int_equal(cap.n, 1);
    size_t len = strlen(cap.lines[0].message);
    assert_true(len > 0 && len < sizeof big);
    assert_memory_equal(cap.lines[0].message, big, len);
}

/* One message is one line (log.h): control characters, which may come from the network (an
 * actor's name in a datagram), are written as \xNN, so they cannot forge a line of their own or
 * reach a terminal as an escape sequence; other UTF-8 is left as it is. */
static void control_characters_are_escaped_so_a_message_stays_one_line(void **s) {
    capture_on();
    au_log(AU_LOG_USER, AU_LOG_WARN, "name 'x\n2026-01-01T00:00:00Z ERROR core forged\r\033[31m\x7f'");
    au_log(AU_LOG_USER, AU_LOG_WARN, "%s", "\xc2\x9b" "2J caf\xc3\xa9 \xc4\x9b \t");
    assert_int_equal(cap.n, 2);
    assert_string_equal(cap.lines[0].message,
                        "name 'x\\x0a2026-01-01T00:00:00Z ERROR core forged\\x0d\\x1b[31m\\x7f'");
    assert_string_equal(cap.lines[1].message, "\\xc2\\x9b" "2J caf\xc3\xa9 \xc4\x9b \\x09");
    /* An escape that no longer fits in a long message is cut whole, never half written: the
     * line ends with the 1,020 letters before the newline. */
    static char big[1100];
    memset(big, 'a', sizeof big - 1);
    big[1020] = '\n';
    au_log(AU_LOG_USER, AU_LOG_WARN, "%s", big);
    assert_int_equal(cap.n, 3);
    const char *m = cap.lines[2].message;
    assert_null(strchr(m, '\n'));
    assert_int_equal(strlen(m), 1020);
}

enum { THREADS = 4, PER_THREAD = 1000 };
static void *log_lines(void *arg) {
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < PER_THREAD; i++) au_log(AU_LOG_USER, AU_LOG_WARN, "t%d-%d", id, i);
    return NULL;
}

static void lines_from_concurrent_threads_all_arrive_intact_and_in_each_threads_order(void **s) {
    capture_on();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, log_lines, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    assert_int_equal(cap.n, THREADS * PER_THREAD);
    int next[THREADS] = { 0 };
    for (size_t i = 0; i < cap.n; i++) {
        int id = -1, seq = -1;
        assert_int_equal(sscanf(cap.lines[i].message, "t%d-%d", &id, &seq), 2);
        assert_true(id >= 0 && id < THREADS);
        assert_int_equal(seq, next[id]);
        next[id]++;
    }
}

/* Runs fn with stderr redirected to a temporary file; returns what was written (static). */
static const char *stderr_of(void (*fn)(void)) {
    static char out[4096];
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, sizeof out - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return out;
}

static int stderr_line;
static void log_to_stderr(void) {
    au_log(AU_LOG_NET, AU_LOG_WARN, "peer %s lost", "10.77.0.2"); stderr_line = __LINE__;
}

static void restoring_the_default_sink_writes_to_stderr_again(void **s) {
    capture_on();
    log_to_stderr();
    assert_int_equal(cap.n, 1);
    assert_string_equal(stderr_of(log_to_stderr), ""); /* the custom sink still has it */
    assert_int_equal(cap.n, 2);

    au_log_set_sink(NULL, NULL);
    time_t before = time(NULL);
    const char *out = stderr_of(log_to_stderr);
    time_t after = time(NULL);
    assert_int_equal(cap.n, 2); /* the old sink is no longer called */

    /* "<UTC time with microseconds> WARN  net test_log.c:<line> peer 10.77.0.2 lost" */
    char want[256];
    snprintf(want, sizeof want, " WARN  net test_log.c:%d peer 10.77.0.2 lost\n", stderr_line);
    const size_t stamp = sizeof "2024-05-01T12:00:00.123456Z" - 1;
    assert_true(strlen(out) == stamp + strlen(want));
    assert_string_equal(out + stamp, want);
    regex_t re;
    assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z ",
                             REG_EXTENDED | REG_NOSUB), 0);
    assert_int_equal(regexec(&re, out, 0, NULL, 0), 0);
    regfree(&re);
    /* It is the wall-clock time in UTC, taken while the line was written. */
    struct tm tm = { 0 };
    assert_int_equal(sscanf(out, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec), 6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t when = timegm(&tm);
    assert_true(when >= before && when <= after);
}

int main(void) {
    unsetenv("AU_LOG"); /* the defaults these tests start from; AU_LOG has tests of its own */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_module_starts_at_warn, NULL, defaults),
        cmocka_unit_test_setup_teardown(levels_are_per_module_and_take_effect_at_run_time, defaults, defaults),
        cmocka_unit_test_setup_teardown(set_all_levels_sets_every_module, defaults, defaults),
        cmocka_unit_test_setup_teardown(invalid_module_or_level_is_ignored, defaults, defaults),
        cmocka_unit_test_setup_teardown(custom_sink_receives_exactly_the_enabled_lines_with_their_origin, defaults, defaults),
        cmocka_unit_test_setup_teardown(a_disabled_level_does_not_evaluate_its_arguments, defaults, defaults),
        cmocka_unit_test_setup_teardown(a_long_message_reaches_the_sink_as_an_intact_prefix, defaults, defaults),
        cmocka_unit_test_setup_teardown(control_characters_are_escaped_so_a_message_stays_one_line, defaults, defaults),
        cmocka_unit_test_setup_teardown(lines_from_concurrent_threads_all_arrive_intact_and_in_each_threads_order, defaults, defaults),
        cmocka_unit_test_setup_teardown(restoring_the_default_sink_writes_to_stderr_again, defaults, defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
