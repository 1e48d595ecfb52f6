/* udp.h — what the kernel did with a test's UDP traffic, for tests whose counts depend on it.
 *
 * A receive buffer that overflows drops datagrams before the node sees them: no node counter
 * moves, only the kernel's UDP RcvbufErrors (/proc/net/snmp, for this network namespace). Tests
 * that send bursts pace them on the node's counters; where a burst cannot be paced (one large
 * message), they first check the receive buffer the node was granted and fail with a clear
 * message if it is too small. When a count comes up short they print the kernel's drop delta,
 * so that a loss in the kernel is told apart from a loss in the node.
 * node_bound_address relies on the node's private layout (core/internal.h, net/net.h). */
#ifndef AU_TESTS_UDP_H
#define AU_TESTS_UDP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/internal.h"
#include "net/net.h"

/* The kernel's count of UDP datagrams dropped for a full receive buffer (this namespace, all
 * sockets), or UINT64_MAX if /proc/net/snmp cannot be read. */
static inline uint64_t udp_rcvbuf_errors(void) {
    FILE *f = fopen("/proc/net/snmp", "r");
    if (!f) return UINT64_MAX;
    char names[1024], values[1024];
    uint64_t result = UINT64_MAX;
    while (fgets(names, sizeof names, f) && fgets(values, sizeof values, f)) {
        if (strncmp(names, "Udp:", 4) != 0 || strncmp(values, "Udp:", 4) != 0) continue;
        char *ns = NULL, *vs = NULL;
        char *n = strtok_r(names + 4, " \n", &ns), *v = strtok_r(values + 4, " \n", &vs);
        for (; n && v; n = strtok_r(NULL, " \n", &ns), v = strtok_r(NULL, " \n", &vs))
            if (strcmp(n, "RcvbufErrors") == 0) result = strtoull(v, NULL, 10);
        break;
    }
    fclose(f);
    return result;
}

/* Prints the kernel's receive-buffer drops since `before` (a udp_rcvbuf_errors() reading), for
 * a test whose count came up short. Other processes' sockets count there too. */
static inline void udp_report_kernel_drops(const char *what, uint64_t before) {
    uint64_t now = udp_rcvbuf_errors();
    if (before == UINT64_MAX || now == UINT64_MAX)
        fprintf(stderr, "%s: the kernel's UDP RcvbufErrors could not be read\n", what);
    else
        fprintf(stderr, "%s: the kernel dropped %llu UDP datagrams for a full receive buffer "
                        "meanwhile (RcvbufErrors; any socket of this namespace)\n",
                what, (unsigned long long)(now - before));
}

/* The receive buffer the kernel grants a UDP socket of this process that asks for what the
 * default driver asks for (4 MiB with SO_RCVBUFFORCE, else SO_RCVBUF: src/core/driver_uv.c,
 * size_buffers), as getsockopt reports it (twice what was set, the kernel's bookkeeping
 * included). The same process, the same request, the same limits: what the node's socket got. */
static inline size_t granted_rcvbuf(void) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) return 0;
    int want = 4 << 20, got = 0;
    socklen_t len = sizeof got;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
    if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) != 0) got = 0;
    close(fd);
    return (size_t)got;
}

/* The address the node's socket is bound to ("127.0.0.1:40123"), which differs from
 * au_node_address() when the node advertises another; "" for a node without a socket. */
static inline void node_bound_address(au_node *node, char *buf, size_t size) {
    if (!node->net) {
        snprintf(buf, size, "%s", "");
        return;
    }
    au_addr_format(&node->net->bound, buf, size);
}

/* Whether a node's receive buffer holds `datagrams` datagrams of `size` bytes at once (each
 * costs the kernel about size + 768 bytes of accounting); if not, says so clearly and why. */
static inline bool rcvbuf_holds(size_t datagrams, size_t size, const char *what) {
    size_t need = datagrams * (size + 768), got = granted_rcvbuf();
    if (got >= need) return true;
    fprintf(stderr,
            "%s: needs a receive buffer of about %zu KiB for a burst of %zu datagrams of %zu bytes "
            "that cannot be paced, but a node's socket is granted %zu KiB here. The node asks for "
            "4 MiB: root gets it (SO_RCVBUFFORCE), others get at most net.core.rmem_max; raise "
            "it (sysctl -w net.core.rmem_max=4194304) to run this test.\n",
            what, need >> 10, datagrams, size, got >> 10);
    return false;
}

#endif
