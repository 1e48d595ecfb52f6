/* Specification of the device client's XChaCha20-Poly1305 (src/devices/client/aead.c): the
 * published test vectors, then the same bytes as libsodium's on inputs chosen to reach the
 * corners (every length around the 16- and 64-byte block edges, Poly1305 values near
 * 2^130 - 5), and every altered input refused by both. fuzz/fuzz_device_aead.c keeps looking
 * for a difference on inputs the fuzzer picks.
 *
 * Vectors: RFC 8439 §2.3.2 (ChaCha20 block), §2.4.2 (encryption), §2.5.2 (Poly1305), §2.6.2
 * (Poly1305 key generation), Appendix A.3 #5–#9 (Poly1305 edge cases);
 * draft-irtf-cfrg-xchacha-03 §2.2.1 (HChaCha20) and Appendix A.3.1 (the AEAD). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "devices/client/internal.h"

static size_t unhex(const char *hex, uint8_t *out) {
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static void assert_hex(const uint8_t *got, const char *hex) {
    uint8_t want[512];
    size_t n = unhex(hex, want);
    assert_memory_equal(got, want, n);
}

static const char SUNSCREEN[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
                                "only one tip for the future, sunscreen would be it.";

/* ---- published vectors ---------------------------------------------------------------------- */

static void hchacha20_vector(void **state) {
    (void)state;
    uint8_t key[32], nonce[16], out[32];
    unhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", key);
    unhex("000000090000004a0000000031415927", nonce);
    au_dc_hchacha20(out, key, nonce);
    assert_hex(out, "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc");
}

static void chacha20_block_vector(void **state) {
    (void)state;
    uint8_t key[32], nonce[12], block[64] = { 0 };
    unhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", key);
    unhex("000000090000004a00000000", nonce);
    au_dc_chacha20_xor(block, sizeof block, key, nonce, 1);
    assert_hex(block, "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
                      "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e");
}

static void chacha20_encryption_vector(void **state) {
    (void)state;
    uint8_t key[32], nonce[12], text[114];
    unhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", key);
    unhex("000000000000004a00000000", nonce);
    memcpy(text, SUNSCREEN, sizeof text);
    au_dc_chacha20_xor(text, sizeof text, key, nonce, 1);
    assert_hex(text, "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
                     "f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
                     "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
                     "5af90bbf74a35be6b40b8eedf2785e42874d");
}

static void poly1305_vector(void **state) {
    (void)state;
    uint8_t key[32], tag[16];
    unhex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b", key);
    const char *msg = "Cryptographic Forum Research Group";
    au_dc_poly1305(tag, (const uint8_t *)msg, strlen(msg), key);
    assert_hex(tag, "a8061dc1305136c6c22b8baf0c0127a9");
}

static void poly1305_key_generation_vector(void **state) {
    (void)state;
    uint8_t key[32], nonce[12], block[64] = { 0 };
    unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", key);
    unhex("000000000001020304050607", nonce);
    au_dc_chacha20_xor(block, sizeof block, key, nonce, 0);
    assert_hex(block, "8ad5a08b905f81cc815040274ab29471a833b637e3fd0da508dbb8e2fdd1a646");
}

