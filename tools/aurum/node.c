/* tools/aurum/node.c — `aurum node`: runs one cluster node (aurum/cluster.h) with the admin actor
 * (admin.c), the device server (node_devices.c) and the shared counter and set (node_crdt.c)
 * when this build has them, until SIGINT or SIGTERM; then leaves the cluster gracefully (the
 * others see REMOVED, reason leaving, at once; watchers get LEFT) and stops.
 *
 * Relies on au_node_start, au_cluster_start / au_cluster_leave, au_wait_for_signal.
 * Standard output: "aurum node: listening on ADDR id=ID" once reachable (flushed: scripts wait
 * for it), "aurum node: <signal>, leaving" and "aurum node: left, stopped" at the end. */
#include "aurum_cli.h"

#include <aurum/driver.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEEDS 16

static const char usage[] =
    "usage: aurum node --bind HOST:PORT [--advertise IP[:PORT]] [--seed HOST:PORT]...\n"
    "                  [--key-file FILE] [--device-key-file FILE] [--log-level LEVEL]\n"
    "Runs a cluster node until SIGINT (Ctrl-C) or SIGTERM, then leaves the cluster gracefully.\n"
    "  --bind HOST:PORT       UDP address to listen on (port 0: the OS picks one)\n"
    "  --advertise IP[:PORT]  the address other nodes reach this one at (default: bound); an\n"
    "                         IP address; without PORT (or with 0), the port bound\n"
    "  --seed HOST:PORT       a node to join through (repeat for more; none: start alone)\n"
    "  --key-file FILE        seal every datagram with this key file's keys (aurum keygen)\n"
    "  --device-key-file FILE a fleet key (aurum keygen): devices must seal with the key\n"
    "                         derived from it for their id (aurum device --key-file FILE)\n"
    "  --log-level LEVEL      log spec, e.g. info, debug, net=debug (default warn,user=info;\n"
    "                         AU_LOG from the environment when set)\n"
    "Exit status: 0 stopped cleanly, 2 bad flags, 4 bad key file, 5 cannot bind, 1 other\n"
    "(standard output that cannot be written, too: said on stderr after the leave).\n";

/* --advertise: an IP address (other nodes accept only IP literals in references), with or
 * without a port. A port is the user's statement of where others reach the node (a NAT or a
 * port forward), whatever the --bind port (0 included). Without one (or with 0) the node
 * advertises the port it bound: the library takes advertised port 0 as the bound port, which
 * for --bind HOST:0 is known only once bound. Writes "IP:PORT" (or "[IP]:PORT", PORT 0 for the
 * bound one) into out; 0 or AURUM_EXIT_USAGE with the reason said. */
static int advertise_address(const char *adv, char *out, size_t cap) {
    char host[64];
    const char *port = NULL;
    bool v6;
    if (adv[0] == '[') {
        const char *close = strchr(adv, ']');
        if (!close || (close[1] && close[1] != ':') || (size_t)(close - adv - 1) >= sizeof host)
            goto bad;
        snprintf(host, sizeof host, "%.*s", (int)(close - adv - 1), adv + 1);
        port = close[1] ? close + 2 : NULL;
        v6 = true;
    } else {
        const char *colon = strchr(adv, ':');
        v6 = colon && strchr(colon + 1, ':'); /* a bare IPv6 address: no port */
        size_t hl = colon && !v6 ? (size_t)(colon - adv) : strlen(adv);
        if (hl >= sizeof host) goto bad;
        snprintf(host, sizeof host, "%.*s", (int)hl, adv);
        port = colon && !v6 ? colon + 1 : NULL;
    }
    unsigned char ip[16];
    if (!host[0] || inet_pton(v6 ? AF_INET6 : AF_INET, host, ip) != 1) goto bad;
    unsigned long p = 0;
    if (port && strcmp(port, "0") && !aurum_parse_uint(port, 65535, &p)) goto bad;
    snprintf(out, cap, v6 ? "[%s]:%lu" : "%s:%lu", host, p);
    return 0;
bad:
    return aurum_fail("node", AURUM_EXIT_USAGE,
                      "bad --advertise \"%s\" (want an IP address, optionally with a port: "
                      "IP[:PORT] or [IPV6][:PORT]; other nodes accept no host names there)",
                      adv);
}

