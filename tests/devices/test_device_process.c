/* The device as a separate OS process: tools/device/au_device (built against the standalone
 * client and its POSIX layer only) on real UDP over 127.0.0.1, with this test as the cluster's
 * end (library_side.h: the library's packer, parser, seal and codec). Plain and sealed.
 *
 * The device announces, answers requests, reports its owner, delivers and echoes a user
 * message, refuses a forged datagram (and counts it), and once requests stop announces again.
 * Every wait is on a condition with a deadline. */
#define _GNU_SOURCE
#include "library_side.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEVICE 0x42ull
#define SERVER 0x5e5ull
#define INTERVAL 100

static const uint8_t SECRET[32] = { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa,
                                    0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5,
                                    0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf };

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

typedef struct device_proc {
    pid_t pid;
    int in, out;      /* its stdin (we write), its stdout (we read) */
    char buf[8192];
    size_t len;
    uint16_t port;
} device_proc;

/* The next line of the device's output within timeout_ms, into line; 0 on timeout or EOF. */
static int read_line(device_proc *d, char *line, size_t size, int timeout_ms) {
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        char *nl = memchr(d->buf, '\n', d->len);
        if (nl) {
            size_t n = (size_t)(nl - d->buf);
            assert_true(n < size);
            memcpy(line, d->buf, n);
            line[n] = '\0';
            memmove(d->buf, nl + 1, d->len - n - 1);
            d->len -= n + 1;
            return 1;
        }
        int64_t left = (int64_t)(deadline - now_ms());
        if (left <= 0) return 0;
        struct pollfd p = { d->out, POLLIN, 0 };
        if (poll(&p, 1, (int)left) <= 0) continue;
        ssize_t got = read(d->out, d->buf + d->len, sizeof d->buf - d->len);
        if (got <= 0) return 0;
        d->len += (size_t)got;
    }
}

/* Reads lines until one starts with prefix; 1 if found within timeout_ms. */
static int expect_line(device_proc *d, const char *prefix, char *line, size_t size, int timeout_ms) {
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    while (now_ms() < deadline)
        if (read_line(d, line, size, (int)(deadline - now_ms())) && strncmp(line, prefix, strlen(prefix)) == 0)
            return 1;
    return 0;
}

static void device_path(char *out, size_t size) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    snprintf(out, size, "%s/../tools/device/au_device", dirname(self));
    assert_int_equal(access(out, X_OK), 0);
}

/* The running device, killed by the teardown if a failed assertion left it behind (it would
 * otherwise keep ctest waiting on its inherited stderr). */
static pid_t running;

static int kill_device(void **state) {
    (void)state;
    if (running > 0) {
        kill(running, SIGKILL);
        waitpid(running, NULL, 0);
    }
    running = 0;
    return 0;
}

static void device_start(device_proc *d, uint16_t server_port, const char *key_file) {
    char exe[PATH_MAX], seed[64];
    device_path(exe, sizeof exe);
    snprintf(seed, sizeof seed, "127.0.0.1:%u", server_port);
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    memset(d, 0, sizeof *d);
    d->pid = fork();
    assert_true(d->pid >= 0);
    if (d->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        char *argv[16] = { exe, "--device", "0x42", "--seed", seed, "--bind", "127.0.0.1:0",
                           "--interval", "100", "--echo" };
        int argc = 10;
        if (key_file) argv[argc++] = "--key-file", argv[argc++] = (char *)key_file;
        argv[argc] = NULL;
        execv(exe, argv);
        _exit(127);
    }
    running = d->pid;
    close(in[0]);
    close(out[1]);
    d->in = in[1];
    d->out = out[0];
    char line[256];
    assert_true(expect_line(d, "port ", line, sizeof line, 5000));
    d->port = (uint16_t)atoi(line + 5);
    assert_true(d->port != 0);
}

/* Asks for the counters until they contain needle (the datagram and the command race). */
static int wait_stats(device_proc *d, const char *needle, char *line, size_t size, int timeout_ms) {
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    while (now_ms() < deadline) {
        assert_true(write(d->in, "stats\n", 6) == 6);
        if (expect_line(d, "stats ", line, size, (int)(deadline - now_ms())) && strstr(line, needle))
            return 1;
        usleep(20000);
    }
    return 0;
}

