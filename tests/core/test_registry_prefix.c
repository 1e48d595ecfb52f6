/* test_registry_prefix.c — the registry's count of long names by (root type, length, first
 * AU_REGISTRY_PREFIX bytes), which the receive path asks when a first fragment shows only the
 * start of a name: it follows spawns and stops, tells lengths and root types apart, and keeps
 * a prefix while any actor with it lives. White-box: it calls au_registry_has_prefix. */
#include <aurum/aurum.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "core/internal.h"
#include "support/recorder.h"

AU_ROOT(one_msg, (value, int64_t, AU_REMOTE));
AU_ROOT(two_msg, (value, int64_t, AU_REMOTE));

typedef struct named { recorder *log; } named;
static void named_recv(au_ctx *ctx, named *self, one_msg *m) {}
static void named_post_stop(au_ctx *ctx, named *self) { recorder_add(self->log, 1); }
AU_ACTOR(named_actor, named, one_msg, .recv = named_recv, .post_stop = named_post_stop);

static bool has(au_node *node, const char *name, size_t len, au_type *root) {
    return au_registry_has_prefix(node, name, len, au_type_id(root));
}

static void long_names_are_counted_by_prefix_while_they_live(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *node;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 1, .no_network = true }, &node),
                     AU_OK);
    char a[201], b[201];
    memset(a, 'n', 200);
    a[200] = 0;
    memcpy(b, a, sizeof b);
    b[199] = 'm'; /* the same first bytes and length, another name */
    one_msg_ref ra = au_spawn(node, named_actor, a, &(named){ .log = &log });
    one_msg_ref rb = au_spawn(node, named_actor, b, &(named){ .log = &log });
    assert_false(au_ref_is_null(ra.raw) || au_ref_is_null(rb.raw));
    assert_true(has(node, a, 200, &au_type_one_msg));
    assert_false(has(node, a, 199, &au_type_one_msg)); /* another length */
    assert_false(has(node, a, 200, &au_type_two_msg)); /* another root type */
    assert_false(has(node, a, AU_REGISTRY_PREFIX, &au_type_one_msg)); /* short names: not here */
    au_stop(ra);
    assert_true(recorder_wait(&log, 1, 30000)); /* its name went before post_stop ran */
    assert_true(has(node, a, 200, &au_type_one_msg)); /* b has the same prefix */
    au_stop(rb);
    assert_true(recorder_wait(&log, 2, 30000));
    assert_false(has(node, a, 200, &au_type_one_msg));
    au_node_stop(node);
    recorder_destroy(&log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(long_names_are_counted_by_prefix_while_they_live),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
