/* tools/aurum/device.c — `aurum device`: a simulated device on the standalone device client
 * (aurum/device_client.h over its POSIX layer, as tools/device/au_device.c runs it): it announces
 * itself to a node's device server, answers its heartbeat requests, and says whenever its owner
 * changes, until SIGINT / SIGTERM.
 *
 * Relies on au_dc_* (the client keeps all its state in one au_dc; this file owns the buffers)
 * and au_key_file_read for the key. The device's id is derived from its name (FNV-1a, 64 bits,
 * never 0), so the same name is the same device across runs; its incarnation is the wall clock
 * in microseconds (au_dc_posix_incarnation), so a restarted device is a newer run.
 * Standard output, flushed per line: "aurum device: NAME is device 0x<id>, announcing to ADDR",
 * then at each change "aurum device: NAME owned by node id=<cluster id>" or "aurum device: NAME
 * has no owner, announcing". A device without an owner for NO_OWNER_MS says so once on stderr
 * (UDP is silent when no node listens, or when a keyed node drops an unsealed device). Whenever
 * it has an owner it says hello (its name, AURUM_DEVICE_HELLO_TYPE) at each change and every
 * AURUM_DEVICE_HELLO_MS, so every node can name it and knows its owner. */
#define _GNU_SOURCE
#include "aurum_cli.h"

#include <aurum/device_client.h>
#include <aurum/device_client_posix.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define BUF_SIZE 1400 /* the cluster's default mtu */
#define NO_OWNER_MS 3000 /* without an owner this long (ms): one line on stderr, per spell */

static const char usage[] =
    "usage: aurum device --server HOST:PORT --name NAME [--interval MS] [--key-file FILE]\n"
    "Runs a simulated device that connects to the device server of the node at HOST:PORT\n"
    "(a numeric address) and reports its owner as it changes, until SIGINT/SIGTERM.\n"
    "  --name NAME      the device's name; its id is a hash of it\n"
    "  --interval MS    heartbeat interval to ask for (default 1000, at least 10)\n"
    "  --key-file FILE  the fleet key file the nodes were given with --device-key-file:\n"
    "                   seal with the key derived from it for this device's id\n"
    "Exit status: 0 stopped, 2 bad flags, 4 bad key file, 5 cannot open a socket, 1 other.\n";

static volatile sig_atomic_t stopping;
static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static const char *device_name;
static int hello_due; /* the owner changed: say hello (the name) to the new one */

static void on_owner(void *user, uint64_t owner) {
    (void)user;
    if (owner) printf("aurum device: %s owned by node id=%llu\n", device_name, (unsigned long long)owner);
    else printf("aurum device: %s has no owner, announcing\n", device_name);
    fflush(stdout);
    hello_due = owner != 0;
}

/* The hello: the device's name as a CBOR text, AURUM_DEVICE_HELLO_TYPE (aurum_cli.h). */
static void hello(au_dc *dc) {
    uint8_t buf[80];
    au_dc_cbor_out w = { buf, 0, sizeof buf, 0 };
    au_dc_cbor_put_text(&w, device_name, strlen(device_name));
    if (!w.err) au_dc_send(dc, AURUM_DEVICE_HELLO_TYPE, buf, w.len);
}

static uint64_t name_id(const char *name) {
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return h ? h : 1;
}

