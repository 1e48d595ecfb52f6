/* sim.c — the deterministic simulation, as a node driver (see include/aurum/sim.h).
 *
 * Every node of a simulation shares one FIFO of runnable actors (tasks), one min-heap of events
 * ordered by (virtual time, sequence number) — a node's timer wake-up, or a datagram in flight —
 * and one seeded generator. A step runs one task's turn if there is one, else advances the clock
 * to the earliest event and handles it. With a single thread and these total orders, the same
 * seed and test give the same sequence of steps; the trace hash folds every step so runs can be
 * compared. The runtime does not know it is simulated: it only calls its driver.
 *
 * The network: each datagram draws a latency in [latency_min, latency_max], but a link (sender,
 * receiver) delivers in order, as real networks nearly always do; reordering is what fault
 * injection adds on purpose (au_faults.reorder). Without that, a burst would arrive shuffled
 * beyond any replay window.
 *
 * A pause (au_sim_pause) stalls one node as a stopped process would be: while it lasts nothing of
 * that node runs — no actor turn, no timer, no datagram handed to it. What comes due is held in
 * order on the node (its runnable actors, the datagrams that arrived: a socket buffer, unbounded
 * here since a pause is short) and at the end, at one virtual instant, the held datagrams are
 * handed over first, then its actors run and every late timer fires at once.
 *
 * Built on the public API (aurum/driver.h) and the util layer only. */
#include <aurum/log.h>
#include <aurum/testkit.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util/clock.h"
#include "util/heap.h"
#include "util/rng.h"
#include "util/u64map.h"

#define SIM_BASE_PORT 10000

typedef enum ev_kind { EV_WAKE, EV_DATAGRAM, EV_RESUME } ev_kind;

typedef struct event {
    au_nanos time;
    uint64_t seq;
    ev_kind kind;
    uint32_t node;      /* WAKE, RESUME: the node's index */
    uint16_t to_port;   /* DATAGRAM */
    uint16_t from_port;
    size_t len;         /* DATAGRAM: its length; RESUME: the pause it ends (sim_node.pause) */
    uint8_t *bytes;
} event;

struct queued { au_task *task; uint32_t node; };

/* A node's instance of the simulation driver. */
typedef struct sim_node {
    au_driver_node base;
    au_sim *sim;
    au_node *node;
    uint32_t index;
    au_nanos armed;     /* the wake-up event that counts; 0: none */
    size_t pause;       /* nonzero while paused: the pause's number (its EV_RESUME names it) */
    bool late_wake;     /* a wake-up came due during the pause */
    struct queued *held_tasks;   /* what came due during the pause, in order */
    size_t nheld_tasks, held_tasks_cap;
    event *held;                 /* datagrams that arrived during the pause, in order */
    size_t nheld, held_cap;
} sim_node;

struct au_sim {
    au_sim_config cfg;
    au_nanos now;
    uint64_t rng_state;
    uint64_t next_seq;
    uint64_t events;
    uint64_t trace;
    uint64_t starts, last_incarnation; /* incarnation ids handed out grow */
    size_t pauses;      /* pauses begun: numbers them */
    struct queued *tasks; /* FIFO ring of runnable actors */
    size_t task_head, ntasks, tasks_cap;
    au_heap heap;       /* of event, in (time, seq) order */
    au_u64map links;    /* (from port, to port) → au_nanos *: the link's last delivery time */
    sim_node **nodes;   /* by index (port - SIM_BASE_PORT); NULL once closed */
    size_t nnodes, nodes_cap;
};

uint64_t au_sim_random(au_sim *sim) { return sim ? au_splitmix64_next(&sim->rng_state) : 0; }

static void trace(au_sim *sim, const void *rec, size_t len) {
    sim->trace = XXH3_64bits_withSeed(rec, len, sim->trace);
}

/* ---- event heap ------------------------------------------------------------------------------ */