static int device_stop(device_proc *d, char *stats, size_t size) {
    assert_true(write(d->in, "quit\n", 5) == 5);
    int found = expect_line(d, "stats ", stats, size, 5000);
    int status;
    uint64_t deadline = now_ms() + 5000;
    pid_t w;
    while ((w = waitpid(d->pid, &status, WNOHANG)) == 0 && now_ms() < deadline) usleep(10000);
    if (w == 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, &status, 0);
    }
    running = 0;
    if (w == 0) fail_msg("au_device did not exit on quit");
    close(d->in);
    close(d->out);
    assert_true(found);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int udp_socket(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* The next uplink datagram within timeout_ms, decoded; 0 on timeout. */
static int recv_up(int fd, const lib_server *s, au_device_up *msg, au_wire_header *h, int timeout_ms) {
    struct pollfd p = { fd, POLLIN, 0 };
    if (poll(&p, 1, timeout_ms) <= 0) return 0;
    uint8_t buf[LIB_DGRAM_MAX];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    assert_true(n > 0);
    *h = lib_open_up(s, buf, (size_t)n, AU_DC_SERVER_NAME, msg);
    return 1;
}

/* Waits for an uplink message of that kind, skipping others (e.g. re-announcements). */
static int wait_up(int fd, const lib_server *s, int tag, au_device_up *msg, int timeout_ms) {
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    au_wire_header h;
    while (now_ms() < deadline) {
        if (!recv_up(fd, s, msg, &h, (int)(deadline - now_ms()))) return 0;
        if ((int)msg->tag == tag) return 1;
        au_value_free(&au_type_au_device_up, msg);
    }
    return 0;
}

static void send_to_device(int fd, const device_proc *d, const uint8_t *bytes, size_t len) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(d->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_true(sendto(fd, bytes, len, 0, (struct sockaddr *)&a, sizeof a) == (ssize_t)len);
}

static void device_process(int sealed) {
    char key_file[] = "/tmp/au_device_key_XXXXXX";
    if (sealed) {
        int kfd = mkstemp(key_file);
        assert_true(kfd >= 0);
        assert_int_equal(fchmod(kfd, 0600), 0);
        char line[128] = "3 ";
        for (int i = 0; i < 32; i++) sprintf(line + 2 + 2 * i, "%02x", SECRET[i]);
        strcat(line, "\n");
        assert_true(write(kfd, line, strlen(line)) == (ssize_t)strlen(line));
        close(kfd);
    }
    uint16_t port;
    int fd = udp_socket(&port);
    device_proc d;
    device_start(&d, port, sealed ? key_file : NULL);
    lib_server srv;
    lib_server_init(&srv, SERVER, 0x77, sealed ? SECRET : NULL, 3);

    /* It announces itself to its seed. */
    au_device_up m;
    au_wire_header h;
    assert_true(recv_up(fd, &srv, &m, &h, 5000));
    assert_int_equal(m.tag, au_device_up_announce);
    assert_true(m.announce.device == DEVICE);
    assert_int_equal(m.announce.interval_ms, INTERVAL);
    assert_int_equal(m.announce.max_datagram, 1400);
    if (sealed) assert_true(h.sender == DEVICE && h.key_id == 3);
    uint64_t incarnation = m.announce.incarnation;
    assert_true(incarnation == h.incarnation);

    /* A request is answered; the device reports its new owner. */
    au_device_down req = lib_request(DEVICE, incarnation, SERVER, 7, 1, INTERVAL);
    lib_build(&srv, &req);
    uint64_t requested = now_ms();
    send_to_device(fd, &d, srv.out, srv.out_len);
    assert_true(wait_up(fd, &srv, au_device_up_heartbeat, &m, 5000));
    assert_true(m.heartbeat.request == 7);
    char line[512];
    assert_true(expect_line(&d, "owner 0x5e5", line, sizeof line, 5000));

    /* A user message is delivered (printed) and echoed back to the owner. */
    const uint8_t payload[] = { 0x82, 0x01, 0x63, 'a', 'b', 'c' };
    au_device_down data = lib_data(DEVICE, incarnation, SERVER, 0xfeed, payload, sizeof payload);
    lib_build(&srv, &data);
    send_to_device(fd, &d, srv.out, srv.out_len);
    assert_true(expect_line(&d, "message ", line, sizeof line, 5000));
    assert_string_equal(line, "message 0x5e5 0xfeed 820163616263");
    assert_true(wait_up(fd, &srv, au_device_up_data, &m, 5000));
    assert_true(m.data.type == 0xfeed);
    assert_int_equal(m.data.payload.len, sizeof payload);
    assert_memory_equal(m.data.payload.ptr, payload, sizeof payload);
    au_value_free(&au_type_au_device_up, &m);

    /* A forgery (another key, or plain to a sealed device; bad checksum to a plain one) is
     * refused: no answer, and counted. */
    uint8_t forged[LIB_DGRAM_MAX];
    req.request.request = 8;
    lib_build(&srv, &req);
    memcpy(forged, srv.out, srv.out_len);
    forged[srv.out_len - 1] ^= 0x10; /* the tag, or the checksum */
    send_to_device(fd, &d, forged, srv.out_len);
    assert_true(wait_stats(&d, "drop_integrity=1 ", line, sizeof line, 5000));
    assert_non_null(strstr(line, "heartbeats=1 "));

    /* Requests stop: after lost_after (3) intervals the device gives its owner up and announces
     * again, naming no owner. */
    assert_true(wait_up(fd, &srv, au_device_up_announce, &m, 5000));
    assert_true(m.announce.owner == 0);
    assert_true(now_ms() - requested >= 3 * INTERVAL); /* not before the owner could be lost */
    assert_true(expect_line(&d, "owner 0x0", line, sizeof line, 5000));

    assert_int_equal(device_stop(&d, line, sizeof line), 0);
    assert_non_null(strstr(line, "owner_lost=1 "));
    lib_server_destroy(&srv);
    close(fd);
    if (sealed) unlink(key_file);
}

static void device_process_plain(void **state) { (void)state; device_process(0); }
static void device_process_sealed(void **state) { (void)state; device_process(1); }

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(device_process_plain, kill_device),
        cmocka_unit_test_teardown(device_process_sealed, kill_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
