/* remote.c — remote_pingpong (and remote_pingpong_nospin) and remote_throughput: two OS
 * processes on 127.0.0.1.
 *
 * The same workloads, protocol and checks as the peers (bench/README.md, "remote_pingpong",
 * "remote_throughput" and its flow control):
 *
 *   - the parent fork/execs its own binary as `aurum_bench --child <benchmark>` with stdout on a
 *     pipe, before any node exists in the parent; the child (PR_SET_PDEATHSIG = SIGKILL) starts
 *     a node bound to 127.0.0.1:0, spawns pong or the receiver under a name, and writes
 *     `PORT <p>` (from au_node_address); the parent reads it (30 s limit);
 *   - the parent starts its own node on 127.0.0.1:0 and forges references to the child's actor
 *     (every message crosses the UDP socket); one untimed hello round trip, then an untimed
 *     warm-up session (WARMUP_ROUND_TRIPS round trips, or WARMUP_MESSAGES messages with the
 *     flow control and the fin), then the timed session: the clock runs from its `go` to the
 *     ping's report (pingpong) or to the receiver's fin reply forwarded by the sender
 *     (throughput); the receiver starts counting afresh after each fin;
 *   - CPU per operation: user + system time (getrusage RUSAGE_SELF) of both processes over the
 *     timed session; the child's is asked for (a `cpu` request to its actor) just before and
 *     just after it, the parent's read around the clock;
 *   - remote_pingpong_nospin is remote_pingpong with `.no_spin = true` on both nodes;
 *   - messages carry a sequence number and a 100-byte au_bytes payload; where the peers carry
 *     the sender (CAF implicitly, Erlang `{From, Seq, Bin}`), a ping carries its reply-to
 *     reference; the throughput receiver learns where to send acks from the hello (as Erlang's
 *     receiver gets the source's pid when spawned) and the fin carries where the result goes;
 *   - at the end the parent sends a Term to the child's actor (its post_stop lets the child
 *     exit), waits up to 10 s for the child, and kills it if it is still there.
 *
 * The transport is UDP, at-most-once. On loopback with a window nothing should be lost, but a
 * lost datagram must not hang the run: every wait is bounded. The hello is retried a few times
 * with a short limit each (so is the `cpu` request); during the warm-up and timed sessions a
 * watchdog thread fails the run when the progress counter (round trips and new acks, over
 * both sessions) has not moved for STALL_SECONDS; a
 * lost data message shows up as a wrong count in the receiver's confirmation. Every failure
 * kills the child (also from main.c's signal handler, through bench_child_pid), and the child
 * dies with the parent in any case (PR_SET_PDEATHSIG). */
#define _GNU_SOURCE
#include "bench.h"

#include <aurum/testkit.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
    PAYLOAD_SIZE = 100,  /* bytes of every data/ping payload */
    WINDOW = 10000,      /* remote_throughput: at most this many un-acked messages */
    ACK_EVERY = 1000,    /* remote_throughput: the receiver acks every this many */
    WARMUP_ROUND_TRIPS = 1000, /* remote_pingpong: untimed round trips before the clock */
    WARMUP_MESSAGES = 10000,   /* remote_throughput: untimed messages before the clock */
    HELLO_TRIES = 5,     /* hello attempts ... */
    HELLO_WAIT_S = 2,    /* ... of this many seconds each */
    STALL_SECONDS = 10,  /* timed phase: no progress this long means something was lost */
    PORT_WAIT_MS = 30000 /* the child's PORT line */
};

volatile pid_t bench_child_pid = -1;

/* Kills the second process and reaps it (idempotent; any thread). */
static void kill_child(void) {
    pid_t c = bench_child_pid;
    if (c > 0) {
        bench_child_pid = -1;
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
    }
}

/* This process's node, for the statistics printed on failure (and with AU_BENCH_STATS). */
static au_node *the_node;

