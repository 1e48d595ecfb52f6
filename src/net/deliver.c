/* deliver.c — a remote message's way in: routing on the receive thread (who is it
 * for, may it be delivered), then decoding on the receiving actor's own worker.
 *
 * Routing checks, in order, each a counted drop: an actor registered under (name, root type id)
 * (else unknown actor, wrong root, or schema mismatch when a root of the same name but another
 * version is registered); still alive; the interface type id declared by the root as a remote
 * interface (else wrong interface or schema mismatch); for Term, an actor that accepts it from
 * the network (else term refused, see au_term_policy). The payload stays CBOR until the actor's
 * turn, so the I/O thread never runs user-type decoding. */
#include "net/net.h"

#include <stdlib.h>
#include <string.h>

/* The payload of an AU_ENV_REMOTE envelope. */
typedef struct remote_payload {
    uint32_t len;
    uint16_t variant; /* AU_WHOLE or the root variant the interface maps to */
    uint8_t from_len; /* the sender's "host:port", after the payload bytes (au_ctx_origin) */
    _Alignas(8) unsigned char bytes[];
} remote_payload;

/* The origin of the remote message whose recv hook runs on this thread (au_ctx_origin). */
static _Thread_local const remote_payload *current_origin;

static void drop(au_net_t *net, _Atomic uint64_t *counter, const au_wire_message *m,
                 const char *why, const char *from, au_net_warn_reason reason) {
    au_stat_add(counter, 1);
    au_net_warn(net, from, reason, &m->dest);
    au_log(AU_LOG_NET, AU_LOG_DEBUG, "message for '%.*s' (root %016llx, interface %016llx) dropped: %s",
           (int)m->dest.name_len, (const char *)m->dest.name, (unsigned long long)m->dest.root_type,
           (unsigned long long)m->dest.iface_type, why);
}

bool au_net_routable(au_net_t *net, const au_wire_dest *dest) {
    au_cell *cell;
    uint32_t gen;
    uint64_t other = 0;
    return au_registry_find(net->node, (const char *)dest->name, dest->name_len, dest->root_type,
                            &cell, &gen, &other) == AU_OK &&
           au_cell_def_if_alive(cell, gen) != NULL;
}

void au_net_route(au_net_t *net, const au_wire_message *m, const char *from) {
    au_cell *cell;
    uint32_t gen;
    uint64_t other = 0;
    au_err err = au_registry_find(net->node, (const char *)m->dest.name, m->dest.name_len,
                                  m->dest.root_type, &cell, &gen, &other);
    if (err == AU_ETYPE) {
        if ((other & AU_TYPE_ID_NAME_MASK) == (m->dest.root_type & AU_TYPE_ID_NAME_MASK))
            drop(net, &net->stats.drops_schema_mismatch, m, "root type of another version", from, AU_NET_WARN_SCHEMA);
        else
            drop(net, &net->stats.drops_wrong_root, m, "registered with another root type", from, AU_NET_WARN_WRONG_ROOT);
        return;
    }
    const au_actor_def *def = err ? NULL : au_cell_def_if_alive(cell, gen);
    if (!def) {
        drop(net, &net->stats.drops_unknown_actor, m, "no such actor", from, AU_NET_WARN_UNKNOWN_ACTOR);
        return;
    }
    bool mismatch;
    int variant = au_net_variant_of(def->root, m->dest.iface_type, &mismatch);
    if (variant < 0) {
        if (mismatch)
            drop(net, &net->stats.drops_schema_mismatch, m, "interface type of another version", from, AU_NET_WARN_SCHEMA);
        else
            drop(net, &net->stats.drops_wrong_interface, m, "interface not declared by the root", from, AU_NET_WARN_WRONG_INTERFACE);
        return;
    }
    au_envelope *env;
    if (m->dest.kind == AU_WIRE_KIND_SIGNAL) {
        /* The only signal is Term (CBOR 0); anything else is malformed. */
        if (m->payload_len != 1 || m->payload[0] != 0x00) {
            drop(net, &net->stats.drops_malformed, m, "unknown signal", from, AU_NET_WARN_SIGNAL);
            return;
        }
        /* relaxed: written before the gen that def_if_alive saw was published (seq_cst); a
         * value of the next incarnation comes with a new gen, and env->gen then drops it. */
        if (atomic_load_explicit(&cell->term, memory_order_relaxed) == AU_TERM_LOCAL) {
            drop(net, &net->stats.drops_term_refused, m, "Term refused (.term = AU_TERM_LOCAL)",
                 from, AU_NET_WARN_TERM_REFUSED);
            return;
        }
        env = au_envelope_new(AU_ENV_TERM, 0);
    } else {
        size_t from_len = from ? strnlen(from, 255) : 0;
        env = au_envelope_new(AU_ENV_REMOTE, sizeof(remote_payload) + m->payload_len + from_len);
        if (env) {
            remote_payload *p = (remote_payload *)env->payload;
            p->len = (uint32_t)m->payload_len;
            p->variant = (uint16_t)variant;
            p->from_len = (uint8_t)from_len;
            memcpy(p->bytes, m->payload, m->payload_len);
            if (from_len) memcpy(p->bytes + m->payload_len, from, from_len);
        }
    }
    if (!env) {
        drop(net, &net->stats.drops_decode, m, "out of memory", from, AU_NET_WARN_DECODE);
        return;
    }
    env->gen = gen;
    au_stat_add(&net->stats.messages_received_remote, 1);
    au_cell_deliver_remote(cell, env); /* a bounded mailbox's policy applies */
}

