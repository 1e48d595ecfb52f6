/* tools/aurum/node_devices.c — the device server of `aurum node` (aurum/device_server.h) and
 * what the admin actor reports of it: every device this node has heard of, its name, its owner
 * and, for the devices this node owns, whether they are up.
 *
 * Two sources, both delivered to one anonymous actor here (its reference never leaves the
 * node): this node's device events (UP / DOWN / MOVED, for the devices it owns), and the
 * devices' hello messages (AURUM_DEVICE_HELLO_TYPE: the name, from `aurum device`), which the
 * device server relays to every member, so every node knows every device's current owner.
 * Each change becomes a line for the admin actor's watchers.
 *
 * Invariants: at most AURUM_MAX_DEVICES devices (a hello from one more is counted and ignored);
 * every name in the table is UTF-8 (a hello naming a device otherwise is refused and logged);
 * the table is static (one node per process), written by the actor, read by the admin actor,
 * under `lock`; `server`, `lines` and `self_id` are written once, before the actor is spawned. */
#include "aurum_cli.h"

#include <aurum/device_client.h>
#include <aurum/device_server.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct device {
    uint64_t id;
    char name[64];
    uint64_t owner;       /* cluster id of its owner, 0: unknown */
    char owner_addr[64];  /* from this node's events; "" when only the id is known */
    int state;            /* AU_DEVICE_UP / AU_DEVICE_DOWN when this node owns it, else 0 */
    bool named;           /* its hello has arrived (until then `name` is its id) */
    bool up_untold;       /* an UP event came before its hello: told with the name */
    bool name_refused;    /* a hello of it named it with bytes that are not UTF-8 (logged) */
} device;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static device devices[AURUM_MAX_DEVICES];
static size_t ndevices;
static uint64_t dropped;
static uint64_t refused_names; /* hellos whose name is not UTF-8, under lock */
static au_device_server *server;
static atomic_bool available; /* set (release) once started; read (acquire) by the admin actor */
static au_str_lref lines;
static uint64_t self_id;
static au_ring *ring_now; /* the admin actor's latest ring (aurum_devices_ring), under lock */

static device *slot(uint64_t id) {
    for (size_t i = 0; i < ndevices; i++)
        if (devices[i].id == id) return &devices[i];
    if (ndevices == AURUM_MAX_DEVICES) {
        dropped++;
        return NULL;
    }
    device *d = &devices[ndevices++];
    memset(d, 0, sizeof *d);
    d->id = id;
    snprintf(d->name, sizeof d->name, "0x%llx", (unsigned long long)id);
    return d;
}

static void say(const char *fmt, const device *d, const char *extra) {
    char line[256];
    snprintf(line, sizeof line, fmt, d->name, (unsigned long long)d->id, extra);
    au_send(lines, au_str_dup(line, strlen(line)));
}

AU_LOCAL_ROOT(devw_msg, (event, au_device_event, AU_LOCAL), (message, au_device_message, AU_LOCAL));

static void on_event(const au_device_event *e) {
    pthread_mutex_lock(&lock);
    device *d = slot(e->device);
    if (d) {
        d->owner = e->owner;
        snprintf(d->owner_addr, sizeof d->owner_addr, "%.*s", (int)e->owner_address.len,
                 e->owner_address.ptr ? e->owner_address.ptr : "");
        d->state = e->kind == AU_DEVICE_DOWN ? AU_DEVICE_DOWN : AU_DEVICE_UP;
    }
    /* an UP before the hello waits for the name (it follows within one announce) */
    bool hold = d && e->kind == AU_DEVICE_UP && !d->named;
    if (d) d->up_untold = hold;
    device copy = d ? *d : (device){ 0 };
    pthread_mutex_unlock(&lock);
    if (!d || hold) return;
    const char *what = e->kind == AU_DEVICE_UP ? "DEVICE-UP %s id=0x%llx owner=%s"
                       : e->kind == AU_DEVICE_DOWN ? "DEVICE-DOWN %s id=0x%llx owner=%s"
                                                   : "DEVICE-MOVED %s id=0x%llx owner=%s";
    say(what, &copy, copy.owner_addr);
}

static void address_of(const au_ring *ring, uint64_t id, char *out, size_t size);

/* A hello whose name is not UTF-8: every text the node sends (status answers, watch lines)
 * must be UTF-8, so the name is refused, counted and logged (once per device); the device is
 * listed by its id, and an UP held for its name is told now. */
static void refuse_name(const au_device_message *m) {
    pthread_mutex_lock(&lock);
    uint64_t count = ++refused_names;
    device *d = slot(m->device);
    bool first = d && !d->name_refused;
    bool tell_up = d && d->up_untold && d->owner == m->owner;
    if (d) {
        d->name_refused = true;
        d->named = true;
        d->up_untold = false;
    }
    device copy = d ? *d : (device){ 0 };
    pthread_mutex_unlock(&lock);
    if (first || !d)
        au_log(AU_LOG_USER, AU_LOG_WARN,
               "device 0x%llx: its hello names it with bytes that are not UTF-8: name refused, "
               "listed by its id (%llu such hello(s) so far)",
               (unsigned long long)m->device, (unsigned long long)count);
    if (tell_up) say("DEVICE-UP %s id=0x%llx owner=%s", &copy, copy.owner_addr);
}