/* A total order: time, then the order events were made in. */
static bool before(const void *x, const void *y, void *ctx) {
    const event *a = x, *b = y;
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static bool heap_push(au_sim *sim, event e) {
    e.seq = sim->next_seq++;
    return au_heap_push(&sim->heap, &e);
}

static const event *heap_top(au_sim *sim) { return au_heap_peek(&sim->heap); }

/* ---- task FIFO ----------------------------------------------------------------------------- */

static bool tasks_push(au_sim *sim, struct queued t) {
    if (sim->ntasks == sim->tasks_cap) {
        size_t cap = sim->tasks_cap ? sim->tasks_cap * 2 : 256;
        struct queued *q = malloc(cap * sizeof *q);
        if (!q) return false;
        for (size_t i = 0; i < sim->ntasks; i++)
            q[i] = sim->tasks[(sim->task_head + i) % sim->tasks_cap];
        free(sim->tasks);
        sim->tasks = q;
        sim->tasks_cap = cap;
        sim->task_head = 0;
    }
    sim->tasks[(sim->task_head + sim->ntasks++) % sim->tasks_cap] = t;
    return true;
}

static struct queued tasks_pop(au_sim *sim) {
    if (!sim->ntasks) return (struct queued){ NULL, 0 };
    struct queued t = sim->tasks[sim->task_head];
    sim->task_head = (sim->task_head + 1) % sim->tasks_cap;
    sim->ntasks--;
    return t;
}

/* ---- the driver -------------------------------------------------------------------------------- */

static au_err sim_open(const au_driver *drv, au_node *node, au_driver_node **out) {
    au_sim *sim = drv->data;
    if (!sim) return AU_EINVAL;
    if (sim->nnodes >= 65535 - SIM_BASE_PORT) return AU_EFULL;
    if (sim->nnodes == sim->nodes_cap) {
        size_t cap = sim->nodes_cap ? sim->nodes_cap * 2 : 64;
        sim_node **n = realloc(sim->nodes, cap * sizeof *n);
        if (!n) return AU_ENOMEM;
        sim->nodes = n;
        sim->nodes_cap = cap;
    }
    sim_node *sn = calloc(1, sizeof *sn);
    if (!sn) return AU_ENOMEM;
    sn->base.ops = drv->ops;
    sn->sim = sim;
    sn->node = node;
    sn->index = (uint32_t)sim->nnodes;
    sim->nodes[sim->nnodes++] = sn;
    *out = &sn->base;
    return AU_OK;
}

static void held_free(sim_node *sn) {
    for (size_t i = 0; i < sn->nheld; i++) free(sn->held[i].bytes);
    free(sn->held);
    free(sn->held_tasks);
    sn->held = NULL;
    sn->held_tasks = NULL;
    sn->nheld = sn->held_cap = sn->nheld_tasks = sn->held_tasks_cap = 0;
}

static void sim_close(au_driver_node *dn) {
    sim_node *sn = (sim_node *)dn;
    au_sim *sim = sn->sim;
    held_free(sn); /* a node stopped while paused: what it held goes with it */
    sim->nodes[sn->index] = NULL;
    /* Its actors still queued to run (stray sends to stopped actors) leave the FIFO. */
    size_t n = sim->ntasks;
    for (size_t i = 0; i < n; i++) {
        struct queued t = tasks_pop(sim);
        if (t.node != sn->index) tasks_push(sim, t); /* room: it was just popped */
    }
    /* Its wake-ups go (from the top index down: a removal only moves items from the end or
     * upward, onto indices still to visit); datagrams in flight to it are dropped on arrival. */
    for (size_t i = au_heap_len(&sim->heap); i-- > 0;) {
        const event *e = au_heap_at(&sim->heap, i);
        if (e->kind == EV_WAKE && e->node == sn->index) au_heap_remove(&sim->heap, i, NULL);
    }
    free(sn);
}

static au_nanos sim_now(au_driver_node *dn) { return ((sim_node *)dn)->sim->now; }

static uint64_t sim_random(au_driver_node *dn) { return au_sim_random(((sim_node *)dn)->sim); }

/* Virtual milliseconds in the high bits and a count of the simulation's node starts below: a
 * node restarted later in the run (even at the same virtual instant) has a greater id. */
static uint64_t sim_incarnation(au_driver_node *dn) {
    au_sim *sim = ((sim_node *)dn)->sim;
    uint64_t id = (sim->now / 1000000u) << 16 | (++sim->starts & 0xffffu);
    if (id <= sim->last_incarnation) id = sim->last_incarnation + 1;
    return sim->last_incarnation = id;
}

/* One wake-up event per node counts: the earliest asked for. A later request for an earlier
 * time adds an event and supersedes the pending one, which is then skipped. */
static void sim_wake_at(au_driver_node *dn, au_nanos deadline) {
    sim_node *sn = (sim_node *)dn;
    if (!deadline || (sn->armed && sn->armed <= deadline)) return;
    if (heap_push(sn->sim, (event){ .time = deadline, .kind = EV_WAKE, .node = sn->index }))
        sn->armed = deadline;
}

static void sim_schedule(au_driver_node *dn, au_task *task) {
    sim_node *sn = (sim_node *)dn;
    if (!tasks_push(sn->sim, (struct queued){ task, sn->index }))
        au_log(AU_LOG_TESTKIT, AU_LOG_ERROR, "simulation: out of memory queueing an actor");
}

static bool step(au_sim *sim, au_nanos until);

static void sim_run_until(au_driver_node *dn, bool (*done)(void *), void *arg) {
    au_sim *sim = ((sim_node *)dn)->sim;
    while (!done(arg) && step(sim, UINT64_MAX)) {}
}

static uint16_t port_of(const sim_node *sn) { return (uint16_t)(SIM_BASE_PORT + sn->index); }

/* A node that asks for the port of a node of this simulation that has closed takes over its
 * slot: a restart on the same address. Nothing of the node is armed yet (bind comes before its
 * first timer), so moving its index moves everything. */
static void take_closed_port(sim_node *sn, const struct sockaddr *addr, socklen_t len) {
    if (!addr || len < (socklen_t)sizeof(struct sockaddr_in) || addr->sa_family != AF_INET) return;
    uint16_t port = ntohs(((const struct sockaddr_in *)addr)->sin_port);
    size_t idx = (size_t)port - SIM_BASE_PORT;
    au_sim *sim = sn->sim;
    if (port < SIM_BASE_PORT || idx >= sim->nnodes || sim->nodes[idx] || sn->armed) return;
    sim->nodes[sn->index] = NULL;
    sim->nodes[idx] = sn;
    sn->index = (uint32_t)idx;
}

/* Every simulated node lives at 127.0.0.1:<its port>: the one it asked for if that is the port
 * of a closed node (take_closed_port), else a port of its own. */
static au_err sim_bind(au_driver_node *dn, const struct sockaddr *addr, socklen_t len,
                       struct sockaddr_storage *bound, socklen_t *bound_len) {
    take_closed_port((sim_node *)dn, addr, len);
    struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(port_of((sim_node *)dn)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    memset(bound, 0, sizeof *bound);
    memcpy(bound, &in, sizeof in);
    *bound_len = sizeof in;
    return AU_OK;
}

/* When a datagram sent now with `latency` arrives: not before the link's previous one. */
static au_nanos arrival(au_sim *sim, uint16_t from, uint16_t to, au_nanos latency) {
    uint64_t key = ((uint64_t)from << 16 | to) + 1; /* nonzero */
    au_nanos *last = au_u64map_get(&sim->links, key);
    if (!last && (last = calloc(1, sizeof *last)) && !au_u64map_put(&sim->links, key, last)) {
        free(last);
        last = NULL;
    }
    au_nanos t = au_deadline_after(sim->now, latency);
    if (last) {
        if (t < *last) t = *last;
        *last = t;
    }
    return t;
}

static size_t sim_send(au_driver_node *dn, const au_datagram *d, size_t n) {
    sim_node *sn = (sim_node *)dn;
    au_sim *sim = sn->sim;
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i].to->sa_family != AF_INET) continue; /* nobody there: lost, like real UDP */
        const struct sockaddr_in *to = (const struct sockaddr_in *)d[i].to;
        uint8_t *copy = malloc(d[i].len ? d[i].len : 1);
        if (!copy) {
            failed++;
            continue;
        }
        memcpy(copy, d[i].data, d[i].len);
        au_nanos latency = sim->cfg.latency_min;
        if (sim->cfg.latency_max > sim->cfg.latency_min) { /* span + 1 is 0 for [0, UINT64_MAX] */
            uint64_t span = sim->cfg.latency_max - sim->cfg.latency_min;
            latency += span == UINT64_MAX ? au_sim_random(sim) : au_sim_random(sim) % (span + 1);
        }
        uint16_t to_port = ntohs(to->sin_port);
        if (!heap_push(sim, (event){ .time = arrival(sim, port_of(sn), to_port, latency),
                                     .kind = EV_DATAGRAM,
                                     .to_port = to_port, .from_port = port_of(sn),
                                     .len = d[i].len, .bytes = copy })) {
            free(copy);
            failed++;
        }
    }
    return failed;
}