/* Called by the actor runtime (actor.c) for an AU_ENV_REMOTE envelope, on the actor's worker. */
au_err au_net_deliver(au_ctx *ctx, au_envelope *env, const au_actor_def *def) {
    au_net_t *net = ctx->node->net;
    remote_payload *p = (remote_payload *)env->payload;
    au_type *root = def->root;
    _Alignas(16) unsigned char local[512];
    void *msg = root->size <= sizeof local ? local : malloc(root->size);
    if (!msg || !net) {
        if (msg && msg != local) free(msg);
        return AU_ENOMEM;
    }
    /* max_message_size is the largest message accepted (node.h): one string or array may take
     * all of it, not only the codec's defaults for au_value_decode (1 MiB, 1 << 20 elements);
     * what a decode allocates stays bounded by max_total. (The size is at most 4 GiB - 1.) */
    size_t max = ctx->node->cfg.max_message_size;
    uint32_t one = max < UINT32_MAX - 1 ? (uint32_t)max : UINT32_MAX - 1;
    au_decode_limits limits = { .max_depth = AU_NET_MAX_DEPTH, .max_string = one, .max_array = one,
                                .max_total = max };
    au_err err;
    if (p->variant == AU_WHOLE) {
        err = au_decode(root, msg, p->bytes, p->len, &limits, &net->refs);
    } else {
        const au_variant *v = &root->variants[p->variant];
        int tag = p->variant;
        memset(msg, 0, root->size);
        memcpy((char *)msg + root->tag_offset, &tag, sizeof tag);
        err = au_decode(v->type, (char *)msg + v->offset, p->bytes, p->len, &limits, &net->refs);
    }
    if (err) {
        au_stat_add(&net->stats.drops_decode, 1);
        au_log(AU_LOG_NET, AU_LOG_DEBUG, "payload for %s undecodable: %s", root->name, au_strerror(err));
        au_wire_dest d = { .name = (const uint8_t *)(au_ctx_name(ctx) ? au_ctx_name(ctx) : "(anonymous)"),
                           .root_type = au_type_id(root) };
        d.name_len = strlen((const char *)d.name);
        au_net_warn(net, "a peer", AU_NET_WARN_DECODE, &d);
    } else {
        current_origin = p;
        def->recv(ctx, ctx->cell->state, msg);
        current_origin = NULL;
        au_value_free(root, msg);
    }
    if (msg != local) free(msg);
    return err;
}

size_t au_ctx_origin(au_ctx *ctx, char *buf, size_t size) {
    const remote_payload *p = ctx ? current_origin : NULL;
    size_t n = p ? p->from_len : 0;
    if (size && buf) {
        size_t k = n < size - 1 ? n : size - 1;
        if (k) memcpy(buf, p->bytes + p->len, k);
        buf[k] = 0;
    }
    return n;
}
