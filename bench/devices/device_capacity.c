/* device_capacity.c — how many devices one server node tracks on real UDP (docs/benchmarks.md,
 * "Devices"): one node (cluster of one, device server with its defaults) on 127.0.0.1 in this
 * process, and N real device clients (src/devices/client, interval 1 s) in one child process.
 *
 * The devices share a few sockets, not one each (the container allows about 29,500 descriptors):
 * every device still has an address of its own, 127.a.b.c on the port of its socket, as a real
 * device has. The sockets are bound to the wildcard address with IP_PKTINFO, so a datagram the
 * server sends to any 127/8 address on that port arrives there with the address it was sent to
 * (the device it is for), and each device's answer leaves with its own address as the source
 * (ipi_spec_dst). So the server sees exactly what N separate devices would show it: one peer
 * address, one datagram per request, nothing coalesced across devices. Datagrams from outside
 * 127/8 are dropped. Each device is a real au_dc: its datagrams are the client's own bytes;
 * only the platform is shared (sends batched with sendmmsg, receives with recvmmsg, the clock
 * read once per loop) and au_dc_tick runs when the time it returned has come. Devices start at
 * RAMP per second, as a fleet comes up.
 *
 * Once every device is up, the server process's CPU time (getrusage: the child is not counted),
 * its resident memory over the node's before the devices, the heartbeats it counted and its down
 * events are measured for a window of W seconds; then the child reports its devices' counters
 * and the parent the child's CPU time.
 * Usage: device_capacity [N (100000)] [W (20)] [S sockets (4)]; NO_SPIN=1 in the environment
 * runs the node with no_spin, SHARDS=k the device server with k shards, LEASE=k with leases of k
 * heartbeats per request. Public API only. */
#define _GNU_SOURCE
#include <aurum/aurum.h>
#include <aurum/cluster.h>
#include <aurum/device_client.h>
#include <aurum/device_client_posix.h>
#include <aurum/device_server.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { RAMP = 5000, BUF = 256, BATCH = 64, MAX_SOCKS = 64, PER_OCTET = 254 };

typedef struct device {
    au_dc dc;
    au_dc_config cfg;
    int sock;
    struct in_addr self;
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

/* Seconds this process's threads spent runnable but waiting for a core (/proc schedstat): on a
 * shared machine, the time the server wanted the CPU and did not get it. */
static double wait_s(void) {
    DIR *dir = opendir("/proc/self/task");
    double sum = 0;
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        if (e->d_name[0] == '.') continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
        FILE *f = fopen(path, "r");
        unsigned long long run = 0, wait = 0;
        if (f && fscanf(f, "%llu %llu", &run, &wait) == 2) sum += (double)wait / 1e9;
        if (f) fclose(f);
    }
    if (dir) closedir(dir);
    return sum;
}

/* CPU seconds (user + system) of process pid so far, from /proc/<pid>/stat; -1 if unreadable. */
static double proc_cpu_s(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* after the command name, which may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
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

/* The generator's shared platform. */
static struct {
    int fd[MAX_SOCKS];
    int nsock;
    uint32_t now_ms;
    struct sockaddr_in server;
    /* the pending sends, one sendmmsg per socket at each flush */
    struct mmsghdr msg[MAX_SOCKS][BATCH];
    struct iovec iov[MAX_SOCKS][BATCH];
    uint8_t data[MAX_SOCKS][BATCH][BUF];
    union {
        char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
        struct cmsghdr align;
    } ctl[MAX_SOCKS][BATCH];
    int pending[MAX_SOCKS];
    uint64_t send_errors, foreign, unknown;
    /* next_ms[i]: when device i's au_dc_tick must run next. Apart from the devices (about 900
     * bytes each) so that the sweep every 10 ms reads 4 bytes per device, not a cache line. */
    uint32_t *next_ms;
} G;

static volatile sig_atomic_t g_stop;
static void on_term(int s) { (void)s; g_stop = 1; }

/* Device i's own address: 127.a.b.c with a, b, c in 1..254 (no .0 or .255 anywhere). */
static struct in_addr device_addr(uint32_t i) {
    uint32_t a = 1 + i / (PER_OCTET * PER_OCTET), b = 1 + (i / PER_OCTET) % PER_OCTET, c = 1 + i % PER_OCTET;
    return (struct in_addr){ htonl(127u << 24 | a << 16 | b << 8 | c) };
}
/* The inverse, or UINT32_MAX for an address no device has. */
static uint32_t device_index(struct in_addr in) {
    uint32_t h = ntohl(in.s_addr), a = h >> 16 & 255, b = h >> 8 & 255, c = h & 255;
    if (h >> 24 != 127 || !a || !b || !c || a > PER_OCTET || b > PER_OCTET || c > PER_OCTET) return UINT32_MAX;
    return (a - 1) * PER_OCTET * PER_OCTET + (b - 1) * PER_OCTET + (c - 1);
}

static uint32_t mono_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint32_t)((uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u);
}

