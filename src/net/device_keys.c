/* device_keys.c — device keys (aurum/keys.h, au_node_config.device_keys / device_master_key):
 * opening datagrams that devices sealed with their own key, confining what they may carry, and
 * the keys downlink datagrams to such a device are sealed with.
 *
 * A datagram is a device datagram when it is sealed and its nonce names device_key_id, which is
 * no cluster key's id (checked at start and by au_node_key_add). Its nonce's sender id is the
 * device id; the key is that device's entry in device_keys, else the one derived from the
 * master key (au_device_key_derive). Opened, it may carry only whole messages to
 * device_endpoint whose payload names the same device (docs/devices.md §5): a device key never
 * authorises cluster traffic, signals, system messages or fragments (which would need
 * reassembly state). Replay protection is the receive path's, keyed by a hash of the device id
 * under the node's secret seed, so a device cannot choose an id that shares a node's windows.
 *
 * Which devices must seal: those with an entry in device_keys, and those whose id lies in the
 * master key's range. Their plain messages to the endpoint are dropped (a plain node would
 * otherwise let anyone pose as them); other devices may stay plain where the node is plain.
 *
 * Downlink: before a message to a device's endpoint (AU_DEVICE_CLIENT_NAME) is packed, the
 * device it names (every au_device_down variant starts with the device id) picks the peer's
 * packer: one sealing with that device's key and this node's incarnation (its cluster id, the
 * `server` the message names) as sender id, which is what the client checks; or the node's own
 * packer for a device that has no key. Decided by the device id, not by who heard the device,
 * so an owner that only got the announce forwarded, or took the device over, seals right too.
 *
 * Owns: the copied keys (libsodium's guarded memory, wiped at stop), the master key; a peer's
 * device key is the peer's (allocated at its first device message, wiped and freed with it;
 * 8 bytes per peer otherwise). The packer is the draining thread's (send.c) and only asks here
 * which key to use. Relies on: proto/seal.h, wire.h;
 * libsodium. Threads: immutable after start; a peer's packer is its sending thread's. */
#include "net/net.h"

#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <xxhash.h>

#include <aurum/device_protocol.h>

#define KDF_CONTEXT "audevice"

struct au_net_devkeys {
    au_device_key *keys;           /* sorted by device; guarded memory */
    size_t nkeys;
    uint8_t *master;               /* AU_KEY_SIZE bytes, guarded memory; NULL: none */
    uint8_t key_id;
    char endpoint[AU_NAME_MAX + 1];
    size_t endpoint_len;
    uint64_t master_first, master_last;
};

_Static_assert(crypto_kdf_KEYBYTES == AU_KEY_SIZE && sizeof KDF_CONTEXT - 1 == crypto_kdf_CONTEXTBYTES,
               "kdf sizes");

au_err au_device_key_derive(const uint8_t master[AU_KEY_SIZE], uint64_t device,
                            uint8_t out[AU_KEY_SIZE]) {
    if (!master || !out || !device) return AU_EINVAL;
    if (sodium_init() < 0) return AU_EIO;
    return crypto_kdf_derive_from_key(out, AU_KEY_SIZE, device, KDF_CONTEXT, master) == 0 ? AU_OK
                                                                                          : AU_EIO;
}

static int by_device(const void *a, const void *b) {
    uint64_t x = ((const au_device_key *)a)->device, y = ((const au_device_key *)b)->device;
    return x < y ? -1 : x > y;
}

static au_err bad(const char *why) {
    au_log(AU_LOG_NET, AU_LOG_ERROR, "config: %s", why);
    return AU_ECONFIG;
}