static const au_driver_ops sim_ops = {
    .version = AU_DRIVER_VERSION,
    .name = "sim",
    .open = sim_open,
    .close = sim_close,
    .now = sim_now,
    .random = sim_random,
    .incarnation = sim_incarnation,
    .wake_at = sim_wake_at,
    .schedule = sim_schedule,
    .run_until = sim_run_until,
    .bind = sim_bind,
    .send = sim_send,
};

au_driver au_sim_driver(au_sim *sim) { return (au_driver){ .ops = &sim_ops, .data = sim }; }

/* ---- running ------------------------------------------------------------------------------------ */

/* The destination of a datagram event, if it is a node of this simulation. */
static sim_node *receiver(au_sim *sim, const event *e) {
    size_t idx = (size_t)e->to_port - SIM_BASE_PORT;
    return e->to_port >= SIM_BASE_PORT && idx < sim->nnodes ? sim->nodes[idx] : NULL;
}

static void deliver(au_sim *sim, event *e) {
    sim_node *to = receiver(sim, e);
    struct { uint64_t what, time, from, to, len; } rec = { 2, e->time, e->from_port, e->to_port, e->len };
    trace(sim, &rec, sizeof rec);
    if (to) {
        struct sockaddr_in from = { .sin_family = AF_INET, .sin_port = htons(e->from_port),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        au_node_receive(to->node, e->bytes, e->len, (const struct sockaddr *)&from, sizeof from);
    }
    free(e->bytes);
}

static void wake(au_sim *sim, const event *e) {
    sim_node *sn = sim->nodes[e->node];
    struct { uint64_t what, time, node; } rec = { 3, e->time, e->node };
    trace(sim, &rec, sizeof rec);
    if (!sn || sn->armed != e->time) return; /* superseded by an earlier wake-up */
    sn->armed = 0;
    if (sn->pause) {
        sn->late_wake = true; /* its timers fire when the pause ends */
        return;
    }
    au_nanos next = au_node_run_timers(sn->node);
    if (sim->nodes[e->node] == sn) sim_wake_at(&sn->base, next);
}

/* Appends to a held array, doubling it; false (and a log line) when memory runs out: what could
 * not be held is lost, like a datagram on a full socket buffer. */
static bool hold(void **arr, size_t *n, size_t *cap, size_t size) {
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        void *a = realloc(*arr, c * size);
        if (!a) {
            au_log(AU_LOG_TESTKIT, AU_LOG_ERROR, "simulation: out of memory holding for a paused node");
            return false;
        }
        *arr = a;
        *cap = c;
    }
    (*n)++;
    return true;
}

