/* libFuzzer harness: the device client's receive path (au_dc_input: datagram checks, frames,
 * CBOR of the downlink messages, replay windows, owner slots) on arbitrary bytes.
 *
 * The first input byte picks the mode (plain or sealed with a fixed key) and whether the rest is
 * taken as a whole datagram or as the frames of one whose checksum or seal is made valid here,
 * so that the frame and CBOR checks are reached and not only the integrity check. Aborts if a
 * datagram is counted neither as accepted nor under exactly one drop reason, or if the client
 * reads or writes outside the buffers (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "devices/client/internal.h"

static const uint8_t KEY[32] = { 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7 };
static uint32_t clock_ms;

static int fake_send(void *ctx, const au_dc_addr *to, const uint8_t *data, size_t len) {
    (void)ctx, (void)to, (void)data, (void)len;
    return 0;
}
static uint32_t fake_now(void *ctx) {
    (void)ctx;
    return clock_ms += 7;
}
static void on_message(void *user, uint64_t server, uint64_t type, const uint8_t *p, size_t n) {
    (void)user, (void)server, (void)type;
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < n; i++) sink ^= p[i]; /* the view must be readable */
    (void)sink;
}

static uint32_t drops(const au_dc_stats *s) {
    return s->drop_malformed + s->drop_integrity + s->drop_replayed + s->drop_not_mine;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uint8_t rx[2048], tx[512], dgram[2048 + 64];
    static au_dc_addr seed = { 7, { 4, 0, 1, 127, 0, 0, 1 } };
    if (size < 1 || size > 2000) return 0;
    int sealed = data[0] & 1, wrap = data[0] & 2;
    data++, size--;
    au_dc_config cfg = {
        .device = 0x1122, .incarnation = 9, .nseeds = 1, .seeds = &seed,
        .key = sealed ? KEY : NULL, .rx_buf = rx, .rx_cap = sizeof rx, .tx_buf = tx,
        .tx_cap = sizeof tx, .platform = { fake_send, NULL, fake_now, NULL },
        .on_message = on_message,
    };
    au_dc dc;
    if (au_dc_init(&dc, &cfg) != AU_DC_OK) abort();
    au_dc_tick(&dc);

    size_t len;
    if (!wrap) {
        memcpy(dgram, data, size);
        len = size;
    } else {
        /* header | [nonce] | input as frames | checksum or tag */
        size_t start = AU_WIRE_HEADER_SIZE + (sealed ? AU_WIRE_NONCE_SIZE : 0);
        dgram[0] = 0x41, dgram[1] = 0x75, dgram[2] = 1, dgram[3] = sealed ? 1 : 0;
        for (int i = 4; i < 20; i++) dgram[i] = (uint8_t)i;
        memcpy(dgram + start, data, size);
        len = start + size;
        if (sealed) {
            for (int i = 0; i < 24; i++) dgram[20 + i] = (uint8_t)(i * 3);
            dgram[21] = 0;
            au_dc_aead_seal(dgram + start, size, dgram + len, dgram, 20, dgram + 20, KEY);
            len += 16;
        } else {
            uint64_t h = XXH3_64bits(dgram, len);
            for (int i = 0; i < 8; i++) dgram[len + i] = (uint8_t)(h >> (56 - 8 * i));
            len += 8;
        }
    }
    /* Twice: the second time the replay window (if the first was accepted) must refuse it. */
    for (int round = 0; round < 2; round++) {
        uint8_t copy[sizeof dgram];
        memcpy(copy, dgram, len);
        au_dc_stats before = dc.stats;
        au_dc_input(&dc, &seed, copy, len);
        uint32_t counted = (dc.stats.accepted - before.accepted) + (drops(&dc.stats) - drops(&before));
        if (dc.stats.received != before.received + 1 || counted != 1) abort();
        if (round == 1 && dc.stats.accepted != before.accepted) abort();
        au_dc_tick(&dc);
    }
    return 0;
}
