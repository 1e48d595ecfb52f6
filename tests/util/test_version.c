/* Tests of the version (aurum/version.h, util/version.c): au_version() is the header's
 * AURUM_VERSION, which is made of the three numbers, which are the ones CMake configured the
 * project with (passed in as AU_TEST_PROJECT_VERSION): one source of truth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <aurum/aurum.h>

#ifndef AU_TEST_PROJECT_VERSION
#error "tests/CMakeLists.txt passes the CMake project version as AU_TEST_PROJECT_VERSION"
#endif

static void au_version_is_the_header_macro(void **unused) {
    (void)unused;
    assert_non_null(au_version());
    assert_string_equal(au_version(), AURUM_VERSION);
    assert_ptr_equal(au_version(), au_version()); /* static storage */
}

static void the_macro_is_made_of_the_three_numbers(void **unused) {
    (void)unused;
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", AURUM_VERSION_MAJOR, AURUM_VERSION_MINOR,
             AURUM_VERSION_PATCH);
    assert_string_equal(AURUM_VERSION, want);
    assert_int_equal(AURUM_VERSION_NUMBER,
                     AURUM_VERSION_MAJOR * 1000000 + AURUM_VERSION_MINOR * 1000 + AURUM_VERSION_PATCH);
    /* Usable in #if. */
#if AURUM_VERSION_NUMBER < 1000
    fail_msg("AURUM_VERSION_NUMBER is not a preprocessor number >= 0.1.0");
#endif
}

static void cmake_configured_the_project_with_the_headers_version(void **unused) {
    (void)unused;
    assert_string_equal(AU_TEST_PROJECT_VERSION, AURUM_VERSION);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(au_version_is_the_header_macro),
        cmocka_unit_test(the_macro_is_made_of_the_three_numbers),
        cmocka_unit_test(cmake_configured_the_project_with_the_headers_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
