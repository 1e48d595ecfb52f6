/* remote_ref.c — references that point at other nodes: forging from (address, name), interning
 * their targets, and carrying references inside messages (the codec's ref callbacks).
 *
 * A remote target (peer, name, root type id) is interned per node and lives until the node
 * stops, so a reference stays a 24-byte value and equality is a pointer compare. The table is
 * bounded (max_remote_refs): a flood of distinct references in hostile messages fails to decode
 * (AU_EFULL) instead of growing memory. */
#include "net/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static uint64_t remote_hash(const char *addr, size_t addr_len, const char *name, size_t name_len,
                            uint64_t root_id) {
    return XXH3_64bits(addr, addr_len) ^ (XXH3_64bits(name, name_len) * 31) ^ root_id;
}

/* Finds or creates the target (addr text, name, root id). Resolves addr outside the lock. */
static au_err intern(au_net_t *net, const char *addr, size_t addr_len, const char *name,
                     size_t name_len, uint64_t root_id, bool numeric_only, au_remote **out) {
    if (addr_len >= sizeof(((au_remote *)0)->addr) || name_len > AU_NAME_MAX) return AU_EINVAL;
    uint64_t h = remote_hash(addr, addr_len, name, name_len, root_id);
    size_t bucket = h & (net->nremote_buckets - 1);
    pthread_mutex_lock(&net->lock);
    for (au_remote *r = net->remotes[bucket]; r; r = r->next) {
        if (r->hash == h && r->root_id == root_id && r->name_len == name_len &&
            memcmp(r->name, name, name_len) == 0 && strlen(r->addr) == addr_len &&
            memcmp(r->addr, addr, addr_len) == 0) {
            pthread_mutex_unlock(&net->lock);
            *out = r;
            return AU_OK;
        }
    }
    bool full = net->nremotes >= net->max_remotes;
    pthread_mutex_unlock(&net->lock);
    if (full) return AU_EFULL;

    char text[64];
    memcpy(text, addr, addr_len);
    text[addr_len] = '\0';
    au_addr resolved;
    au_err err = au_addr_parse(text, &resolved, numeric_only);
    if (err) return err;
    au_peer *peer = au_net_peer(net, &resolved, true);
    if (!peer) return AU_EFULL;

    au_remote *r = calloc(1, sizeof *r + name_len + 1);
    if (!r) return AU_ENOMEM;
    r->net = net;
    r->peer = peer;
    r->root_id = root_id;
    r->hash = h;
    r->name_len = (uint8_t)name_len;
    memcpy(r->addr, text, addr_len + 1);
    memcpy(r->name, name, name_len);
    pthread_mutex_lock(&net->lock);
    for (au_remote *o = net->remotes[bucket]; o; o = o->next) { /* lost a race: use theirs */
        if (o->hash == h && o->root_id == root_id && o->name_len == name_len &&
            memcmp(o->name, name, name_len) == 0 && strcmp(o->addr, r->addr) == 0) {
            pthread_mutex_unlock(&net->lock);
            free(r);
            *out = o;
            return AU_OK;
        }
    }
    r->next = net->remotes[bucket];
    net->remotes[bucket] = r;
    net->nremotes++;
    pthread_mutex_unlock(&net->lock);
    *out = r;
    return AU_OK;
}

void au_net_remotes_free(au_net_t *net) {
    if (!net->remotes) return;
    for (size_t i = 0; i < net->nremote_buckets; i++) {
        for (au_remote *r = net->remotes[i], *n; r; r = n) {
            n = r->next;
            free(r);
        }
    }
    free(net->remotes);
    net->remotes = NULL;
}

static au_ref remote_ref(au_remote *r, au_type *iface, uint16_t variant) {
    return (au_ref){ .target = r, .iface = iface, .variant = variant, .flags = AU_REF_F_REMOTE };
}

