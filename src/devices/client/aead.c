/* aead.c — XChaCha20-Poly1305 (IETF), the construction libsodium's
 * crypto_aead_xchacha20poly1305_ietf_* implements, small enough for a microcontroller.
 *
 * Why a second implementation: the nodes use libsodium (proto/seal.c); a device where libsodium
 * does not fit needs the same construction in a few KiB. DESIGN.md §5 allows it only under two
 * conditions, both met in this tree: the published test vectors (RFC 8439 §2.3.2, 2.4.2, 2.5.2,
 * 2.6.2, 2.8.2, A.3; draft-irtf-cfrg-xchacha §2.2.1, A.3.1) pass (tests/devices/
 * test_device_aead.c), and a differential fuzz harness against libsodium finds no difference
 * in output nor in what is rejected (fuzz/fuzz_device_aead.c). Sizes: docs/devices.md §6.
 *
 * Construction (draft-irtf-cfrg-xchacha §2.3): subkey = HChaCha20(key, nonce[0..16));
 * ChaCha20-Poly1305 (RFC 8439 §2.8) with the subkey and the 12-byte nonce 0^4 || nonce[16..24):
 * the Poly1305 key is block 0 of the key stream, the message is encrypted from block 1, and the
 * tag covers ad || pad16 || ciphertext || pad16 || le64(ad_len) || le64(len).
 *
 * Relies on nothing but 32-bit arithmetic (Poly1305 in 26-bit limbs, poly1305-donna-32 style:
 * 32x32->64 multiplies, which Cortex-M3/M4 do in one instruction). Byte order is explicit
 * (little-endian loads), so it is correct on any host.
 *
 * Invariants: no branch and no memory index depends on a secret (key, key stream, tag
 * comparison); the tag is verified before any byte is decrypted; key stream, subkey and
 * Poly1305 state are wiped from the stack before returning. */
#include "devices/client/internal.h"

#if AU_DC_SEALING

static uint32_t load32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void store32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++, v >>= 8) p[i] = (uint8_t)v;
}

/* ---- ChaCha20 (RFC 8439 §2.1–2.4) ----------------------------------------------------------- */

/* The eight quarter rounds of a double round: four columns, then four diagonals. A table and a
 * loop instead of unrolled code: a few hundred bytes smaller, and the device's datagrams are
 * short enough that speed is not the constraint. */
static const uint8_t QUARTERS[8][4] = {
    { 0, 4, 8, 12 }, { 1, 5, 9, 13 }, { 2, 6, 10, 14 }, { 3, 7, 11, 15 },
    { 0, 5, 10, 15 }, { 1, 6, 11, 12 }, { 2, 7, 8, 13 }, { 3, 4, 9, 14 },
};

static uint32_t rotl(uint32_t v, int n) { return v << n | v >> (32 - n); }

/* The 20 rounds on x, in place (without the final addition of the input). */
static void rounds(uint32_t x[16]) {
    for (int r = 0; r < 10; r++) {
        for (int q = 0; q < 8; q++) {
            uint32_t *a = &x[QUARTERS[q][0]], *b = &x[QUARTERS[q][1]];
            uint32_t *c = &x[QUARTERS[q][2]], *d = &x[QUARTERS[q][3]];
            *a += *b; *d = rotl(*d ^ *a, 16);
            *c += *d; *b = rotl(*b ^ *c, 12);
            *a += *b; *d = rotl(*d ^ *a, 8);
            *c += *d; *b = rotl(*b ^ *c, 7);
        }
    }
}

/* "expand 32-byte k", the key, then words 12..15 from the caller. */
static void setup(uint32_t s[16], const uint8_t key[32]) {
    s[0] = 0x61707865u;
    s[1] = 0x3320646eu;
    s[2] = 0x79622d32u;
    s[3] = 0x6b206574u;
    for (int i = 0; i < 8; i++) s[4 + i] = load32(key + 4 * i);
}

void au_dc_hchacha20(uint8_t out[32], const uint8_t key[32], const uint8_t nonce[16]) {
    uint32_t s[16];
    setup(s, key);
    for (int i = 0; i < 4; i++) s[12 + i] = load32(nonce + 4 * i);
    rounds(s);
    for (int i = 0; i < 4; i++) {
        store32(out + 4 * i, s[i]);
        store32(out + 16 + 4 * i, s[12 + i]);
    }
    au_dc_zero((volatile uint8_t *)s, sizeof s);
}

void au_dc_chacha20_xor(uint8_t *buf, size_t len, const uint8_t key[32], const uint8_t nonce[12],
                        uint32_t counter) {
    uint32_t in[16], x[16];
    setup(in, key);
    for (int i = 0; i < 3; i++) in[13 + i] = load32(nonce + 4 * i);
    for (size_t off = 0; off < len; off += 64) {
        in[12] = counter++;
        for (int i = 0; i < 16; i++) x[i] = in[i];
        rounds(x);
        for (size_t i = 0; i < 64 && off + i < len; i++)
            buf[off + i] ^= (uint8_t)((x[i / 4] + in[i / 4]) >> (8 * (i % 4)));
    }
    au_dc_zero((volatile uint8_t *)x, sizeof x);
    au_dc_zero((volatile uint8_t *)in, sizeof in);
}

