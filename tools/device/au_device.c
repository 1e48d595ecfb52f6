/* au_device.c — a device as a Linux process, built on the standalone device client only
 * (libaurum_device_client.a + libaurum_device_posix.a, never libaurum): a demo, and the device
 * process of the device tests.
 *
 *   au_device --device ID --seed HOST:PORT [--seed HOST:PORT ...] [--bind HOST:PORT]
 *             [--interval MS] [--lost-after N] [--announce-max MS] [--name SERVER_NAME]
 *             [--key-file PATH] [--run-ms MS] [--echo]
 *
 * ID is decimal or 0x-hex. --key-file reads the first key of an aurum key file ("<id> <64 hex
 * digits>" lines, '#' comments; docs/security.md): the key is never taken from the command line,
 * where other users could read it. --echo sends every user message back (same type, same
 * payload). --run-ms stops after that long; otherwise SIGINT / SIGTERM stop it.
 *
 * Standard output, one line per event, flushed at once (tests read it):
 *   port N                        the bound UDP port, first
 *   owner 0x<id>                  the owning server changed (0x0: none)
 *   message 0x<server> 0x<type> <payload hex>
 *   stats <name>=<value> ...      on "stats" and at exit
 * Standard input, one command per line (EOF: no more commands, the device keeps running):
 *   send 0x<type> <payload hex>   a user message to the cluster
 *   interval MS                   ask for another heartbeat interval
 *   stats                         print the counters
 *   quit                          stop */
#define _GNU_SOURCE
#include <aurum/device_client.h>
#include <aurum/device_client_posix.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SEEDS 8
#define BUF_SIZE 1400 /* the cluster's default mtu: nothing larger is accepted by a node */

static volatile sig_atomic_t stopping;
static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static au_dc dc;
static int echo;

static void print_hex(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
}

static int parse_hex(const char *s, uint8_t *out, size_t max, size_t *n) {
    size_t len = strlen(s);
    if (len % 2 || len / 2 > max) return -1;
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    *n = len / 2;
    return 0;
}

static void on_message(void *user, uint64_t server, uint64_t type, const uint8_t *payload,
                       size_t len) {
    (void)user;
    printf("message 0x%llx 0x%llx ", (unsigned long long)server, (unsigned long long)type);
    print_hex(payload, len);
    printf("\n");
    fflush(stdout);
    if (echo) au_dc_send(&dc, type, payload, len);
}

static void on_owner(void *user, uint64_t owner) {
    (void)user;
    printf("owner 0x%llx\n", (unsigned long long)owner);
    fflush(stdout);
}

static void print_stats(void) {
    const au_dc_stats *s = &dc.stats;
    printf("stats received=%u accepted=%u drop_malformed=%u drop_integrity=%u drop_replayed=%u "
           "drop_not_mine=%u sent=%u send_errors=%u announces=%u heartbeats=%u conflicts=%u "
           "owner_changes=%u owner_lost=%u messages_in=%u messages_out=%u claims=%u\n",
           s->received, s->accepted, s->drop_malformed, s->drop_integrity, s->drop_replayed,
           s->drop_not_mine, s->sent, s->send_errors, s->announces, s->heartbeats, s->conflicts,
           s->owner_changes, s->owner_lost, s->messages_in, s->messages_out, s->claims);
    fflush(stdout);
}

/* "host:port", the host numeric; [v6]:port for IPv6. */
static int parse_hostport(const char *arg, char *host, size_t host_size, uint16_t *port) {
    const char *colon = strrchr(arg, ':');
    if (!colon) return -1;
    const char *h = arg;
    size_t hl = (size_t)(colon - arg);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') h++, hl -= 2;
    if (hl == 0 || hl >= host_size) return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (*end || p > 65535) return -1;
    *port = (uint16_t)p;
    return 0;
}

static int read_key_file(const char *path, uint8_t key[AU_DC_KEY_SIZE], uint8_t *id) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256];
    int rc = -1;
    while (fgets(line, sizeof line, f)) {
        char *p = line + strspn(line, " \t");
        if (*p == '#' || *p == '\n' || *p == '\0') continue;
        unsigned kid;
        char hex[80];
        size_t n;
        if (sscanf(p, "%u %79s", &kid, hex) == 2 && kid <= 255 &&
            parse_hex(hex, key, AU_DC_KEY_SIZE, &n) == 0 && n == AU_DC_KEY_SIZE) {
            *id = (uint8_t)kid;
            rc = 0;
        }
        break;
    }
    fclose(f);
    return rc;
}

