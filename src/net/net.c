/* net.c — the remote path of a node: start (configuration, keys, the channel's endpoint), stop,
 * statistics, and the table through which the core reaches it (core/remote.h).
 *
 * Relies on the node driver for the endpoint and the datagrams (channel.c) and for entropy (the
 * node's incarnation id); on wire.c, seal.c and reassembly.c for the bytes. */
#include "net/net.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <xxhash.h>

static void net_stop(au_node *node);
static void net_stats(au_node *node, au_node_stats *out);

static const au_remote_ops net_ops = {
    .send = au_net_send,
    .forge = au_net_forge,
    .unforge = au_net_unforge,
    .format = au_net_format,
    .equal = au_net_equal,
    .node_of = au_net_node_of,
    .deliver = au_net_deliver,
    .receive = au_net_receive,
    .stats = net_stats,
    .is_at = au_net_is_at,
    .pin = au_net_remote_pin,
    .unpin = au_net_unpin_ref,
    .watch = au_net_watch,
    .unwatch = au_net_unwatch,
    .watched_stopped = au_net_watched_stopped,
    .watch_gone = au_net_watch_gone,
    .stop = net_stop,
};

static void net_free(au_net_t *net) {
    au_net_watch_free(net); /* first: it holds references into peers and slots */
    if (net->peers) au_net_peers_free(net);
    au_net_remotes_free(net);
    au_net_senders_free(net);
    au_net_keys_free(net);
    au_net_devkeys_free(net);
    pthread_mutex_destroy(&net->key_lock);
    pthread_mutex_destroy(&net->senders_lock);
    pthread_mutex_destroy(&net->warn_lock);
    pthread_mutex_destroy(&net->lock);
    free(net);
}

static au_err fail(au_err err, const char *what, const char *detail) {
    au_log(AU_LOG_NET, AU_LOG_ERROR, "%s: %s (%s)", what, detail, au_strerror(err));
    return err;
}

/* The reason a "host:port" configuration string is refused, for the log line. */
static const char *malformed(const char *text) {
    static _Thread_local char why[160];
    snprintf(why, sizeof why, "\"%s\" is not host:port or [v6]:port with a port of 0..65535", text);
    return why;
}

static au_err configure(au_net_t *net, const au_node_config *cfg) {
    net->limits = au_wire_limits_default();
    net->limits.mtu = cfg->mtu;
    net->limits.max_message = cfg->max_message_size;
    if (cfg->max_partials) net->limits.max_partials = cfg->max_partials;
    if (cfg->max_reassembly_bytes) net->limits.max_buffered = cfg->max_reassembly_bytes;
    if (cfg->reassembly_timeout) net->limits.reassembly_timeout_ns = cfg->reassembly_timeout;
    /* Each limit by name, so that the ERROR line names the value at fault (node.h). */
    char why[120];
    if (cfg->max_message_size < AU_WIRE_BODY_HEADER || cfg->max_message_size > UINT32_MAX) {
        snprintf(why, sizeof why, "max_message_size = %zu (must be %u..%" PRIu32 ")",
                 cfg->max_message_size, AU_WIRE_BODY_HEADER, UINT32_MAX);
        return fail(AU_ECONFIG, "config", why);
    }
    if (net->limits.max_partials > AU_WIRE_MAX_PARTIALS) {
        snprintf(why, sizeof why, "max_partials = %zu (at most %u)", net->limits.max_partials,
                 AU_WIRE_MAX_PARTIALS);
        return fail(AU_ECONFIG, "config", why);
    }
    if (au_wire_limits_check(&net->limits) != AU_WIRE_OK)
        return fail(AU_ECONFIG, "config", "mtu, message size or reassembly limits out of range");
    /* Not refused (each limit is fine alone, and a node that never receives large messages
     * may want little reassembly memory), but said once: the sender's au_send succeeds for a
     * message the receiver can never reassemble. */
    size_t largest = au_reassembly_largest(net->limits.max_buffered);
    if (net->limits.max_message > net->limits.mtu && largest < net->limits.max_message)
        au_log(AU_LOG_NET, AU_LOG_WARN, "config: max_reassembly_bytes = %zu holds one fragmented "
               "message of at most %zu bytes, below max_message_size = %zu: larger messages from "
               "peers are dropped on arrival (drops_reassembly); raise max_reassembly_bytes to at "
               "least %zu or lower max_message_size", net->limits.max_buffered, largest,
               net->limits.max_message,
               net->limits.max_message + (net->limits.max_message + 63) / 64 * 8);
    net->budget.used = &net->stats.reassembly_bytes;
    net->budget.max = cfg->max_reassembly_total ? cfg->max_reassembly_total : (uint64_t)256 << 20;
    if (net->budget.max < net->limits.max_buffered) {
        if (cfg->max_reassembly_total)
            return fail(AU_ECONFIG, "config", "max_reassembly_total below max_reassembly_bytes");
        net->budget.max = net->limits.max_buffered; /* the default follows a larger per-peer one */
    }
    net->max_peers = cfg->max_peers ? cfg->max_peers : 4096;
    net->max_senders = net->max_peers;
    net->max_remotes = cfg->max_remote_refs ? cfg->max_remote_refs : 65536;
    if (sodium_init() < 0) return fail(AU_EIO, "libsodium", "initialisation failed");
    au_driver_node *dn = net->node->driver;
    net->incarnation = dn->ops->incarnation(dn);
    net->hash_seed = dn->ops->random(dn);
    /* The generated names' key, derived one way from the seed (the names, which travel, tell
     * nothing of it), rather than drawn: a simulation's run stays the one its seed gave. */
    uint8_t in[32] = "aurum: generated names", key[AU_NAME_KEY_SIZE];
    memcpy(in + 24, &net->hash_seed, sizeof net->hash_seed);
    crypto_generichash(key, sizeof key, in, sizeof in, NULL, 0);
    au_registry_set_name_key(net->node, key);
    sodium_memzero(in, sizeof in);
    sodium_memzero(key, sizeof key);
    au_wire_ids_init(&net->ids);
    return AU_OK;
}

