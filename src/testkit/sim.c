/* sim.c — the deterministic simulation engine (see include/aurum/sim.h).
 *
 * One FIFO run queue of cells for every node, one min-heap of events (timers of every node and
 * datagrams in flight) ordered by (virtual time, sequence number), one seeded generator. A step
 * runs one runnable actor's turn if there is one, else advances the clock to the earliest event
 * and fires it. With a single thread and these total orders, the same seed and test give the
 * same sequence of steps; the trace hash folds every step so runs can be compared. */
#include "core/internal.h"
#include "net/net.h"
#include "util/mpsc.h"
#include "testkit/sim_internal.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define SIM_BASE_PORT 10000

typedef enum ev_kind { EV_TIMER, EV_DATAGRAM } ev_kind;

typedef struct event {
    au_nanos time;
    uint64_t seq;
    ev_kind kind;
    au_node *node;      /* TIMER: the owner; DATAGRAM: the sender */
    void *timer;        /* TIMER: the node's timer entry */
    uint16_t to_port;   /* DATAGRAM */
    uint16_t from_port;
    size_t len;
    uint8_t *bytes;
} event;

struct au_sim {
    au_sim_config cfg;
    au_nanos now;
    uint64_t rng_state;
    uint64_t next_seq;
    uint64_t events;
    uint64_t trace;
    au_runq runq;
    event *heap;
    size_t n, cap;
    au_node **nodes; /* by port - SIM_BASE_PORT; NULL once stopped */
    size_t nnodes, nodes_cap;
};

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t au_sim_random(au_sim *sim) { return splitmix64(&sim->rng_state); }

static void trace(au_sim *sim, const void *rec, size_t len) {
    sim->trace = XXH3_64bits_withSeed(rec, len, sim->trace);
}

/* ---- heap ------------------------------------------------------------------------------------- */

static bool before(const event *a, const event *b) {
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static bool heap_push(au_sim *sim, event e) {
    if (sim->n == sim->cap) {
        size_t cap = sim->cap ? sim->cap * 2 : 256;
        event *h = realloc(sim->heap, cap * sizeof *h);
        if (!h) return false;
        sim->heap = h;
        sim->cap = cap;
    }
    e.seq = sim->next_seq++;
    size_t i = sim->n++;
    sim->heap[i] = e;
    while (i > 0 && before(&sim->heap[i], &sim->heap[(i - 1) / 2])) {
        event t = sim->heap[i];
        sim->heap[i] = sim->heap[(i - 1) / 2];
        sim->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    return true;
}

static void sift_down(au_sim *sim, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < sim->n && before(&sim->heap[l], &sim->heap[m])) m = l;
        if (r < sim->n && before(&sim->heap[r], &sim->heap[m])) m = r;
        if (m == i) return;
        event t = sim->heap[i];
        sim->heap[i] = sim->heap[m];
        sim->heap[m] = t;
        i = m;
    }
}

static event heap_pop(au_sim *sim) {
    event top = sim->heap[0];
    sim->heap[0] = sim->heap[--sim->n];
    sift_down(sim, 0);
    return top;
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
    au_runq_init(&sim->runq);
    *out = sim;
    return AU_OK;
}

void au_sim_destroy(au_sim *sim) {
    if (!sim) return;
    for (size_t i = 0; i < sim->n; i++) free(sim->heap[i].bytes); /* datagrams still in flight */
    free(sim->heap);
    free(sim->nodes);
    free(sim);
}

au_nanos au_sim_now(const au_sim *sim) { return sim->now; }
uint64_t au_sim_trace_hash(const au_sim *sim) { return sim->trace; }
uint64_t au_sim_events(const au_sim *sim) { return sim->events; }

static au_nanos sim_clock(void *user) { return ((au_sim *)user)->now; }

au_clock au_sim_clock_(au_sim *sim) { return (au_clock){ sim_clock, sim }; }

/* ---- nodes ------------------------------------------------------------------------------------- */

uint16_t au_sim_node_add_(au_sim *sim, au_node *node) {
    if (sim->nnodes >= 65535 - SIM_BASE_PORT) return 0;
    if (sim->nnodes == sim->nodes_cap) {
        size_t cap = sim->nodes_cap ? sim->nodes_cap * 2 : 64;
        au_node **n = realloc(sim->nodes, cap * sizeof *n);
        if (!n) return 0;
        sim->nodes = n;
        sim->nodes_cap = cap;
    }
    sim->nodes[sim->nnodes] = node;
    return (uint16_t)(SIM_BASE_PORT + sim->nnodes++);
}

