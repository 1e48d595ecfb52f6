/* demo.c — what `make demo` shows: typed actors on three nodes talking over UDP, a forged
 * reference checked on both ends, what the transport counts when traffic is lost or mistyped,
 * and a deterministic simulation of a hundred nodes replayed from its seed. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <stdio.h>
#include <string.h>

/* A tiny key-value store: puts, gets with a reply reference, all remote-capable. */
AU_RECORD(put, (au_str, key), (int64_t, value));
AU_RECORD(get, (au_str, key), (int64_t_ref, reply_to));
AU_ROOT(store_msg, (put, put, AU_REMOTE), (get, get, AU_REMOTE));

enum { SLOTS = 16 };
typedef struct store {
    char keys[SLOTS][16];
    int64_t values[SLOTS];
    int used;
} store;

static int slot_of(store *s, const char *key, bool create) {
    for (int i = 0; i < s->used; i++)
        if (!strcmp(s->keys[i], key)) return i;
    if (!create || s->used == SLOTS) return -1;
    snprintf(s->keys[s->used], sizeof s->keys[0], "%s", key);
    return s->used++;
}

static void store_recv(au_ctx *ctx, store *self, store_msg *m) {
    if (m->tag == store_msg_put) {
        int i = slot_of(self, m->put.key.ptr, true);
        if (i >= 0) self->values[i] += m->put.value;
    } else {
        int i = slot_of(self, m->get.key.ptr, false);
        au_send(m->get.reply_to, i >= 0 ? self->values[i] : (int64_t)-1);
    }
}
AU_ACTOR(store_actor, store, store_msg, .recv = store_recv);

/* Another root type that also takes `put`: a reference forged with it never reaches a store. */
AU_ROOT(other_msg, (put, put, AU_REMOTE));

static int64_t ask(au_node *from, get_ref at, const char *key) {
    int64_t_promise p = au_promise_new(from, int64_t);
    au_send(at, ((get){ .key = au_str_dup(key, strlen(key)), .reply_to = au_promise_ref(p, int64_t) }));
    int64_t v = -2;
    au_promise_wait(p, int64_t, &v, AU_SEC(2));
    return v;
}

/* ---- part 3: a simulated ring of nodes ------------------------------------------------------ */

AU_ROOT(token_msg, (hop, int64_t, AU_REMOTE));
typedef struct relay { int64_t_ref next; int64_t *seen; } relay;
static void relay_recv(au_ctx *ctx, relay *self, token_msg *m) {
    (*self->seen)++;
    if (m->hop < 1000) au_send(self->next, m->hop + 1);
}
AU_ACTOR(relay_actor, relay, token_msg, .recv = relay_recv);

static bool ring_done(void *seen) { return *(int64_t *)seen >= 1000; }

static uint64_t simulate(uint64_t seed, int nodes, int64_t *seen, au_nanos *virtual_time) {
    au_sim *sim;
    au_sim_create(&(au_sim_config){ .seed = seed }, &sim);
    au_node *n[100];
    /* Simulated nodes, with fault injection wrapped around the simulation's driver. */
    au_driver simulated = au_sim_driver(sim), faulty = au_faults_driver(&simulated);
    for (int i = 0; i < nodes; i++) au_node_start(&(au_node_config){ .driver = &faulty }, &n[i]);
    for (int i = 0; i < nodes; i++) {
        au_faults_set(n[i], NULL, &(au_faults){ .delay_min = AU_MSEC(1), .delay_max = AU_MSEC(5), .per_message = true });
        au_spawn(n[i], relay_actor, "relay",
                 &(relay){ .seen = seen, .next = au_forge(token_msg, int64_t, n[i], "relay",
                                                          au_node_address(n[(i + 1) % nodes])) });
    }
    au_nanos t0 = au_sim_now(sim);
    au_send(au_forge(token_msg, int64_t, n[0], "relay", au_node_address(n[0])), (int64_t)1);
    au_sim_run_until(sim, ring_done, seen, AU_SEC(3600));
    *virtual_time = au_sim_now(sim) - t0;
    uint64_t hash = au_sim_trace_hash(sim);
    for (int i = 0; i < nodes; i++) au_node_stop(n[i]);
    au_sim_destroy(sim);
    return hash;
}

