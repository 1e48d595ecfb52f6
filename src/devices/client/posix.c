/* posix.c — the device client's platform layer over POSIX sockets and clocks
 * (aurum/device_client_posix.h).
 *
 * Owns the au_dc_addr encoding of this platform: family (4 or 6) | port (2, big-endian) |
 * address. Relies on libc only (sockets, poll, clock_gettime, getrandom), never on the rest of
 * aurum, so it links into the standalone device build.
 *
 * Invariants: the socket is non-blocking, so the client's recv never waits; a datagram larger
 * than the caller's buffer is reported with its real length (MSG_TRUNC), which the client drops
 * as too long instead of parsing a cut datagram. */
#define _GNU_SOURCE /* getrandom, MSG_TRUNC semantics */
#include <aurum/device_client_posix.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int to_sockaddr(const au_dc_addr *a, struct sockaddr_storage *ss, socklen_t *len) {
    memset(ss, 0, sizeof *ss);
    if (a->len == 7 && a->bytes[0] == 4) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        memcpy(&in->sin_port, a->bytes + 1, 2);
        memcpy(&in->sin_addr, a->bytes + 3, 4);
        *len = sizeof *in;
        return 0;
    }
    if (a->len == 19 && a->bytes[0] == 6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_port, a->bytes + 1, 2);
        memcpy(&in6->sin6_addr, a->bytes + 3, 16);
        *len = sizeof *in6;
        return 0;
    }
    return -1;
}

static void from_sockaddr(const struct sockaddr_storage *ss, au_dc_addr *a) {
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        a->len = 7;
        a->bytes[0] = 4;
        memcpy(a->bytes + 1, &in->sin_port, 2);
        memcpy(a->bytes + 3, &in->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        a->len = 19;
        a->bytes[0] = 6;
        memcpy(a->bytes + 1, &in6->sin6_port, 2);
        memcpy(a->bytes + 3, &in6->sin6_addr, 16);
    } else {
        a->len = 0;
    }
}

int au_dc_posix_addr(au_dc_addr *out, const char *host, uint16_t port) {
    uint16_t be = htons(port);
    if (!out) return -1;
    memset(out, 0, sizeof *out);
    if (!host) return -1; /* no address (open takes NULL as 0.0.0.0 before it gets here) */
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, host, &v4) == 1) {
        out->len = 7;
        out->bytes[0] = 4;
        memcpy(out->bytes + 1, &be, 2);
        memcpy(out->bytes + 3, &v4, 4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6) == 1) {
        out->len = 19;
        out->bytes[0] = 6;
        memcpy(out->bytes + 1, &be, 2);
        memcpy(out->bytes + 3, &v6, 16);
        return 0;
    }
    return -1;
}

int au_dc_posix_open(au_dc_posix *io, const char *host, uint16_t port) {
    au_dc_addr a;
    struct sockaddr_storage ss;
    socklen_t len;
    if (!io) {
        errno = EINVAL;
        return -1;
    }
    io->fd = -1;
    if (au_dc_posix_addr(&a, host ? host : "0.0.0.0", port) != 0 || to_sockaddr(&a, &ss, &len)) {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    io->fd = fd;
    io->family = ss.ss_family;
    return 0;
}

void au_dc_posix_close(au_dc_posix *io) {
    if (!io) return;
    if (io->fd >= 0) close(io->fd);
    io->fd = -1;
}

uint16_t au_dc_posix_port(const au_dc_posix *io) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    au_dc_addr a;
    if (!io || io->fd < 0 || getsockname(io->fd, (struct sockaddr *)&ss, &len) != 0) return 0;
    from_sockaddr(&ss, &a);
    return a.len ? (uint16_t)(a.bytes[1] << 8 | a.bytes[2]) : 0;
}

static int posix_send(void *ctx, const au_dc_addr *to, const uint8_t *data, size_t len) {
    au_dc_posix *io = ctx;
    struct sockaddr_storage ss;
    socklen_t sl;
    if (to_sockaddr(to, &ss, &sl) != 0) return -1;
    return sendto(io->fd, data, len, 0, (struct sockaddr *)&ss, sl) == (ssize_t)len ? 0 : -1;
}

static int posix_recv(void *ctx, au_dc_addr *from, uint8_t *buf, size_t cap) {
    au_dc_posix *io = ctx;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    ssize_t n = recvfrom(io->fd, buf, cap, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&ss, &sl);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    from_sockaddr(&ss, from);
    /* An empty datagram, reported as 0, would read as "none pending" and end the receive loop:
     * report it as too long instead, so that it is dropped and counted. */
    if (n == 0) return (int)cap + 1;
    return n > (ssize_t)0x7fffffff ? 0x7fffffff : (int)n;
}

static uint32_t posix_now_ms(void *ctx) {
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

au_dc_platform au_dc_posix_platform(au_dc_posix *io) {
    return (au_dc_platform){ .send = posix_send, .recv = posix_recv, .now_ms = posix_now_ms,
                             .ctx = io };
}

int au_dc_posix_wait(au_dc_posix *io, uint32_t timeout_ms) {
    if (!io || io->fd < 0) { /* closed: poll(2) would ignore the entry and wait out the timeout */
        errno = EBADF;
        return -1;
    }
    struct pollfd p = { .fd = io->fd, .events = POLLIN };
    int timeout = timeout_ms > 0x7fffffffu ? 0x7fffffff : (int)timeout_ms;
    int rc = poll(&p, 1, timeout);
    if (rc > 0 && (p.revents & POLLNVAL)) { /* a descriptor closed behind the adapter's back */
        errno = EBADF;
        return -1;
    }
    return rc;
}

uint64_t au_dc_posix_incarnation(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int au_dc_posix_random(uint8_t *out, size_t n) {
    while (n) {
        ssize_t got = getrandom(out, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        out += got;
        n -= (size_t)got;
    }
    return 0;
}
