/* test_transport_ipv6.c — remoting over the IPv6 loopback ([::1]). A test of its own so that a
 * machine without IPv6 reports it as skipped (exit 77, SKIP_RETURN_CODE in
 * tests/support/skips.cmake), never as passed. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

AU_ROOT(box_msg, (value, int64_t, AU_REMOTE));

static void remoting_works_over_ipv6_loopback(void **s) {
    au_node *a, *b;
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "[::1]:0" }, &a), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "[::1]:0" }, &b), AU_OK);
    assert_true(strncmp(au_node_address(b), "[::1]:", 6) == 0);
    au_probe *p = au_probe_new_with(b, box_msg, &(au_probe_opts){ .name = "box" });
    assert_non_null(p);
    int64_t_ref far = au_forge(box_msg, int64_t, a, "box", au_node_address(b));
    assert_false(au_ref_is_null(far.raw));
    assert_false(au_ref_is_local(far.raw));
    assert_int_equal(au_send(far, (int64_t)77), AU_OK);
    box_msg got;
    assert_int_equal(au_probe_expect(p, box_msg, &got, AU_SEC(30)), AU_OK);
    assert_int_equal(got.tag, box_msg_value);
    assert_int_equal(got.value, 77);
    au_node_stats st;
    au_node_stats_get(b, &st);
    assert_int_equal(st.messages_received_remote, 1);
    au_probe_free(p);
    au_node_stop(a);
    au_node_stop(b);
}

/* Whether a UDP socket can bind [::1]: the kernel may lack IPv6, or have it disabled. */
static bool have_ipv6_loopback(void) {
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 lo = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&lo, sizeof lo) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

int main(void) {
    if (!have_ipv6_loopback()) {
        printf("skipping: this machine has no IPv6 loopback ([::1] cannot be bound)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(remoting_works_over_ipv6_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
