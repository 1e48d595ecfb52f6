/* Tests of au_node_start's failures (aurum/node.h): each bad bind or advertise string gives the
 * code node.h documents, *out is NULL, and one ERROR line names the string; a good one after a
 * bad one starts. These are the strings a newcomer types. */
#include <aurum/aurum.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static struct {
    pthread_mutex_t lock;
    char errors[16][600];
    size_t n;
} cap = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void capture_sink(void *user, au_log_module module, au_log_level level, const char *file,
                         int line, const char *message) {
    if (level < AU_LOG_ERROR) return;
    pthread_mutex_lock(&cap.lock);
    if (cap.n < 16) snprintf(cap.errors[cap.n++], sizeof cap.errors[0], "%s", message);
    pthread_mutex_unlock(&cap.lock);
}

static int capture(void **s) {
    cap.n = 0;
    au_log_set_sink(capture_sink, NULL);
    return 0;
}

static int release(void **s) {
    au_log_set_sink(NULL, NULL);
    return 0;
}

/* Starts a node with cfg; asserts it fails with want, leaves *out NULL and logs an ERROR line
 * that names `names`. */
static void refused(const au_node_config *cfg, au_err want, const char *names) {
    cap.n = 0;
    au_node *node = (au_node *)&cap; /* not NULL: au_node_start must clear it */
    au_err err = au_node_start(cfg, &node);
    if (err != want)
        fail_msg("bind \"%s\" advertise \"%s\": %s, node.h says %s", cfg->bind ? cfg->bind : "",
                 cfg->advertise ? cfg->advertise : "", au_err_name(err), au_err_name(want));
    assert_null(node);
    bool named = false;
    for (size_t i = 0; i < cap.n; i++) named |= strstr(cap.errors[i], names) != NULL;
    if (!named) fail_msg("no ERROR line names \"%s\" (%zu lines)", names, cap.n);
}

static void malformed_bind_strings_are_econfig(void **s) {
    const char *bad[] = { "garbage", "1.2.3.4:99999", "127.0.0.1:abc", ":1", "127.0.0.1:",
                          "127.0.0.1:-1", "[::1]", "127.0.0.1:1:2" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused(&(au_node_config){ .bind = bad[i] }, AU_ECONFIG, bad[i]);
}

static void a_host_that_does_not_resolve_is_eresolve(void **s) {
    const char *b = "host-that-does-not-resolve.invalid:1";
    refused(&(au_node_config){ .bind = b }, AU_ERESOLVE, b);
}

static void an_address_that_cannot_be_bound_is_ebind(void **s) {
    refused(&(au_node_config){ .bind = "1.2.3.4:1" }, AU_EBIND, "1.2.3.4:1");
    /* A port in use. */
    au_node *first;
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1:0" }, &first), AU_OK);
    refused(&(au_node_config){ .bind = au_node_address(first) }, AU_EBIND, au_node_address(first));
    au_node_stop(first);
}

static void a_wildcard_without_advertise_is_econfig(void **s) {
    refused(&(au_node_config){ .bind = "0.0.0.0:0" }, AU_ECONFIG, "0.0.0.0:0");
}

static void a_bad_advertise_string_gets_the_same_codes(void **s) {
    refused(&(au_node_config){ .advertise = "garbage" }, AU_ECONFIG, "garbage");
    refused(&(au_node_config){ .advertise = "nope.invalid:4000" }, AU_ERESOLVE, "nope.invalid:4000");
}

static void other_fields_out_of_range_are_econfig(void **s) {
    refused(&(au_node_config){ .workers = 5000 }, AU_ECONFIG, "workers");
    refused(&(au_node_config){ .mtu = 20 }, AU_ECONFIG, "mtu");
    /* The transport's limits: the line names the field, as the runtime's do. */
    refused(&(au_node_config){ .max_message_size = 17 }, AU_ECONFIG, "max_message_size");
    refused(&(au_node_config){ .max_message_size = (size_t)1 << 32 }, AU_ECONFIG, "max_message_size");
    refused(&(au_node_config){ .max_partials = 4097 }, AU_ECONFIG, "max_partials");
    refused(&(au_node_config){ .max_reassembly_total = 1 }, AU_ECONFIG, "max_reassembly_total");
}

static void a_null_out_is_einval_and_a_good_start_follows_a_bad_one(void **s) {
    assert_int_equal(au_node_start(NULL, NULL), AU_EINVAL);
    refused(&(au_node_config){ .bind = "garbage" }, AU_ECONFIG, "garbage");
    au_node *node;
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1:0" }, &node), AU_OK);
    assert_non_null(node);
    assert_true(strncmp(au_node_address(node), "127.0.0.1:", 10) == 0);
    au_node_stop(node);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(malformed_bind_strings_are_econfig, capture, release),
        cmocka_unit_test_setup_teardown(a_host_that_does_not_resolve_is_eresolve, capture, release),
        cmocka_unit_test_setup_teardown(an_address_that_cannot_be_bound_is_ebind, capture, release),
        cmocka_unit_test_setup_teardown(a_wildcard_without_advertise_is_econfig, capture, release),
        cmocka_unit_test_setup_teardown(a_bad_advertise_string_gets_the_same_codes, capture, release),
        cmocka_unit_test_setup_teardown(other_fields_out_of_range_are_econfig, capture, release),
        cmocka_unit_test_setup_teardown(a_null_out_is_einval_and_a_good_start_follows_a_bad_one, capture, release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
