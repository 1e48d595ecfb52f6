/* driver_uv.c — the default node driver: real time, one libuv event-loop thread for the node's
 * timers and its UDP socket, and the node's worker threads for its actors (schedule is NULL).
 *
 * The loop thread fires timers (au_node_run_timers when the uv timer is due, or when wake_at
 * signals an earlier deadline through a uv_async) and receives datagrams (recvmmsg through
 * libuv), handing each to au_node_receive. Sends come from any thread and go straight to the
 * socket with sendmmsg: libuv's handles are touched by the loop thread only, the fd is not.
 *
 * Before start (au_node_start binds first), the loop does not run: bind sets up the UDP handle
 * on the loop from the starting thread, which is safe because no other thread uses the loop yet. */
#define _GNU_SOURCE /* sendmmsg */
#include "core/internal.h"
#include "util/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <uv.h>

/* One WARN line per period for a kind of send failure, and a count of those not shown. */
typedef struct warn_limit {
    _Atomic uint64_t after;      /* no line before this (monotonic ns) */
    _Atomic uint64_t suppressed; /* failures not warned since the last line */
} warn_limit;

typedef struct uv_driver {
    au_driver_node base;
    au_node *node;
    uv_loop_t loop;
    uv_async_t async;   /* wake_at, or quit */
    uv_timer_t timer;   /* the node's earliest timer */
    uv_udp_t udp;
    bool bound;         /* udp is initialised */
    int fd;             /* the socket, for sendmmsg from any thread */
    pthread_t thread;
    bool running;       /* the loop thread was started */
    _Atomic bool quit;  /* close: the loop closes its handles and returns */
    bool closed;        /* loop thread only */
    uint64_t activity;  /* loop thread only: datagrams received (for spinning) */
    uint8_t *in_buf;    /* recvmmsg buffer (loop thread) */
    size_t in_size;
    warn_limit refused_warn;          /* send_refused's WARN lines */
    warn_limit stalled_warn;          /* drv_send's "socket stayed full" WARN lines */
    _Atomic bool send_stalled;        /* the last wait for room timed out, no send since */
} uv_driver;

static au_nanos drv_now(au_driver_node *dn) {
    (void)dn;
    return au_clock_monotonic_ns();
}

static uint64_t drv_random(au_driver_node *dn) {
    (void)dn;
    uint64_t r = 0;
    while (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
        if (errno != EINTR) { /* no entropy source: still unique enough within this process */
            r ^= au_clock_monotonic_ns() * 0x9e3779b97f4a7c15ULL;
            break;
        }
    }
    return r;
}

/* Wall-clock milliseconds in the high 48 bits, random low bits; within this process also
 * strictly greater than the last one handed out, so a node restarted in the same millisecond
 * still gets a greater id. (Across processes, a restart takes longer than a millisecond.) */
