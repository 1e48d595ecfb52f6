/* device_capacity.c — how many devices one server node tracks on real UDP (docs/benchmarks.md,
 * "Devices"): one node (cluster of one, device server with its defaults) on 127.0.0.1, and N real
 * device clients (src/devices/client on the POSIX adapter, one UDP socket each, interval 1 s) in
 * child processes of up to 10,000 devices each. Once every device is
 * up, the server process's CPU time (getrusage: the children are not counted), its resident
 * memory over the node's before the devices, the heartbeats it counted and its down events are
 * measured for a window of W seconds.
 * Usage: device_capacity [N (100000)] [W (20)]. Public API only. */
#define _GNU_SOURCE
#include <aurum/aurum.h>
#include <aurum/cluster.h>
#include <aurum/device_client.h>
#include <aurum/device_client_posix.h>
#include <aurum/device_server.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { PER_CHILD = 10000, BUF = 256 };

typedef struct device {
    au_dc dc;
    au_dc_config cfg;
    au_dc_posix io;
    au_dc_addr seed;
    uint8_t rx[BUF], tx[BUF];
} device;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)r.ru_utime.tv_sec + (double)r.ru_utime.tv_usec / 1e6 + (double)r.ru_stime.tv_sec +
           (double)r.ru_stime.tv_usec / 1e6;
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

/* A child: n devices with ids base+1 .. base+n, each on its own socket, until killed. */
static void run_devices(uint64_t base, int n, uint16_t port) {
    device *d = calloc((size_t)n, sizeof *d);
    int ep = epoll_create1(0);
    if (!d || ep < 0) _exit(1);
    for (int i = 0; i < n; i++) {
        if (au_dc_posix_open(&d[i].io, "127.0.0.1", 0) != 0) {
            fprintf(stderr, "device_capacity: socket %d: out of descriptors?\n", i);
            _exit(1);
        }
        int sz = 65536;
        setsockopt(d[i].io.fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
        au_dc_posix_addr(&d[i].seed, "127.0.0.1", port);
        d[i].cfg = (au_dc_config){ .device = base + (uint64_t)i + 1,
                                   .incarnation = au_dc_posix_incarnation(), .interval_ms = 1000,
                                   .nseeds = 1, .seeds = &d[i].seed, .rx_buf = d[i].rx,
                                   .rx_cap = BUF, .tx_buf = d[i].tx, .tx_cap = BUF,
                                   .platform = au_dc_posix_platform(&d[i].io) };
        d[i].cfg.platform.recv = NULL; /* datagrams are pushed with au_dc_input */
        if (au_dc_init(&d[i].dc, &d[i].cfg) != AU_DC_OK) _exit(1);
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, d[i].io.fd, &ev);
    }
    /* Start spread over one interval, so the server is not met with n announces at once. */
    double start = now_s(), last_tick = 0;
    int started = 0;
    struct epoll_event evs[256];
    uint8_t buf[BUF];
    for (;;) {
        double t = now_s();
        int due = (int)((t - start) * n);
        for (; started < n && started <= due; started++) au_dc_tick(&d[started].dc);
        if (t - last_tick >= 0.05) { /* owner loss, re-announcements */
            for (int i = 0; i < started; i++) au_dc_tick(&d[i].dc);
            last_tick = t;
        }
        int k = epoll_wait(ep, evs, 256, 10);
        for (int e = 0; e < k; e++) {
            device *x = &d[evs[e].data.u32];
            for (;;) {
                struct sockaddr_storage from;
                socklen_t fl = sizeof from;
                ssize_t len = recvfrom(x->io.fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
                if (len <= 0) break;
                au_dc_input(&x->dc, &x->seed, buf, (size_t)len); /* only the server sends here */
            }
        }
    }
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    int window = argc > 2 ? atoi(argv[2]) : 20;
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    au_node *node;
    if (au_node_start(&(au_node_config){ .workers = 2, .max_peers = (size_t)n * 2 + 1024,
                                         .max_remote_refs = (size_t)n * 2 + 1024 }, &node)) return 1;
    au_cluster *c;
    au_device_server *ds;
    if (au_cluster_start(node, NULL, &c) || au_device_server_start(node, c, NULL, &ds)) return 1;
    const char *addr = au_node_address(node);
    uint16_t port = (uint16_t)atoi(strrchr(addr, ':') + 1);
    sleep(1);
    long rss0 = rss_kib();
    int children = (n + PER_CHILD - 1) / PER_CHILD;
    pid_t pids[64];
    for (int k = 0; k < children && k < 64; k++) {
        int m = n - k * PER_CHILD < PER_CHILD ? n - k * PER_CHILD : PER_CHILD;
        pids[k] = fork();
        if (pids[k] == 0) run_devices((uint64_t)k * 1000000u, m, port);
    }
    double t0 = now_s();
    au_device_server_stats st;
    for (;;) {
        sleep(1);
        au_device_server_stats_get(ds, &st);
        if (st.owned >= (uint64_t)n && st.ups >= (uint64_t)n) break;
        if (now_s() - t0 > 180) {
            fprintf(stderr, "device_capacity: only %llu of %d devices up after 180 s\n",
                    (unsigned long long)st.ups, n);
            break;
        }
    }
    double registered = now_s() - t0;
    sleep(2);
    au_device_server_stats a, b;
    au_node_stats na, nb;
    au_device_server_stats_get(ds, &a);
    au_node_stats_get(node, &na);
    double c0 = cpu_s(), w0 = now_s();
    sleep((unsigned)window);
    double c1 = cpu_s(), w1 = now_s();
    au_device_server_stats_get(ds, &b);
    au_node_stats_get(node, &nb);
    long rss1 = rss_kib();
    double cpu = (c1 - c0) / (w1 - w0);
    printf("device capacity: %d devices at 1 s (owned %llu, up events %llu), registered in %.0f s\n", n,
           (unsigned long long)b.owned, (unsigned long long)b.ups, registered);
    printf("  over %.0f s: heartbeats %.0f/s (%.3f per device per s), requests %.0f/s, downs %llu, "
           "datagrams in %.0f/s out %.0f/s, socket send failures %llu\n",
           w1 - w0, (double)(b.heartbeats - a.heartbeats) / (w1 - w0),
           (double)(b.heartbeats - a.heartbeats) / (w1 - w0) / n,
           (double)(b.requests_sent - a.requests_sent) / (w1 - w0),
           (unsigned long long)(b.downs - a.downs),
           (double)(nb.datagrams_received - na.datagrams_received) / (w1 - w0),
           (double)(nb.datagrams_sent - na.datagrams_sent) / (w1 - w0),
           (unsigned long long)(nb.drops_send_failed - na.drops_send_failed));
    printf("  server CPU %.1f %% of one core (%.2f us per device per second); memory %.1f MiB over "
           "the idle node (%.0f bytes per device)\n",
           cpu * 100, cpu * 1e6 / n, (double)(rss1 - rss0) / 1024, (double)(rss1 - rss0) * 1024 / n);
    for (int k = 0; k < children && k < 64; k++) kill(pids[k], SIGKILL);
    for (int k = 0; k < children && k < 64; k++) waitpid(pids[k], NULL, 0);
    au_node_stop(node);
    return 0;
}