static void print_stats(const char *who) {
    if (!the_node) return;
    au_node_stats st;
    au_node_stats_get(the_node, &st);
    fprintf(stderr,
            "aurum_bench: %s node: %llu messages / %llu datagrams / %llu bytes sent, "
            "%llu messages / %llu datagrams / %llu bytes received; drops: send failed %llu, "
            "malformed %llu, checksum %llu, duplicate %llu, unknown actor %llu, decode %llu, "
            "reassembly %llu\n",
            who, (unsigned long long)st.messages_sent_remote, (unsigned long long)st.datagrams_sent,
            (unsigned long long)st.bytes_sent, (unsigned long long)st.messages_received_remote,
            (unsigned long long)st.datagrams_received, (unsigned long long)st.bytes_received,
            (unsigned long long)st.drops_send_failed, (unsigned long long)st.drops_malformed,
            (unsigned long long)st.drops_checksum, (unsigned long long)st.drops_duplicate,
            (unsigned long long)st.drops_unknown_actor, (unsigned long long)st.drops_decode,
            (unsigned long long)st.drops_reassembly);
}

/* Every failure path of the parent: the child goes first, then bench_fail (exit status 1). */
#define remote_fail(...) (kill_child(), print_stats("this"), bench_fail(__VA_ARGS__))

static uint8_t payload_bytes[PAYLOAD_SIZE];

/* The 100-byte payload every data message and ping carries: a view of a static buffer (not
 * owned, so nothing is freed when the message is encoded). */
static au_bytes payload(void) {
    if (payload_bytes[0] != 'x') memset(payload_bytes, 'x', sizeof payload_bytes);
    return (au_bytes){ .ptr = payload_bytes, .len = PAYLOAD_SIZE, .owned = 0 };
}

/* ---------------------------------------------------------------------------- messages --- */

/* remote_pingpong */
AU_RECORD(rpp_echo, (uint64_t, seq), (au_bytes, payload));
AU_RECORD(rpp_ping, (uint64_t, seq), (au_bytes, payload), (rpp_echo_ref, from));
AU_RECORD(rpp_hello, (uint64_t, token), (uint64_t_ref, reply_to));
/* A session of n round trips; the ping reports n to `report`. */
AU_RECORD(rpp_go, (uint64_t, n), (uint64_t_ref, report));
/* A `cpu` request: reply the process's CPU time (bench_cpu_ns) to reply_to. */
AU_RECORD(cpu_req, (uint64_t_ref, reply_to));
AU_ROOT(rpong_msg,
        (hello, rpp_hello, AU_REMOTE),
        (ping, rpp_ping, AU_REMOTE),
        (cpu, cpu_req, AU_REMOTE));
AU_ROOT(rping_msg,
        (go, rpp_go, AU_PLAIN),
        (echo, rpp_echo, AU_REMOTE));

/* remote_throughput */
AU_RECORD(rtp_data, (uint64_t, seq), (au_bytes, payload));
AU_RECORD(rtp_result, (uint64_t, count), (uint64_t, bytes), (uint8_t, in_order));
AU_RECORD(rtp_fin, (rtp_result_ref, reply_to));
/* The handshake also tells the receiver where its acks go: the sender's ack interface. */
AU_RECORD(rtp_hello, (uint64_t, token), (uint64_t_ref, reply_to), (uint64_t_ref, ack_to));
/* A session of n messages; the sender forwards the receiver's result to `report`. */
AU_RECORD(rtp_go, (uint64_t, n), (rtp_result_ref, report));
AU_ROOT(rsink_msg,
        (hello, rtp_hello, AU_REMOTE),
        (data, rtp_data, AU_REMOTE),
        (fin, rtp_fin, AU_REMOTE),
        (cpu, cpu_req, AU_REMOTE));
AU_ROOT(rsource_msg,
        (go, rtp_go, AU_PLAIN),
        (ack, uint64_t, AU_REMOTE),
        (done, rtp_result, AU_REMOTE));

