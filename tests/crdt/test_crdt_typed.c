/* Misuse of the typed ORMaps is a compile error: every case in tests/crdt/compile_fail/ goes
 * through the project's compile-fail driver (tests/compile_fail/check.sh) with gcc and clang:
 * with -DAU_SHOULD_FAIL it must be rejected with the diagnostic its `// expect:` line names, and
 * as written it must compile cleanly (also with -Wall -Wextra -Werror). Runs in tests/crdt
 * (it moves there itself, so it runs the same under ctest and under make test-valgrind). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static int run(const char *mode, const char *cc, const char *file) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bash ../compile_fail/check.sh %s %s ../../include compile_fail/%s",
             mode, cc, file);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* This source file's folder (CMake compiles it by its full path). */
static void move_to_source_folder(void) {
    char here[1024];
    snprintf(here, sizeof here, "%s", __FILE__);
    char *slash = strrchr(here, '/');
    if (!slash) return;
    *slash = '\0';
    assert_int_equal(chdir(here), 0);
}

static void typed_map_misuse_does_not_compile(void **state) {
    (void)state;
    move_to_source_folder();
    const char *compilers[] = { "gcc", "clang" };
    int cases = 0, compilers_found = 0;
    for (size_t c = 0; c < 2; c++) {
        char probe[64];
        snprintf(probe, sizeof probe, "command -v %s >/dev/null 2>&1", compilers[c]);
        if (system(probe) != 0) continue;
        compilers_found++;
        DIR *dir = opendir("compile_fail");
        assert_non_null(dir);
        struct dirent *e;
        while ((e = readdir(dir))) {
            size_t n = strlen(e->d_name);
            if (n < 3 || strcmp(e->d_name + n - 2, ".c") != 0) continue;
            assert_int_equal(run("fail", compilers[c], e->d_name), 0);
            assert_int_equal(run("ok", compilers[c], e->d_name), 0);
            cases++;
        }
        closedir(dir);
    }
    assert_true(compilers_found > 0);
    assert_true(cases >= 3 * compilers_found);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(typed_map_misuse_does_not_compile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