/* The key ring the configuration names: secret (id 0), then keys, then the key file's. */
static au_err start_keys(au_net_t *net, const au_node_config *cfg) {
    au_key ring[AU_KEYS_MAX + 1];
    size_t n = 0;
    au_err err = AU_OK;
    if (cfg->secret) {
        ring[n].id = 0;
        memcpy(ring[n++].bytes, cfg->secret, AU_KEY_SIZE);
    }
    if (cfg->nkeys && !cfg->keys) err = fail(AU_ECONFIG, "config", "nkeys without keys");
    for (size_t i = 0; !err && i < cfg->nkeys; i++) {
        if (n > AU_KEYS_MAX) break;
        ring[n++] = cfg->keys[i];
    }
    if (!err && cfg->key_file) {
        size_t got = 0;
        err = n <= AU_KEYS_MAX ? au_key_file_read(cfg->key_file, ring + n, AU_KEYS_MAX + 1 - n, &got)
                               : AU_OK;
        n += got;
    }
    /* The key bytes of the sealed keys stay in guarded memory only; this copy is wiped. */
    if (!err) err = au_net_keys_start(net, ring, n); /* more than AU_KEYS_MAX: refused there */
    sodium_memzero(ring, sizeof ring);
    if (!err && !n) {
        /* Once loudly per process, then quietly per node: test suites start many nodes. */
        static atomic_flag warned = ATOMIC_FLAG_INIT;
        au_log(AU_LOG_NET, atomic_flag_test_and_set(&warned) ? AU_LOG_INFO : AU_LOG_WARN,
               "%s: no cluster key, traffic is unauthenticated: anyone who can send datagrams "
               "here can send to its actors, including Term (see docs/security.md)",
               net->node->address);
    }
    return err;
}

static bool is_wildcard(const au_addr *a) {
    return (a->sa.any.sa_family == AF_INET &&
            ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr == htonl(INADDR_ANY)) ||
           (a->sa.any.sa_family == AF_INET6 &&
            IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr));
}

