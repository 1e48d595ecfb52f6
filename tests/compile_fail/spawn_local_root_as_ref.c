// expect: worker_msg_ref
/* au_spawn of an actor with a local root returns worker_msg_lref; worker_msg_ref does not exist. */
#include "cf_schema.h"

void cf_case(au_node *node) {
#ifdef AU_SHOULD_FAIL
    worker_msg_ref w = au_spawn_with(node, worker_actor, au_opts(.dedicated = true), NULL);
#else
    worker_msg_lref w = au_spawn_with(node, worker_actor, au_opts(.dedicated = true), NULL);
#endif
    (void)w;
}
