/* Tests of the error list (aurum/error.h, util/error.c): every code of AU_ERRNO_MAP has its own
 * value, name and sentence; the released values and sentences stay what they were; values that
 * are not codes still get a static string. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <aurum/error.h>

typedef struct code {
    int value;
    const char *name, *message;
} code;

#define AS_ROW(name, value, message) { AU_##name, "AU_" #name, message },
static const code codes[] = { AU_ERRNO_MAP(AS_ROW) };
#undef AS_ROW
#define NCODES (sizeof codes / sizeof codes[0])

static void every_code_has_its_own_value_name_and_message(void **unused) {
    (void)unused;
    assert_true(NCODES >= 18);
    for (size_t i = 0; i < NCODES; i++) {
        assert_string_equal(au_err_name(codes[i].value), codes[i].name);
        assert_string_equal(au_strerror(codes[i].value), codes[i].message);
        assert_true(strlen(codes[i].message) > 0);
        assert_string_not_equal(codes[i].message, "unknown error");
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(codes[i].value, codes[j].value);
            assert_string_not_equal(codes[i].name, codes[j].name);
            assert_string_not_equal(codes[i].message, codes[j].message);
        }
    }
}

static void codes_are_zero_for_success_and_negative_otherwise(void **unused) {
    (void)unused;
    assert_int_equal(codes[0].value, AU_OK);
    assert_int_equal(AU_OK, 0);
    for (size_t i = 1; i < NCODES; i++) assert_true(codes[i].value < 0);
}

/* Values and sentences are part of the API: programs store the numbers and match the text. */
static void released_values_and_messages_are_unchanged(void **unused) {
    (void)unused;
    static const code released[] = {
        { 0, "AU_OK", "success" },
        { -1, "AU_EINVAL", "invalid argument" },
        { -2, "AU_ENOMEM", "out of memory or memory limit reached" },
        { -3, "AU_ECONFIG", "invalid configuration" },
        { -4, "AU_EEXIST", "name already registered" },
        { -5, "AU_ENOTFOUND", "not found" },
        { -6, "AU_ESTOPPED", "actor or node stopped" },
        { -7, "AU_ETIMEDOUT", "timed out" },
        { -8, "AU_ETYPE", "type id mismatch" },
        { -9, "AU_EDECODE", "malformed encoded data" },
        { -10, "AU_EENCODE", "value cannot be encoded" },
        { -11, "AU_ETOOBIG", "message too large" },
        { -12, "AU_ERESOLVE", "host name resolution failed" },
        { -13, "AU_EBIND", "socket bind failed" },
        { -14, "AU_EIO", "I/O error" },
        { -15, "AU_ELOCAL", "local-only reference cannot be sent to another node" },
        { -16, "AU_EFULL", "bounded resource is full" },
        { -17, "AU_ESTATE", "invalid in the current state" },
    };
    for (size_t i = 0; i < sizeof released / sizeof released[0]; i++) {
        assert_string_equal(au_err_name(released[i].value), released[i].name);
        assert_string_equal(au_strerror(released[i].value), released[i].message);
    }
    assert_int_equal(AU_ETIMEDOUT, -7);
    assert_int_equal(AU_ESTATE, -17);
}

static void unknown_values_get_a_static_placeholder(void **unused) {
    (void)unused;
    int lowest = 0;
    for (size_t i = 0; i < NCODES; i++)
        if (codes[i].value < lowest) lowest = codes[i].value;
    const int unknown[] = { 1, 42, lowest - 1, -1000, INT_MIN, INT_MAX };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_string_equal(au_strerror(unknown[i]), "unknown error");
        assert_string_equal(au_err_name(unknown[i]), "AU_EUNKNOWN");
    }
    for (size_t i = 0; i < NCODES; i++)
        assert_string_not_equal(codes[i].name, "AU_EUNKNOWN");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_has_its_own_value_name_and_message),
        cmocka_unit_test(codes_are_zero_for_success_and_negative_otherwise),
        cmocka_unit_test(released_values_and_messages_are_unchanged),
        cmocka_unit_test(unknown_values_get_a_static_placeholder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