static uint64_t drv_incarnation(au_driver_node *dn) {
    static _Atomic uint64_t last;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    uint64_t id = ms << 16 | (drv_random(dn) & 0xffffu);
    /* relaxed: only the value matters; the CAS makes ids unique and growing. */
    uint64_t prev = atomic_load_explicit(&last, memory_order_relaxed);
    for (;;) {
        uint64_t next = id > prev ? id : prev + 1;
        if (atomic_compare_exchange_weak_explicit(&last, &prev, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            return next;
    }
}

/* ---- timers ----------------------------------------------------------------------------------- */

static void on_timer(uv_timer_t *h);

static void run_timers(uv_driver *d) {
    au_nanos next = au_node_run_timers(d->node);
    if (!next) {
        uv_timer_stop(&d->timer);
        return;
    }
    au_nanos now = au_clock_monotonic_ns();
    uint64_t wait = next > now ? next - now : 0; /* round up: never early (and never overflow) */
    uint64_t ms = wait / 1000000 + (wait % 1000000 != 0);
    uv_timer_start(&d->timer, on_timer, ms, 0);
}

static void on_timer(uv_timer_t *h) { run_timers(h->data); }

static void close_handles(uv_driver *d) {
    if (d->bound) {
        uv_udp_recv_stop(&d->udp);
        uv_close((uv_handle_t *)&d->udp, NULL);
    }
    uv_close((uv_handle_t *)&d->timer, NULL);
    uv_close((uv_handle_t *)&d->async, NULL);
    d->closed = true;
}

static void on_async(uv_async_t *h) {
    uv_driver *d = h->data;
    /* acquire: pairs with close's release store, so everything before it is visible. */
    if (atomic_load_explicit(&d->quit, memory_order_acquire)) {
        close_handles(d);
        uv_stop(&d->loop);
        return;
    }
    run_timers(d);
}

/* The timer thread is told nothing but "look again": au_node_run_timers returns the deadline
 * that counts, so wake-ups racing each other cannot leave it armed too late. */
static void drv_wake_at(au_driver_node *dn, au_nanos deadline) {
    (void)deadline;
    uv_async_send(&((uv_driver *)dn)->async);
}

/* ---- datagrams -------------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    uv_driver *d = h->data;
    *buf = uv_buf_init((char *)d->in_buf, (unsigned)d->in_size);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags) {
    uv_driver *d = h->data;
    if (nread < 0) {
        au_log(AU_LOG_NET, AU_LOG_WARN, "receive: %s", uv_strerror((int)nread));
        return;
    }
    if (!addr) return; /* nothing to read, or the end of a recvmmsg batch; an empty datagram
                          (nread == 0 with an address) goes on, to be counted */
    if (flags & UV_UDP_PARTIAL) { /* cannot happen: every slot holds the largest UDP payload */
        au_log(AU_LOG_NET, AU_LOG_DEBUG, "truncated datagram dropped");
        return;
    }
    d->activity++;
    au_node_receive(d->node, buf->base, (size_t)nread, addr,
                    addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                : sizeof(struct sockaddr_in));
}

/* Socket buffers for bursts of coalesced datagrams: 4 MiB each way. net.core.rmem_max (and
 * wmem_max) silently cap SO_RCVBUF; a privileged process may exceed them (SO_*BUFFORCE). What
 * was granted is read back, and a small receive buffer is logged, since it is where loss under
 * load begins. */
#define SOCKET_BUFFER (4 << 20)
static void size_buffers(int fd) {
    int want = SOCKET_BUFFER, got = 0;
    socklen_t len = sizeof got;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
    if (got < want) /* Linux reports twice the size asked for, so this means a cap applied */
        au_log(AU_LOG_NET, AU_LOG_WARN,
               "receive buffer %d bytes (asked %d): raise net.core.rmem_max to avoid loss under load",
               got, want);
}

static au_err drv_bind(au_driver_node *dn, const struct sockaddr *addr, socklen_t len,
                      struct sockaddr_storage *bound, socklen_t *bound_len) {
    uv_driver *d = (uv_driver *)dn;
    if (d->bound) return AU_ESTATE;
    d->in_size = (size_t)20 * 65536; /* libuv's recvmmsg takes up to 20 slots of 64 KiB */
    if (!(d->in_buf = malloc(d->in_size))) return AU_ENOMEM;
    uv_udp_init_ex(&d->loop, &d->udp, addr->sa_family | UV_UDP_RECVMMSG);
    d->udp.data = d;
    d->bound = true;
    int rc = uv_udp_bind(&d->udp, addr, 0);
    int n = sizeof *bound;
    if (!rc) rc = uv_udp_getsockname(&d->udp, (struct sockaddr *)bound, &n);
    if (rc) {
        au_log(AU_LOG_NET, AU_LOG_ERROR, "bind: %s", uv_strerror(rc));
        return AU_EBIND;
    }
    *bound_len = (socklen_t)n;
    uv_os_fd_t fd;
    uv_fileno((uv_handle_t *)&d->udp, &fd);
    d->fd = fd;
    size_buffers(fd);
    if ((rc = uv_udp_recv_start(&d->udp, on_alloc, on_recv))) {
        au_log(AU_LOG_NET, AU_LOG_ERROR, "recv_start: %s", uv_strerror(rc));
        return AU_EIO;
    }
    (void)len;
    return AU_OK;
}

#define SEND_BATCH 64 /* datagrams per sendmmsg */
#define SEND_WARN_PERIOD AU_SEC(10)

/* Whether errno after a failed send is about that datagram's address (the kernel refuses to send
 * there at all: an IPv6 address from an IPv4 socket, broadcast, no route), not the socket's
 * state (full buffers): the next datagrams, to other peers, may still go. */
static bool address_refused(int err) {
    return err == EINVAL || err == EAFNOSUPPORT || err == EACCES || err == EPERM ||
           err == ENETUNREACH || err == EHOSTUNREACH || err == EADDRNOTAVAIL ||
           err == EDESTADDRREQ || err == EMSGSIZE;
}

/* Whether this failure may have its WARN line now; if not, it is counted in the next one. On
 * true, *more is how many were not shown since the last line. */
static bool warn_now(warn_limit *w, uint64_t n, uint64_t *more) {
    uint64_t now = au_clock_monotonic_ns();
    uint64_t after = atomic_load_explicit(&w->after, memory_order_relaxed);
    if (now < after || !atomic_compare_exchange_strong_explicit(&w->after, &after,
                                                                now + SEND_WARN_PERIOD,
                                                                memory_order_relaxed,
                                                                memory_order_relaxed)) {
        atomic_fetch_add_explicit(&w->suppressed, n, memory_order_relaxed);
        return false;
    }
    *more = atomic_exchange_explicit(&w->suppressed, 0, memory_order_relaxed);
    return true;
}

/* A datagram the kernel would not send to its address: one WARN line per SEND_WARN_PERIOD for
 * the node, naming the address and why (the forge of 0.0.0.0, a broadcast, multicast or IPv6
 * address succeeds, and its sends return AU_OK: this line and drops_send_failed are all a user
 * sees), with how many refusals it did not name since the last line. */
static void send_refused(uv_driver *d, const au_datagram *dg, int err) {
    uint64_t more;
    if (!warn_now(&d->refused_warn, 1, &more)) return;
    char ip[INET6_ADDRSTRLEN] = "?", text[INET6_ADDRSTRLEN + 10] = "(unknown address)";
    const struct sockaddr *sa = dg->to;
    if (sa && sa->sa_family == AF_INET && dg->to_len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(text, sizeof text, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (sa && sa->sa_family == AF_INET6 && dg->to_len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(text, sizeof text, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    }
    au_log(AU_LOG_NET, AU_LOG_WARN, "node %s: a datagram to %s not sent: %s (this node's socket "
           "cannot send there; counted in drops_send_failed; %llu more such not shown since the "
           "last line)", d->node->address, text, strerror(err), (unsigned long long)more);
}

/* A full socket (EAGAIN: the send buffer is taken by datagrams the interface has not sent yet;
 * ENOBUFS: the kernel is short of buffers for a moment) is a burst, not a verdict: the sending
 * thread waits for room, up to SEND_STALL_MS in one drv_send, and tries again. Dropping at once
 * would lose a burst the wire carries a millisecond later, while the node counted each of its
 * datagrams as sent by the application. A socket still full after the wait is congested: the
 * rest of the call is dropped, counted and warned about, and later calls try once without
 * waiting until a send goes through again, so one stuck interface does not stall every worker
 * for SEND_STALL_MS per batch. */
#define SEND_STALL_MS 50

static bool send_full(int err) {
    return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS;
}

/* Waits until the socket may take more or the call's deadline passes; false: no more waiting. */
static bool wait_for_room(uv_driver *d, int err, uint64_t *deadline) {
    if (atomic_load_explicit(&d->send_stalled, memory_order_relaxed)) return false;
    uint64_t now = au_clock_monotonic_ns();
    if (!*deadline) *deadline = now + (uint64_t)SEND_STALL_MS * 1000000u;
    if (now >= *deadline) return false;
    if (err == ENOBUFS) { /* the socket reports writable: give the kernel a moment instead */
        struct timespec ts = { 0, 200000 };
        nanosleep(&ts, NULL);
        return true;
    }
    struct pollfd p = { .fd = d->fd, .events = POLLOUT };
    int ms = (int)((*deadline - now + 999999u) / 1000000u);
    return poll(&p, 1, ms) >= 0 || errno == EINTR;
}

static void send_stalled(uv_driver *d, int err, size_t dropped) {
    atomic_store_explicit(&d->send_stalled, true, memory_order_relaxed);
    uint64_t more;
    if (!warn_now(&d->stalled_warn, dropped, &more)) return;
    au_log(AU_LOG_NET, AU_LOG_WARN, "node %s: socket full for %d ms (%s): %zu datagrams dropped, "
           "counted in drops_send_failed (%llu more such drops not shown since the last line); "
           "the interface is sending slower than this node: raise net.core.wmem_max or send less",
           d->node->address, SEND_STALL_MS, strerror(err), dropped, (unsigned long long)more);
}

static size_t drv_send(au_driver_node *dn, const au_datagram *dg, size_t n) {
    uv_driver *d = (uv_driver *)dn;
    size_t failed = 0;
    uint64_t deadline = 0; /* for waits on a full socket: set by the first */
    struct mmsghdr msgs[SEND_BATCH];
    struct iovec iov[SEND_BATCH];
    while (n) {
        size_t k = n < SEND_BATCH ? n : SEND_BATCH;
        for (size_t i = 0; i < k; i++) {
            iov[i] = (struct iovec){ (void *)dg[i].data, dg[i].len };
            msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = (void *)dg[i].to,
                                                     .msg_namelen = dg[i].to_len,
                                                     .msg_iov = &iov[i], .msg_iovlen = 1 } };
        }
        size_t done = 0;
        while (done < k) {
            int sent = sendmmsg(d->fd, msgs + done, (unsigned)(k - done), 0);
            if (sent < 0) {
                int err = errno;
                if (err == EINTR) continue;
                if (address_refused(err)) { /* that datagram only: the others may go */
                    send_refused(d, &dg[done], err);
                    failed++;
                    done++;
                    continue;
                }
                if (send_full(err) && wait_for_room(d, err, &deadline)) continue;
                /* Still full after the wait, or a failure of the socket itself (EBADF after a
                 * close, ...): at-most-once, so the rest of the batch is dropped; the caller
                 * counts them. */
                if (send_full(err))
                    send_stalled(d, err, k - done);
                else
                    au_log(AU_LOG_NET, AU_LOG_DEBUG, "sendmmsg: %s (%zu datagrams dropped)",
                           strerror(err), k - done);
                failed += k - done;
                break;
            }
            if (sent > 0 && atomic_load_explicit(&d->send_stalled, memory_order_relaxed))
                atomic_store_explicit(&d->send_stalled, false, memory_order_relaxed);
            done += (size_t)sent;
        }
        dg += k;
        n -= k;
    }
    return failed;
}

/* ---- the loop thread -------------------------------------------------------------------------- */

/* The loop polls without blocking for a while after each datagram, then blocks in epoll: a
 * blocked thread takes tens of microseconds to wake on a virtual machine, a polling one picks a
 * reply up in one or two. The cost is one core's polling for LOOP_SPIN_NS after the last
 * datagram; an idle node blocks, and a node configured with no_spin never polls. */
#define LOOP_SPIN_NS 200000u

static void *loop_main(void *arg) {
    uv_driver *d = arg;
    bool spin = !d->node->cfg.no_spin;
    uint64_t seen = d->activity, quiet_since = au_clock_monotonic_ns();
    while (!d->closed) {
        uv_run(&d->loop, UV_RUN_NOWAIT);
        if (d->activity != seen) {
            seen = d->activity;
            quiet_since = au_clock_monotonic_ns();
        } else if (!spin || au_clock_monotonic_ns() - quiet_since > LOOP_SPIN_NS) {
            uv_run(&d->loop, UV_RUN_ONCE); /* block until the next event */
            quiet_since = au_clock_monotonic_ns();
        } else {
            sched_yield();
        }
    }
    uv_run(&d->loop, UV_RUN_NOWAIT); /* let the closed handles' callbacks run */
    au_pool_thread_flush();
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------------------------------- */

static au_err drv_open(const au_driver *drv, au_node *node, au_driver_node **out) {
    uv_driver *d = calloc(1, sizeof *d);
    if (!d) return AU_ENOMEM;
    d->base.ops = drv->ops;
    d->node = node;
    if (uv_loop_init(&d->loop) != 0) {
        free(d);
        return AU_EIO;
    }
    uv_async_init(&d->loop, &d->async, on_async);
    uv_timer_init(&d->loop, &d->timer);
    d->async.data = d->timer.data = d;
    *out = &d->base;
    return AU_OK;
}

static au_err drv_start(au_driver_node *dn) {
    uv_driver *d = (uv_driver *)dn;
    if (pthread_create(&d->thread, NULL, loop_main, d) != 0) return AU_ENOMEM;
    d->running = true;
    return AU_OK;
}

static void drv_close_driver(au_driver_node *dn) {
    uv_driver *d = (uv_driver *)dn;
    if (d->running) {
        /* release: the loop thread that sees quit sees everything before it. */
        atomic_store_explicit(&d->quit, true, memory_order_release);
        uv_async_send(&d->async);
        pthread_join(d->thread, NULL);
    } else {
        close_handles(d);
        uv_run(&d->loop, UV_RUN_NOWAIT);
    }
    uv_loop_close(&d->loop);
    free(d->in_buf);
    free(d);
}

static const au_driver_ops uv_ops = {
    .version = AU_DRIVER_VERSION,
    .name = "udp",
    .open = drv_open,
    .start = drv_start,
    .close = drv_close_driver,
    .now = drv_now,
    .random = drv_random,
    .incarnation = drv_incarnation,
    .wake_at = drv_wake_at,
    .bind = drv_bind,
    .send = drv_send,
};

static const au_driver uv_driver_value = { .ops = &uv_ops };

const au_driver *au_driver_default(void) { return &uv_driver_value; }