static void flush(int s) {
    int off = 0;
    while (off < G.pending[s]) {
        int k = sendmmsg(G.fd[s], &G.msg[s][off], (unsigned)(G.pending[s] - off), 0);
        if (k <= 0) { /* counted, like a device whose send fails */
            G.send_errors += (uint64_t)(G.pending[s] - off);
            break;
        }
        off += k;
    }
    G.pending[s] = 0;
}

/* platform.send: queue the datagram on the device's socket, from the device's address. */
static int gen_send(void *ctx, const au_dc_addr *to, const uint8_t *data, size_t len) {
    device *d = ctx;
    (void)to; /* the one seed: the server */
    int s = d->sock;
    if (len > BUF) return -1;
    if (G.pending[s] == BATCH) flush(s);
    int k = G.pending[s]++;
    memcpy(G.data[s][k], data, len);
    G.iov[s][k] = (struct iovec){ G.data[s][k], len };
    struct msghdr *h = &G.msg[s][k].msg_hdr;
    *h = (struct msghdr){ .msg_name = &G.server, .msg_namelen = sizeof G.server, .msg_iov = &G.iov[s][k],
                          .msg_iovlen = 1, .msg_control = G.ctl[s][k].buf, .msg_controllen = sizeof G.ctl[s][k].buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(h);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    struct in_pktinfo pi = { .ipi_spec_dst = d->self };
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
    return 0;
}

static uint32_t gen_now(void *ctx) { (void)ctx; return G.now_ms; }

static void gen_report(const device *d, int n) {
    uint64_t acc = 0, hb = 0, ann = 0, mal = 0, integ = 0, rep = 0, nm = 0, lost = 0, up = 0;
    for (int i = 0; i < n; i++) {
        const au_dc_stats *s = &d[i].dc.stats;
        acc += s->accepted, hb += s->heartbeats, ann += s->announces, mal += s->drop_malformed;
        integ += s->drop_integrity, rep += s->drop_replayed, nm += s->drop_not_mine;
        lost += s->owner_lost, up += d[i].dc.servers[0].id != 0;
    }
    printf("  devices (generator): %llu with an owner at the end; heartbeats sent %llu, announces %llu, "
           "owner lost %llu; dropped: malformed %llu, integrity %llu, replayed %llu, not mine %llu; "
           "generator send errors %llu, foreign datagrams %llu, to no device %llu\n",
           (unsigned long long)up, (unsigned long long)hb, (unsigned long long)ann,
           (unsigned long long)lost, (unsigned long long)mal, (unsigned long long)integ,
           (unsigned long long)rep, (unsigned long long)nm, (unsigned long long)G.send_errors,
           (unsigned long long)G.foreign, (unsigned long long)G.unknown);
    (void)acc;
    fflush(stdout);
}

/* The child: n devices with ids 1 .. n on nsock shared sockets, until SIGTERM. */
static void run_devices(int n, int nsock, uint16_t port) {
    signal(SIGTERM, on_term);
    device *d = calloc((size_t)n, sizeof *d);
    G.next_ms = calloc((size_t)n, sizeof *G.next_ms);
    int ep = epoll_create1(0);
    if (!d || !G.next_ms || ep < 0) _exit(1);
    G.nsock = nsock;
    G.server = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port),
                                     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    for (int s = 0; s < nsock; s++) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0), on = 1, sz = 8 << 20;
        struct sockaddr_in any = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
        /* DF set (as a device that does path MTU discovery would): the kernel then skips
         * choosing an IP id per datagram (__ip_select_ident, a hash and an atomic on a table
         * indexed by destination: 4 % of the generator's samples). Loopback's MTU is 64 KiB. */
        int pmtu = IP_PMTUDISC_DO;
        if (fd < 0 || setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) != 0 ||
            setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu) != 0 ||
            bind(fd, (struct sockaddr *)&any, sizeof any) != 0) _exit(1);
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) != 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) != 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        G.fd[s] = fd;
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)s };
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    static au_dc_addr seed; /* the server, in the POSIX adapter's encoding */
    au_dc_posix_addr(&seed, "127.0.0.1", port);
    G.now_ms = mono_ms();
    for (int i = 0; i < n; i++) {
        d[i].sock = i % nsock;
        d[i].self = device_addr((uint32_t)i);
        d[i].cfg = (au_dc_config){ .device = (uint64_t)i + 1, .incarnation = au_dc_posix_incarnation(),
                                   .interval_ms = 1000, .nseeds = 1, .seeds = &seed, .rx_buf = d[i].rx,
                                   .rx_cap = BUF, .tx_buf = d[i].tx, .tx_cap = BUF,
                                   .platform = { .send = gen_send, .now_ms = gen_now, .ctx = &d[i] } };
        if (au_dc_init(&d[i].dc, &d[i].cfg) != AU_DC_OK) _exit(1);
        /* Starts spread at RAMP devices per second (at least over one interval), as a fleet
         * comes up, so the server is not met with n announces at once. */
        uint64_t span = (uint64_t)n * 1000u / RAMP > 1000 ? (uint64_t)n * 1000u / RAMP : 1000;
        G.next_ms[i] = G.now_ms + (uint32_t)((uint64_t)i * span / (uint64_t)n);
    }
    struct mmsghdr rm[BATCH];
    struct iovec riov[BATCH];
    struct sockaddr_in rfrom[BATCH];
    static uint8_t rbuf[BATCH][BUF];
    union {
        char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
        struct cmsghdr align;
    } rctl[BATCH];
    struct epoll_event evs[MAX_SOCKS];
    uint32_t last_sweep = G.now_ms - 1000;
    while (!g_stop) {
        G.now_ms = mono_ms();
        if ((int32_t)(G.now_ms - last_sweep) >= 10) { /* the ticks that are due */
            last_sweep = G.now_ms;
            for (int i = 0; i < n; i++)
                if ((int32_t)(G.now_ms - G.next_ms[i]) >= 0) G.next_ms[i] = G.now_ms + au_dc_tick(&d[i].dc);
        }
        for (int s = 0; s < nsock; s++) flush(s);
        int k = epoll_wait(ep, evs, MAX_SOCKS, 5);
        for (int e = 0; e < k; e++) {
            int s = (int)evs[e].data.u32;
            for (;;) {
                for (int j = 0; j < BATCH; j++) {
                    riov[j] = (struct iovec){ rbuf[j], BUF };
                    rm[j].msg_hdr = (struct msghdr){ .msg_name = &rfrom[j], .msg_namelen = sizeof rfrom[j],
                                                     .msg_iov = &riov[j], .msg_iovlen = 1,
                                                     .msg_control = rctl[j].buf, .msg_controllen = sizeof rctl[j].buf };
                }
                int got = recvmmsg(G.fd[s], rm, BATCH, MSG_DONTWAIT, NULL);
                if (got <= 0) break;
                G.now_ms = mono_ms();
                for (int j = 0; j < got; j++) {
                    struct msghdr *h = &rm[j].msg_hdr;
                    uint32_t i = UINT32_MAX;
                    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
                        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                            struct in_pktinfo pi;
                            memcpy(&pi, CMSG_DATA(c), sizeof pi);
                            i = device_index(pi.ipi_addr);
                        }
                    if ((ntohl(rfrom[j].sin_addr.s_addr) >> 24) != 127) {
                        G.foreign++;
                        continue;
                    }
                    if (i >= (uint32_t)n || d[i].sock != s) {
                        G.unknown++;
                        continue;
                    }
                    au_dc_addr from;
                    from.len = 7;
                    from.bytes[0] = 4;
                    memcpy(from.bytes + 1, &rfrom[j].sin_port, 2);
                    memcpy(from.bytes + 3, &rfrom[j].sin_addr, 4);
                    au_dc_input(&d[i].dc, &from, rbuf[j], rm[j].msg_len); /* answers via gen_send */
                    G.next_ms[i] = G.now_ms; /* its deadline moved: look again at the next sweep */
                }
                if (got < BATCH) break;
            }
            flush(s);
        }
    }
    gen_report(d, n);
    _exit(0);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    int window = argc > 2 ? atoi(argv[2]) : 20;
    int socks = argc > 3 ? atoi(argv[3]) : 4;
    if (n < 1 || n > PER_OCTET * PER_OCTET * PER_OCTET || window < 1 || socks < 1 || socks > MAX_SOCKS) {
        fprintf(stderr, "usage: device_capacity [devices (100000)] [window s (20)] [sockets 1..%d (4)]\n", MAX_SOCKS);
        return 2;
    }
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    au_node *node;
    /* NO_SPIN=1: the node's idle threads sleep at once instead of polling (au_node_config's
     * no_spin), which at these rates saves their sched_yield loops. */
    const char *no_spin = getenv("NO_SPIN");
    if (au_node_start(&(au_node_config){ .workers = 2, .max_peers = (size_t)n * 2 + 1024,
                                         .max_remote_refs = (size_t)n * 2 + 1024,
                                         .no_spin = no_spin && *no_spin == '1' }, &node)) return 1;
    au_cluster *c;
    au_device_server *ds;
    /* SHARDS=k: the device server's shards (default: its default, the node's workers). */
    const char *shards = getenv("SHARDS");
    /* LEASE=k: heartbeats per request (au_device_server_config.lease; default 1). */
    const char *lease = getenv("LEASE");
    au_device_server_config dcfg = { .shards = shards ? (unsigned)atoi(shards) : 0,
                                     .lease = lease ? (unsigned)atoi(lease) : 0 };
    if (au_cluster_start(node, NULL, &c) || au_device_server_start(node, c, &dcfg, &ds)) return 1;
    const char *addr = au_node_address(node);
    uint16_t port = (uint16_t)atoi(strrchr(addr, ':') + 1);
    sleep(1);
    long rss0 = rss_kib();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) run_devices(n, socks, port);
    double t0 = now_s();
    au_device_server_stats st;
    for (;;) {
        sleep(1);
        au_device_server_stats_get(ds, &st);
        if (st.owned >= (uint64_t)n && st.ups >= (uint64_t)n) break;
        if (now_s() - t0 > 60 + n / RAMP) {
            fprintf(stderr, "device_capacity: only %llu of %d devices up after %d s\n",
                    (unsigned long long)st.ups, n, 60 + n / RAMP);
            break;
        }
    }
    double registered = now_s() - t0;
    sleep(2);
    au_device_server_stats a, b;
    au_node_stats na, nb;
    au_device_server_stats_get(ds, &a);
    au_node_stats_get(node, &na);
    double c0 = cpu_s(), w0 = now_s(), q0 = wait_s(), g0 = proc_cpu_s(pid);
    sleep((unsigned)window);
    double c1 = cpu_s(), w1 = now_s(), q1 = wait_s(), g1 = proc_cpu_s(pid);
    double load[1] = { 0 };
    getloadavg(load, 1);
    au_device_server_stats_get(ds, &b);
    au_node_stats_get(node, &nb);
    long rss1 = rss_kib();
    double cpu = (c1 - c0) / (w1 - w0);
    printf("device capacity: %d devices at 1 s, lease %u (owned %llu, up events %llu), registered in "
           "%.0f s\n", n, lease ? (unsigned)atoi(lease) : 1, (unsigned long long)b.owned,
           (unsigned long long)b.ups, registered);
    printf("  over %.0f s: heartbeats %.0f/s (%.3f per device per s; beats %.0f/s), requests %.0f/s, downs %llu, "
           "datagrams in %.0f/s out %.0f/s, socket send failures %llu\n",
           w1 - w0, (double)(b.heartbeats - a.heartbeats) / (w1 - w0),
           (double)(b.heartbeats - a.heartbeats) / (w1 - w0) / n,
           (double)(b.beats - a.beats) / (w1 - w0),
           (double)(b.requests_sent - a.requests_sent) / (w1 - w0),
           (unsigned long long)(b.downs - a.downs),
           (double)(nb.datagrams_received - na.datagrams_received) / (w1 - w0),
           (double)(nb.datagrams_sent - na.datagrams_sent) / (w1 - w0),
           (unsigned long long)(nb.drops_send_failed - na.drops_send_failed));
    printf("  downs held back (the node late itself) %llu; lateness at the end %.3f s\n",
           (unsigned long long)(b.downs_held - a.downs_held), (double)b.late_ns / 1e9);
    printf("  server drops: unsolicited %llu, not owned %llu, stale %llu, new-device rate %llu, "
           "invalid %llu; announces %llu\n",
           (unsigned long long)(b.drops_unsolicited - a.drops_unsolicited),
           (unsigned long long)(b.drops_not_owned - a.drops_not_owned),
           (unsigned long long)(b.drops_stale - a.drops_stale),
           (unsigned long long)(b.drops_rate - a.drops_rate),
           (unsigned long long)(b.drops_invalid - a.drops_invalid),
           (unsigned long long)(b.announces - a.announces));
    printf("  server threads runnable but waiting for a core: %.1f %% of the window (summed over "
           "threads); load average %.1f\n", (q1 - q0) / (w1 - w0) * 100, load[0]);
    printf("  server CPU %.1f %% of one core (%.2f us per device per second); memory %.1f MiB over "
           "the idle node (%.0f bytes per device)\n",
           cpu * 100, cpu * 1e6 / n, (double)(rss1 - rss0) / 1024, (double)(rss1 - rss0) * 1024 / n);
    double dgrams = (double)(nb.datagrams_received - na.datagrams_received + nb.datagrams_sent -
                             na.datagrams_sent);
    printf("  server CPU per datagram (in or out) %.2f us; generator CPU over the window %.1f %% of "
           "one core (%.2f us per device per second)\n",
           dgrams > 0 ? (c1 - c0) * 1e6 / dgrams : 0.0, (g1 - g0) / (w1 - w0) * 100,
           (g1 - g0) / (w1 - w0) * 1e6 / n);
    fflush(stdout);
    kill(pid, SIGTERM); /* the child prints its devices' counters and exits */
    waitpid(pid, NULL, 0);
    struct rusage ch;
    getrusage(RUSAGE_CHILDREN, &ch);
    printf("  generator CPU over its whole run: %.1f s\n",
           (double)ch.ru_utime.tv_sec + (double)ch.ru_utime.tv_usec / 1e6 + (double)ch.ru_stime.tv_sec +
               (double)ch.ru_stime.tv_usec / 1e6);
    au_node_stop(node);
    return 0;
}
