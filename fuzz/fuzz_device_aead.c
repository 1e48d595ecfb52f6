/* libFuzzer harness: the device client's XChaCha20-Poly1305 (src/devices/client/aead.c)
 * against libsodium's crypto_aead_xchacha20poly1305_ietf — the differential check DESIGN.md §5
 * requires of a compact implementation.
 *
 * Input: key (32) | nonce (24) | ad length (1, mod 65) | where to alter (2) | ad | message.
 * For each input, abort() on any difference:
 *   1. sealing: the same ciphertext and tag from both;
 *   2. opening what was sealed: both accept, both give back the message;
 *   3. one bit altered in ciphertext, tag, associated data or nonce (chosen by the input): both
 *      refuse, and the client leaves the ciphertext untouched;
 *   4. the message taken as ciphertext || tag as it is (a forgery attempt): both give the same
 *      verdict, and the same plaintext if they accept.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "devices/client/internal.h"

#define MAX_LEN 4096

static int sodium_open(uint8_t *out, const uint8_t *c, size_t len, const uint8_t *tag,
                       const uint8_t *ad, size_t ad_len, const uint8_t *nonce, const uint8_t *key) {
    return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(out, NULL, c, len, tag, ad, ad_len,
                                                               nonce, key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uint8_t m[MAX_LEN], c[MAX_LEN], ref[MAX_LEN], out[MAX_LEN], work[MAX_LEN];
    if (sodium_init() < 0) abort();
    if (size < 32 + 24 + 1 + 2) return 0;
    const uint8_t *key = data, *nonce = data + 32;
    size_t ad_len = data[56] % 65;
    size_t where = (size_t)data[57] << 8 | data[58];
    data += 59;
    size -= 59;
    if (ad_len > size) ad_len = size;
    const uint8_t *ad = data;
    size_t len = size - ad_len;
    if (len > MAX_LEN) len = MAX_LEN;
    memcpy(m, data + ad_len, len);

    /* 1. seal */
    uint8_t tag[16], ref_tag[16];
    memcpy(c, m, len);
    au_dc_aead_seal(c, len, tag, ad, ad_len, nonce, key);
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(ref, ref_tag, NULL, m, len, ad, ad_len,
                                                        NULL, nonce, key);
    if (memcmp(c, ref, len) != 0 || memcmp(tag, ref_tag, 16) != 0) abort();

    /* 2. open */
    memcpy(work, c, len);
    if (au_dc_aead_open(work, len, tag, ad, ad_len, nonce, key) != 0) abort();
    if (memcmp(work, m, len) != 0) abort();
    if (sodium_open(out, c, len, tag, ad, ad_len, nonce, key) != 0 || memcmp(out, m, len) != 0)
        abort();

    /* 3. one bit altered */
    uint8_t ad2[64], nonce2[24], tag2[16];
    memcpy(ad2, ad, ad_len);
    memcpy(nonce2, nonce, 24);
    memcpy(tag2, tag, 16);
    memcpy(work, c, len);
    size_t span = len + 16 + ad_len + 24, at = where % span;
    uint8_t bit = (uint8_t)(1u << (where >> 13));
    if (at < len) work[at] ^= bit;
    else if ((at -= len) < 16) tag2[at] ^= bit;
    else if ((at -= 16) < ad_len) ad2[at] ^= bit;
    else nonce2[at - ad_len] ^= bit;
    if (sodium_open(out, work, len, tag2, ad2, ad_len, nonce2, key) == 0) abort();
    memcpy(ref, work, len);
    if (au_dc_aead_open(work, len, tag2, ad2, ad_len, nonce2, key) != -1) abort();
    if (memcmp(work, ref, len) != 0) abort();

    /* 4. the message as a forged ciphertext || tag */
    if (len >= 16) {
        size_t clen = len - 16;
        memcpy(work, m, clen);
        int mine = au_dc_aead_open(work, clen, m + clen, ad, ad_len, nonce, key);
        int theirs = sodium_open(out, m, clen, m + clen, ad, ad_len, nonce, key);
        if ((mine == 0) != (theirs == 0)) abort();
        if (mine == 0 && memcmp(work, out, clen) != 0) abort();
    }
    return 0;
}