au_err au_net_devkeys_start(au_net_t *net, const au_node_config *cfg) {
    if (cfg->ndevice_keys && !cfg->device_keys) return bad("ndevice_keys without device_keys");
    if (!cfg->ndevice_keys && !cfg->device_master_key) return AU_OK;
    const au_seal_ring *ring = atomic_load_explicit(&net->ring, memory_order_acquire);
    if (ring && au_seal_ring_find(ring, cfg->device_key_id))
        return bad("device_key_id is the id of a cluster key");
    const char *name = cfg->device_endpoint ? cfg->device_endpoint : "au.devices";
    size_t name_len = strlen(name);
    if (!name_len || name_len > AU_NAME_MAX) return bad("device_endpoint: empty or too long");
    if (sodium_init() < 0) return AU_EIO;
    au_net_devkeys *d = calloc(1, sizeof *d);
    if (!d) return AU_ENOMEM;
    net->devkeys = d; /* freed by au_net_devkeys_free, also on failure below */
    d->key_id = cfg->device_key_id;
    memcpy(d->endpoint, name, name_len + 1);
    d->endpoint_len = name_len;
    if (cfg->ndevice_keys) {
        if (!(d->keys = sodium_allocarray(cfg->ndevice_keys, sizeof *d->keys))) return AU_ENOMEM;
        memcpy(d->keys, cfg->device_keys, cfg->ndevice_keys * sizeof *d->keys);
        d->nkeys = cfg->ndevice_keys;
        qsort(d->keys, d->nkeys, sizeof *d->keys, by_device);
        for (size_t i = 0; i < d->nkeys; i++) {
            if (!d->keys[i].device) return bad("device_keys: device id 0");
            if (i && d->keys[i].device == d->keys[i - 1].device)
                return bad("device_keys: a device id given twice");
        }
    }
    if (cfg->device_master_key) {
        if (!(d->master = sodium_malloc(AU_KEY_SIZE))) return AU_ENOMEM;
        memcpy(d->master, cfg->device_master_key, AU_KEY_SIZE);
        d->master_first = cfg->device_master_first ? cfg->device_master_first : 1;
        d->master_last = cfg->device_master_last ? cfg->device_master_last : UINT64_MAX;
        if (d->master_first > d->master_last)
            return bad("device_master_first above device_master_last");
    }
    au_log(AU_LOG_NET, AU_LOG_INFO, "device keys: %zu devices%s, key id %u, endpoint %s", d->nkeys,
           d->master ? " and a fleet master key" : "", d->key_id, d->endpoint);
    return AU_OK;
}

void au_net_devkeys_free(au_net_t *net) {
    au_net_devkeys *d = net->devkeys;
    if (!d) return;
    sodium_free(d->keys); /* wipes */
    sodium_free(d->master);
    free(d);
    net->devkeys = NULL;
}

bool au_net_devkeys_uses_id(const au_net_t *net, uint8_t id) {
    return net->devkeys && net->devkeys->key_id == id;
}

/* The device's key into out; false if it has none here. */
static bool key_of(const au_net_devkeys *d, uint64_t device, uint8_t out[AU_KEY_SIZE]) {
    if (!device) return false;
    size_t lo = 0, hi = d->nkeys;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->keys[mid].device == device) {
            memcpy(out, d->keys[mid].bytes, AU_KEY_SIZE);
            return true;
        }
        if (d->keys[mid].device < device) lo = mid + 1;
        else hi = mid;
    }
    return d->master && device >= d->master_first && device <= d->master_last &&
           crypto_kdf_derive_from_key(out, AU_KEY_SIZE, device, KDF_CONTEXT, d->master) == 0;
}

bool au_net_device_keyed(const au_net_t *net, uint64_t device) {
    if (!net->devkeys) return false;
    uint8_t key[AU_KEY_SIZE];
    bool keyed = key_of(net->devkeys, device, key);
    sodium_memzero(key, sizeof key);
    return keyed;
}

/* ---- receiving -------------------------------------------------------------------------------- */

bool au_net_device_datagram(const au_net_t *net, const uint8_t *data, size_t len) {
    return net->devkeys && len >= AU_WIRE_HEADER_SIZE + AU_SEAL_OVERHEAD &&
           (data[3] & AU_WIRE_FLAG_SEALED) && data[AU_WIRE_HEADER_SIZE] == net->devkeys->key_id;
}

uint64_t au_net_device_identity(const au_net_t *net, uint64_t device) {
    return XXH3_64bits_withSeed(&device, sizeof device, net->hash_seed ^ 0x6465766963650000ull);
}

int au_net_device_open(au_net_t *net, uint8_t *data, size_t len, const au_addr *from,
                       au_wire_header *hdr, au_wire_reader *reader, uint64_t *device) {
    au_net_devkeys *d = net->devkeys;
    uint8_t key_id;
    uint64_t sender = 0;
    char text[64];
    au_seal_key key;
    memset(&key, 0, sizeof key);
    int st = au_seal_peek(data, len, &key_id, &sender);
    if (st == AU_WIRE_OK && !key_of(d, sender, key.key)) {
        au_stat_add(&net->stats.drops_device_unknown, 1);
        au_addr_format(from, text, sizeof text);
        au_net_warn(net, text, AU_NET_WARN_DEVICE_UNKNOWN, NULL);
        return AU_WIRE_UNKNOWN_KEY;
    }
    key.id = key_id;
    if (st == AU_WIRE_OK) st = au_wire_datagram_open(&net->limits, &key, data, len, hdr, reader);
    sodium_memzero(&key, sizeof key);
    if (st != AU_WIRE_OK) {
        au_addr_format(from, text, sizeof text);
        if (st == AU_WIRE_BAD_SEAL) {
            au_stat_add(&net->stats.drops_device_seal, 1);
            au_net_warn(net, text, AU_NET_WARN_DEVICE_SEAL, NULL);
        } else {
            au_stat_add(&net->stats.drops_malformed, 1);
            au_log(AU_LOG_NET, AU_LOG_DEBUG, "device datagram from %s dropped: %s", text,
                   au_wire_status_str(st));
        }
        return st;
    }
    *device = sender;
    return AU_WIRE_OK;
}