/* The address references to this node carry: the advertised one, else the bound one. */
static au_err set_address(au_net_t *net, const au_addr *bind) {
    au_node *node = net->node;
    if (node->cfg.advertise) {
        au_addr adv;
        au_err err = au_addr_resolve(node->cfg.advertise, &adv);
        if (err == AU_EINVAL) err = AU_ECONFIG; /* a configuration string, not an argument */
        if (err) return fail(err, "advertised address", err == AU_ECONFIG ? malformed(node->cfg.advertise)
                                                                           : node->cfg.advertise);
        if (au_addr_port(&adv) == 0) {
            /* Port 0: the port bound (the OS's pick for a bind port of 0), which nobody could
             * name beforehand; the address is then written numeric, as resolved. */
            uint16_t port = htons(au_addr_port(&net->bound));
            if (adv.sa.any.sa_family == AF_INET6) adv.sa.in6.sin6_port = port;
            else adv.sa.in4.sin_port = port;
            au_addr_format(&adv, node->address, sizeof node->address);
        } else {
            snprintf(node->address, sizeof node->address, "%s", node->cfg.advertise);
        }
        /* A host name or a non-canonical literal: references forged to it elsewhere carry the
         * address it resolves to (remote_ref.c), and are this node's too (decode_ref). */
        au_addr_format(&adv, net->self_canon, sizeof net->self_canon);
        return AU_OK;
    }
    au_addr_format(&net->bound, node->address, sizeof node->address);
    au_addr_format(&net->bound, net->self_canon, sizeof net->self_canon);
    if (is_wildcard(bind))
        return fail(AU_ECONFIG, node->cfg.bind,
                    "bound to a wildcard address: set .advertise to a reachable address");
    return AU_OK;
}

au_err au_net_start(au_node *node) {
    au_net_t *net = calloc(1, sizeof *net);
    if (!net) return AU_ENOMEM;
    net->node = node;
    net->channel = &au_channel_datagram;
    pthread_mutex_init(&net->lock, NULL);
    pthread_mutex_init(&net->key_lock, NULL);
    pthread_mutex_init(&net->senders_lock, NULL);
    pthread_mutex_init(&net->warn_lock, NULL);
    au_err err = configure(net, &node->cfg);
    /* The tables start small and grow with use (peer.c, remote_ref.c): a node that talks to a
     * few peers pays for a few, whatever max_peers allows. */
    net->npeers_buckets = 16;
    net->peers = err ? NULL : calloc(net->npeers_buckets, sizeof *net->peers);
    if (!err && !net->peers) err = AU_ENOMEM;
    if (!err) err = au_net_refs_init(net);
    if (!err) err = au_net_watch_init(net, node->cfg.max_remote_watches);
    au_addr bind;
    if (!err && (err = au_addr_resolve(node->cfg.bind, &bind))) {
        if (err == AU_EINVAL) err = AU_ECONFIG; /* a configuration string, not an argument */
        fail(err, "bind address", err == AU_ECONFIG ? malformed(node->cfg.bind) : node->cfg.bind);
    }
    if (!err && (err = net->channel->open(net, &bind, &net->bound)))
        fail(err, "bind", node->cfg.bind);
    if (!err) err = set_address(net, &bind);
    /* The identity this node's sealed datagrams name: the address peers know it by. */
    net->sender_id = XXH3_64bits(node->address, strlen(node->address));
    if (!err) err = start_keys(net, &node->cfg);
    if (!err) err = au_net_devkeys_start(net, &node->cfg);
    if (err) {
        net_free(net);
        return err;
    }
    au_log(AU_LOG_NET, AU_LOG_INFO, "node %s: bound %s, %s", node->address, node->cfg.bind,
           atomic_load_explicit(&net->ring, memory_order_relaxed) ? "sealed" : "unauthenticated");
    /* Every net shares one table: set it before any reference to this node can exist. */
    au_remote_layer_set(&net_ops);
    node->incarnation = net->incarnation;
    node->net = net;
    return AU_OK;
}

static void net_stop(au_node *node) {
    au_net_t *net = node->net;
    au_log(AU_LOG_NET, AU_LOG_INFO, "node %s: stopped (%llu datagrams sent, %llu received)",
           node->address, (unsigned long long)au_stat_read(&net->stats.datagrams_sent),
           (unsigned long long)au_stat_read(&net->stats.datagrams_received));
    node->net = NULL;
    net_free(net);
}

static void net_stats(au_node *node, au_node_stats *out) {
    au_net_t *net = node->net;
#define LOAD(name, kind, doc) out->name = au_stat_read(&net->stats.name);
    AU_NODE_STATS_NET(LOAD)
#undef LOAD
}
