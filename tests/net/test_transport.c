/* test_transport.c — the node's socket: IPv4 (IPv6 is test_transport_ipv6.c), bind and advertised
 * addresses, clear errors for unresolvable or unbindable addresses, message size limits, large
 * messages. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

AU_ROOT(box_msg, (value, int64_t, AU_REMOTE), (blob, au_bytes, AU_REMOTE));

/* A named probe on `at` that receives box_msg; a forged int64_t_ref to it from `from`. */
static au_probe *box_on(au_node *at) {
    au_probe *p = au_probe_new_with(at, box_msg, &(au_probe_opts){ .name = "box" });
    assert_non_null(p);
    return p;
}

static void one_value_crosses(au_node *from, au_node *to) {
    au_probe *p = box_on(to);
    int64_t_ref far = au_forge(box_msg, int64_t, from, "box", au_node_address(to));
    assert_false(au_ref_is_null(far.raw));
    assert_int_equal(au_send(far, (int64_t)77), AU_OK);
    box_msg got;
    assert_int_equal(au_probe_expect(p, box_msg, &got, AU_SEC(5)), AU_OK);
    assert_int_equal(got.tag, box_msg_value);
    assert_int_equal(got.value, 77);
    au_probe_free(p);
}

static void remoting_works_over_ipv4_loopback(void **s) {
    au_node *a, *b;
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1:0" }, &a), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1:0" }, &b), AU_OK);
    assert_true(strncmp(au_node_address(b), "127.0.0.1:", 10) == 0);
    one_value_crosses(a, b);
    au_node_stats st;
    au_node_stats_get(a, &st);
    assert_true(st.datagrams_sent >= 1 && st.bytes_sent > 0 && st.messages_sent_remote == 1);
    au_node_stop(a);
    au_node_stop(b);
}

static void nodes_that_never_spin_still_deliver(void **s) {
    au_node *a, *b;
    assert_int_equal(au_node_start(&(au_node_config){ .no_spin = true }, &a), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .no_spin = true }, &b), AU_OK);
    one_value_crosses(a, b);
    au_node_stop(a);
    au_node_stop(b);
}

static uint16_t free_port(void) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static void the_advertised_address_is_what_references_carry(void **s) {
    char bind_addr[64], adv[64];
    uint16_t port = free_port();
    snprintf(bind_addr, sizeof bind_addr, "127.0.0.1:%u", port);
    snprintf(adv, sizeof adv, "127.0.0.1:%u", port); /* same host, given explicitly */
    au_node *a, *b;
    assert_int_equal(au_node_start(&(au_node_config){ .bind = bind_addr, .advertise = adv }, &b), AU_OK);
    assert_string_equal(au_node_address(b), adv);
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    one_value_crosses(a, b);
    au_node_stop(a);
    au_node_stop(b);
}

static void bad_addresses_fail_with_a_clear_error(void **s) {
    au_log_set_level(AU_LOG_NET, AU_LOG_OFF); /* the errors are logged; keep the output clean */
    au_node *n = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "no-such-host.invalid:0" }, &n), AU_ERESOLVE);
    assert_null(n);
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1:notaport" }, &n), AU_EINVAL);
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1" }, &n), AU_EINVAL);
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "0.0.0.0:0" }, &n), AU_ECONFIG);
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1:0", .advertise = "nope.invalid:1" }, &n),
                     AU_ERESOLVE);
    au_node *first;
    assert_int_equal(au_node_start(NULL, &first), AU_OK);
    au_node_config taken = { .bind = au_node_address(first) };
    assert_int_equal(au_node_start(&taken, &n), AU_EBIND);
    /* Forging to an unresolvable host fails at forge time, not on every send. */
    int64_t_ref r = au_forge(box_msg, int64_t, first, "box", "no-such-host.invalid:1");
    assert_true(au_ref_is_null(r.raw));
    assert_int_equal(au_last_error(), AU_ERESOLVE);
    au_node_stop(first);
    au_log_set_level(AU_LOG_NET, AU_LOG_WARN);
}

static void a_message_above_the_size_limit_is_refused_at_the_sender(void **s) {
    au_node *a;
    assert_int_equal(au_node_start(&(au_node_config){ .max_message_size = 1000 }, &a), AU_OK);
    au_bytes_ref far = au_forge(box_msg, au_bytes, a, "box", au_node_address(a));
    static uint8_t big[5000];
    assert_int_equal(au_send(far, au_bytes_dup(big, sizeof big)), AU_ETOOBIG);
    assert_int_equal(au_send(far, au_bytes_dup(big, 100)), AU_OK);
    au_node_stats st;
    au_node_stats_get(a, &st);
    assert_int_equal(st.drops_too_big, 1);
    au_node_stop(a);
}

static void a_megabyte_message_is_fragmented_and_reassembled(void **s) {
    au_node *a, *b;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    assert_int_equal(au_node_start(NULL, &b), AU_OK);
    au_probe *p = box_on(b);
    au_bytes_ref far = au_forge(box_msg, au_bytes, a, "box", au_node_address(b));
    size_t n = 1 << 20;
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(i * 7);
    assert_int_equal(au_send(far, au_bytes_dup(data, n)), AU_OK);
    box_msg got;
    assert_int_equal(au_probe_expect(p, box_msg, &got, AU_SEC(10)), AU_OK);
    assert_int_equal(got.tag, box_msg_blob);
    assert_int_equal(got.blob.len, n);
    assert_memory_equal(got.blob.ptr, data, n);
    au_value_free(&au_type_box_msg, &got);
    au_node_stats st;
    au_node_stats_get(b, &st);
    assert_true(st.datagrams_received > n / 1400);
    assert_int_equal(st.reassemblies_in_flight, 0);
    free(data);
    au_probe_free(p);
    au_node_stop(a);
    au_node_stop(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(remoting_works_over_ipv4_loopback),
        cmocka_unit_test(nodes_that_never_spin_still_deliver),
        cmocka_unit_test(the_advertised_address_is_what_references_carry),
        cmocka_unit_test(bad_addresses_fail_with_a_clear_error),
        cmocka_unit_test(a_message_above_the_size_limit_is_refused_at_the_sender),
        cmocka_unit_test(a_megabyte_message_is_fragmented_and_reassembled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