static void command(char *line) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    static uint8_t payload[BUF_SIZE];
    char word[16], hex[2 * BUF_SIZE + 1];
    unsigned long long type;
    unsigned long ms;
    size_t n;
    if (sscanf(line, "send %llx %2800s", &type, hex) == 2 &&
        parse_hex(hex, payload, sizeof payload, &n) == 0) {
        int rc = au_dc_send(&dc, type, payload, n);
        if (rc) fprintf(stderr, "au_device: send failed (%d)\n", rc);
    } else if (sscanf(line, "interval %lu", &ms) == 1) {
        if (au_dc_set_interval(&dc, (uint32_t)ms) == AU_DC_EINVAL)
            fprintf(stderr, "au_device: bad interval\n");
    } else if (sscanf(line, "%15s", word) == 1 && strcmp(word, "stats") == 0) {
        print_stats();
    } else if (sscanf(line, "%15s", word) == 1 && strcmp(word, "quit") == 0) {
        stopping = 1;
    } else if (line[0]) {
        fprintf(stderr, "au_device: unknown command: %s\n", line);
    }
}

static void usage(void) {
    fprintf(stderr, "usage: au_device --device ID --seed HOST:PORT [--seed ...] [--bind HOST:PORT]\n"
                    "       [--interval MS] [--lost-after N] [--announce-max MS] [--name NAME]\n"
                    "       [--key-file PATH] [--run-ms MS] [--echo]\n");
    exit(2);
}

int main(int argc, char **argv) {
    static au_dc_addr seeds[MAX_SEEDS];
    static uint8_t rx[BUF_SIZE], tx[BUF_SIZE], key[AU_DC_KEY_SIZE];
    static au_dc_config cfg;
    au_dc_posix io;
    char host[64] = "0.0.0.0";
    uint16_t port = 0;
    long run_ms = -1;
    int have_key = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--echo") == 0) { echo = 1; continue; }
        if (!v) usage();
        i++;
        if (strcmp(a, "--device") == 0) cfg.device = strtoull(v, NULL, 0);
        else if (strcmp(a, "--interval") == 0) cfg.interval_ms = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--lost-after") == 0) cfg.lost_after = (uint8_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--announce-max") == 0) cfg.announce_max_ms = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--name") == 0) cfg.server_name = v;
        else if (strcmp(a, "--run-ms") == 0) run_ms = strtol(v, NULL, 10);
        else if (strcmp(a, "--bind") == 0) {
            if (parse_hostport(v, host, sizeof host, &port)) usage();
        } else if (strcmp(a, "--seed") == 0) {
            char h[64];
            uint16_t p;
            if (cfg.nseeds == MAX_SEEDS || parse_hostport(v, h, sizeof h, &p) ||
                au_dc_posix_addr(&seeds[cfg.nseeds], h, p))
                usage();
            cfg.nseeds++;
        } else if (strcmp(a, "--key-file") == 0) {
            if (read_key_file(v, key, &cfg.key_id)) {
                fprintf(stderr, "au_device: %s: no key (\"<id> <64 hex digits>\")\n", v);
                return 2;
            }
            have_key = 1;
        } else {
            usage();
        }
    }
    if (au_dc_posix_open(&io, host, port) != 0) {
        perror("au_device: socket");
        return 1;
    }
    cfg.incarnation = au_dc_posix_incarnation();
    cfg.seeds = seeds;
    cfg.key = have_key ? key : NULL;
    if (have_key && au_dc_posix_random(cfg.nonce_random, sizeof cfg.nonce_random) != 0) {
        perror("au_device: getrandom");
        return 1;
    }
    cfg.rx_buf = rx;
    cfg.rx_cap = sizeof rx;
    cfg.tx_buf = tx;
    cfg.tx_cap = sizeof tx;
    cfg.platform = au_dc_posix_platform(&io);
    cfg.on_message = on_message;
    cfg.on_owner = on_owner;
    if (au_dc_init(&dc, &cfg) != AU_DC_OK) {
        fprintf(stderr, "au_device: invalid configuration (need --device and --seed)\n");
        usage();
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    printf("port %u\n", au_dc_posix_port(&io));
    fflush(stdout);

    uint32_t start = cfg.platform.now_ms(&io);
    int stdin_open = 1;
    char line[2 * BUF_SIZE + 64];
    while (!stopping) {
        uint32_t wait = au_dc_poll(&dc);
        if (run_ms >= 0) {
            uint32_t ran = cfg.platform.now_ms(&io) - start;
            if (ran >= (uint32_t)run_ms) break;
            if ((uint32_t)run_ms - ran < wait) wait = (uint32_t)run_ms - ran;
        }
        struct pollfd fds[2] = { { .fd = io.fd, .events = POLLIN }, { .fd = 0, .events = POLLIN } };
        if (poll(fds, stdin_open ? 2 : 1, (int)wait) < 0 && errno != EINTR) {
            perror("au_device: poll");
            break;
        }
        if (stdin_open && (fds[1].revents & (POLLIN | POLLHUP))) {
            if (fgets(line, sizeof line, stdin)) command(line);
            else stdin_open = 0;
        }
    }
    print_stats();
    au_dc_posix_close(&io);
    return 0;
}