au_ref au_net_forge(au_node *node, const char *name, const char *addr, au_type *root,
                        uint16_t variant, au_type *iface) {
    au_net_t *net = node->net;
    if (!net) {
        au_set_last_error_(AU_ESTATE); /* a local-only node cannot reach other nodes */
        return (au_ref){ 0 };
    }
    au_remote *r;
    au_err err = intern(net, addr, strlen(addr), name, strlen(name), au_type_id(root), false, &r);
    if (err) {
        au_log(AU_LOG_NET, AU_LOG_INFO, "forge %s@%s: %s", name, addr, au_strerror(err));
        au_set_last_error_(err);
        return (au_ref){ 0 };
    }
    return remote_ref(r, iface, variant);
}

/* ---- sending ------------------------------------------------------------------------------ */

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static void scratch_free(void *p) {
    au_buf_free(p);
    free(p);
}
static void make_scratch_key(void) { pthread_key_create(&scratch_key, scratch_free); }

/* This thread's encoding buffer, reused across sends (freed when the thread exits). */
static au_buf *scratch(void) {
    pthread_once(&scratch_once, make_scratch_key);
    au_buf *b = pthread_getspecific(scratch_key);
    if (!b && (b = calloc(1, sizeof *b))) pthread_setspecific(scratch_key, b);
    return b;
}

au_err au_net_send(au_ref ref, const void *msg, bool signal) {
    au_remote *r = ref.target;
    au_net_t *net = r->net;
    au_buf *buf = scratch();
    au_err err = buf ? AU_OK : AU_ENOMEM;
    if (!err) {
        buf->len = 0;
        if (signal) {
            uint8_t term = 0x00; /* CBOR unsigned 0: the Term signal */
            err = au_buf_append(buf, &term, 1);
        } else {
            err = au_encode(ref.iface, msg, buf, &net->refs);
        }
    }
    if (msg) au_value_free(ref.iface, (void *)msg); /* moved: the bytes are all we need now */
    if (err) return err;
    if (buf->len > net->limits.max_message) {
        au_stat_add(&net->stats.drops_too_big, 1);
        return AU_ETOOBIG;
    }
    size_t size = sizeof(au_outmsg) + buf->len;
    uint8_t cls = au_pool_class(size);
    au_outmsg *m = au_pool_alloc(cls, size);
    if (!m) return AU_ENOMEM;
    m->pool_class = cls;
    m->kind = signal ? AU_WIRE_KIND_SIGNAL : AU_WIRE_KIND_MESSAGE;
    m->fated = 0;
    m->payload_len = (uint32_t)buf->len;
    m->iface_id = au_type_id(ref.iface);
    m->to = r;
    memcpy(m->payload, buf->data, buf->len);
    au_net_enqueue(net, r->peer, m);
    return AU_OK;
}

au_node *au_net_node_of(au_ref ref) { return ((au_remote *)ref.target)->net->node; }

bool au_net_is_at(au_ref ref, const struct sockaddr *addr) {
    au_remote *r = ref.target;
    return au_address_equal((const struct sockaddr *)&r->peer->addr.sa, addr);
}

bool au_net_equal(au_ref a, au_ref b) {
    return a.target == b.target && a.iface && b.iface && au_type_id(a.iface) == au_type_id(b.iface);
}

size_t au_net_format(au_ref ref, char *buf, size_t size) {
    au_remote *r = ref.target;
    return (size_t)snprintf(buf, size, "%.*s@%s as %s", (int)r->name_len, r->name, r->addr,
                            ref.iface ? ref.iface->name : "?");
}

/* ---- references inside messages ------------------------------------------------------------- */

static _Thread_local char name_buf[AU_NAME_MAX + 1];

