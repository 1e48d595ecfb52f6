/* tools/aurum/watch.c — `aurum watch`: follows a node's membership (and device) events live,
 * one line each, prefixed with the UTC time, until SIGINT / SIGTERM or until the node stops
 * answering.
 *
 * Relies on the admin protocol: a subscription (adm_subscribe) names an actor of this process
 * (the printer below); the node sends it the members it has now ("MEMBER ..."), then one line
 * per event, and acknowledges each subscription. The subscription is renewed every second; a
 * node that has not acknowledged for AURUM_WATCH_LEASE_MS is reported lost (exit 3), and one
 * that has said LEFT ends the watch (exit 0), and so does a line that cannot be written (a reader
 * that went away: exit 1, said on stderr). The printer's flags are the only state shared with
 * main, as atomics. */
#include "aurum_cli.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: aurum watch HOST:PORT [--key-file FILE] [--timeout MS]\n"
    "Prints the node's members, then every membership (and device) event, one line each:\n"
    "  <UTC time> MEMBER|JOINED|ALONE|ADDED|REMOVED|LEFT|MINORITY|MAJORITY ADDR id=ID [reason=R]\n"
    "  <UTC time> DEVICE|DEVICE-UP|DEVICE-DOWN|DEVICE-MOVED NAME id=0xID owner=ADDR\n"
    "until SIGINT/SIGTERM, until the node has left (exit 0), or until it stops answering.\n"
    "  --key-file FILE  the cluster's key file (when the node runs with one)\n"
    "  --timeout MS     how long to wait for the first answer (default 2000)\n"
    "Exit status: 0 interrupted or the node left, 1 output cannot be written, 2 bad flags,\n"
    "3 no answer, 4 bad key file.\n";

static volatile sig_atomic_t stopping;
static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static _Atomic uint64_t last_ack_ms; /* 0: never */
static atomic_bool node_left;
static atomic_bool output_failed; /* a line could not be written (a closed pipe, a full disk) */

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

typedef struct printer { int unused; } printer;

/* What the printer receives: the node's events, through the adm_event interface. */
AU_ROOT(watch_msg, (event, adm_event, AU_REMOTE));

static void printer_recv(au_ctx *ctx, printer *self, watch_msg *m) {
    const adm_event *e = &m->event;
    if (e->kind == 0) {
        atomic_store(&last_ack_ms, now_ms());
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[1024]; /* control characters (a device name's escape sequences) as \xNN */
    printf("%02d:%02d:%02d.%03ld %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
           aurum_printable(line, sizeof line, e->line.ptr, e->line.len));
    if (aurum_check_stdout("watch")) atomic_store(&output_failed, true); /* said on stderr */
    if (e->line.len >= 5 && !memcmp(e->line.ptr, "LEFT ", 5)) atomic_store(&node_left, true);
}

AU_ACTOR(printer_actor, printer, watch_msg, .recv = printer_recv);

int aurum_watch(int argc, char **argv) {
    const char *addr = NULL, *key_file = NULL;
    unsigned long timeout_ms = 2000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int taken;
        if (aurum_is_help(a)) {
            fputs(usage, stdout);
            return 0;
        }
        if ((taken = aurum_client_flag("watch", argc, argv, &i, &key_file, &timeout_ms)) != 0) {
            if (taken < 0) return AURUM_EXIT_USAGE;
        } else if (a[0] == '-' || addr) {
            return aurum_fail("watch", AURUM_EXIT_USAGE,
                              "unknown argument \"%s\" (see aurum watch --help)", a);
        } else {
            addr = a;
        }
    }
    if (!addr) return aurum_fail("watch", AURUM_EXIT_USAGE, "which node? (aurum watch HOST:PORT)");
    if (!aurum_check_hostport(addr, false))
        return aurum_fail("watch", AURUM_EXIT_USAGE, "bad address \"%s\" (want HOST:PORT)", addr);

    au_node *node;
    int rc = aurum_client_node("watch", key_file, addr, &node);
    if (rc) return rc;
    adm_subscribe_ref admin = au_forge(adm_msg, adm_subscribe, node, AURUM_ADMIN_NAME, addr);
    watch_msg_ref me = au_spawn(node, printer_actor, NULL, NULL);
    if (au_ref_is_null(admin.raw) || au_ref_is_null(me.raw)) {
        au_node_stop(node);
        return aurum_fail("watch", AURUM_EXIT_USAGE, "bad address \"%s\": %s", addr,
                          au_strerror(au_last_error()));
    }
    /* The printer's remote interface: what the node sends events to. */
    adm_event_ref to = au_narrow(watch_msg, adm_event, me);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    uint64_t start = now_ms(), last_sub = 0;
    rc = AURUM_EXIT_OK;
    while (!stopping && !atomic_load(&node_left) && !atomic_load(&output_failed)) {
        uint64_t now = now_ms();
        if (now - last_sub >= 1000 || !last_sub) {
            au_send(admin, ((adm_subscribe){ to }));
            last_sub = now;
        }
        /* The printer stamps acks on its own thread: one read after `now` may be later than it. */
        uint64_t ack = atomic_load(&last_ack_ms);
        if (ack > now) now = ack;
        if (!ack && now - start >= timeout_ms) {
            rc = aurum_fail("watch", AURUM_EXIT_UNREACHABLE,
                            "no answer from %s within %lu ms: is `aurum node` running there%s?",
                            addr, timeout_ms, key_file ? ", with this key" : ", without a key file");
            break;
        }
        if (ack && now - ack >= AURUM_WATCH_LEASE_MS) {
            rc = aurum_fail("watch", AURUM_EXIT_UNREACHABLE,
                            "lost contact with %s (no answer for %u ms)", addr, AURUM_WATCH_LEASE_MS);
            break;
        }
        nanosleep(&(struct timespec){ 0, 50 * 1000000L }, NULL);
    }
    if (atomic_load(&output_failed)) rc = AURUM_EXIT_FAIL;
    au_node_stop(node);
    return rc;
}