/* ---- Poly1305 (RFC 8439 §2.5), 26-bit limbs ------------------------------------------------- */

typedef struct poly {
    uint32_t r[5], h[5], pad[4];
    uint8_t buf[16];
    size_t fill; /* bytes in buf */
} poly;

#define MASK26 0x3ffffffu

static void poly_init(poly *p, const uint8_t key[32]) {
    /* r is clamped as the RFC says (r &= 0x0ffffffc0ffffffc0ffffffc0fffffff), then cut in 26-bit
     * limbs; the masks below do both at once. */
    p->r[0] = load32(key + 0) & 0x3ffffff;
    p->r[1] = (load32(key + 3) >> 2) & 0x3ffff03;
    p->r[2] = (load32(key + 6) >> 4) & 0x3ffc0ff;
    p->r[3] = (load32(key + 9) >> 6) & 0x3f03fff;
    p->r[4] = (load32(key + 12) >> 8) & 0x00fffff;
    for (int i = 0; i < 5; i++) p->h[i] = 0;
    for (int i = 0; i < 4; i++) p->pad[i] = load32(key + 16 + 4 * i);
    p->fill = 0;
}

/* h = (h + block) * r mod 2^130 - 5 for one 16-byte block; hibit is 2^128 in limb 4 (1 << 24)
 * for a full block, 0 for the final partial block, which carries its own 1 byte. */
static void poly_block(poly *p, const uint8_t m[16], uint32_t hibit) {
    const uint32_t *r = p->r;
    uint32_t *h = p->h;
    uint32_t s1 = r[1] * 5, s2 = r[2] * 5, s3 = r[3] * 5, s4 = r[4] * 5;
    h[0] += load32(m + 0) & MASK26;
    h[1] += (load32(m + 3) >> 2) & MASK26;
    h[2] += (load32(m + 6) >> 4) & MASK26;
    h[3] += (load32(m + 9) >> 6) & MASK26;
    h[4] += (load32(m + 12) >> 8) | hibit;
    /* Limbs below 2^26 (plus a small carry) times r below 2^26 (s below 5 * 2^26): each sum of
     * five products stays below 2^64. */
    uint64_t d0 = (uint64_t)h[0] * r[0] + (uint64_t)h[1] * s4 + (uint64_t)h[2] * s3 +
                  (uint64_t)h[3] * s2 + (uint64_t)h[4] * s1;
    uint64_t d1 = (uint64_t)h[0] * r[1] + (uint64_t)h[1] * r[0] + (uint64_t)h[2] * s4 +
                  (uint64_t)h[3] * s3 + (uint64_t)h[4] * s2;
    uint64_t d2 = (uint64_t)h[0] * r[2] + (uint64_t)h[1] * r[1] + (uint64_t)h[2] * r[0] +
                  (uint64_t)h[3] * s4 + (uint64_t)h[4] * s3;
    uint64_t d3 = (uint64_t)h[0] * r[3] + (uint64_t)h[1] * r[2] + (uint64_t)h[2] * r[1] +
                  (uint64_t)h[3] * r[0] + (uint64_t)h[4] * s4;
    uint64_t d4 = (uint64_t)h[0] * r[4] + (uint64_t)h[1] * r[3] + (uint64_t)h[2] * r[2] +
                  (uint64_t)h[3] * r[1] + (uint64_t)h[4] * r[0];
    uint32_t c;
    c = (uint32_t)(d0 >> 26); h[0] = (uint32_t)d0 & MASK26;
    d1 += c; c = (uint32_t)(d1 >> 26); h[1] = (uint32_t)d1 & MASK26;
    d2 += c; c = (uint32_t)(d2 >> 26); h[2] = (uint32_t)d2 & MASK26;
    d3 += c; c = (uint32_t)(d3 >> 26); h[3] = (uint32_t)d3 & MASK26;
    d4 += c; c = (uint32_t)(d4 >> 26); h[4] = (uint32_t)d4 & MASK26;
    h[0] += c * 5; c = h[0] >> 26; h[0] &= MASK26;
    h[1] += c;
}

static void poly_update(poly *p, const uint8_t *m, size_t n) {
    while (n) {
        size_t k = 16 - p->fill < n ? 16 - p->fill : n;
        au_dc_copy(p->buf + p->fill, m, k);
        p->fill += k;
        m += k;
        n -= k;
        if (p->fill == 16) {
            poly_block(p, p->buf, 1u << 24);
            p->fill = 0;
        }
    }
}

/* Zero bytes up to the next multiple of 16 (the AEAD's pad16): full blocks, with the hibit. */
static void poly_pad16(poly *p) {
    static const uint8_t zeros[16];
    if (p->fill) poly_update(p, zeros, 16 - p->fill);
}