static au_err encode_ref(void *user, const au_ref *ref, au_wire_ref *out) {
    au_net_t *net = user;
    if (!ref->target || !ref->iface) return AU_EENCODE;
    out->iface_id = au_type_id(ref->iface);
    if (ref->flags & AU_REF_F_REMOTE) {
        au_remote *r = ref->target;
        out->addr = r->addr;
        out->addr_len = strlen(r->addr);
        out->name = r->name;
        out->name_len = r->name_len;
        out->root_id = r->root_id;
        return AU_OK;
    }
    /* A local actor: this node's address and the actor's name (generated if anonymous). A
     * reference to an actor that is gone travels as one that nothing answers. */
    au_cell *cell = ref->target;
    out->addr = net->node->address;
    out->addr_len = strlen(net->node->address);
    const au_actor_def *def = au_cell_def_if_alive(cell, ref->gen);
    size_t n = def ? au_registry_name_of(net->node, cell, ref->gen, au_type_id(def->root),
                                         name_buf, sizeof name_buf)
                   : 0;
    out->name = n ? name_buf : "~gone";
    out->name_len = n ? n : 5;
    out->root_id = def ? au_type_id(def->root) : 0;
    return AU_OK;
}

/* The variant of `root` that carries interface `iface_id`, AU_WHOLE for the root itself, or -1. */
int au_net_variant_of(au_type *root, uint64_t iface_id, bool *schema_mismatch) {
    *schema_mismatch = false;
    if (iface_id == au_type_id(root)) return root->local ? -1 : AU_WHOLE;
    if (root->kind == AU_KIND_ROOT) {
        for (uint32_t i = 0; i < root->count; i++) {
            const au_variant *v = &root->variants[i];
            if (v->mode != AU_MODE_REMOTE) continue;
            uint64_t id = au_type_id(v->type);
            if (id == iface_id) return (int)i;
            if ((id & AU_TYPE_ID_NAME_MASK) == (iface_id & AU_TYPE_ID_NAME_MASK)) *schema_mismatch = true;
        }
    }
    if ((au_type_id(root) & AU_TYPE_ID_NAME_MASK) == (iface_id & AU_TYPE_ID_NAME_MASK))
        *schema_mismatch = true;
    return -1;
}

static au_err decode_ref(void *user, const au_wire_ref *in, au_type *ref_type, au_ref *out) {
    au_net_t *net = user;
    au_type *iface = ref_type->elem;
    if (in->iface_id != au_type_id(iface)) return AU_ETYPE;
    const char *self = net->node->address;
    if (in->addr_len == strlen(self) && memcmp(in->addr, self, in->addr_len) == 0) {
        au_cell *cell;
        uint32_t gen;
        if (au_registry_find(net->node, in->name, in->name_len, in->root_id, &cell, &gen, NULL) == AU_OK) {
            const au_actor_def *def = au_cell_def_if_alive(cell, gen);
            bool mismatch;
            int v = def ? au_net_variant_of(def->root, in->iface_id, &mismatch) : -1;
            if (v >= 0) {
                *out = au_cell_ref(cell, gen, iface, (uint16_t)v);
                return AU_OK;
            }
        }
        /* Not (or no longer) here: fall through to a remote reference, which nothing answers. */
    }
    au_remote *r;
    /* A reference in a message names its node by the address that node advertises; a name
     * that would need DNS is refused here (a hostile message must not stall a worker on a
     * resolver), which is why nodes that advertise host names are reached by forging. */
    au_err err = intern(net, in->addr, in->addr_len, in->name, in->name_len, in->root_id, true, &r);
    if (err) return err;
    /* The receiver maps the interface to a variant itself; here the variant only says whether
     * the reference is through the root itself (AU_WHOLE), as au_narrow requires. */
    *out = remote_ref(r, iface, in->iface_id == in->root_id ? AU_WHOLE : 0);
    return AU_OK;
}

au_err au_net_refs_init(au_net_t *net) {
    net->nremote_buckets = 1024;
    net->remotes = calloc(net->nremote_buckets, sizeof *net->remotes);
    if (!net->remotes) return AU_ENOMEM;
    net->refs = (au_codec_refs){ .encode = encode_ref, .decode = decode_ref, .user = net };
    return AU_OK;
}