void au_sim_node_remove_(au_sim *sim, au_node *node) {
    for (size_t i = 0; i < sim->nnodes; i++)
        if (sim->nodes[i] == node) sim->nodes[i] = NULL;
    /* Its cells still queued to run (stray sends to stopped actors): out of the run queue. */
    au_runq keep;
    au_runq_init(&keep);
    for (au_mnode *n; (n = au_runq_pop(&sim->runq));) {
        au_cell *cell = (au_cell *)((char *)n - offsetof(au_cell, run));
        if (cell->node != node) au_runq_push(&keep, n);
    }
    for (au_mnode *n; (n = au_runq_pop(&keep));) au_runq_push(&sim->runq, n);
    /* Its timers: handed back to the node's timer module to be freed. */
    size_t kept = 0;
    for (size_t i = 0; i < sim->n; i++) {
        event *e = &sim->heap[i];
        if (e->kind == EV_TIMER && e->node == node) {
            au_timers_discard_(node, e->timer);
            continue;
        }
        sim->heap[kept++] = *e;
    }
    sim->n = kept;
    for (size_t i = sim->n / 2 + 1; i-- > 0;) sift_down(sim, i);
}

uint64_t au_sim_node_index_(au_sim *sim, au_node *node) {
    for (size_t i = 0; i < sim->nnodes; i++)
        if (sim->nodes[i] == node) return i;
    return UINT64_MAX;
}

/* ---- hooks for the runtime --------------------------------------------------------------------- */

void au_sim_schedule_(au_sim *sim, au_cell *cell) { au_runq_push(&sim->runq, &cell->run); }

bool au_sim_timer_add_(au_sim *sim, au_node *node, void *timer, au_nanos deadline) {
    return heap_push(sim, (event){ .time = deadline, .kind = EV_TIMER, .node = node, .timer = timer });
}

void au_sim_send_(au_sim *sim, uint16_t from_port, const au_addr *to, const uint8_t *bytes,
                  size_t len) {
    if (to->sa.ss_family != AF_INET) return; /* simulated nodes live at 127.0.0.1:<port> */
    const struct sockaddr_in *in = (const struct sockaddr_in *)&to->sa;
    uint8_t *copy = malloc(len);
    if (!copy) return;
    memcpy(copy, bytes, len);
    au_nanos latency = sim->cfg.latency_min;
    if (sim->cfg.latency_max > sim->cfg.latency_min)
        latency += au_sim_random(sim) % (sim->cfg.latency_max - sim->cfg.latency_min + 1);
    if (!heap_push(sim, (event){ .time = sim->now + latency, .kind = EV_DATAGRAM,
                                 .to_port = ntohs(in->sin_port), .from_port = from_port,
                                 .len = len, .bytes = copy }))
        free(copy);
}

static void deliver(au_sim *sim, event *e) {
    size_t idx = (size_t)e->to_port - SIM_BASE_PORT;
    au_node *to = e->to_port >= SIM_BASE_PORT && idx < sim->nnodes ? sim->nodes[idx] : NULL;
    struct { uint64_t what, time, from, to, len; } rec = { 2, e->time, e->from_port, e->to_port, e->len };
    trace(sim, &rec, sizeof rec);
    if (to && to->net) {
        struct sockaddr_in from = { .sin_family = AF_INET, .sin_port = htons(e->from_port),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        au_net_receive(to->net, e->bytes, e->len, (const struct sockaddr *)&from);
    }
    free(e->bytes);
}

/* One step: an actor turn, else the earliest event no later than `until`. */
static bool step(au_sim *sim, au_nanos until) {
    au_mnode *n = au_runq_pop(&sim->runq);
    if (n) {
        au_cell *cell = (au_cell *)((char *)n - offsetof(au_cell, run));
        struct { uint64_t what, time, node, serial; } rec = {
            1, sim->now, au_sim_node_index_(sim, cell->node), cell->serial };
        trace(sim, &rec, sizeof rec);
        if (au_cell_run(cell, cell->node->cfg.batch)) au_runq_push(&sim->runq, &cell->run);
        sim->events++;
        return true;
    }
    if (!sim->n || sim->heap[0].time > until) return false;
    event e = heap_pop(sim);
    if (e.time > sim->now) sim->now = e.time;
    sim->events++;
    if (e.kind == EV_TIMER) {
        struct { uint64_t what, time, node; } rec = { 3, e.time, au_sim_node_index_(sim, e.node) };
        trace(sim, &rec, sizeof rec);
        au_timers_fire_(e.node, e.timer);
    } else {
        deliver(sim, &e);
    }
    return true;
}

uint64_t au_sim_run(au_sim *sim, au_nanos duration) {
    uint64_t start = sim->events;
    au_nanos until = sim->now + duration;
    while (step(sim, until)) {}
    if (sim->now < until) sim->now = until;
    return sim->events - start;
}

au_err au_sim_run_until(au_sim *sim, bool (*done)(void *arg), void *arg, au_nanos max_duration) {
    au_nanos until = sim->now + max_duration;
    for (;;) {
        if (done(arg)) return AU_OK;
        if (!step(sim, until)) {
            if (sim->n && sim->heap[0].time > until) {
                sim->now = until;
                return AU_ETIMEDOUT;
            }
            return AU_ESTATE;
        }
    }
}

/* Runs until the node has no live actor (its stop). */
void au_sim_run_node_stop_(au_sim *sim, au_node *node) {
    for (;;) {
        pthread_mutex_lock(&node->lock);
        uint64_t live = node->live;
        pthread_mutex_unlock(&node->lock);
        if (!live || !step(sim, UINT64_MAX)) return;
    }
}
