/* Tests of the log level spec (aurum/log.h): AU_LOG read from the environment at the first use of
 * logging, and au_log_configure, the parser it goes through — items applied left to right, names
 * without case, blanks skipped, and every unknown module or level ignored with one WARN line that
 * names it while the rest of the spec still applies.
 *
 * AU_LOG is read once per process, so main sets it before anything logs, and the first test checks
 * what it did; the later tests start from every module at WARN. */
#include <aurum/log.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

typedef struct line {
    au_log_module module;
    au_log_level level;
    char message[600];
} line;

static struct {
    pthread_mutex_t lock;
    line lines[64];
    size_t n;
} cap = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void capture_sink(void *user, au_log_module module, au_log_level level, const char *file,
                         int lineno, const char *message) {
    pthread_mutex_lock(&cap.lock);
    if (cap.n < sizeof cap.lines / sizeof cap.lines[0]) {
        line *l = &cap.lines[cap.n++];
        l->module = module;
        l->level = level;
        snprintf(l->message, sizeof l->message, "%s", message);
    }
    pthread_mutex_unlock(&cap.lock);
}

static void clear(void) {
    pthread_mutex_lock(&cap.lock);
    cap.n = 0;
    pthread_mutex_unlock(&cap.lock);
}

static int at_warn(void **s) {
    au_log_set_all_levels(AU_LOG_WARN);
    clear();
    return 0;
}

/* levels of every module, as one string "core=W net=D ..." for readable failures */
static const char *levels(void) {
    static char out[256];
    size_t n = 0;
    for (int m = 0; m < AU_LOG_MODULES; m++)
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%s=%c", m ? " " : "",
                              au_log_module_name((au_log_module)m),
                              au_log_level_name(au_log_get_level((au_log_module)m))[0]);
    return out;
}

#define ENV_SPEC "error, net=debug,bogus=info,core=loud,TESTKIT = Trace,,=info,user="

/* ---- AU_LOG ------------------------------------------------------------------------------- */

static void au_log_from_the_environment_applies_at_first_use(void **s) {
    /* Nothing has logged yet: the first au_log reads AU_LOG (main set ENV_SPEC). */
    au_log(AU_LOG_NET, AU_LOG_DEBUG, "first line, at DEBUG");
    au_log(AU_LOG_CORE, AU_LOG_WARN, "core is at ERROR: not logged");
    assert_string_equal(levels(), "core=E net=D cluster=E crdt=E devices=E testkit=T user=E");

    /* Four bad items, four WARN lines (module core, though core is at ERROR), in spec order,
     * then the DEBUG line the first au_log made once the spec was applied. */
    assert_int_equal(cap.n, 5);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cap.lines[i].module, AU_LOG_CORE);
        assert_int_equal(cap.lines[i].level, AU_LOG_WARN);
    }
    assert_string_equal(cap.lines[0].message,
                        "AU_LOG: ignored \"bogus=info\": unknown module \"bogus\" "
                        "(modules: core, net, cluster, crdt, devices, testkit, user)");
    assert_string_equal(cap.lines[1].message,
                        "AU_LOG: ignored \"core=loud\": unknown level \"loud\" "
                        "(levels: trace, debug, info, warn, error, off)");
    assert_string_equal(cap.lines[2].message,
                        "AU_LOG: ignored \"=info\": unknown module \"\" "
                        "(modules: core, net, cluster, crdt, devices, testkit, user)");
    assert_string_equal(cap.lines[3].message,
                        "AU_LOG: ignored \"user=\": unknown level \"\" "
                        "(levels: trace, debug, info, warn, error, off)");
    assert_int_equal(cap.lines[4].module, AU_LOG_NET);
    assert_string_equal(cap.lines[4].message, "first line, at DEBUG");
}

static void au_log_is_read_only_once(void **s) {
    setenv("AU_LOG", "off", 1);
    au_log(AU_LOG_USER, AU_LOG_WARN, "still logged");
    assert_int_equal(au_log_get_level(AU_LOG_USER), AU_LOG_WARN);
    assert_int_equal(cap.n, 1);
}

/* ---- au_log_configure ------------------------------------------------------------------------ */

static void a_bare_level_sets_every_module(void **s) {
    assert_int_equal(au_log_configure("debug"), AU_OK);
    assert_string_equal(levels(), "core=D net=D cluster=D crdt=D devices=D testkit=D user=D");
    assert_int_equal(au_log_configure("off"), AU_OK);
    assert_string_equal(levels(), "core=O net=O cluster=O crdt=O devices=O testkit=O user=O");
    assert_int_equal(cap.n, 0);
}

static void module_items_set_only_their_module(void **s) {
    assert_int_equal(au_log_configure("net=debug,core=info"), AU_OK);
    assert_string_equal(levels(), "core=I net=D cluster=W crdt=W devices=W testkit=W user=W");
    assert_int_equal(au_log_configure("cluster=trace,crdt=error,devices=off,testkit=info,user=warn"),
                     AU_OK);
    assert_string_equal(levels(), "core=I net=D cluster=T crdt=E devices=O testkit=I user=W");
    assert_int_equal(cap.n, 0);
}

static void items_apply_left_to_right(void **s) {
    assert_int_equal(au_log_configure("debug,net=warn"), AU_OK);
    assert_string_equal(levels(), "core=D net=W cluster=D crdt=D devices=D testkit=D user=D");
    assert_int_equal(au_log_configure("net=error,info"), AU_OK);
    assert_string_equal(levels(), "core=I net=I cluster=I crdt=I devices=I testkit=I user=I");
    assert_int_equal(au_log_configure("net=debug,net=trace"), AU_OK);
    assert_int_equal(au_log_get_level(AU_LOG_NET), AU_LOG_TRACE);
}