int aurum_device(int argc, char **argv) {
    const char *server = NULL, *name = NULL, *key_file = NULL;
    unsigned long interval = 1000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (aurum_is_help(a)) {
            fputs(usage, stdout);
            return 0;
        }
        const char *v;
        if (!strcmp(a, "--server") || !strcmp(a, "--name") || !strcmp(a, "--key-file") ||
            !strcmp(a, "--interval")) {
            if (!(v = aurum_flag_value("device", argc, argv, &i))) return AURUM_EXIT_USAGE;
        } else {
            return aurum_fail("device", AURUM_EXIT_USAGE,
                              "unknown argument \"%s\" (see aurum device --help)", a);
        }
        if (!strcmp(a, "--server")) server = v;
        else if (!strcmp(a, "--name")) name = v;
        else if (!strcmp(a, "--key-file")) key_file = v;
        else if (!aurum_parse_uint(v, 3600000, &interval) || interval < 10)
            return aurum_fail("device", AURUM_EXIT_USAGE,
                              "bad --interval \"%s\" (want milliseconds, 10..3600000)", v);
    }
    if (server && name && strlen(name) > 48)
        return aurum_fail("device", AURUM_EXIT_USAGE, "--name is too long (at most 48 bytes)");
    if (name && !aurum_utf8_valid(name, strlen(name)))
        return aurum_fail("device", AURUM_EXIT_USAGE,
                          "--name is not UTF-8 text (nodes refuse such names)");
    if (!server || !name || !*name)
        return aurum_fail("device", AURUM_EXIT_USAGE,
                          "--server HOST:PORT and --name NAME are required (see aurum device --help)");
    char host[64];
    const char *colon = strrchr(server, ':');
    size_t hl = colon ? (size_t)(colon - server) : 0;
    const char *h = server;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') h++, hl -= 2;
    static au_dc_addr seed;
    if (!aurum_check_hostport(server, false) || hl == 0 || hl >= sizeof host)
        return aurum_fail("device", AURUM_EXIT_USAGE, "bad --server \"%s\" (want HOST:PORT)", server);
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (au_dc_posix_addr(&seed, host, (uint16_t)strtoul(colon + 1, NULL, 10)))
        return aurum_fail("device", AURUM_EXIT_USAGE,
                          "bad --server \"%s\": a device needs a numeric address", server);

    static uint8_t rx[BUF_SIZE], tx[BUF_SIZE];
    static au_dc dc;
    au_dc_config cfg = { .device = name_id(name), .interval_ms = (uint32_t)interval, .nseeds = 1,
                         .seeds = &seed, .server_name = AU_DC_SERVER_NAME, .rx_buf = rx,
                         .rx_cap = sizeof rx, .tx_buf = tx, .tx_cap = sizeof tx,
                         .on_owner = on_owner };
    au_key keys[AU_KEYS_MAX];
    size_t nkeys = 0;
    if (key_file) {
        int rc = aurum_read_keys("device", key_file, keys, &nkeys);
        if (rc) return rc;
        /* The file holds the fleet key the nodes have (aurum node --device-key-file): this
         * device seals with the key derived from it for its own id. */
        static uint8_t own[AU_KEY_SIZE];
        if (au_device_key_derive(keys[0].bytes, cfg.device, own) != AU_OK)
            return aurum_fail("device", AURUM_EXIT_KEY, "cannot derive this device's key");
        memset(keys, 0, sizeof keys);
        cfg.key = own;
        cfg.key_id = AURUM_DEVICE_KEY_ID;
        if (au_dc_posix_random(cfg.nonce_random, sizeof cfg.nonce_random))
            return aurum_fail("device", AURUM_EXIT_FAIL, "no random bytes for the nonce");
    }
    au_dc_posix io;
    if (au_dc_posix_open(&io, strchr(host, ':') ? "::" : "0.0.0.0", 0))
        return aurum_fail("device", AURUM_EXIT_BIND, "cannot open a UDP socket");
    device_name = name;
    cfg.incarnation = au_dc_posix_incarnation();
    cfg.platform = au_dc_posix_platform(&io);
    int rc = AURUM_EXIT_OK;
    if (au_dc_init(&dc, &cfg) != AU_DC_OK) {
        rc = aurum_fail("device", AURUM_EXIT_FAIL, "the device client refused its configuration");
    } else {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        printf("aurum device: %s is device 0x%llx, announcing to %s\n", name,
               (unsigned long long)cfg.device, server);
        fflush(stdout);
        uint32_t last_hello = 0, unowned_since = cfg.platform.now_ms(&io);
        bool told = false; /* this spell without an owner was reported */
        while (!stopping) {
            uint32_t wait = au_dc_poll(&dc), now = cfg.platform.now_ms(&io);
            if (au_dc_owner(&dc)) {
                unowned_since = now;
                told = false;
            } else if (!told && now - unowned_since >= NO_OWNER_MS) {
                fprintf(stderr,
                        "aurum device: %s: no owner after %u s: is `aurum node` running at %s%s\n",
                        name, NO_OWNER_MS / 1000, server,
                        key_file ? ", with --device-key-file of this fleet key?"
                                 : "? (a node with --key-file takes only devices sealed with "
                                   "its fleet key: --key-file)");
                told = true;
            } else if (!told && wait > NO_OWNER_MS - (now - unowned_since)) {
                wait = NO_OWNER_MS - (now - unowned_since);
            }
            if (au_dc_owner(&dc) && (hello_due || now - last_hello >= AURUM_DEVICE_HELLO_MS)) {
                hello(&dc);
                hello_due = 0;
                last_hello = now;
            }
            if (au_dc_owner(&dc) && wait > AURUM_DEVICE_HELLO_MS) wait = AURUM_DEVICE_HELLO_MS;
            au_dc_posix_wait(&io, wait);
        }
        const au_dc_stats *st = &dc.stats;
        printf("aurum device: %s stopped (datagrams: %u received, %u accepted, %u sent; dropped: "
               "%u malformed, %u failed integrity or seal, %u replayed, %u not for it)\n",
               name, st->received, st->accepted, st->sent, st->drop_malformed, st->drop_integrity,
               st->drop_replayed, st->drop_not_mine);
        fflush(stdout);
    }
    memset(keys, 0, sizeof keys);
    au_dc_posix_close(&io);
    return rc;
}