static void poly_finish(poly *p, uint8_t tag[16]) {
    uint32_t *h = p->h;
    if (p->fill) {
        p->buf[p->fill] = 1;
        for (size_t i = p->fill + 1; i < 16; i++) p->buf[i] = 0;
        poly_block(p, p->buf, 0);
    }
    /* Fully carry h, then compute g = h + 5 - 2^130 and take it if it did not go negative:
     * that is h mod 2^130 - 5, chosen with a mask rather than a branch. */
    uint32_t c = h[1] >> 26;
    h[1] &= MASK26;
    for (int i = 2; i < 5; i++) {
        h[i] += c;
        c = h[i] >> 26;
        h[i] &= MASK26;
    }
    h[0] += c * 5;
    c = h[0] >> 26;
    h[0] &= MASK26;
    h[1] += c;

    uint32_t g[5];
    c = 5;
    for (int i = 0; i < 4; i++) {
        g[i] = h[i] + c;
        c = g[i] >> 26;
        g[i] &= MASK26;
    }
    g[4] = h[4] + c - (1u << 26); /* the top bit is set exactly when g went negative */
    uint32_t keep_g = (g[4] >> 31) - 1; /* all ones when g >= 0 */
    for (int i = 0; i < 5; i++) h[i] = (h[i] & ~keep_g) | (g[i] & keep_g);

    /* h mod 2^128 in four 32-bit words, plus the pad (s), mod 2^128. */
    uint32_t w[4] = {
        h[0] | h[1] << 26,
        h[1] >> 6 | h[2] << 20,
        h[2] >> 12 | h[3] << 14,
        h[3] >> 18 | h[4] << 8,
    };
    uint64_t f = 0;
    for (int i = 0; i < 4; i++) {
        f += (uint64_t)w[i] + p->pad[i];
        store32(tag + 4 * i, (uint32_t)f);
        f >>= 32;
    }
    au_dc_zero((volatile uint8_t *)p, sizeof *p);
    au_dc_zero((volatile uint8_t *)g, sizeof g);
}

void au_dc_poly1305(uint8_t tag[16], const uint8_t *m, size_t len, const uint8_t key[32]) {
    poly p;
    poly_init(&p, key);
    poly_update(&p, m, len);
    poly_finish(&p, tag);
}

/* ---- the AEAD --------------------------------------------------------------------------------- */

/* Subkey and 12-byte nonce (draft-irtf-cfrg-xchacha §2.3), then the Poly1305 key (RFC 8439
 * §2.6: the first 32 bytes of block 0). */
static void derive(uint8_t subkey[32], uint8_t nonce12[12], poly *p, const uint8_t nonce[24],
                   const uint8_t key[32]) {
    uint8_t block0[64];
    au_dc_hchacha20(subkey, key, nonce);
    for (int i = 0; i < 4; i++) nonce12[i] = 0;
    au_dc_copy(nonce12 + 4, nonce + 16, 8);
    au_dc_zero(block0, sizeof block0);
    au_dc_chacha20_xor(block0, sizeof block0, subkey, nonce12, 0);
    poly_init(p, block0);
    au_dc_zero(block0, sizeof block0);
}

/* The tag over ad || pad16 || c || pad16 || le64(ad_len) || le64(len). */
static void mac(poly *p, uint8_t tag[16], const uint8_t *ad, size_t ad_len, const uint8_t *c,
                size_t len) {
    uint8_t lengths[16];
    poly_update(p, ad, ad_len);
    poly_pad16(p);
    poly_update(p, c, len);
    poly_pad16(p);
    for (int i = 0; i < 8; i++) {
        lengths[i] = (uint8_t)((uint64_t)ad_len >> (8 * i));
        lengths[8 + i] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    poly_update(p, lengths, sizeof lengths);
    poly_finish(p, tag);
}

void au_dc_aead_seal(uint8_t *m, size_t len, uint8_t tag[16], const uint8_t *ad, size_t ad_len,
                     const uint8_t nonce[24], const uint8_t key[32]) {
    uint8_t subkey[32], nonce12[12];
    poly p;
    derive(subkey, nonce12, &p, nonce, key);
    au_dc_chacha20_xor(m, len, subkey, nonce12, 1);
    mac(&p, tag, ad, ad_len, m, len);
    au_dc_zero(subkey, sizeof subkey);
}

int au_dc_aead_open(uint8_t *c, size_t len, const uint8_t tag[16], const uint8_t *ad,
                    size_t ad_len, const uint8_t nonce[24], const uint8_t key[32]) {
    uint8_t subkey[32], nonce12[12], expect[16];
    poly p;
    derive(subkey, nonce12, &p, nonce, key);
    mac(&p, expect, ad, ad_len, c, len);
    uint8_t diff = 0;
    for (int i = 0; i < 16; i++) diff |= (uint8_t)(expect[i] ^ tag[i]);
    int ok = diff == 0;
    if (ok) au_dc_chacha20_xor(c, len, subkey, nonce12, 1);
    au_dc_zero(subkey, sizeof subkey);
    au_dc_zero(expect, sizeof expect);
    return ok ? 0 : -1;
}

#endif