/* ------------------------------------------------------------------------- the child side --- */

/* The child's actor stops on the parent's Term; post_stop completes `done`, main then exits. */

typedef struct rpong_state {
    uint64_t_ref done;
} rpong_state;

static void rpong_recv(au_ctx *ctx, rpong_state *self, rpong_msg *msg) {
    switch (msg->tag) {
    case rpong_msg_hello:
        au_send(msg->hello.reply_to, msg->hello.token);
        break;
    case rpong_msg_ping: {
        /* echo sequence number and payload; the payload is moved into the reply */
        rpp_echo e = { .seq = msg->ping.seq, .payload = msg->ping.payload };
        msg->ping.payload = (au_bytes){ 0 };
        au_send(msg->ping.from, e);
        break;
    }
    case rpong_msg_cpu:
        au_send(msg->cpu.reply_to, bench_cpu_ns());
        break;
    }
}

static void rpong_post_stop(au_ctx *ctx, rpong_state *self) { au_send(self->done, (uint64_t)0); }

AU_ACTOR(rpong_actor, rpong_state, rpong_msg, .recv = rpong_recv, .post_stop = rpong_post_stop);

typedef struct rsink_state {
    uint64_t count, bytes;
    bool in_order;
    uint64_t_ref ack_to;
    uint64_t_ref done;
} rsink_state;

static void rsink_recv(au_ctx *ctx, rsink_state *self, rsink_msg *msg) {
    switch (msg->tag) {
    case rsink_msg_hello:
        self->ack_to = msg->hello.ack_to;
        au_send(msg->hello.reply_to, msg->hello.token);
        break;
    case rsink_msg_data:
        if (msg->data.seq != self->count) self->in_order = false;
        self->count += 1;
        self->bytes += msg->data.payload.len;
        if (self->count % ACK_EVERY == 0) au_send(self->ack_to, self->count);
        break;
    case rsink_msg_fin:
        au_send(msg->fin.reply_to, ((rtp_result){ .count = self->count, .bytes = self->bytes,
                                                  .in_order = self->in_order }));
        /* the next session counts from zero */
        self->count = self->bytes = 0;
        self->in_order = true;
        break;
    case rsink_msg_cpu:
        au_send(msg->cpu.reply_to, bench_cpu_ns());
        break;
    }
}

static void rsink_post_stop(au_ctx *ctx, rsink_state *self) { au_send(self->done, (uint64_t)0); }

AU_ACTOR(rsink_actor, rsink_state, rsink_msg, .recv = rsink_recv, .post_stop = rsink_post_stop);

/* A node on 127.0.0.1, OS-chosen port, workers = number of cores; no_spin as given. Not used
 * by the runner, for analysis only: AU_BENCH_DROP=<probability> makes the node drop that share
 * of its outgoing datagrams (to test the failure paths); AU_BENCH_WORKERS=<k> sets its worker
 * threads. */
/* The _sealed variants seal every datagram with this cluster key (both processes). */
static const uint8_t BENCH_SECRET[AU_KEY_SIZE] = "aurum-bench-cluster-secret-0123";

static au_node *remote_node_start(bool no_spin, bool sealed) {
    au_node *node = NULL;
    const char *workers = getenv("AU_BENCH_WORKERS");
    const char *drop = getenv("AU_BENCH_DROP");
    au_driver faulty = au_faults_driver(NULL); /* only with AU_BENCH_DROP */
    au_err err = au_node_start(&(au_node_config){ .bind = "127.0.0.1:0",
                                                  .workers = workers ? (unsigned)atoi(workers) : 0,
                                                  .no_spin = no_spin,
                                                  .secret = sealed ? BENCH_SECRET : NULL,
                                                  .driver = drop && *drop ? &faulty : NULL },
                               &node);
    if (err) remote_fail("au_node_start on 127.0.0.1:0: %s", au_strerror(err));
    if (drop && *drop) {
        double p = strtod(drop, NULL);
        fprintf(stderr, "aurum_bench: AU_BENCH_DROP: dropping %g of the outgoing datagrams\n", p);
        if ((err = au_faults_set(node, NULL, &(au_faults){ .drop = p })))
            remote_fail("au_faults_set: %s", au_strerror(err));
    }
    the_node = node;
    return node;
}

