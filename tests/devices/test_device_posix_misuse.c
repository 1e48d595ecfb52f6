/* test_device_posix_misuse.c — the device client's POSIX adapter (aurum/device_client_posix.h)
 * with NULL and malformed arguments: each call answers with its documented failure (-1 and
 * errno, 0 for the port, nothing for close) instead of reading through the NULL. A NULL host
 * reached inet_pton in au_dc_posix_addr and crashed; a NULL io crashed open, close, port and
 * wait. Binds 127.0.0.1 only, port 0. */
#include <aurum/device_client_posix.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void null_and_malformed_arguments_fail_cleanly(void **state) {
    (void)state;
    au_dc_addr a;
    memset(&a, 0xaa, sizeof a);
    assert_int_equal(au_dc_posix_addr(&a, NULL, 1), -1);
    assert_int_equal(a.len, 0); /* left empty, not half-written */
    assert_int_equal(au_dc_posix_addr(NULL, "127.0.0.1", 1), -1);
    assert_int_equal(au_dc_posix_addr(NULL, NULL, 1), -1);
    static char host[301];
    memset(host, '1', 300);
    const char *bad[] = { "", ":", "[::1]", "127.0.0.1:1", "localhost", host };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(au_dc_posix_addr(&a, bad[i], 1), -1);
        au_dc_posix io = { .fd = 5 };
        errno = 0;
        assert_int_equal(au_dc_posix_open(&io, bad[i], 0), -1);
        assert_int_equal(errno, EINVAL);
        assert_int_equal(io.fd, -1);
    }
    errno = 0;
    assert_int_equal(au_dc_posix_open(NULL, "127.0.0.1", 0), -1);
    assert_int_equal(errno, EINVAL);
    au_dc_posix_close(NULL);
    assert_int_equal(au_dc_posix_port(NULL), 0);
    errno = 0;
    assert_int_equal(au_dc_posix_wait(NULL, 1000), -1);
    assert_int_equal(errno, EBADF);
    /* the good path still works, and closing twice is fine */
    au_dc_posix io;
    assert_int_equal(au_dc_posix_open(&io, "127.0.0.1", 0), 0);
    assert_int_not_equal(au_dc_posix_port(&io), 0);
    au_dc_posix_close(&io);
    au_dc_posix_close(&io);
    assert_int_equal(au_dc_posix_port(&io), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(null_and_malformed_arguments_fail_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
