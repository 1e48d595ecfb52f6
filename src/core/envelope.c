/* envelope.c — allocation of mailbox envelopes from the per-thread pool. */
#include "core/internal.h"

#include <string.h>

au_envelope *au_envelope_new(au_env_kind kind, size_t payload_size) {
    size_t size = sizeof(au_envelope) + payload_size;
    uint8_t cls = au_pool_class(size);
    au_envelope *env = au_pool_alloc(cls, size);
    if (!env) return NULL;
    env->type = NULL;
    env->gen = 0;
    env->kind = (uint8_t)kind;
    env->pool_class = cls;
    env->eflags = 0;
    return env;
}

void au_envelope_free_payload(au_envelope *env) {
    switch ((au_env_kind)env->kind) {
    case AU_ENV_MSG:
        if (env->type) au_value_free(env->type, env->payload);
        break;
    case AU_ENV_CALL: {
        au_call *call = (au_call *)env->payload;
        if (call->err == AU_OK && env->type) au_value_free(env->type, call->value);
        break;
    }
    default:
        break;
    }
    env->type = NULL;
}

void au_envelope_free(au_envelope *env) {
    if (!env) return;
    au_envelope_free_payload(env);
    au_pool_free(env->pool_class, env);
}