static void stop_node(au_node *node, const char *who) {
    if (getenv("AU_BENCH_STATS")) print_stats(who);
    the_node = NULL;
    au_node_stop(node);
}

/* The port part of "127.0.0.1:40123". */
static const char *port_of(const char *addr) {
    const char *colon = strrchr(addr, ':');
    return colon ? colon + 1 : "";
}

int bench_remote_child(const char *role) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) return 1; /* the parent is already gone */
    bool no_spin = strcmp(role, "remote_pingpong_nospin") == 0;
    bool sealed = strstr(role, "_sealed") != NULL;
    bool pingpong = no_spin || strncmp(role, "remote_pingpong", 15) == 0;
    if (!pingpong && strncmp(role, "remote_throughput", 17) != 0)
        bench_fail("unknown child role %s", role);
    au_node *node = remote_node_start(no_spin, sealed);
    uint64_t_promise done = au_promise_new(node, uint64_t);
    if (!done.raw) bench_fail("au_promise_new: %s", au_strerror(au_last_error()));
    au_ref actor;
    if (pingpong)
        actor = au_spawn(node, rpong_actor, "pong",
                         &(rpong_state){ .done = au_promise_ref(done, uint64_t) }).raw;
    else
        actor = au_spawn(node, rsink_actor, "sink",
                         &(rsink_state){ .in_order = true, .done = au_promise_ref(done, uint64_t) }).raw;
    if (au_ref_is_null(actor)) bench_fail("spawning the %s: %s", pingpong ? "pong" : "receiver",
                                          au_strerror(au_last_error()));
    printf("PORT %s\n", port_of(au_node_address(node)));
    fflush(stdout);
    /* Until the parent's Term (the parent kills us if that is lost; BENCH_TIMEOUT and
     * PR_SET_PDEATHSIG bound this wait). */
    uint64_t unused;
    au_err err = au_promise_wait(done, uint64_t, &unused, 0);
    stop_node(node, "child");
    if (err) bench_fail("waiting for the stop: %s", au_strerror(err));
    return 0;
}

/* ------------------------------------------------------------------------ the parent side --- */

/* fork/execs this binary as `aurum_bench --child <role>` and returns the address it bound. */
static void start_child(const char *role, char *addr, size_t addr_size) {
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) bench_fail("cannot resolve /proc/self/exe");
    exe[len] = '\0';
    int fds[2];
    if (pipe(fds) != 0) bench_fail("pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) bench_fail("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(exe, "aurum_bench", "--child", role, (char *)NULL);
        _exit(127);
    }
    bench_child_pid = pid;
    close(fds[1]);
    char line[64];
    size_t n = 0;
    for (;;) {
        struct pollfd p = { .fd = fds[0], .events = POLLIN };
        int r = poll(&p, 1, PORT_WAIT_MS);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) remote_fail("the child did not report its port within 30 s");
        char c;
        ssize_t k = read(fds[0], &c, 1);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) remote_fail("the child exited before reporting its port");
        if (c == '\n') break;
        if (n + 1 < sizeof line) line[n++] = c;
    }
    line[n] = '\0';
    close(fds[0]);
    unsigned port = 0;
    if (sscanf(line, "PORT %u", &port) != 1 || port == 0 || port > 65535)
        remote_fail("bad port line from the child: %s", line);
    snprintf(addr, addr_size, "127.0.0.1:%u", port);
}

