/* test_device_cbor_misuse.c — the device client's CBOR writer (aurum/device_client.h) set up or
 * called wrong: a writer whose len is past its cap, and a NULL string or byte string with a
 * length. Each sets the sticky err and writes nothing, never past buf[cap) nor from NULL (cap -
 * len wrapped round to room that was not there, and the copy read through the NULL). */
#include <aurum/device_client.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void a_writer_past_its_cap_writes_nothing(void **state) {
    (void)state;
    uint8_t buf[16];
    memset(buf, 0xee, sizeof buf);
    /* the writer may use buf[0, 4) only; len 8 is past it */
    au_dc_cbor_out w = { buf, 8, 4, 0 };
    au_dc_cbor_put_uint(&w, 1);
    assert_int_not_equal(w.err, 0);
    assert_int_equal(w.len, 8);
    au_dc_cbor_put_text(&w, "x", 1);
    au_dc_cbor_put_null(&w);
    for (size_t i = 0; i < sizeof buf; i++) assert_int_equal(buf[i], 0xee);
    /* len exactly at cap: full, as before */
    w = (au_dc_cbor_out){ buf, 4, 4, 0 };
    au_dc_cbor_put_bool(&w, 1);
    assert_int_not_equal(w.err, 0);
    assert_int_equal(buf[4], 0xee);
}

static void null_strings_with_a_length_are_refused(void **state) {
    (void)state;
    uint8_t buf[64];
    au_dc_cbor_out w = { buf, 0, sizeof buf, 0 };
    au_dc_cbor_put_bytes(&w, NULL, 10);
    assert_int_not_equal(w.err, 0);
    assert_int_equal(w.len, 0);
    w = (au_dc_cbor_out){ buf, 0, sizeof buf, 0 };
    au_dc_cbor_put_text(&w, NULL, 3);
    assert_int_not_equal(w.err, 0);
    assert_int_equal(w.len, 0);
    /* NULL with length 0 is the empty string */
    w = (au_dc_cbor_out){ buf, 0, sizeof buf, 0 };
    au_dc_cbor_put_bytes(&w, NULL, 0);
    au_dc_cbor_put_text(&w, NULL, 0);
    assert_int_equal(w.err, 0);
    assert_int_equal(w.len, 2);
    assert_int_equal(buf[0], 0x40);
    assert_int_equal(buf[1], 0x60);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_writer_past_its_cap_writes_nothing),
        cmocka_unit_test(null_strings_with_a_length_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
