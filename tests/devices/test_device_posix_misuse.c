/* test_device_posix_misuse.c — the device client's POSIX adapter (aurum/device_client_posix.h)
 * with NULL and malformed arguments: each call answers with its documented failure (-1 and
 * errno, 0 for the port, nothing for close) instead of reading through the NULL. A NULL host
 * reached inet_pton in au_dc_posix_addr and crashed; a NULL io crashed open, close, port and
 * wait. And a client on the adapter's real socket, sent hostile datagrams by a raw socket
 * playing its server: empty, larger than its receive buffer, truncated, of another version,
 * replayed (from the server's address and from another), reordered; each bad one dropped and
 * counted under its reason, nothing answered, the good ones answered. Binds 127.0.0.1 only,
 * port 0. */
#include "library_side.h"

#include <aurum/device_client_posix.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

static void null_and_malformed_arguments_fail_cleanly(void **state) {
    (void)state;
    au_dc_addr a;
    memset(&a, 0xaa, sizeof a);
    assert_int_equal(au_dc_posix_addr(&a, NULL, 1), -1);
    assert_int_equal(a.len, 0); /* left empty, not half-written */
    assert_int_equal(au_dc_posix_addr(NULL, "127.0.0.1", 1), -1);
    assert_int_equal(au_dc_posix_addr(NULL, NULL, 1), -1);
    static char host[301];
    memset(host, '1', 300);
    const char *bad[] = { "", ":", "[::1]", "127.0.0.1:1", "localhost", host };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(au_dc_posix_addr(&a, bad[i], 1), -1);
        au_dc_posix io = { .fd = 5 };
        errno = 0;
        assert_int_equal(au_dc_posix_open(&io, bad[i], 0), -1);
        assert_int_equal(errno, EINVAL);
        assert_int_equal(io.fd, -1);
    }
    errno = 0;
    assert_int_equal(au_dc_posix_open(NULL, "127.0.0.1", 0), -1);
    assert_int_equal(errno, EINVAL);
    au_dc_posix_close(NULL);
    assert_int_equal(au_dc_posix_port(NULL), 0);
    errno = 0;
    assert_int_equal(au_dc_posix_wait(NULL, 1000), -1);
    assert_int_equal(errno, EBADF);
    /* the good path still works, and closing twice is fine */
    au_dc_posix io;
    assert_int_equal(au_dc_posix_open(&io, "127.0.0.1", 0), 0);
    assert_int_not_equal(au_dc_posix_port(&io), 0);
    au_dc_posix_close(&io);
    au_dc_posix_close(&io);
    assert_int_equal(au_dc_posix_port(&io), 0);
}

/* ---- a client on a real socket, and a hostile server ---------------------------------------- */

#define DEVICE 0xD00D0003ull
#define INCARNATION 0x3000ull
#define SERVER_A 0xA1ull

static uint32_t mono_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint32_t)((uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u);
}

static int raw_socket(struct sockaddr_in *bound) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof *bound;
    assert_int_equal(getsockname(fd, (struct sockaddr *)bound, &len), 0);
    return fd;
}

typedef struct posix_rig {
    au_dc_posix io;
    au_dc_addr seed;
    uint8_t rx[512], tx[512];
    au_dc_config cfg;
    au_dc dc;
    struct sockaddr_in device_sa;
    int server_fd, other_fd;
    lib_server a;
} posix_rig;

/* Sends bytes to the device from fd, then polls the client until it has received one more
 * datagram (2 s at most). */
static void hostile_send(posix_rig *r, int fd, const uint8_t *bytes, size_t len) {
    uint32_t before = r->dc.stats.received;
    assert_int_equal(sendto(fd, bytes, len, 0, (struct sockaddr *)&r->device_sa, sizeof r->device_sa),
                     (ssize_t)len);
    uint32_t t0 = mono_ms();
    while (r->dc.stats.received == before && mono_ms() - t0 < 2000) {
        (void)au_dc_posix_wait(&r->io, 50);
        (void)au_dc_poll(&r->dc);
    }
    assert_int_equal(r->dc.stats.received, before + 1);
}

/* Reads what the device sent the server within ms; its length, 0 if nothing came. */
static size_t server_read(posix_rig *r, uint8_t *buf, size_t cap, int ms) {
    struct pollfd p = { .fd = r->server_fd, .events = POLLIN };
    if (poll(&p, 1, ms) != 1) return 0;
    ssize_t n = recv(r->server_fd, buf, cap, 0);
    assert_true(n > 0);
    return (size_t)n;
}

