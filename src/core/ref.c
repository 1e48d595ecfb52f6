/* ref.c — sending through references: local delivery (a move into the mailbox, no
 * serialization), narrowing, Term, delayed sends. Remote references are handed to the transport
 * (net/), which the library links in when present. */
#include "core/internal.h"

#include <stdio.h>
#include <string.h>

static void free_msg(au_type *type, const void *msg) {
    if (type && msg) au_value_free(type, (void *)msg);
}

/* Builds the root message for `def` from a message of ref's interface. */
static au_envelope *wrap(au_ref ref, const au_actor_def *def, const void *msg) {
    au_type *root = def->root;
    au_envelope *env = au_envelope_new(AU_ENV_MSG, root->size);
    if (!env) return NULL;
    if (ref.variant == AU_WHOLE) {
        memcpy(env->payload, msg, root->size);
    } else {
        const au_variant *v = &root->variants[ref.variant];
        int tag = ref.variant; /* the generated tag enum has the variant's index as value */
        memset(env->payload, 0, root->size);
        memcpy(env->payload + root->tag_offset, &tag, sizeof tag);
        memcpy(env->payload + v->offset, msg, v->type->size);
    }
    env->type = root;
    env->gen = ref.gen;
    return env;
}

au_err au_ref_send_(au_ref ref, const void *msg) {
    if (!ref.target || !ref.iface) {
        free_msg(ref.iface, msg);
        return AU_EINVAL;
    }
    if (ref.flags & AU_REF_F_REMOTE) {
        return au_remote_layer()->send(ref, msg, false);
    }
    au_cell *cell = ref.target;
    const au_actor_def *def = au_cell_def_if_alive(cell, ref.gen);
    if (!def) {
        au_stat_add(&cell->node->stats.drops_dead_actor, 1);
        free_msg(ref.iface, msg);
        return AU_ESTOPPED;
    }
    au_envelope *env = wrap(ref, def, msg);
    if (!env) {
        free_msg(ref.iface, msg);
        return AU_ENOMEM;
    }
    au_cell_push(cell, env);
    return AU_OK;
}

au_err au_ref_stop_(au_ref ref) {
    if (!ref.target) return AU_EINVAL;
    if (ref.flags & AU_REF_F_REMOTE) return au_remote_layer()->send(ref, NULL, true);
    au_cell *cell = ref.target;
    if (!au_cell_def_if_alive(cell, ref.gen)) return AU_ESTOPPED;
    au_envelope *env = au_envelope_new(AU_ENV_TERM, 0);
    if (!env) return AU_ENOMEM;
    env->gen = ref.gen;
    au_cell_push(cell, env);
    return AU_OK;
}

au_ref au_ref_narrow_(au_ref ref, uint16_t variant, au_type *iface) {
    if (!ref.target) return ref;
    ref.variant = variant;
    ref.iface = iface;
    return ref;
}

au_ref au_ref_forge_(au_node *node, const char *name, const char *addr, au_type *root,
                     uint16_t variant, au_type *iface) {
    if (!node || !name || !addr || !root || !iface) {
        au_set_last_error_(AU_EINVAL);
        return (au_ref){ 0 };
    }
    if (!node->net) { /* a node without a network cannot reach another */
        au_set_last_error_(AU_ESTATE);
        return (au_ref){ 0 };
    }
    return au_remote_layer()->forge(node, name, addr, root, variant, iface);
}

bool au_ref_is_local(au_ref r) { return r.target && !(r.flags & AU_REF_F_REMOTE); }

bool au_ref_equal(au_ref a, au_ref b) {
    if ((a.flags & AU_REF_F_REMOTE) != (b.flags & AU_REF_F_REMOTE)) return false;
    if (a.flags & AU_REF_F_REMOTE) return au_remote_layer()->equal(a, b);
    return a.target == b.target && a.gen == b.gen && a.variant == b.variant;
}

size_t au_ref_format(au_ref r, char *buf, size_t size) {
    if (!r.target) return (size_t)snprintf(buf, size, "(null)");
    if (r.flags & AU_REF_F_REMOTE)
        return au_remote_layer()->format(r, buf, size);
    au_cell *c = r.target;
    return (size_t)snprintf(buf, size, "local:%p#%u as %s", (void *)c, (unsigned)r.gen,
                            r.iface ? r.iface->name : "?");
}

au_timer au_send_after_(au_ref ref, au_nanos delay, const void *msg) {
    au_node *node = NULL;
    if (ref.target && !(ref.flags & AU_REF_F_REMOTE))
        node = ((au_cell *)ref.target)->node;
    else if (ref.target)
        node = au_remote_layer()->node_of(ref);
    if (!node || !ref.iface) {
        free_msg(ref.iface, msg);
        return 0;
    }
    au_timer id = au_timers_add_send(node, au_node_now(node) + delay, ref, ref.iface, msg);
    if (!id) free_msg(ref.iface, msg);
    return id;
}