/* The first uint of a CBOR item at *p (any definite head length), advancing *p; false if none. */
static bool cbor_head(const uint8_t **p, const uint8_t *end, unsigned major, uint64_t *v) {
    if (*p >= end || (**p >> 5) != major) return false;
    unsigned info = **p & 31;
    (*p)++;
    if (info < 24) {
        *v = info;
        return true;
    }
    if (info > 27) return false;
    size_t n = (size_t)1 << (info - 24);
    if ((size_t)(end - *p) < n) return false;
    *v = 0;
    for (size_t i = 0; i < n; i++) *v = *v << 8 | (*p)[i];
    *p += n;
    return true;
}

/* The device a device protocol message names: every variant of au_device_up and
 * au_device_down is [variant, [device, ...]] (aurum/device_protocol.h); 0 if not that shape. */
static uint64_t device_named(const uint8_t *p, size_t len) {
    const uint8_t *end = p + len;
    uint64_t n, variant, fields, named;
    return cbor_head(&p, end, 4, &n) && n == 2 && cbor_head(&p, end, 0, &variant) &&
                   cbor_head(&p, end, 4, &fields) && fields >= 1 && cbor_head(&p, end, 0, &named)
               ? named
               : 0;
}

static bool is_endpoint(const au_net_devkeys *d, const au_wire_dest *dest) {
    return dest->name_len == d->endpoint_len && memcmp(dest->name, d->endpoint, d->endpoint_len) == 0;
}

bool au_net_device_admit(au_net_t *net, const au_wire_message *m, uint64_t device,
                         const char *from) {
    const au_net_devkeys *d = net->devkeys;
    if (m->dest.kind != AU_WIRE_KIND_MESSAGE || !is_endpoint(d, &m->dest)) {
        au_stat_add(&net->stats.drops_device_route, 1);
        au_net_warn(net, from, AU_NET_WARN_DEVICE_ROUTE, &m->dest);
        return false;
    }
    if (device_named(m->payload, m->payload_len) != device) {
        au_stat_add(&net->stats.drops_device_sender, 1);
        au_net_warn(net, from, AU_NET_WARN_DEVICE_SENDER, &m->dest);
        return false;
    }
    return true;
}

void au_net_device_fragment(au_net_t *net, const char *from) {
    au_stat_add(&net->stats.drops_device_route, 1);
    au_net_warn(net, from, AU_NET_WARN_DEVICE_ROUTE, NULL);
}

bool au_net_device_plain_ok(au_net_t *net, const au_wire_message *m, const char *from) {
    const au_net_devkeys *d = net->devkeys;
    if (!is_endpoint(d, &m->dest)) return true;
    uint8_t key[AU_KEY_SIZE];
    bool keyed = key_of(d, device_named(m->payload, m->payload_len), key);
    sodium_memzero(key, sizeof key);
    if (!keyed) return true;
    au_stat_add(&net->stats.drops_device_plain, 1);
    au_net_warn(net, from, AU_NET_WARN_DEVICE_PLAIN, &m->dest);
    return false;
}

/* ---- downlink ---------------------------------------------------------------------------------- */

static const char CLIENT_NAME[] = AU_DEVICE_CLIENT_NAME;

bool au_net_device_dest(const au_wire_dest *dest) {
    return dest->name_len == sizeof CLIENT_NAME - 1 &&
           memcmp(dest->name, CLIENT_NAME, sizeof CLIENT_NAME - 1) == 0;
}

int au_net_device_downlink(au_net_t *net, au_peer *peer, au_wire_packer *packer,
                           const au_wire_dest *dest, const uint8_t *payload, size_t len) {
    const au_net_devkeys *d = net->devkeys;
    if (!au_net_device_dest(dest)) return 0;
    uint64_t device = device_named(payload, len);
    uint8_t secret[AU_KEY_SIZE];
    if (!key_of(d, device, secret)) device = 0; /* a plain device: the node's own mode */
    int rc = 1;
    if (device == peer->dkey_device) {
        rc = 0;
    } else if (device && !peer->dkey && !(peer->dkey = malloc(sizeof *peer->dkey))) {
        rc = -1;
    } else {
        /* Another device at this address (or the first message to it): what the packer holds
         * leaves first, sealed as it was; then the key, with a fresh random nonce part. */
        au_wire_packer_flush(packer);
        if (device && au_seal_key_init_id(peer->dkey, secret, d->key_id, net->incarnation) !=
                          AU_WIRE_OK) {
            peer->dkey_device = 0; /* its key is not trusted any more: the node's own mode */
            rc = -1;
        } else
            peer->dkey_device = device;
    }
    sodium_memzero(secret, sizeof secret);
    return rc;
}
