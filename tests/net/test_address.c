/* test_address.c — the transport's address text (net/address.c, au_addr_format): IPv4 is
 * written by hand on the receive path, so its text is checked against inet_ntop + "%s:%u" (what
 * it replaced) over the octets' edge values and random addresses and ports, truncation included
 * (as snprintf truncates), and the text parses back to the same address. IPv6 keeps inet_ntop. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "net/net.h"
#include "util/rng.h"

static au_addr v4(uint32_t host_order, uint16_t port) {
    au_addr a = { .len = sizeof(struct sockaddr_in) };
    struct sockaddr_in *s = (struct sockaddr_in *)&a.sa;
    s->sin_family = AF_INET;
    s->sin_addr.s_addr = htonl(host_order);
    s->sin_port = htons(port);
    return a;
}

/* The text before: inet_ntop, then snprintf "%s:%u" into size bytes. */
static void reference(const au_addr *a, char *buf, size_t size) {
    const struct sockaddr_in *s = (const struct sockaddr_in *)&a->sa;
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET, &s->sin_addr, ip, sizeof ip);
    snprintf(buf, size, "%s:%u", ip, (unsigned)ntohs(s->sin_port));
}

static void check(uint32_t ip, uint16_t port) {
    au_addr a = v4(ip, port);
    char want[64], got[64];
    reference(&a, want, sizeof want);
    memset(got, 'x', sizeof got);
    au_addr_format(&a, got, sizeof got);
    assert_string_equal(got, want);
    au_addr back;
    assert_int_equal(au_addr_parse(got, &back, true), AU_OK);
    assert_true(au_addr_equal(&a, &back));
    for (size_t size = 1; size <= strlen(want) + 1; size++) { /* truncated as snprintf does */
        char w[64], g[64];
        memset(g, 'x', sizeof g);
        reference(&a, w, size);
        au_addr_format(&a, g, size);
        assert_string_equal(g, w);
        assert_int_equal(g[size], 'x'); /* nothing written past size */
    }
}

static void ipv4_text_matches_inet_ntop(void **unused) {
    (void)unused;
    static const uint32_t octets[] = { 0, 1, 9, 10, 99, 100, 199, 200, 254, 255 };
    static const uint16_t ports[] = { 0, 1, 9, 10, 999, 1000, 9999, 10000, 65535 };
    size_t no = sizeof octets / sizeof octets[0], np = sizeof ports / sizeof ports[0];
    for (size_t i = 0; i < no; i++)
        for (size_t j = 0; j < no; j++)
            for (size_t p = 0; p < np; p++)
                check(octets[i] << 24 | octets[j] << 16 | octets[(i + j) % no] << 8 | octets[j],
                      ports[p]);
    uint64_t seed = 42;
    for (int k = 0; k < 20000; k++) {
        uint64_t r = au_splitmix64_next(&seed);
        check((uint32_t)r, (uint16_t)(r >> 32));
    }
    au_addr a = v4(0x7f000001u, 4000);
    au_addr_format(&a, NULL, 0); /* size 0: nothing written (and no crash on NULL) */
}

static void ipv6_text_unchanged(void **unused) {
    (void)unused;
    au_addr a;
    assert_int_equal(au_addr_parse("[::1]:4000", &a, true), AU_OK);
    char got[64];
    au_addr_format(&a, got, sizeof got);
    assert_string_equal(got, "[::1]:4000");
}

/* Text that is no address: refused, never taken for a neighbour of a valid one. */
static void malformed_text_is_refused(void **unused) {
    (void)unused;
    static const char *bad[] = {
        "[127.0.0.1]:4000", /* brackets hold IPv6 only */
        "[localhost]:4000", "[::1]", "[::1]4000", "[::1]:", "::1:4000", "127.0.0.1",
        "127.0.0.1:", "127.0.0.1:+1", "127.0.0.1: 1", "127.0.0.1:65536", "127.0.0.1:-1",
        ":4000", "", "127.0.0.1:4000x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        au_addr a;
        au_err e = au_addr_parse(bad[i], &a, true);
        if (e == AU_OK) fail_msg("'%s' was taken for an address", bad[i]);
        assert_int_equal(au_addr_parse(bad[i], &a, false) == AU_OK, 0);
    }
    au_addr a;
    assert_int_equal(au_addr_parse("[::ffff:127.0.0.1]:4000", &a, true), AU_OK); /* v6 spelling */
    assert_int_equal(au_addr_parse("127.0.0.1:0", &a, true), AU_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ipv4_text_matches_inet_ntop),
        cmocka_unit_test(ipv6_text_unchanged),
        cmocka_unit_test(malformed_text_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
