// expect: not compatible with any|incompatible pointer type|controlling expression type
/* au_spawn with an initial state of another actor's state type. */
#include "cf_schema.h"

void cf_case(au_node *node) {
    greeter_state gs = { 0 };
    worker_state ws = { 0 };
#ifdef AU_SHOULD_FAIL
    (void)au_spawn_with(node, greeter_actor, au_opts(.name = "greeter"), &ws);
#else
    (void)au_spawn_with(node, greeter_actor, au_opts(.name = "greeter"), &gs);
#endif
    (void)gs, (void)ws;
}
