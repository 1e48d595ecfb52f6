/* ref.c — sending through references: local delivery (a move into the mailbox, no
 * serialization), narrowing, Term, delayed sends. Remote references are handed to the transport
 * (net/), which the library links in when present.
 *
 * Value semantics are those of a remote send: what the message owns is moved into the envelope,
 * and what it only borrows (an .owned == 0 string, bytes or array: au_str_lit, au_str_view, a
 * view of the sender's buffer) is deep-copied into it (au_value_own), so the receiver never
 * sees the sender's later writes and always gets a message that owns everything it holds. A
 * message type that can hold no string, bytes or array pays one cached look for this.
 *
 * The typed macros make a well-formed au_ref, but its bytes can still be forged or reinterpreted
 * (a raw au_ref built by hand, a cast, a void *). So nothing here trusts a reference's variant
 * index: before a message is wrapped into a root variant, the reference's interface must be that
 * variant's payload type (by type id, as the remote path checks it), and the message's size the
 * interface's; anything else is a counted drop (drops_wrong_interface_local), never a
 * reinterpretation of memory. */
#include "core/internal.h"
#include "proto/value.h"
#include "util/clock.h"

#include <stdio.h>
#include <string.h>

static void free_msg(au_type *type, const void *msg) {
    if (type && msg) au_value_free(type, (void *)msg);
}

static bool same_type(au_type *a, au_type *b) {
    /* Descriptors are per translation unit: equal pointers are a shortcut, ids the truth. */
    return a == b || au_type_id(a) == au_type_id(b);
}

/* True if a local reference with this interface and variant may deliver into `root`: the whole
 * root through the root type itself, or an interface (remote or local, never plain) variant
 * through exactly its payload type. */
static bool iface_fits(au_type *root, uint16_t variant, au_type *iface) {
    if (variant == AU_WHOLE) return same_type(iface, root);
    if (root->kind != AU_KIND_ROOT || variant >= root->count) return false;
    const au_variant *v = &root->variants[variant];
    return v->mode != AU_MODE_PLAIN && same_type(iface, v->type);
}

/* A message of a root type whose tag names none of its variants (a tag set by hand), or one
 * holding such a root below (a record's field, a variant's payload, an array's element): no
 * receiver could read it, and a remote send of it fails to encode. Logged; AU_EENCODE. The
 * nested check is the encoder's (au_root_tag) and walks only types that can hold a root below
 * their top (roots_cache, one cached look for all others). */
static bool bad_tag(const au_type *type, const void *msg) {
    if (type->kind == AU_KIND_ROOT && au_root_tag(type, msg) < 0) {
        int tag;
        memcpy(&tag, (const char *)msg + type->tag_offset, sizeof tag);
        au_log(AU_LOG_CORE, AU_LOG_WARN,
               "send of %s dropped: its tag %d names none of its %u variants", type->name, tag,
               (unsigned)type->count);
        return true;
    }
    if (__builtin_expect(atomic_load_explicit(&((au_type *)type)->roots_cache,
                                              memory_order_relaxed) == 1, 1) ||
        au_value_check_roots(type, msg) == AU_OK)
        return false;
    au_log(AU_LOG_CORE, AU_LOG_WARN, "send of %s dropped: a root inside it has a tag that names "
           "none of its variants", type->name);
    return true;
}

/* Builds the root message for `def` from a message of ref's interface, owning all it holds.
 * NULL with *err on failure; the message is then freed (by the caller if *err is AU_ENOMEM
 * before anything was moved, here otherwise: *moved says which). */
static au_envelope *wrap(au_ref ref, const au_actor_def *def, const void *msg, bool *moved,
                         au_err *err) {
    au_type *root = def->root;
    *moved = false;
    *err = AU_ENOMEM;
    if (bad_tag(ref.iface, msg)) { /* the root's own tag, or a root sent as an interface's */
        *err = AU_EENCODE;
        return NULL;
    }
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
    *moved = true;
    /* The common case, a type whose values own nothing (cached in the descriptor once known):
     * no call at all. */
    if (__builtin_expect(atomic_load_explicit(&root->owns_cache, memory_order_relaxed) == 1, 1))
        return env;
    au_err e = au_value_own(root, env->payload);
    if (__builtin_expect(e != AU_OK, 0)) {
        /* As a remote send of the same message would (au_encode): AU_EENCODE, or AU_ENOMEM. */
        au_log(AU_LOG_CORE, AU_LOG_WARN,
               "send of %s dropped: copying its borrowed strings/bytes/arrays failed (%s)",
               ref.iface->name, e == AU_EINVAL    ? "a part has a length but no pointer"
                                : e == AU_EENCODE ? "a string is not valid UTF-8"
                                                  : "out of memory");
        au_envelope_free(env); /* frees what the message owned, and the copies made so far */
        *err = e == AU_EINVAL ? AU_EENCODE : e;
        return NULL;
    }
    return env;
}