/* After a clean run: the child was told to stop; give it 10 s, then kill it. */
static void stop_child(void) {
    pid_t c = bench_child_pid;
    if (c <= 0) return;
    for (int i = 0; i < 100; i++) {
        int st = 0;
        pid_t r = waitpid(c, &st, WNOHANG);
        if (r == c) {
            bench_child_pid = -1;
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                bench_fail("the child exited abnormally (status %d)", st);
            return;
        }
        usleep(100000);
    }
    fprintf(stderr, "aurum_bench: the child did not exit, killing it\n");
    kill_child();
}

/* One request to the child's actor and its answer: `send` sends the request carrying the given
 * token and promise reference; retried with a short limit each (a request is a datagram like
 * any other). With `echo`, the answer must be the token (the hello); otherwise any answer is
 * returned (the child's CPU time). */
typedef void (*request_fn)(void *arg, uint64_t token, uint64_t_ref reply_to);

static uint64_t ask(au_node *node, request_fn send, void *arg, bool echo, const char *what) {
    for (uint64_t token = 1; token <= HELLO_TRIES; token++) {
        uint64_t_promise p = au_promise_new(node, uint64_t);
        if (!p.raw) remote_fail("au_promise_new: %s", au_strerror(au_last_error()));
        send(arg, token, au_promise_ref(p, uint64_t));
        uint64_t got = 0;
        au_err err = au_promise_wait(p, uint64_t, &got, AU_SEC(HELLO_WAIT_S));
        if (!err && (!echo || got == token)) return got;
        fprintf(stderr, "aurum_bench: %s %llu: %s\n", what, (unsigned long long)token,
                err ? au_strerror(err) : "wrong token");
    }
    remote_fail("no answer to %d %s requests of %d s each", HELLO_TRIES, what, HELLO_WAIT_S);
}

/* The untimed handshake. */
static void handshake(au_node *node, request_fn send, void *arg) {
    (void)ask(node, send, arg, true, "hello");
}

/* The `cpu` request: the reference is the child actor's `cpu` interface. */
static void cpu_request(void *arg, uint64_t token, uint64_t_ref reply_to) {
    (void)token;
    cpu_req_ref *cpu = arg;
    au_send(*cpu, ((cpu_req){ .reply_to = reply_to }));
}

/* The child's CPU time, in nanoseconds. */
static uint64_t child_cpu_ns(au_node *node, cpu_req_ref cpu) {
    return ask(node, cpu_request, &cpu, false, "cpu");
}

/* The stall watchdog of the timed phase. */
static struct {
    _Atomic uint64_t progress; /* round trips and acks so far, over all sessions */
    atomic_bool finished;
    const char *what;
    pthread_t thread;
} watch;

static void *watchdog_main(void *arg) {
    (void)arg;
    uint64_t last = atomic_load_explicit(&watch.progress, memory_order_relaxed);
    uint64_t since = bench_now_ns();
    while (!atomic_load_explicit(&watch.finished, memory_order_acquire)) {
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        uint64_t p = atomic_load_explicit(&watch.progress, memory_order_relaxed);
        uint64_t now = bench_now_ns();
        if (p != last) {
            last = p;
            since = now;
        } else if (now - since > (uint64_t)STALL_SECONDS * 1000000000u &&
                   !atomic_load_explicit(&watch.finished, memory_order_acquire)) {
            remote_fail("%s: no progress for %d s at %llu (a datagram was lost?)", watch.what,
                        STALL_SECONDS, (unsigned long long)p);
        }
    }
    return NULL;
}

static void watchdog_start(const char *what) {
    watch.what = what;
    atomic_store(&watch.progress, 0);
    atomic_store(&watch.finished, false);
    if (pthread_create(&watch.thread, NULL, watchdog_main, NULL) != 0)
        remote_fail("cannot start the watchdog thread");
}

static void watchdog_stop(void) {
    atomic_store_explicit(&watch.finished, true, memory_order_release);
    pthread_join(watch.thread, NULL);
}

