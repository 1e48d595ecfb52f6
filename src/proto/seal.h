/* Datagram sealing with a cluster key, and the per-peer replay window.
 *
 * Owns: the XChaCha20-Poly1305 (libsodium, IETF variant) sealing of a datagram's frames, with
 * the header as associated data; nonce generation; and the sliding window that rejects a
 * datagram sequence number seen before.
 *
 * Layout of a sealed datagram (see docs/wire-format.md):
 *     header (20, associated data) | nonce (24) | ciphertext of the frames | tag (16)
 *
 * The 24-byte nonce travels in clear and is authenticated with the rest (a changed nonce fails
 * the tag), so it also carries what a receiver must know before it can decrypt:
 *     key id (1) | sender id (8) | random (7) | counter (8)
 * The key id picks the key from the receiver's ring (rotation without downtime); the sender id
 * names the node that sealed it — the identity a receiver keys its replay windows by, so that a
 * datagram replayed from another address is still recognised.
 *
 * Invariants:
 *  - A nonce is never used twice with one au_seal_key: key id, sender id and a 7-byte random
 *    part drawn at key init, then a 64-bit counter, so it is unique without any per-datagram
 *    randomness and without trusting incarnation ids or sequence numbers to be unique.
 *  - Only an authenticated datagram is decrypted (libsodium verifies the tag first). A datagram
 *    that fails may have its frame bytes cleared, so it must be dropped, not inspected.
 */
#ifndef AU_CORE_SEAL_H
#define AU_CORE_SEAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"

#define AU_SEAL_KEY_SIZE 32u
#define AU_SEAL_OVERHEAD (AU_WIRE_NONCE_SIZE + AU_WIRE_TAG_SIZE)

/* A cluster key ready for use. Shared by every packer and receiver of a node; thread-safe. */
typedef struct au_seal_key {
    uint8_t key[AU_SEAL_KEY_SIZE];
    uint8_t id;                /* named in every datagram sealed with it */
    uint8_t nonce_prefix[16];  /* id | sender | random */
    _Atomic uint64_t nonce_counter;
} au_seal_key;

/* Copies the 32-byte secret and draws the nonce prefix, for key id 0 and sender id 0.
 * AU_WIRE_NO_MEMORY if libsodium cannot initialise (it then has no entropy source). */
int au_seal_key_init(au_seal_key *key, const uint8_t secret[AU_SEAL_KEY_SIZE]);

/* The same with the key's id and the sealing node's sender id. */
int au_seal_key_init_id(au_seal_key *key, const uint8_t secret[AU_SEAL_KEY_SIZE], uint8_t id,
                        uint64_t sender);

/* The keys a receiver accepts, by id (at most AU_SEAL_RING_MAX). Immutable once in use: a node
 * publishes a new ring to change keys. */
#define AU_SEAL_RING_MAX 8u
typedef struct au_seal_ring {
    size_t n;
    const au_seal_key *keys[AU_SEAL_RING_MAX];
} au_seal_ring;

/* The ring's key of that id, or NULL. */
const au_seal_key *au_seal_ring_find(const au_seal_ring *ring, uint8_t id);

/* The key id and sender id a sealed datagram names (its nonce), or AU_WIRE_TRUNCATED. */
int au_seal_peek(const uint8_t *dgram, size_t len, uint8_t *key_id, uint64_t *sender);

/* Wipes the secret from memory. */
void au_seal_key_wipe(au_seal_key *key);

/* Seals dgram in place. dgram holds the header in [0, AU_WIRE_HEADER_SIZE) with the sealed flag
 * set, AU_WIRE_NONCE_SIZE bytes of room, then the plaintext frames up to plain_len, and has
 * AU_WIRE_TAG_SIZE bytes of room after them. Returns the sealed length, plain_len + tag. */
size_t au_seal_close(au_seal_key *key, uint8_t *dgram, size_t plain_len);

/* Authenticates and decrypts a sealed datagram in place with the key its nonce names:
 * AU_WIRE_UNKNOWN_KEY when the ring has no key of that id; otherwise as au_seal_open. */
int au_seal_open_ring(const au_seal_ring *ring, uint8_t *dgram, size_t len);

/* Authenticates and decrypts a sealed datagram in place. On success the frames are plaintext in
 * [AU_WIRE_HEADER_SIZE + AU_WIRE_NONCE_SIZE, len - AU_WIRE_TAG_SIZE). AU_WIRE_TRUNCATED when
 * too short to hold a nonce and a tag, AU_WIRE_BAD_SEAL when authentication fails (the frame
 * bytes may then have been zeroed). */
int au_seal_open(const au_seal_key *key, uint8_t *dgram, size_t len);

/* ---- replay window ------------------------------------------------------------------------- */

/* The last 64 datagram sequence numbers accepted from one sender incarnation. Keep one per
 * (peer, incarnation) and feed it only datagrams that passed au_wire_datagram_open: then a
 * sealed datagram is accepted at most once, and an unsealed one (no security, but the network
 * may duplicate) too, which is what makes delivery at-most-once. */
typedef struct au_replay_window {
    uint64_t top;    /* highest sequence number accepted */
    uint64_t seen;   /* bit i set: top - i accepted */
    int started;     /* 0 until the first datagram */
} au_replay_window;

#define AU_REPLAY_WINDOW_SIZE 64u

void au_replay_window_init(au_replay_window *window);

/* AU_WIRE_OK if seq would be accepted, else AU_WIRE_REPLAYED or AU_WIRE_TOO_OLD. Does not
 * record seq: use it to skip the decryption of an obvious replay. */
int au_replay_window_check(const au_replay_window *window, uint64_t seq);

/* Like check, and records seq when it is accepted. */
int au_replay_window_accept(au_replay_window *window, uint64_t seq);

#endif
