/* Datagram sealing (libsodium XChaCha20-Poly1305-IETF) and the replay window.
 *
 * Owns the sealed layout header | nonce | ciphertext | tag, with the 20 header bytes as
 * associated data so that incarnation, sequence number and flags cannot be altered without
 * failing authentication. Relies on libsodium; see core/seal.h for the invariants.
 */
#include "proto/seal.h"

#include <string.h>

#include <sodium.h>

_Static_assert(AU_SEAL_KEY_SIZE == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(AU_WIRE_NONCE_SIZE == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce size");
_Static_assert(AU_WIRE_TAG_SIZE == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");

#define FRAMES_OFFSET (AU_WIRE_HEADER_SIZE + AU_WIRE_NONCE_SIZE)

int au_seal_key_init_id(au_seal_key *key, const uint8_t secret[AU_SEAL_KEY_SIZE], uint8_t id,
                        uint64_t sender) {
    if (sodium_init() < 0) return AU_WIRE_NO_MEMORY;
    memcpy(key->key, secret, AU_SEAL_KEY_SIZE);
    key->id = id;
    key->nonce_prefix[0] = id;
    for (int i = 0; i < 8; i++) key->nonce_prefix[1 + i] = (uint8_t)(sender >> (56 - 8 * i));
    randombytes_buf(key->nonce_prefix + 9, sizeof key->nonce_prefix - 9);
    atomic_init(&key->nonce_counter, 0);
    return AU_WIRE_OK;
}

int au_seal_key_init(au_seal_key *key, const uint8_t secret[AU_SEAL_KEY_SIZE]) {
    return au_seal_key_init_id(key, secret, 0, 0);
}

const au_seal_key *au_seal_ring_find(const au_seal_ring *ring, uint8_t id) {
    for (size_t i = 0; i < ring->n; i++)
        if (ring->keys[i]->id == id) return ring->keys[i];
    return NULL;
}

int au_seal_peek(const uint8_t *dgram, size_t len, uint8_t *key_id, uint64_t *sender) {
    if (len < FRAMES_OFFSET + AU_WIRE_TAG_SIZE) return AU_WIRE_TRUNCATED;
    const uint8_t *nonce = dgram + AU_WIRE_HEADER_SIZE;
    *key_id = nonce[0];
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | nonce[1 + i];
    *sender = v;
    return AU_WIRE_OK;
}

int au_seal_open_ring(const au_seal_ring *ring, uint8_t *dgram, size_t len) {
    uint8_t id;
    uint64_t sender;
    int rc = au_seal_peek(dgram, len, &id, &sender);
    if (rc != AU_WIRE_OK) return rc;
    const au_seal_key *key = au_seal_ring_find(ring, id);
    return key ? au_seal_open(key, dgram, len) : AU_WIRE_UNKNOWN_KEY;
}

void au_seal_key_wipe(au_seal_key *key) { sodium_memzero(key, sizeof *key); }

size_t au_seal_close(au_seal_key *key, uint8_t *dgram, size_t plain_len) {
    uint8_t *nonce = dgram + AU_WIRE_HEADER_SIZE;
    /* relaxed: the counter only has to be unique per key; the nonce bytes travel in the
     * datagram, nothing else is published through it */
    uint64_t counter = atomic_fetch_add_explicit(&key->nonce_counter, 1, memory_order_relaxed);
    memcpy(nonce, key->nonce_prefix, sizeof key->nonce_prefix);
    memcpy(nonce + sizeof key->nonce_prefix, &counter, sizeof counter);

    uint8_t *frames = dgram + FRAMES_OFFSET;
    size_t frames_len = plain_len - FRAMES_OFFSET;
    /* In place: libsodium XORs the keystream into c reading m at the same offset, then MACs c. */
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(frames, frames + frames_len, NULL, frames,
                                                        frames_len, dgram, AU_WIRE_HEADER_SIZE,
                                                        NULL, nonce, key->key);
    return plain_len + AU_WIRE_TAG_SIZE;
}

int au_seal_open(const au_seal_key *key, uint8_t *dgram, size_t len) {
    if (len < FRAMES_OFFSET + AU_WIRE_TAG_SIZE) return AU_WIRE_TRUNCATED;
    uint8_t *frames = dgram + FRAMES_OFFSET;
    size_t frames_len = len - FRAMES_OFFSET - AU_WIRE_TAG_SIZE;
    /* The tag is verified before anything is decrypted; on failure libsodium zeroes the output,
     * which here is the frames: the caller drops the datagram anyway. */
    if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
            frames, NULL, frames, frames_len, frames + frames_len, dgram, AU_WIRE_HEADER_SIZE,
            dgram + AU_WIRE_HEADER_SIZE, key->key) != 0)
        return AU_WIRE_BAD_SEAL;
    return AU_WIRE_OK;
}

/* ---- replay window ------------------------------------------------------------------------- */

void au_replay_window_init(au_replay_window *window) { *window = (au_replay_window){0}; }

int au_replay_window_check(const au_replay_window *window, uint64_t seq) {
    if (!window->started || seq > window->top) return AU_WIRE_OK;
    uint64_t behind = window->top - seq;
    if (behind >= AU_REPLAY_WINDOW_SIZE) return AU_WIRE_TOO_OLD;
    return (window->seen >> behind) & 1u ? AU_WIRE_REPLAYED : AU_WIRE_OK;
}

int au_replay_window_accept(au_replay_window *window, uint64_t seq) {
    int rc = au_replay_window_check(window, seq);
    if (rc != AU_WIRE_OK) return rc;
    if (!window->started) {
        window->started = 1;
        window->top = seq;
        window->seen = 1;
    } else if (seq > window->top) {
        uint64_t ahead = seq - window->top;
        window->seen = ahead >= AU_REPLAY_WINDOW_SIZE ? 1 : (window->seen << ahead) | 1;
        window->top = seq;
    } else {
        window->seen |= (uint64_t)1 << (window->top - seq);
    }
    return AU_WIRE_OK;
}