static void progress(void) { atomic_fetch_add_explicit(&watch.progress, 1, memory_order_relaxed); }

#define CHECK_REF(r, what)                                                                    \
    do {                                                                                      \
        if (au_ref_is_null((r).raw))                                                          \
            remote_fail("%s: %s", (what), au_strerror(au_last_error()));                      \
    } while (0)

/* ------------------------------------------------------------------------ remote_pingpong --- */

/* Runs sessions: `go(n, report)` starts n round trips counted from zero; after the n-th the ping
 * reports n and waits for the next `go`. */
typedef struct rping_state {
    uint64_t n, got;
    rpp_ping_ref pong;
    rpp_echo_ref me; /* our reply interface, put into every ping */
    uint64_t_ref report;
} rping_state;

static void rping_pre_start(au_ctx *ctx, rping_state *self) {
    self->me = au_narrow(rping_msg, rpp_echo, au_self(ctx, rping_msg));
}

static void rping_send(rping_state *self) {
    au_send(self->pong, ((rpp_ping){ .seq = self->got, .payload = payload(), .from = self->me }));
}

static void rping_recv(au_ctx *ctx, rping_state *self, rping_msg *msg) {
    switch (msg->tag) {
    case rping_msg_go:
        self->n = msg->go.n;
        self->got = 0;
        self->report = msg->go.report;
        rping_send(self);
        break;
    case rping_msg_echo:
        if (msg->echo.seq != self->got || msg->echo.payload.len != PAYLOAD_SIZE)
            remote_fail("remote_pingpong: bad reply (seq %llu, expected %llu, %u bytes)",
                        (unsigned long long)msg->echo.seq, (unsigned long long)self->got,
                        (unsigned)msg->echo.payload.len);
        progress();
        if (++self->got == self->n) {
            au_send(self->report, self->got);
            return;
        }
        rping_send(self);
        break;
    }
}

AU_ACTOR(rping_actor, rping_state, rping_msg, .pre_start = rping_pre_start, .recv = rping_recv);

static void pp_hello(void *arg, uint64_t token, uint64_t_ref reply_to) {
    rpp_hello_ref *hello = arg;
    au_send(*hello, ((rpp_hello){ .token = token, .reply_to = reply_to }));
}

/* One session of n round trips; returns when the ping has reported (bounded by the watchdog). */
static void pp_session(au_node *node, rping_msg_ref ping, uint64_t n) {
    uint64_t_promise p = au_promise_new(node, uint64_t);
    if (!p.raw) remote_fail("au_promise_new: %s", au_strerror(au_last_error()));
    au_send(ping, ((rping_msg){ .tag = rping_msg_go,
                                .go = { .n = n, .report = au_promise_ref(p, uint64_t) } }));
    uint64_t got = 0;
    au_err err = au_promise_wait(p, uint64_t, &got, 0);
    if (err) remote_fail("remote_pingpong: waiting for the result: %s", au_strerror(err));
    if (got != n) remote_fail("remote_pingpong: wrong round-trip count %llu", (unsigned long long)got);
}