/* RFC 8439 A.3 #5–#9: h near and past 2^130 - 5, the carries and the final reduction. */
static void poly1305_edge_vectors(void **state) {
    (void)state;
    static const struct { const char *r, *s, *m, *tag; } v[] = {
        { "02", "", "ffffffffffffffffffffffffffffffff", "03000000000000000000000000000000" },
        { "02", "ffffffffffffffffffffffffffffffff", "02000000000000000000000000000000",
          "03000000000000000000000000000000" },
        { "01", "", "ffffffffffffffffffffffffffffffff" "f0ffffffffffffffffffffffffffffff"
                    "11000000000000000000000000000000", "05000000000000000000000000000000" },
        { "01", "", "ffffffffffffffffffffffffffffffff" "fbfefefefefefefefefefefefefefefe"
                    "01010101010101010101010101010101", "00000000000000000000000000000000" },
        { "02", "", "fdffffffffffffffffffffffffffffff", "faffffffffffffffffffffffffffffff" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t key[32] = { 0 }, m[64], tag[16], ref[16];
        unhex(v[i].r, key);
        unhex(v[i].s, key + 16);
        size_t n = unhex(v[i].m, m);
        au_dc_poly1305(tag, m, n, key);
        assert_hex(tag, v[i].tag);
        crypto_onetimeauth_poly1305(ref, m, n, key);
        assert_memory_equal(tag, ref, 16);
    }
}

static void xchacha20_poly1305_aead_vector(void **state) {
    (void)state;
    uint8_t key[32], nonce[24], ad[12], text[114], tag[16];
    unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", key);
    unhex("404142434445464748494a4b4c4d4e4f5051525354555657", nonce);
    unhex("50515253c0c1c2c3c4c5c6c7", ad);
    memcpy(text, SUNSCREEN, sizeof text);
    au_dc_aead_seal(text, sizeof text, tag, ad, sizeof ad, nonce, key);
    assert_hex(text, "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
                     "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
                     "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
                     "21f9664c97637da9768812f615c68b13b52e");
    assert_hex(tag, "c0875924c1c7987947deafd8780acf49");
    assert_int_equal(au_dc_aead_open(text, sizeof text, tag, ad, sizeof ad, nonce, key), 0);
    assert_memory_equal(text, SUNSCREEN, sizeof text);
}

/* ---- against libsodium ---------------------------------------------------------------------- */

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static void fill(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rng();
}

/* Seals with both, compares, then opens with both, then alters one byte of ciphertext, tag, ad
 * or nonce and checks that both refuse and that the client left the ciphertext as it was. */
static void compare_one(size_t ad_len, size_t len, int pattern) {
    uint8_t key[32], nonce[24], ad[80], m[400], c[400], tag[16], ref[400 + 16];
    fill(key, sizeof key);
    fill(nonce, sizeof nonce);
    fill(ad, ad_len);
    fill(m, len);
    if (pattern) { /* all ones: the largest Poly1305 limbs */
        memset(m, 0xff, len);
        memset(ad, 0xff, ad_len);
    }
    memcpy(c, m, len);
    au_dc_aead_seal(c, len, tag, ad, ad_len, nonce, key);
    unsigned long long ref_len;
    crypto_aead_xchacha20poly1305_ietf_encrypt(ref, &ref_len, m, len, ad, ad_len, NULL, nonce, key);
    assert_int_equal(ref_len, len + 16);
    assert_memory_equal(c, ref, len);
    assert_memory_equal(tag, ref + len, 16);

    uint8_t out[400];
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, ref, ref_len, ad,
                                                                ad_len, nonce, key), 0);
    uint8_t copy[400];
    memcpy(copy, c, len);
    assert_int_equal(au_dc_aead_open(copy, len, tag, ad, ad_len, nonce, key), 0);
    assert_memory_equal(copy, m, len);

    for (int what = 0; what < 4; what++) {
        uint8_t c2[400], tag2[16], ad2[80], nonce2[24];
        memcpy(c2, c, len);
        memcpy(tag2, tag, 16);
        memcpy(ad2, ad, ad_len);
        memcpy(nonce2, nonce, 24);
        uint8_t bit = (uint8_t)(1u << (rng() % 8));
        if (what == 0 && len) c2[rng() % len] ^= bit;
        else if (what == 1) tag2[rng() % 16] ^= bit;
        else if (what == 2 && ad_len) ad2[rng() % ad_len] ^= bit;
        else nonce2[rng() % 24] ^= bit;
        uint8_t sealed[416];
        memcpy(sealed, c2, len);
        memcpy(sealed + len, tag2, 16);
        assert_int_not_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, sealed, len + 16,
                                                                        ad2, ad_len, nonce2, key), 0);
        uint8_t before[400];
        memcpy(before, c2, len);
        assert_int_equal(au_dc_aead_open(c2, len, tag2, ad2, ad_len, nonce2, key), -1);
        assert_memory_equal(c2, before, len);
    }
}

static void same_bytes_as_libsodium_at_every_block_edge(void **state) {
    (void)state;
    assert_true(sodium_init() >= 0);
    for (size_t len = 0; len <= 200; len++)
        for (size_t ad_len = 0; ad_len <= 33; ad_len += (ad_len < 17 ? 1 : 8))
            compare_one(ad_len, len, (int)(len % 2));
    for (int i = 0; i < 500; i++) compare_one(rng() % 81, rng() % 401, i % 3 == 0);
}

/* Poly1305 alone against libsodium with r and the message at their largest and with random
 * values: the reduction paths that random AEAD inputs reach rarely. */
static void poly1305_same_as_libsodium(void **state) {
    (void)state;
    assert_true(sodium_init() >= 0);
    for (int i = 0; i < 3000; i++) {
        uint8_t key[32], m[300], tag[16], ref[16];
        fill(key, sizeof key);
        size_t len = (size_t)(rng() % sizeof m);
        fill(m, len);
        if (i % 4 == 0) memset(key, 0xff, 16);
        if (i % 3 == 0) memset(m, 0xff, len);
        if (i % 5 == 0) memset(key + 16, 0xff, 16);
        au_dc_poly1305(tag, m, len, key);
        crypto_onetimeauth_poly1305(ref, m, len, key);
        assert_memory_equal(tag, ref, 16);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hchacha20_vector),
        cmocka_unit_test(chacha20_block_vector),
        cmocka_unit_test(chacha20_encryption_vector),
        cmocka_unit_test(poly1305_vector),
        cmocka_unit_test(poly1305_key_generation_vector),
        cmocka_unit_test(poly1305_edge_vectors),
        cmocka_unit_test(xchacha20_poly1305_aead_vector),
        cmocka_unit_test(same_bytes_as_libsodium_at_every_block_edge),
        cmocka_unit_test(poly1305_same_as_libsodium),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