int main(void) {
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    au_node *a, *b, *c;
    au_driver faulty = au_faults_driver(NULL); /* node b: real UDP, with fault injection */
    if (au_node_start(NULL, &a) || au_node_start(&(au_node_config){ .driver = &faulty }, &b) ||
        au_node_start(NULL, &c)) {
        fprintf(stderr, "could not start nodes on 127.0.0.1\n");
        return 1;
    }
    printf("== three nodes: %s, %s, %s\n", au_node_address(a), au_node_address(b), au_node_address(c));
    au_spawn(a, store_actor, "store", NULL);

    /* Nodes b and c forge references to the store on a, typed by the interface they use. */
    put_ref from_b = au_forge(store_msg, put, b, "store", au_node_address(a));
    put_ref from_c = au_forge(store_msg, put, c, "store", au_node_address(a));
    get_ref get_c = au_forge(store_msg, get, c, "store", au_node_address(a));
    for (int i = 1; i <= 100; i++) {
        au_send(from_b, ((put){ au_str_lit("apples"), i }));
        au_send(from_c, ((put){ au_str_lit("pears"), 1 }));
    }
    printf("apples = %lld (expected %d), pears = %lld (expected 100), asked from node c over UDP\n",
           (long long)ask(c, get_c, "apples"), 5050, (long long)ask(c, get_c, "pears"));

    /* A reference forged with the wrong root type, or an interface the root never declared,
     * compiles (the types exist) but the store's node refuses it: counted, not crashing. */
    put_ref wrong_root = au_forge(other_msg, put, b, "store", au_node_address(a));
    au_send(wrong_root, ((put){ au_str_lit("apples"), 1000 }));
    put_ref nobody = au_forge(store_msg, put, b, "no-such-actor", au_node_address(a));
    au_send(nobody, ((put){ au_str_lit("apples"), 1000 }));

    /* 30 % of b's messages lost on the way: at-most-once, counted on b's side. */
    au_faults_seed(b, 1);
    au_faults_set(b, NULL, &(au_faults){ .drop = 0.3, .per_message = true });
    for (int i = 0; i < 1000; i++) au_send(from_b, ((put){ au_str_lit("plums"), 1 }));
    int64_t plums = ask(c, get_c, "plums");
    au_node_stats st;
    au_node_stats_get(a, &st);
    au_faults_stats fs;
    au_faults_stats_get(b, &fs);
    printf("plums = %lld of 1000 sent through 30 %% loss (b dropped %llu)\n", (long long)plums,
           (unsigned long long)fs.dropped);
    printf("node a counted: %llu remote messages in, %llu datagrams, drops: wrong root %llu, "
           "unknown actor %llu, malformed %llu\n",
           (unsigned long long)st.messages_received_remote, (unsigned long long)st.datagrams_received,
           (unsigned long long)st.drops_wrong_root, (unsigned long long)st.drops_unknown_actor,
           (unsigned long long)st.drops_malformed);
    au_node_stop(a);
    au_node_stop(b);
    au_node_stop(c);

    /* A deterministic simulation: 100 nodes, a token around them 10 times with 1-5 ms delays,
     * on a virtual clock; the same seed replays the same run exactly. */
    int64_t seen1 = 0, seen2 = 0, seen3 = 0;
    au_nanos v1, v2, v3;
    uint64_t h1 = simulate(42, 100, &seen1, &v1), h2 = simulate(42, 100, &seen2, &v2),
             h3 = simulate(43, 100, &seen3, &v3);
    printf("== simulation, 100 nodes, %lld hops in %.3f virtual s: trace %016llx\n",
           (long long)seen1, (double)v1 / 1e9, (unsigned long long)h1);
    printf("   same seed again:  trace %016llx (%s)\n", (unsigned long long)h2,
           h1 == h2 ? "identical" : "DIFFERENT");
    printf("   another seed:     trace %016llx (%s), %.3f virtual s\n", (unsigned long long)h3,
           h1 == h3 ? "identical" : "different", (double)v3 / 1e9);
    return h1 == h2 && h1 != h3 ? 0 : 1;
}