static int remote_pingpong(const char *name, bool no_spin, uint64_t n) {
    char addr[64];
    start_child(name, addr, sizeof addr);
    au_node *node = remote_node_start(no_spin, strstr(name, "_sealed") != NULL);
    rpp_ping_ref pong = au_forge(rpong_msg, rpp_ping, node, "pong", addr);
    rpp_hello_ref hello = au_forge(rpong_msg, rpp_hello, node, "pong", addr);
    cpu_req_ref cpu = au_forge(rpong_msg, cpu_req, node, "pong", addr);
    rpong_msg_ref pong_root = au_forge(rpong_msg, rpong_msg, node, "pong", addr);
    CHECK_REF(pong, "forging pong");
    CHECK_REF(hello, "forging pong");
    CHECK_REF(cpu, "forging pong");
    CHECK_REF(pong_root, "forging pong");
    handshake(node, pp_hello, &hello);

    rping_msg_ref ping = au_spawn(node, rping_actor, NULL, &(rping_state){ .pong = pong });
    CHECK_REF(ping, "spawning ping");
    watchdog_start(name);
    pp_session(node, ping, WARMUP_ROUND_TRIPS);
    uint64_t child0 = child_cpu_ns(node, cpu);
    uint64_t self0 = bench_cpu_ns();
    uint64_t t0 = bench_now_ns();
    pp_session(node, ping, n);
    uint64_t t1 = bench_now_ns();
    uint64_t self1 = bench_cpu_ns();
    uint64_t child1 = child_cpu_ns(node, cpu);
    watchdog_stop();
    bench_window(t0, t1);
    au_stop(pong_root);
    stop_child();
    stop_node(node, "parent");
    char cpu_name[64];
    snprintf(cpu_name, sizeof cpu_name, "%s_cpu", name);
    bench_result(name, (double)(t1 - t0) / 1e3 / (double)n, "us/rt");
    bench_result(cpu_name, (double)((self1 - self0) + (child1 - child0)) / 1e3 / (double)n,
                 "cpu-us/rt");
    return 0;
}

int bench_remote_pingpong(uint64_t n) { return remote_pingpong("remote_pingpong", false, n); }

int bench_remote_pingpong_nospin(uint64_t n) {
    return remote_pingpong("remote_pingpong_nospin", true, n);
}

int bench_remote_pingpong_sealed(uint64_t n) {
    return remote_pingpong("remote_pingpong_sealed", false, n);
}

/* ---------------------------------------------------------------------- remote_throughput --- */

/* Runs sessions: `go(n, report)` starts n messages counted from zero under the window; the
 * receiver's fin reply goes to `report`. Acks of a session all arrive before its fin reply
 * (one sender, one receiver: in order), so none is left over for the next session. */
typedef struct rsource_state {
    uint64_t n, sent, acked;
    bool fin_sent;
    rtp_data_ref data;
    rtp_fin_ref fin;
    rtp_result_ref me; /* where the receiver's fin reply goes */
    rtp_result_ref report;
} rsource_state;

static void rsource_pre_start(au_ctx *ctx, rsource_state *self) {
    self->me = au_narrow(rsource_msg, rtp_result, au_self(ctx, rsource_msg));
}

/* Sends while sent < n and fewer than WINDOW are un-acked; after the last one, the fin. */
static void pump(rsource_state *self) {
    while (self->sent < self->n && self->sent - self->acked < WINDOW) {
        au_send(self->data, ((rtp_data){ .seq = self->sent, .payload = payload() }));
        self->sent++;
    }
    if (self->sent == self->n && !self->fin_sent) {
        self->fin_sent = true;
        au_send(self->fin, ((rtp_fin){ .reply_to = self->me }));
    }
}

static void rsource_recv(au_ctx *ctx, rsource_state *self, rsource_msg *msg) {
    switch (msg->tag) {
    case rsource_msg_go:
        self->n = msg->go.n;
        self->sent = self->acked = 0;
        self->fin_sent = false;
        self->report = msg->go.report;
        pump(self);
        break;
    case rsource_msg_ack:
        if (msg->ack > self->acked) {
            self->acked = msg->ack;
            progress();
        }
        pump(self);
        break;
    case rsource_msg_done:
        au_send(self->report, msg->done);
        break;
    }
}

AU_ACTOR(rsource_actor, rsource_state, rsource_msg, .pre_start = rsource_pre_start,
         .recv = rsource_recv);

typedef struct tp_hello_arg {
    rtp_hello_ref hello;
    uint64_t_ref ack_to;
} tp_hello_arg;