int aurum_node(int argc, char **argv) {
    const char *bind = NULL, *advertise = NULL, *key_file = NULL, *log_level = NULL;
    const char *device_key_file = NULL;
    const char *seeds[MAX_SEEDS];
    size_t nseeds = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (aurum_is_help(a)) {
            fputs(usage, stdout);
            return 0;
        }
        const char **slot = !strcmp(a, "--bind") ? &bind
                            : !strcmp(a, "--advertise") ? &advertise
                            : !strcmp(a, "--key-file") ? &key_file
                            : !strcmp(a, "--device-key-file") ? &device_key_file
                            : !strcmp(a, "--log-level") ? &log_level
                            : !strcmp(a, "--seed") ? (nseeds < MAX_SEEDS ? &seeds[nseeds] : NULL)
                                                   : NULL;
        if (!slot && !strcmp(a, "--seed"))
            return aurum_fail("node", AURUM_EXIT_USAGE, "at most %d --seed", MAX_SEEDS);
        if (!slot)
            return aurum_fail("node", AURUM_EXIT_USAGE, "unknown argument \"%s\" (see aurum node --help)", a);
        const char *v = aurum_flag_value("node", argc, argv, &i);
        if (!v) return AURUM_EXIT_USAGE;
        *slot = v;
        if (!strcmp(a, "--seed")) {
            if (!aurum_check_hostport(v, false))
                return aurum_fail("node", AURUM_EXIT_USAGE, "bad --seed \"%s\" (want HOST:PORT)", v);
            nseeds++;
        }
    }
    if (!bind) return aurum_fail("node", AURUM_EXIT_USAGE, "--bind HOST:PORT is required (see aurum node --help)");
    if (!aurum_check_hostport(bind, true))
        return aurum_fail("node", AURUM_EXIT_USAGE, "bad --bind \"%s\" (want HOST:PORT)", bind);
    char advertised[96];
    if (advertise) {
        int rc = advertise_address(advertise, advertised, sizeof advertised);
        if (rc) return rc;
        advertise = advertised;
    }
    /* A seed that does not resolve: said now, naming it (the cluster says only AU_EINVAL). */
    for (size_t k = 0; k < nseeds; k++) {
        struct sockaddr_storage ss;
        socklen_t len;
        au_err rerr = au_address_resolve(seeds[k], &ss, &len);
        if (rerr)
            return aurum_fail("node", AURUM_EXIT_USAGE, "cannot use --seed %s: %s", seeds[k],
                              au_strerror(rerr));
    }
    if (log_level) {
        int rc = aurum_log_setup("node", log_level);
        if (rc) return rc;
    } else if (!getenv("AU_LOG")) {
        au_log_configure("warn,user=info");
    }

    au_key keys[AU_KEYS_MAX];
    size_t nkeys = 0;
    if (key_file) {
        int rc = aurum_read_keys("node", key_file, keys, &nkeys);
        if (rc) return rc;
    }
    /* A fleet key: each device seals with au_device_key_derive(fleet, its id), so a device
     * holds its own key only and a node one secret for all (docs/security.md "Device keys"). */
    au_key fleet[AU_KEYS_MAX];
    size_t nfleet = 0;
    if (device_key_file) {
        int rc = aurum_read_keys("node", device_key_file, fleet, &nfleet);
        if (rc) return rc;
        for (size_t k = 0; k < nkeys; k++)
            if (keys[k].id == AURUM_DEVICE_KEY_ID)
                return aurum_fail("node", AURUM_EXIT_KEY,
                                  "key file %s: key id %u is the devices' key id; use another",
                                  key_file, AURUM_DEVICE_KEY_ID);
    }
    au_node *node;
    au_err err = au_node_start(&(au_node_config){ .bind = bind, .advertise = advertise,
                                                  .workers = 2, .no_spin = true,
                                                  .keys = nkeys ? keys : NULL, .nkeys = nkeys,
                                                  .device_master_key = nfleet ? fleet[0].bytes : NULL,
                                                  .device_key_id = AURUM_DEVICE_KEY_ID },
                               &node);
    memset(keys, 0, sizeof keys);
    memset(fleet, 0, sizeof fleet);
    if (err == AU_EBIND)
        return aurum_fail("node", AURUM_EXIT_BIND,
                          "cannot bind %s: port in use, not an address of this host, or privileged",
                          bind);
    if (err == AU_ECONFIG || err == AU_ERESOLVE)
        return aurum_fail("node", AURUM_EXIT_USAGE, "cannot use --bind %s%s%s: %s", bind,
                          advertise ? " --advertise " : "", advertise ? advertise : "",
                          au_strerror(err));
    if (err)
        return aurum_fail("node", AURUM_EXIT_FAIL, "cannot start: %s (%s)", au_strerror(err),
                          au_err_name(err));

    au_cluster *cluster;
    /* 100 ring positions per node: with the cluster's default of one, three nodes' shares of
     * the ring (and so of the devices) are as uneven as three random points (0.09 was seen);
     * with 100, the largest share is within 1.10 of the mean (tests/cluster/test_cluster_ring). */
    err = au_cluster_start(node, &(au_cluster_config){ .seeds = nseeds ? seeds : NULL,
                                                       .nseeds = nseeds, .vnodes = 100 },
                           &cluster);
    if (err) {
        au_node_stop(node);
        return aurum_fail("node", err == AU_EINVAL ? AURUM_EXIT_USAGE : AURUM_EXIT_FAIL,
                          "cannot start the cluster: %s (%s)", au_strerror(err), au_err_name(err));
    }
    aurum_admin *admin = aurum_admin_start(node, cluster, seeds, nseeds);
    if (!admin) {
        au_node_stop(node);
        return AURUM_EXIT_FAIL;
    }
    bool devices = aurum_devices_start(node, cluster, aurum_admin_lines(admin));
    bool crdt = aurum_crdt_start(node, cluster);
    printf("aurum node: listening on %s id=%llu (device server: %s, shared counter and set: %s)\n",
           au_node_address(node), (unsigned long long)au_cluster_id(cluster),
           devices ? "on" : "not in this build", crdt ? "on" : "not in this build");
    aurum_check_stdout("node"); /* a failure is said once; the exit status is 1 (main.c) */

    int sig = au_wait_for_signal();
    printf("aurum node: %s, leaving the cluster\n",
           sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : au_err_name(sig));
    aurum_check_stdout("node");
    err = au_cluster_leave(cluster);
    bool told = err == AU_OK && aurum_admin_wait_left(admin, 3000);
    au_node_stop(node);
    aurum_admin_free(admin);
    printf("aurum node: %s, stopped\n", told ? "left" : "stopped without a confirmed leave");
    aurum_check_stdout("node");
    return AURUM_EXIT_OK;
}
