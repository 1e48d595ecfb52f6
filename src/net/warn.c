/* warn.c — failures a user should see: one WARN line per (peer, reason) at most every
 * WARN_PERIOD, naming what was dropped and why, with how many were suppressed since the last
 * line. Every drop is counted in the node's statistics anyway; these lines are for the person
 * whose messages vanish (a wrong port, a stopped actor, a type of another version).
 *
 * A small fixed table of recent (peer, reason) keys, replaced least recently used: a flood of
 * distinct peers cannot grow it, at worst it makes its own lines (still rate-limited per key). */
#include "net/net.h"

#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#define WARN_PERIOD AU_SEC(10)
#define WARN_SLOTS 64
#define WARN_BURST 20 /* lines per WARN_PERIOD for the whole node: a flood from many addresses
                         must not flood the log too */

static const char *const what[] = {
    [AU_NET_WARN_UNKNOWN_ACTOR] = "no actor of that name and root type here",
    [AU_NET_WARN_WRONG_ROOT] = "the name is registered with another root type",
    [AU_NET_WARN_WRONG_INTERFACE] = "the root type does not declare that interface",
    [AU_NET_WARN_SCHEMA] = "a type of the same name at another version (rebuild both sides?)",
    [AU_NET_WARN_DECODE] = "the payload could not be decoded",
    [AU_NET_WARN_TOO_BIG] = "a message above this node's max_message_size",
    [AU_NET_WARN_SIGNAL] = "an unknown signal",
    [AU_NET_WARN_TERM_REFUSED] = "a Term signal, refused: the actor accepts Term only from its "
                                 "own node (.term = AU_TERM_LOCAL)",
    [AU_NET_WARN_WATCH_REFUSED] = "a watch request beyond max_remote_watches (refused, the "
                                  "watcher was told)",
    [AU_NET_WARN_DEVICE_UNKNOWN] = "sealed with the device key id by a device with no key here",
    [AU_NET_WARN_DEVICE_SEAL] = "sealed with the device key id, failing the device's key "
                                "(forged, or a wrong key)",
    [AU_NET_WARN_DEVICE_SENDER] = "a device-sealed message naming another device than its "
                                  "nonce's sender id",
    [AU_NET_WARN_DEVICE_ROUTE] = "a device-sealed message or fragment for something else than "
                                 "the device endpoint (a device key authorises nothing else)",
    [AU_NET_WARN_DEVICE_PLAIN] = "a plain message to the device endpoint naming a device that "
                                 "has a key (it must seal)",
    [AU_NET_WARN_NOT_SEALED] = "an unsealed datagram, and this node has a cluster key (is the "
                               "sender started without the key, or a device without its key?)",
    [AU_NET_WARN_NO_KEY] = "a sealed datagram, and this node has no cluster key (start it with "
                           "the cluster's key file)",
    [AU_NET_WARN_UNKNOWN_KEY] = "sealed with a key id that is not in this node's key ring (a "
                                "key rotated in there and not here?)",
    [AU_NET_WARN_BAD_SEAL] = "a sealed datagram failing authentication (another key under the "
                             "same id, or forged)",
};

void au_net_warn(au_net_t *net, const char *from, au_net_warn_reason reason,
                 const au_wire_dest *dest) {
    if (au_log_get_level(AU_LOG_NET) > AU_LOG_WARN) return;
    char key[128];
    int n = snprintf(key, sizeof key, "%s|%d|%.*s", from ? from : "?", (int)reason,
                     dest ? (int)(dest->name_len < 40 ? dest->name_len : 40) : 0,
                     dest ? (const char *)dest->name : "");
    size_t klen = n > 0 && (size_t)n < sizeof key ? (size_t)n : sizeof key - 1;
    uint64_t h = XXH3_64bits(key, klen);
    au_nanos now = au_node_now(net->node);
    uint64_t suppressed = 0;
    bool say = false;
    pthread_mutex_lock(&net->warn_lock);
    size_t slot = 0;
    for (size_t i = 0; i < WARN_SLOTS; i++) {
        if (net->warn_keys[i] == h) {
            slot = i;
            goto found;
        }
        if (net->warn_last[i] < net->warn_last[slot]) slot = i;
    }
    net->warn_keys[slot] = h; /* a new key, in the least recently warned slot */
    net->warn_last[slot] = 0;
    net->warn_suppressed[slot] = 0;
found:
    if (now - net->warn_window >= WARN_PERIOD) { /* a new window for the node-wide budget */
        net->warn_window = now;
        net->warn_lines = 0;
    }
    if ((!net->warn_last[slot] || now - net->warn_last[slot] >= WARN_PERIOD) &&
        net->warn_lines < WARN_BURST) {
        net->warn_lines++;
        say = true;
        suppressed = net->warn_suppressed[slot];
        net->warn_suppressed[slot] = 0;
        net->warn_last[slot] = now ? now : 1;
    } else {
        net->warn_suppressed[slot]++;
    }
    pthread_mutex_unlock(&net->warn_lock);
    if (!say) return;
    char more[64] = "";
    if (suppressed) snprintf(more, sizeof more, " (%llu more like it not shown)", (unsigned long long)suppressed);
    if (dest)
        au_log(AU_LOG_NET, AU_LOG_WARN,
               "from %s: message for '%.*s' (root type %016llx, interface %016llx) dropped: %s%s",
               from ? from : "?", (int)dest->name_len, (const char *)dest->name,
               (unsigned long long)dest->root_type, (unsigned long long)dest->iface_type,
               what[reason], more);
    else
        au_log(AU_LOG_NET, AU_LOG_WARN, "from %s: dropped: %s%s", from ? from : "?", what[reason], more);
}