/* The end of a pause: the held datagrams are handed over, in the order they arrived; the held
 * actors queue again behind whatever is runnable now; the late timers fire. */
static void resume(au_sim *sim, const event *e) {
    sim_node *sn = sim->nodes[e->node];
    struct { uint64_t what, time, node; } rec = { 4, e->time, e->node };
    trace(sim, &rec, sizeof rec);
    if (!sn || sn->pause != e->len) return; /* stopped meanwhile (a restart holds another) */
    sn->pause = 0;
    size_t n = sn->nheld;
    event *held = sn->held;
    struct queued *tasks = sn->held_tasks;
    size_t ntasks = sn->nheld_tasks;
    sn->held = NULL;
    sn->held_tasks = NULL;
    sn->nheld = sn->held_cap = sn->nheld_tasks = sn->held_tasks_cap = 0;
    for (size_t i = 0; i < ntasks; i++) tasks_push(sim, tasks[i]);
    free(tasks);
    for (size_t i = 0; i < n; i++) deliver(sim, &held[i]); /* frees each datagram's bytes */
    free(held);
    if (sim->nodes[e->node] == sn && sn->late_wake) {
        sn->late_wake = false;
        au_nanos next = au_node_run_timers(sn->node);
        if (sim->nodes[e->node] == sn) sim_wake_at(&sn->base, next);
    }
}

/* One step: an actor turn, else the earliest event no later than `until`. */
static bool step(au_sim *sim, au_nanos until) {
    struct queued t = tasks_pop(sim);
    sim_node *paused = t.task && sim->nodes[t.node] && sim->nodes[t.node]->pause ? sim->nodes[t.node] : NULL;
    if (paused) {
        if (hold((void **)&paused->held_tasks, &paused->nheld_tasks, &paused->held_tasks_cap,
                 sizeof *paused->held_tasks))
            paused->held_tasks[paused->nheld_tasks - 1] = t;
        return true;
    }
    if (t.task) {
        struct { uint64_t what, time, node, serial; } rec = { 1, sim->now, t.node,
                                                               au_task_serial(t.task) };
        trace(sim, &rec, sizeof rec);
        if (au_task_run(t.task)) tasks_push(sim, t);
        sim->events++;
        return true;
    }
    const event *top = heap_top(sim);
    if (!top || top->time > until) return false;
    event e;
    au_heap_pop(&sim->heap, &e);
    if (e.time > sim->now) sim->now = e.time;
    sim->events++;
    sim_node *to = e.kind == EV_DATAGRAM ? receiver(sim, &e) : NULL;
    if (e.kind == EV_WAKE) {
        wake(sim, &e);
    } else if (e.kind == EV_RESUME) {
        resume(sim, &e);
    } else if (to && to->pause) {
        if (hold((void **)&to->held, &to->nheld, &to->held_cap, sizeof *to->held))
            to->held[to->nheld - 1] = e;
        else
            free(e.bytes);
    } else {
        deliver(sim, &e);
    }
    return true;
}

