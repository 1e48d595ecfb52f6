/* internal.h — what the device client's files share: byte helpers, the datagram layer
 * (datagram.c) and the AEAD (aead.c).
 *
 * Relies on: proto/wire.h and proto/seal.h for the format's constants only (nothing of them is
 * linked: the client builds without the library); the _Static_asserts in datagram.c tie the
 * public AU_DC_* constants to them.
 *
 * Invariants: nothing here allocates, blocks or keeps state outside the au_dc it is given. */
#ifndef AU_DEVICES_CLIENT_INTERNAL_H
#define AU_DEVICES_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <aurum/device_client.h>

#include "proto/seal.h"
#include "proto/wire.h"

/* ---- bytes: no libc, so the client links on a bare microcontroller ---------------------- */

void au_dc_copy(uint8_t *dst, const uint8_t *src, size_t n);
void au_dc_zero(volatile uint8_t *p, size_t n); /* volatile: also wipes secrets */
bool au_dc_same(const uint8_t *a, const uint8_t *b, size_t n);

static inline uint64_t au_dc_get_be(const uint8_t *p, unsigned n) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}
static inline void au_dc_put_be(uint8_t *p, uint64_t v, unsigned n) {
    for (unsigned i = n; i-- > 0; v >>= 8) p[i] = (uint8_t)v;
}

/* ---- datagrams (datagram.c) -------------------------------------------------------------- */

/* Where the frames of the datagram being built start in tx_buf, and where they must end. */
size_t au_dc_frames_start(const au_dc *dc);
size_t au_dc_frames_end(const au_dc *dc);

/* Writes a message frame header and body header addressed to the servers' endpoint at
 * tx_buf[frames_start]; returns where the CBOR payload starts. */
size_t au_dc_begin_message(au_dc *dc);

/* Completes the datagram whose CBOR payload ends at payload_end (frame length, header, checksum
 * or seal) and sends it to `to`. 0 or AU_DC_ESEND. */
int au_dc_finish_and_send(au_dc *dc, size_t payload_end, const au_dc_addr *to);

/* A downlink message, validated (dest, sizes) but not yet decoded. */
typedef struct au_dc_frame {
    const uint8_t *payload;
    size_t len;
} au_dc_frame;

/* A received datagram after its integrity check. */
typedef struct au_dc_opened {
    uint64_t incarnation; /* the sender's, from the header */
    uint64_t seq;
    uint64_t sender;      /* sealed: the sender id of the nonce; plain: 0 */
    const uint8_t *pos;   /* the frames */
    const uint8_t *end;
} au_dc_opened;

/* Checks size, header and checksum or seal (decrypting in place). 0, or the au_wire_status of
 * the failure (proto/wire.h), or AU_DC_NO_INCARNATION, which the caller maps to a counter. */
int au_dc_open(const au_dc *dc, uint8_t *buf, size_t len, au_dc_opened *out);

/* Returned by au_dc_open for a datagram, intact, whose header names sender incarnation 0: no
 * node runs at 0 (an incarnation is its start's clock in the high bits), and 0 is the client's
 * "no claim" (client.c, claim_take): malformed. Below every au_wire_status. */
#define AU_DC_NO_INCARNATION (-101)

/* Returned by au_dc_next_frame for a well-formed message meant for someone else (a signal,
 * another name, root or interface): below every au_wire_status. */
#define AU_DC_NOT_MINE (-100)

/* The next frame of an opened datagram: 1 and *frame filled, 0 at the end, AU_DC_NOT_MINE, or
 * a negative au_wire_status (a fragment, a malformed frame). */
int au_dc_next_frame(au_dc_opened *d, au_dc_frame *frame);

/* ---- XChaCha20-Poly1305 (aead.c): RFC 8439 + draft-irtf-cfrg-xchacha ---------------------- */

#if AU_DC_SEALING
/* Encrypts m[0, len) in place and writes the 16-byte tag; ad is authenticated, not encrypted.
 * The same bytes as libsodium's crypto_aead_xchacha20poly1305_ietf_encrypt_detached. */
void au_dc_aead_seal(uint8_t *m, size_t len, uint8_t tag[16], const uint8_t *ad, size_t ad_len,
                     const uint8_t nonce[24], const uint8_t key[32]);
/* Verifies the tag over ad and c[0, len) and only then decrypts c in place: 0, or -1 with c
 * untouched. */
int au_dc_aead_open(uint8_t *c, size_t len, const uint8_t tag[16], const uint8_t *ad,
                    size_t ad_len, const uint8_t nonce[24], const uint8_t key[32]);

/* The parts, exposed for the published test vectors (tests/devices/test_device_aead.c). */
void au_dc_hchacha20(uint8_t out[32], const uint8_t key[32], const uint8_t nonce[16]);
void au_dc_chacha20_xor(uint8_t *buf, size_t len, const uint8_t key[32], const uint8_t nonce[12],
                        uint32_t counter);
void au_dc_poly1305(uint8_t tag[16], const uint8_t *m, size_t len, const uint8_t key[32]);
#endif

#endif