/* The node a reference sends through, or NULL for a null reference. */
static au_node *node_of(au_ref ref) {
    if (!ref.target) return NULL;
    if (ref.flags & AU_REF_F_REMOTE) return au_remote_layer()->node_of(ref);
    return ((au_cell *)ref.target)->node;
}

/* A reference whose raw interface is not what the compiler checked the message against (its
 * size differs): counted, and the message is not freed, since its layout is unknown. */
static bool size_fits(au_ref ref, size_t size) {
    if (!ref.iface || ref.iface->size == size) return true;
    au_node *node = node_of(ref);
    if (node) au_stat_add(&node->stats.drops_wrong_interface_local, 1);
    au_log(AU_LOG_CORE, AU_LOG_WARN,
           "send dropped: a %zu-byte message through a reference to %s (%zu bytes); the "
           "reference was reinterpreted as another type", size, ref.iface->name,
           ref.iface->size);
    return false;
}

/* Every send through a reference. A bounded target's room is taken before the envelope is
 * made (au_cell_room, actor.c), so a refusal or a wait leaves the message untouched: for the
 * back-pressure modes, AU_EFULL and AU_ETIMEDOUT hand it back to the caller unfreed. */
static au_err send_mode(au_ref ref, const void *msg, au_send_mode mode, uint64_t deadline,
                        au_ctx *ctx) {
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
    if (!iface_fits(def->root, ref.variant, ref.iface)) {
        au_stat_add(&cell->node->stats.drops_wrong_interface_local, 1);
        au_log(AU_LOG_CORE, AU_LOG_WARN,
               "send dropped: a reference as %s (variant %u) does not fit root %s", ref.iface->name,
               (unsigned)ref.variant, def->root->name);
        free_msg(ref.iface, msg);
        return AU_ETYPE;
    }
    bool counted = __builtin_expect((cell->flags & AU_CELL_BOUNDED) && mode != AU_SEND_CONTROL, 0);
    if (counted) {
        bool dropped;
        au_err err = au_cell_room(cell, ref.gen, mode, deadline, ctx, &dropped);
        if (err == AU_EFULL || err == AU_ETIMEDOUT) {
            if (mode == AU_SEND_PLAIN) free_msg(ref.iface, msg); /* au_send: always moved */
            return err;
        }
        if (err || dropped) {
            free_msg(ref.iface, msg);
            return err;
        }
    }
    bool moved;
    au_err werr;
    au_envelope *env = wrap(ref, def, msg, &moved, &werr);
    if (!env) {
        if (counted) au_cell_room_return(cell);
        if (!moved) free_msg(ref.iface, msg);
        return werr;
    }
    if (counted)
        au_cell_push_counted(cell, env);
    else if (mode == AU_SEND_CONTROL)
        au_cell_push(cell, env);
    else
        au_cell_send(cell, env);
    return AU_OK;
}

au_err au_send_(au_ref ref, const void *msg, size_t size) {
    if (!size_fits(ref, size)) return AU_ETYPE;
    return au_ref_send_(ref, msg);
}

au_err au_ref_send_(au_ref ref, const void *msg) {
    return send_mode(ref, msg, AU_SEND_PLAIN, 0, NULL);
}

au_err au_try_send_(au_ref ref, const void *msg, size_t size) {
    if (!size_fits(ref, size)) return AU_ETYPE;
    return send_mode(ref, msg, AU_SEND_TRY, 0, NULL);
}

au_err au_send_wait_(au_ref ref, uint64_t timeout, const void *msg, size_t size) {
    if (!size_fits(ref, size)) return AU_ETYPE;
    if (au_turn_active()) {
        /* A pooled actor's hook: blocking would stall a worker. The message stays the
         * caller's, as for the other outcomes that do not send. */
        au_log(AU_LOG_CORE, AU_LOG_WARN, "au_send_wait inside an actor's hook refused: use "
                                         "au_send_or_notify");
        return AU_ESTATE;
    }
    uint64_t deadline = 0;
    if (timeout) {
        deadline = au_clock_monotonic_ns() + timeout;
        if (deadline < timeout) deadline = UINT64_MAX; /* wrapped: no limit in practice */
    }
    return send_mode(ref, msg, AU_SEND_WAIT, deadline, NULL);
}

