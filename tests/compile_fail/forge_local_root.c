// expect: worker_msg_ref|worker_msg__riface__worker_msg
/* au_forge of a local root itself (a remote root can be forged whole). */
#include "cf_schema.h"

void cf_case(au_node *node) {
#ifdef AU_SHOULD_FAIL
    (void)au_forge(worker_msg, worker_msg, node, "worker", "127.0.0.1:4000");
#else
    (void)au_forge(greeter_msg, greeter_msg, node, "greeter", "127.0.0.1:4000");
#endif
}