static void tp_hello(void *arg, uint64_t token, uint64_t_ref reply_to) {
    tp_hello_arg *a = arg;
    au_send(a->hello, ((rtp_hello){ .token = token, .reply_to = reply_to, .ack_to = a->ack_to }));
}

/* One session of n messages; checks the receiver's confirmation (bounded by the watchdog). */
static void tp_session(au_node *node, rsource_msg_ref source, uint64_t n) {
    rtp_result_promise p = au_promise_new(node, rtp_result);
    if (!p.raw) remote_fail("au_promise_new: %s", au_strerror(au_last_error()));
    au_send(source, ((rsource_msg){ .tag = rsource_msg_go,
                                    .go = { .n = n, .report = au_promise_ref(p, rtp_result) } }));
    rtp_result result = { 0 };
    au_err err = au_promise_wait(p, rtp_result, &result, 0);
    if (err) remote_fail("remote_throughput: waiting for the result: %s", au_strerror(err));
    if (result.count != n || result.bytes != n * PAYLOAD_SIZE || !result.in_order)
        remote_fail("remote_throughput: the receiver confirmed count %llu (of %llu), bytes %llu, %s",
                    (unsigned long long)result.count, (unsigned long long)n,
                    (unsigned long long)result.bytes, result.in_order ? "in order" : "NOT in order");
}

static int remote_throughput(const char *name, uint64_t n) {
    char addr[64];
    start_child(name, addr, sizeof addr);
    au_node *node = remote_node_start(false, strstr(name, "_sealed") != NULL);
    rtp_data_ref data = au_forge(rsink_msg, rtp_data, node, "sink", addr);
    rtp_fin_ref fin = au_forge(rsink_msg, rtp_fin, node, "sink", addr);
    rtp_hello_ref hello = au_forge(rsink_msg, rtp_hello, node, "sink", addr);
    cpu_req_ref cpu = au_forge(rsink_msg, cpu_req, node, "sink", addr);
    rsink_msg_ref sink_root = au_forge(rsink_msg, rsink_msg, node, "sink", addr);
    CHECK_REF(data, "forging the receiver");
    CHECK_REF(fin, "forging the receiver");
    CHECK_REF(hello, "forging the receiver");
    CHECK_REF(cpu, "forging the receiver");
    CHECK_REF(sink_root, "forging the receiver");

    rsource_msg_ref source = au_spawn(node, rsource_actor, NULL,
                                      &(rsource_state){ .data = data, .fin = fin });
    CHECK_REF(source, "spawning the sender");
    /* The hello tells the receiver where acks go; the sender is idle until `go`. */
    handshake(node, tp_hello,
              &(tp_hello_arg){ .hello = hello,
                               .ack_to = au_narrow(rsource_msg, uint64_t, source) });
    watchdog_start(name);
    tp_session(node, source, WARMUP_MESSAGES);
    uint64_t child0 = child_cpu_ns(node, cpu);
    uint64_t self0 = bench_cpu_ns();
    uint64_t t0 = bench_now_ns();
    tp_session(node, source, n);
    uint64_t t1 = bench_now_ns();
    uint64_t self1 = bench_cpu_ns();
    uint64_t child1 = child_cpu_ns(node, cpu);
    watchdog_stop();
    bench_window(t0, t1);
    au_stop(sink_root);
    stop_child();
    stop_node(node, "parent");
    char cpu_name[64];
    snprintf(cpu_name, sizeof cpu_name, "%s_cpu", name);
    bench_result(name, (double)n / ((double)(t1 - t0) / 1e9), "msg/s");
    bench_result(cpu_name, (double)((self1 - self0) + (child1 - child0)) / 1e3 / (double)n,
                 "cpu-us/msg");
    return 0;
}

int bench_remote_throughput(uint64_t n) { return remote_throughput("remote_throughput", n); }

int bench_remote_throughput_sealed(uint64_t n) {
    return remote_throughput("remote_throughput_sealed", n);
}