/* Drains the server socket: everything the device sent so far. */
static int server_drain(posix_rig *r) {
    uint8_t buf[LIB_DGRAM_MAX];
    int n = 0;
    while (server_read(r, buf, sizeof buf, 0)) n++;
    return n;
}

/* A heartbeat for request n must reach the server within 2 s. */
static void expect_heartbeat(posix_rig *r, uint64_t n) {
    uint8_t buf[LIB_DGRAM_MAX];
    for (;;) {
        size_t len = server_read(r, buf, sizeof buf, 2000);
        assert_true(len > 0);
        au_device_up m;
        lib_open_up(&r->a, buf, len, AU_DC_SERVER_NAME, &m);
        bool hb = m.tag == au_device_up_heartbeat;
        uint64_t req = hb ? m.heartbeat.request : 0;
        au_value_free(&au_type_au_device_up, &m);
        if (hb) {
            assert_int_equal(req, n);
            return;
        }
    }
}

/* The datagram server A builds for request n (into out). */
static size_t request_bytes(posix_rig *r, uint64_t n, uint8_t *out) {
    au_device_down m = lib_request(DEVICE, INCARNATION, SERVER_A, n, 1, 100);
    lib_build(&r->a, &m);
    memcpy(out, r->a.out, r->a.out_len);
    return r->a.out_len;
}

static void hostile_server_datagrams_on_a_real_socket_are_dropped_and_counted(void **state) {
    (void)state;
    posix_rig *r = calloc(1, sizeof *r);
    assert_non_null(r);
    struct sockaddr_in server_sa, other_sa;
    r->server_fd = raw_socket(&server_sa);
    r->other_fd = raw_socket(&other_sa);
    assert_int_equal(au_dc_posix_open(&r->io, "127.0.0.1", 0), 0);
    r->device_sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(au_dc_posix_port(&r->io)),
                                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(au_dc_posix_addr(&r->seed, "127.0.0.1", ntohs(server_sa.sin_port)), 0);
    r->cfg = (au_dc_config){ .device = DEVICE, .incarnation = INCARNATION, .interval_ms = 100,
                             .nseeds = 1, .seeds = &r->seed, .rx_buf = r->rx, .rx_cap = sizeof r->rx,
                             .tx_buf = r->tx, .tx_cap = sizeof r->tx,
                             .platform = au_dc_posix_platform(&r->io) };
    assert_int_equal(au_dc_init(&r->dc, &r->cfg), AU_DC_OK);
    lib_server_init(&r->a, SERVER_A, 0x5000, NULL, 0);
    (void)au_dc_poll(&r->dc); /* the first announce */
    uint8_t buf[LIB_DGRAM_MAX];
    assert_true(server_read(r, buf, sizeof buf, 2000) > 0);
    au_dc_stats *s = &r->dc.stats;

    /* empty; larger than the receive buffer (cut by the socket: its real length is reported);
     * truncated; another wire version (checksum made good) */
    static uint8_t big[2000];
    hostile_send(r, r->server_fd, big, 0);
    assert_int_equal(s->drop_malformed, 1);
    size_t len = request_bytes(r, 1, big);
    memset(big + len, 0, sizeof big - len);
    hostile_send(r, r->server_fd, big, sizeof big);
    assert_int_equal(s->drop_malformed, 2);
    len = request_bytes(r, 1, buf);
    hostile_send(r, r->server_fd, buf, 10);
    assert_int_equal(s->drop_malformed, 3);
    len = request_bytes(r, 1, buf);
    buf[2] = 2;
    uint64_t h = XXH3_64bits(buf, len - 8);
    for (int i = 0; i < 8; i++) buf[len - 8 + i] = (uint8_t)(h >> (56 - 8 * i));
    hostile_send(r, r->server_fd, buf, len);
    assert_int_equal(s->drop_malformed, 4);
    assert_int_equal(s->accepted, 0);
    assert_int_equal(au_dc_owner(&r->dc), 0);
    (void)server_drain(r); /* re-announces meanwhile, if any */

    /* the real request 1: answered; then replayed, from the server and from elsewhere */
    uint8_t first[LIB_DGRAM_MAX];
    size_t first_len = request_bytes(r, 1, first);
    memcpy(buf, first, first_len);
    hostile_send(r, r->server_fd, buf, first_len);
    assert_int_equal(s->accepted, 1);
    assert_true(au_dc_owner(&r->dc) == SERVER_A);
    expect_heartbeat(r, 1);
    memcpy(buf, first, first_len);
    hostile_send(r, r->server_fd, buf, first_len);
    memcpy(buf, first, first_len);
    hostile_send(r, r->other_fd, buf, first_len);
    assert_int_equal(s->drop_replayed, 2);
    assert_int_equal(s->accepted, 1);

    /* reordered: 3 before 2, both answered, then 2 again refused */
    uint8_t second[LIB_DGRAM_MAX];
    size_t second_len = request_bytes(r, 2, second);
    len = request_bytes(r, 3, buf);
    hostile_send(r, r->server_fd, buf, len);
    expect_heartbeat(r, 3);
    memcpy(buf, second, second_len);
    hostile_send(r, r->server_fd, buf, second_len);
    expect_heartbeat(r, 2);
    memcpy(buf, second, second_len);
    hostile_send(r, r->server_fd, buf, second_len);
    assert_int_equal(s->drop_replayed, 3);
    assert_int_equal(s->accepted, 3);
    /* a user message (no on_message: counted) */
    au_device_down data = lib_data(DEVICE, INCARNATION, SERVER_A, 7, (const uint8_t *)"\xf6", 1);
    lib_build(&r->a, &data);
    memcpy(buf, r->a.out, r->a.out_len);
    hostile_send(r, r->server_fd, buf, r->a.out_len);
    assert_int_equal(s->messages_in, 1);
    assert_int_equal(s->accepted, 4);
    assert_int_equal(s->drop_malformed, 4);
    assert_int_equal(s->drop_integrity + s->drop_not_mine, 0);
    assert_int_equal(s->heartbeats, 3);

    lib_server_destroy(&r->a);
    au_dc_posix_close(&r->io);
    close(r->server_fd);
    close(r->other_fd);
    free(r);
}

