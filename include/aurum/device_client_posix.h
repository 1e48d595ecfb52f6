/* aurum/device_client_posix.h — the device client's platform layer for Linux/POSIX: a
 * non-blocking UDP socket, CLOCK_MONOTONIC, and the two things a device config needs from the
 * system (an incarnation that grows across runs, random bytes for the nonce).
 *
 * Built into libaurum and into the standalone libaurum_device_posix.a (with
 * libaurum_device_client.a); needs only libc. Addresses are encoded in au_dc_addr as
 * family (4 or 6) | port (2, big-endian) | address (4 or 16 bytes).
 *
 *   au_dc_posix io;
 *   au_dc_addr seed;
 *   au_dc_posix_open(&io, "0.0.0.0", 0);
 *   au_dc_posix_addr(&seed, "127.0.0.1", 7400);
 *   cfg.platform = au_dc_posix_platform(&io);
 *   ...
 *   for (;;) au_dc_posix_wait(&io, au_dc_poll(&dc));                                        */
#ifndef AURUM_DEVICE_CLIENT_POSIX_H
#define AURUM_DEVICE_CLIENT_POSIX_H

#include <stdint.h>

#include <aurum/device_client.h>
#include <aurum/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A UDP socket for one device client. */
typedef struct au_dc_posix {
    int fd;     /**< the socket, -1 when closed */
    int family; /**< AF_INET or AF_INET6 */
} au_dc_posix;

/** Opens a non-blocking UDP socket bound to host (a numeric IPv4 or IPv6 address; NULL:
 *  "0.0.0.0") and port (0: any). 0, or -1 with errno set (EINVAL for a NULL io or a host that
 *  is not a numeric address). */
AU_API int au_dc_posix_open(au_dc_posix *io, const char *host, uint16_t port);

/** Closes the socket (idempotent; a NULL io: nothing). */
AU_API void au_dc_posix_close(au_dc_posix *io);

/** The port the socket is bound to, 0 on error (a closed socket, a NULL io). */
AU_API uint16_t au_dc_posix_port(const au_dc_posix *io);

/** Encodes a numeric IPv4 or IPv6 address and a port (no name resolution: a device is
 *  configured with its servers' addresses). 0, or -1 if host is NULL or not a numeric address,
 *  or out is NULL. */
AU_API int au_dc_posix_addr(au_dc_addr *out, const char *host, uint16_t port);

/** The platform functions over io (send with sendto, recv with recvfrom(MSG_DONTWAIT |
 *  MSG_TRUNC), now_ms from CLOCK_MONOTONIC). io must outlive the client. */
AU_API au_dc_platform au_dc_posix_platform(au_dc_posix *io);

/** Waits until a datagram is readable or timeout_ms passed (poll(2)); 1, 0 on timeout, -1 on
 *  error (EINTR included; EBADF at once for a closed socket or a NULL io). */
AU_API int au_dc_posix_wait(au_dc_posix *io, uint32_t timeout_ms);

/** An incarnation for this run: CLOCK_REALTIME in microseconds, so it grows across runs as long
 *  as the wall clock does not go back. */
AU_API uint64_t au_dc_posix_incarnation(void);

/** Fills out with n bytes from the kernel's CSPRNG (getrandom(2)). 0, or -1. */
AU_API int au_dc_posix_random(uint8_t *out, size_t n);

#ifdef __cplusplus
}
#endif
#endif
