// expect: not compatible with any|incompatible pointer type
// known-hole: au_spawn passes `state` to a `const S *` parameter; a pointer to another state type is only an incompatible-pointer-types warning under gcc 12 and clang 14.
/* au_spawn with an initial state of another actor's state type. */
#include "cf_schema.h"

void cf_case(au_node *node) {
    greeter_state gs = { 0 };
    worker_state ws = { 0 };
#ifdef AU_SHOULD_FAIL
    (void)au_spawn_with(node, greeter_actor, &ws, .name = "greeter");
#else
    (void)au_spawn_with(node, greeter_actor, &gs, .name = "greeter");
#endif
    (void)gs, (void)ws;
}
