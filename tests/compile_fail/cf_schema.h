/* cf_schema.h — the schema shared by the compile-fail cases (each case adds one line of misuse).
 *
 * Every case file includes this header, then compiles a small function twice: once as written
 * (it must compile cleanly, also under -Wall -Wextra -Werror) and once with -DAU_SHOULD_FAIL,
 * which swaps one line for a misuse that must be a hard error under the default flags. */
#ifndef CF_SCHEMA_H
#define CF_SCHEMA_H

#include <stdio.h>

#include <aurum/aurum.h>

/* Serializable records. */
AU_RECORD(greeting, (au_str, text), (uint32_t, times));
AU_RECORD(farewell, (au_str, text));
AU_RECORD(control, (uint32_t, code));
AU_ARRAY(greeting);

/* A remote root: greeting and int64_t are remote interfaces, au_unit is plain. */
AU_ROOT(greeter_msg,
        (greet, greeting, AU_REMOTE),
        (count, int64_t, AU_REMOTE),
        (poke, au_unit, AU_PLAIN));

/* Another remote root with the same layout of interfaces, to mix up references. */
AU_ROOT(other_msg,
        (greet, greeting, AU_REMOTE),
        (bye, farewell, AU_PLAIN));

/* A local-only type and a local root: control is a local-only interface (although the record
 * itself is serializable), file_ptr a local-only payload, farewell a remote interface. */
typedef FILE *file_ptr;
AU_LOCAL_TYPE(file_ptr);
AU_LOCAL_ROOT(worker_msg,
              (bye, farewell, AU_REMOTE),
              (ctl, control, AU_LOCAL),
              (sink, file_ptr, AU_LOCAL),
              (tick, au_unit, AU_PLAIN));

/* Nested roots: outer_msg exposes the root inner_msg as an interface; int64_t and farewell are
 * interfaces of inner_msg only. */
AU_ROOT(inner_msg,
        (num, int64_t, AU_REMOTE),
        (bye, farewell, AU_REMOTE));
AU_ROOT(outer_msg,
        (small, uint8_t, AU_REMOTE),
        (inner, inner_msg, AU_REMOTE));

/* An actor of the remote root and one of the local root. */
typedef struct greeter_state { int64_t total; } greeter_state;
typedef struct worker_state { int64_t jobs; } worker_state;

static inline void greeter_recv(au_ctx *ctx, greeter_state *self, greeter_msg *msg) {
    (void)ctx;
    if (msg->tag == greeter_msg_count) self->total += msg->count;
}
static inline void worker_recv(au_ctx *ctx, worker_state *self, worker_msg *msg) {
    (void)ctx;
    (void)msg;
    self->jobs++;
}
AU_ACTOR(greeter_actor, greeter_state, greeter_msg, .recv = greeter_recv);
AU_ACTOR(worker_actor, worker_state, worker_msg, .recv = worker_recv);

#endif