/* ---- API -------------------------------------------------------------------------------------- */

au_err au_sim_create(const au_sim_config *cfg, au_sim **out) {
    if (!out) return AU_EINVAL;
    au_sim *sim = calloc(1, sizeof *sim);
    if (!sim) return AU_ENOMEM;
    sim->cfg = cfg ? *cfg : (au_sim_config){ 0 };
    if (!sim->cfg.latency_min && !sim->cfg.latency_max) {
        sim->cfg.latency_min = AU_USEC(100);
        sim->cfg.latency_max = AU_MSEC(1);
    }
    if (sim->cfg.latency_min > sim->cfg.latency_max) {
        free(sim);
        return AU_EINVAL;
    }
    sim->now = sim->cfg.start ? sim->cfg.start : AU_SEC(1);
    sim->rng_state = sim->cfg.seed;
    sim->trace = sim->cfg.seed;
    au_heap_init(&sim->heap, sizeof(event), before, NULL, NULL);
    *out = sim;
    return AU_OK;
}

void au_sim_destroy(au_sim *sim) {
    if (!sim) return;
    size_t live = 0;
    for (size_t i = 0; i < sim->nnodes; i++) live += sim->nodes[i] != NULL;
    if (live) { /* their au_node_stop still needs the simulation: freeing it now would crash it */
        au_log(AU_LOG_TESTKIT, AU_LOG_ERROR, "au_sim_destroy: %zu node%s still running; nothing "
               "freed (stop them, then destroy the simulation)", live, live == 1 ? "" : "s");
        return;
    }
    for (size_t i = 0; i < au_heap_len(&sim->heap); i++) /* datagrams still in flight */
        free(((event *)au_heap_at(&sim->heap, i))->bytes);
    au_heap_destroy(&sim->heap);
    for (size_t i = 0; i < sim->links.cap; i++)
        if (sim->links.keys[i]) free(sim->links.values[i]);
    au_u64map_free(&sim->links);
    free(sim->tasks);
    free(sim->nodes);
    free(sim);
}

au_err au_sim_pause(au_sim *sim, au_node *node, au_nanos duration) {
    if (!sim || !node || !duration) return AU_EINVAL;
    sim_node *sn = NULL;
    for (size_t i = 0; i < sim->nnodes && !sn; i++)
        if (sim->nodes[i] && sim->nodes[i]->node == node) sn = sim->nodes[i];
    if (!sn) return AU_EINVAL;
    if (sn->pause) return AU_ESTATE;
    size_t id = ++sim->pauses;
    if (!heap_push(sim, (event){ .time = au_deadline_after(sim->now, duration), .kind = EV_RESUME,
                                 .node = sn->index, .len = id }))
        return AU_ENOMEM;
    sn->pause = id;
    return AU_OK;
}

bool au_sim_paused(const au_sim *sim, const au_node *node) {
    for (size_t i = 0; sim && i < sim->nnodes; i++)
        if (sim->nodes[i] && sim->nodes[i]->node == node) return sim->nodes[i]->pause != 0;
    return false;
}

au_nanos au_sim_now(const au_sim *sim) { return sim ? sim->now : 0; }
uint64_t au_sim_trace_hash(const au_sim *sim) { return sim ? sim->trace : 0; }
uint64_t au_sim_events(const au_sim *sim) { return sim ? sim->events : 0; }

uint64_t au_sim_run(au_sim *sim, au_nanos duration) {
    if (!sim) return 0;
    uint64_t start = sim->events;
    au_nanos until = au_deadline_after(sim->now, duration); /* UINT64_MAX: until nothing is left */
    while (step(sim, until)) {}
    if (sim->now < until) sim->now = until;
    return sim->events - start;
}

au_err au_sim_run_until(au_sim *sim, bool (*done)(void *arg), void *arg, au_nanos max_duration) {
    if (!sim || !done) return AU_EINVAL;
    au_nanos until = au_deadline_after(sim->now, max_duration);
    for (;;) {
        if (done(arg)) return AU_OK;
        if (!step(sim, until)) {
            if (heap_top(sim) && heap_top(sim)->time > until) {
                sim->now = until;
                return AU_ETIMEDOUT;
            }
            return AU_ESTATE;
        }
    }
}