au_err au_send_or_notify_(au_ref ref, au_ctx *ctx, const void *msg, size_t size) {
    if (!size_fits(ref, size)) return AU_ETYPE;
    if (!ctx) {
        free_msg(ref.iface, msg);
        return AU_EINVAL;
    }
    return send_mode(ref, msg, AU_SEND_NOTIFY, 0, ctx);
}

au_err au_send_control_(au_ref ref, const void *msg, size_t size) {
    if (!size_fits(ref, size)) return AU_ETYPE;
    return send_mode(ref, msg, AU_SEND_CONTROL, 0, NULL);
}

au_err au_mailbox_depth_(au_ref ref, uint32_t *depth) {
    if (!ref.target || !depth) return AU_EINVAL;
    if (ref.flags & AU_REF_F_REMOTE) return AU_ESTATE;
    au_cell *cell = ref.target;
    if (!au_cell_def_if_alive(cell, ref.gen)) return AU_ESTOPPED;
    if (!(cell->flags & AU_CELL_BOUNDED)) return AU_ESTATE;
    /* relaxed: a snapshot; the count publishes nothing. */
    *depth = atomic_load_explicit(&au_cell_bound(cell)->depth, memory_order_relaxed);
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

/* A narrowing starts from a reference to an actor of root type `root` through the root itself:
 * a reference that is already a narrowing (root exposed as an interface of another root Q) has
 * its variant index in Q, and one reference carries one index, so narrowing it again would
 * deliver into the wrong variant of Q. */
au_ref au_ref_narrow_(au_ref ref, au_type *root, uint16_t variant, au_type *iface) {
    if (!ref.target) {
        au_set_last_error_(AU_EINVAL);
        return (au_ref){ 0 };
    }
    if (ref.variant != AU_WHOLE || !ref.iface || !same_type(ref.iface, root)) {
        au_log(AU_LOG_CORE, AU_LOG_WARN, "narrowing to %s refused: %s", iface->name,
               ref.variant != AU_WHOLE
                   ? "the reference is itself a narrowing (an interface of another root); "
                     "narrow that root's reference instead"
                   : "the reference is not one to the root it is narrowed from");
        au_set_last_error_(AU_ETYPE);
        return (au_ref){ 0 };
    }
    ref.variant = variant;
    ref.iface = iface;
    return ref;
}

au_ref au_ref_forge_(au_node *node, const char *name, const char *addr, au_type *root,
                     uint16_t variant, au_type *iface) {
    if (!node || !name || !name[0] || !addr || !root || !iface) { /* "": no actor has that name */
        au_set_last_error_(AU_EINVAL);
        return (au_ref){ 0 };
    }
    if (!node->net) { /* a node without a network cannot reach another */
        au_set_last_error_(AU_ESTATE);
        return (au_ref){ 0 };
    }
    return au_remote_layer()->forge(node, name, addr, root, variant, iface);
}

au_err au_unforge_(au_ref ref) {
    if (!ref.target || !(ref.flags & AU_REF_F_REMOTE)) return AU_EINVAL; /* never forged */
    return au_remote_layer()->unforge(ref);
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

au_timer au_send_after_(au_ref ref, au_nanos delay, const void *msg, size_t size) {
    if (!size_fits(ref, size)) return 0;
    au_node *node = node_of(ref);
    if (!node || !ref.iface) {
        free_msg(ref.iface, msg);
        return 0;
    }
    if (bad_tag(ref.iface, msg)) { /* refused now, as au_send would, not when it fires */
        free_msg(ref.iface, msg);
        au_set_last_error_(AU_EENCODE);
        return 0;
    }
    /* Own the borrowed parts now: the sender may reuse its buffers long before the timer fires. */
    au_err err = au_value_own(ref.iface, (void *)msg);
    if (err != AU_OK) {
        free_msg(ref.iface, msg);
        au_set_last_error_(err == AU_EINVAL ? AU_EENCODE : err);
        return 0;
    }
    au_timer id = au_timers_add_send(node, au_deadline_after(au_node_now(node), delay), ref,
                                     ref.iface, msg);
    if (!id) free_msg(ref.iface, msg);
    return id;
}