static void on_message(const au_device_message *m) {
    if (m->type != AURUM_DEVICE_HELLO_TYPE) return;
    au_dc_cbor_in r = { m->payload.ptr, m->payload.ptr + m->payload.len, 0 };
    size_t n = 0;
    const char *name = au_dc_cbor_get_text(&r, &n);
    if (!name || au_dc_cbor_end(&r) || n == 0 || n >= sizeof ((device *)0)->name) return;
    if (!aurum_utf8_valid(name, n)) {
        refuse_name(m);
        return;
    }
    pthread_mutex_lock(&lock);
    device *d = slot(m->device);
    bool changed = false, tell_up = false;
    if (d) {
        changed = d->owner != m->owner || strlen(d->name) != n || memcmp(d->name, name, n);
        memcpy(d->name, name, n);
        d->name[n] = '\0';
        d->named = true;
        tell_up = d->up_untold && d->owner == m->owner; /* not if it moved meanwhile */
        d->up_untold = false;
        if (d->owner != m->owner) {
            d->owner = m->owner;
            d->owner_addr[0] = '\0';
            if (m->owner != self_id) d->state = 0;
        }
    }
    device copy = d ? *d : (device){ 0 };
    char owner[64] = "";
    if (changed) address_of(ring_now, copy.owner, owner, sizeof owner);
    pthread_mutex_unlock(&lock);
    if (changed) { /* the same form as the events' lines: owner=ADDRESS (its id if unknown) */
        if (!owner[0]) snprintf(owner, sizeof owner, "id:%llu", (unsigned long long)copy.owner);
        say("DEVICE %s id=0x%llx owner=%s", &copy, owner);
    }
    if (tell_up) say("DEVICE-UP %s id=0x%llx owner=%s", &copy, copy.owner_addr);
}

static void devw_recv(au_ctx *ctx, int *self, devw_msg *m) {
    (void)ctx;
    (void)self;
    if (m->tag == devw_msg_event) on_event(&m->event);
    else on_message(&m->message);
}

AU_ACTOR(devw_actor, int, devw_msg, .recv = devw_recv);

bool aurum_devices_start(au_node *node, au_cluster *c, au_str_lref sink) {
    au_err err = au_device_server_start(node, c, NULL, &server);
    if (err) {
        fprintf(stderr, "aurum node: no device server: %s (%s)\n", au_strerror(err), au_err_name(err));
        server = NULL;
        return false;
    }
    lines = sink;
    self_id = au_cluster_id(c);
    devw_msg_lref me = au_spawn(node, devw_actor, NULL, NULL);
    if (au_ref_is_null(me.raw) ||
        au_device_server_subscribe(server, au_narrow_local(devw_msg, au_device_event, me)) ||
        au_device_server_receive(server, au_narrow_local(devw_msg, au_device_message, me)))
        fprintf(stderr, "aurum node: device events will not be reported (%s)\n",
                au_strerror(au_last_error()));
    atomic_store_explicit(&available, true, memory_order_release);
    return true;
}

void aurum_devices_ring(const au_ring *ring) {
    au_ring *keep = ring ? au_ring_retain((au_ring *)ring) : NULL;
    pthread_mutex_lock(&lock);
    au_ring *old = ring_now;
    ring_now = keep;
    pthread_mutex_unlock(&lock);
    au_ring_release(old);
}

bool aurum_devices_available(void) { return atomic_load_explicit(&available, memory_order_acquire); }

static void address_of(const au_ring *ring, uint64_t id, char *out, size_t size) {
    for (size_t i = 0; ring && i < au_ring_size(ring); i++) {
        const au_cluster_member *m = au_ring_member(ring, i);
        if (m->id == id) {
            snprintf(out, size, "%.*s", (int)m->address.len, m->address.ptr);
            return;
        }
    }
}

void aurum_devices_list(adm_device_array *out, const au_ring *ring) {
    *out = (adm_device_array){ 0 };
    pthread_mutex_lock(&lock);
    out->ptr = ndevices ? calloc(ndevices, sizeof *out->ptr) : NULL;
    for (size_t i = 0; out->ptr && i < ndevices; i++) {
        const device *d = &devices[i];
        char owner[64];
        snprintf(owner, sizeof owner, "%s", d->owner_addr);
        if (!owner[0] && d->owner) address_of(ring, d->owner, owner, sizeof owner);
        const char *state = d->state == AU_DEVICE_UP ? "up" : d->state == AU_DEVICE_DOWN ? "down" : "";
        char name[sizeof d->name];
        if (aurum_utf8_valid(d->name, strlen(d->name))) /* always (on_message checks it) */
            snprintf(name, sizeof name, "%s", d->name);
        else
            snprintf(name, sizeof name, "0x%llx", (unsigned long long)d->id);
        out->ptr[out->len++] = (adm_device){ au_str_dup(name, strlen(name)), d->id,
                                             au_str_dup(owner, strlen(owner)),
                                             au_str_dup(state, strlen(state)) };
    }
    out->owned = out->ptr != NULL;
    pthread_mutex_unlock(&lock);
}