static void names_ignore_case_and_blanks_are_skipped(void **s) {
    assert_int_equal(au_log_configure("  NET = Debug ,\tCore=INFO\n"), AU_OK);
    assert_string_equal(levels(), "core=I net=D cluster=W crdt=W devices=W testkit=W user=W");
    assert_int_equal(cap.n, 0);
}

static void empty_specs_and_items_change_nothing(void **s) {
    assert_int_equal(au_log_configure(""), AU_OK);
    assert_int_equal(au_log_configure(" , ,, "), AU_OK);
    assert_int_equal(au_log_configure(",net=info,"), AU_OK);
    assert_string_equal(levels(), "core=W net=I cluster=W crdt=W devices=W testkit=W user=W");
    assert_int_equal(cap.n, 0);
    assert_int_equal(au_log_configure(NULL), AU_EINVAL);
    assert_int_equal(cap.n, 0);
}

static void an_unknown_module_or_level_is_ignored_with_one_warning_each(void **s) {
    assert_int_equal(au_log_configure("net=debug,nte=info,core=verbose,warning,info"), AU_EINVAL);
    /* net=debug then info for all applied; nte, verbose and "warning" (not a level name) not. */
    assert_string_equal(levels(), "core=I net=I cluster=I crdt=I devices=I testkit=I user=I");
    assert_int_equal(cap.n, 3);
    assert_string_equal(cap.lines[0].message,
                        "au_log_configure: ignored \"nte=info\": unknown module \"nte\" "
                        "(modules: core, net, cluster, crdt, devices, testkit, user)");
    assert_string_equal(cap.lines[1].message,
                        "au_log_configure: ignored \"core=verbose\": unknown level \"verbose\" "
                        "(levels: trace, debug, info, warn, error, off)");
    assert_string_equal(cap.lines[2].message,
                        "au_log_configure: ignored \"warning\": unknown level \"warning\" "
                        "(levels: trace, debug, info, warn, error, off)");
    /* A module named without a level says so. */
    clear();
    assert_int_equal(au_log_configure("net"), AU_EINVAL);
    assert_int_equal(cap.n, 1);
    assert_string_equal(cap.lines[0].message,
                        "au_log_configure: ignored \"net\": no level for module \"net\" "
                        "(write module=level, e.g. net=debug)");
    /* Everything the spec holds past '=' is the level: a second '=' makes it unknown. */
    clear();
    assert_int_equal(au_log_configure("net=debug=x"), AU_EINVAL);
    assert_int_equal(au_log_get_level(AU_LOG_NET), AU_LOG_INFO);
    assert_int_equal(cap.n, 1);
    assert_string_equal(cap.lines[0].message,
                        "au_log_configure: ignored \"net=debug=x\": unknown level \"debug=x\" "
                        "(levels: trace, debug, info, warn, error, off)");
}

static void the_warning_is_written_even_when_levels_hide_core(void **s) {
    assert_int_equal(au_log_configure("off,x=y"), AU_EINVAL);
    assert_int_equal(au_log_get_level(AU_LOG_CORE), AU_LOG_OFF);
    assert_int_equal(cap.n, 1);
    assert_int_equal(cap.lines[0].level, AU_LOG_WARN);
}

static void a_huge_bad_item_is_quoted_truncated(void **s) {
    static char spec[3000];
    memset(spec, 'z', sizeof spec - 1);
    assert_int_equal(au_log_configure(spec), AU_EINVAL);
    assert_int_equal(cap.n, 1);
    assert_true(strlen(cap.lines[0].message) < 400);
    assert_non_null(strstr(cap.lines[0].message, "unknown level \"zzzz"));
}

static void levels_set_after_the_spec_override_it(void **s) {
    assert_int_equal(au_log_configure("net=trace"), AU_OK);
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    assert_int_equal(au_log_get_level(AU_LOG_NET), AU_LOG_ERROR);
    /* And the levels the spec set are the ones au_log obeys. */
    assert_int_equal(au_log_configure("user=info"), AU_OK);
    au_log(AU_LOG_USER, AU_LOG_DEBUG, "hidden");
    au_log(AU_LOG_USER, AU_LOG_INFO, "shown");
    assert_int_equal(cap.n, 1);
    assert_string_equal(cap.lines[0].message, "shown");
}

int main(void) {
    /* Before anything logs: the sink (which does not read AU_LOG), then the spec. */
    au_log_set_sink(capture_sink, NULL);
    setenv("AU_LOG", ENV_SPEC, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(au_log_from_the_environment_applies_at_first_use),
        cmocka_unit_test_setup(au_log_is_read_only_once, at_warn),
        cmocka_unit_test_setup(a_bare_level_sets_every_module, at_warn),
        cmocka_unit_test_setup(module_items_set_only_their_module, at_warn),
        cmocka_unit_test_setup(items_apply_left_to_right, at_warn),
        cmocka_unit_test_setup(names_ignore_case_and_blanks_are_skipped, at_warn),
        cmocka_unit_test_setup(empty_specs_and_items_change_nothing, at_warn),
        cmocka_unit_test_setup(an_unknown_module_or_level_is_ignored_with_one_warning_each, at_warn),
        cmocka_unit_test_setup(the_warning_is_written_even_when_levels_hide_core, at_warn),
        cmocka_unit_test_setup(a_huge_bad_item_is_quoted_truncated, at_warn),
        cmocka_unit_test_setup(levels_set_after_the_spec_override_it, at_warn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