/* A receive buffer of 2 GiB and more (rx_cap >= 2^31): the platform reports a datagram longer
 * than cap, and an empty one, as a length above cap, which an int cannot hold there, so an empty
 * datagram was lost uncounted (the report read as an error) or stale buffer bytes were parsed.
 * No datagram is longer than 65,535 bytes: the client reads with at most that, and counts the
 * empty datagram as malformed; a real request after it is answered. The buffer is mapped, not
 * touched beyond what the socket writes. */
static void a_receive_buffer_of_two_gib_still_counts_an_empty_datagram(void **state) {
    (void)state;
    posix_rig *r = calloc(1, sizeof *r);
    assert_non_null(r);
    size_t huge = ((size_t)1 << 31) + 64;
    uint8_t *rx = mmap(NULL, huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
    if (rx == MAP_FAILED) skip();
    struct sockaddr_in server_sa;
    r->server_fd = raw_socket(&server_sa);
    r->other_fd = -1;
    assert_int_equal(au_dc_posix_open(&r->io, "127.0.0.1", 0), 0);
    r->device_sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(au_dc_posix_port(&r->io)),
                                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(au_dc_posix_addr(&r->seed, "127.0.0.1", ntohs(server_sa.sin_port)), 0);
    r->cfg = (au_dc_config){ .device = DEVICE, .incarnation = INCARNATION, .interval_ms = 100,
                             .nseeds = 1, .seeds = &r->seed, .rx_buf = rx, .rx_cap = huge,
                             .tx_buf = r->tx, .tx_cap = sizeof r->tx,
                             .platform = au_dc_posix_platform(&r->io) };
    assert_int_equal(au_dc_init(&r->dc, &r->cfg), AU_DC_OK);
    lib_server_init(&r->a, SERVER_A, 0x5000, NULL, 0);
    (void)au_dc_poll(&r->dc); /* the first announce */
    uint8_t buf[LIB_DGRAM_MAX];
    assert_true(server_read(r, buf, sizeof buf, 2000) > 0);
    hostile_send(r, r->server_fd, buf, 0);
    assert_int_equal(r->dc.stats.drop_malformed, 1);
    size_t len = request_bytes(r, 1, buf);
    hostile_send(r, r->server_fd, buf, len);
    assert_int_equal(r->dc.stats.accepted, 1);
    expect_heartbeat(r, 1);
    lib_server_destroy(&r->a);
    au_dc_posix_close(&r->io);
    close(r->server_fd);
    munmap(rx, huge);
    free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(null_and_malformed_arguments_fail_cleanly),
        cmocka_unit_test(hostile_server_datagrams_on_a_real_socket_are_dropped_and_counted),
        cmocka_unit_test(a_receive_buffer_of_two_gib_still_counts_an_empty_datagram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
