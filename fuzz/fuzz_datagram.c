/* libFuzzer harness for the datagram parser (core/wire).
 *
 * Each input is tried three ways: as received (mostly stopped by the checksum), with its
 * checksum trailer repaired so the frame checks are reached, and as the frames of a datagram
 * sealed with a fixed key so the sealed path is reached. Every datagram the parser accepts is
 * then re-packed message by message and must parse back to the same messages: the packer and
 * the parser agree on everything the parser lets through.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "proto/seal.h"
#include "proto/wire.h"

#define MAX_MESSAGES 128 /* a 1400-byte datagram holds at most 66 message frames of 21 bytes */

typedef struct repacked {
    uint8_t *bytes;
    size_t len;
    int count;
} repacked;

static void keep_datagram(void *user, const uint8_t *dgram, size_t len) {
    repacked *r = user;
    if (r->count++ > 0) abort(); /* what came out of one datagram fits in one datagram */
    r->bytes = malloc(len);
    if (!r->bytes) abort();
    memcpy(r->bytes, dgram, len);
    r->len = len;
}

static int same_message(const au_wire_message *a, const au_wire_message *b) {
    return a->dest.kind == b->dest.kind && a->dest.name_len == b->dest.name_len &&
           a->dest.root_type == b->dest.root_type && a->dest.iface_type == b->dest.iface_type &&
           a->payload_len == b->payload_len &&
           (a->dest.name_len == 0 || memcmp(a->dest.name, b->dest.name, a->dest.name_len) == 0) &&
           (a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0);
}

/* Re-packs the messages of an accepted datagram and checks they parse back identically. */
static void check_round_trip(const au_wire_limits *limits, au_wire_reader reader) {
    au_wire_message msgs[MAX_MESSAGES];
    int n = 0, rc;
    au_wire_frame f;
    au_wire_ids ids;
    au_wire_ids_init(&ids);
    repacked out = {0};
    au_wire_packer packer;
    if (au_wire_packer_init(&packer, limits, 1, &ids, NULL, keep_datagram, &out) != AU_WIRE_OK)
        abort();
    while ((rc = au_wire_reader_next(&reader, &f)) > 0) {
        if (f.type != AU_WIRE_FRAME_MESSAGE || n == MAX_MESSAGES) continue;
        msgs[n++] = f.as.message;
        if (au_wire_packer_add(&packer, &f.as.message.dest, f.as.message.payload,
                               f.as.message.payload_len) != AU_WIRE_OK)
            abort();
    }
    if (rc != 0) abort(); /* an opened datagram never fails half-way */
    au_wire_packer_flush(&packer);
    au_wire_packer_destroy(&packer);
    if (n == 0) return;

    au_wire_header h;
    au_wire_reader again;
    if (au_wire_datagram_open(limits, NULL, out.bytes, out.len, &h, &again) != AU_WIRE_OK) abort();
    for (int i = 0; i < n; i++) {
        if (au_wire_reader_next(&again, &f) != 1 || f.type != AU_WIRE_FRAME_MESSAGE) abort();
        if (!same_message(&msgs[i], &f.as.message)) abort();
    }
    if (au_wire_reader_next(&again, &f) != 0) abort();
    free(out.bytes);
}

static void open_and_check(const au_wire_limits *limits, const au_seal_key *key, uint8_t *dgram,
                           size_t len) {
    au_wire_header h;
    au_wire_reader reader;
    int rc = au_wire_datagram_open(limits, key, dgram, len, &h, &reader);
    if (rc > 0 || strcmp(au_wire_status_str(rc), "unknown status") == 0) abort();
    if (rc == AU_WIRE_OK) check_round_trip(limits, reader);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static au_seal_key key;
    static int key_ready;
    if (!key_ready) {
        uint8_t secret[AU_SEAL_KEY_SIZE] = {1, 2, 3};
        if (au_seal_key_init(&key, secret) != AU_WIRE_OK) abort();
        key_ready = 1;
    }
    au_wire_limits limits = au_wire_limits_default();
    limits.max_name = 32; /* smaller than the format allows, so that limit is exercised */
    if (size > limits.mtu) return 0;

    /* Exact-size copies: any read past the datagram is an ASan report. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) abort();

    /* 1. as received */
    if (size) memcpy(buf, data, size);
    open_and_check(&limits, NULL, buf, size);

    /* 2. with a correct checksum trailer */
    if (size >= AU_WIRE_HEADER_SIZE + AU_WIRE_CHECKSUM_SIZE) {
        memcpy(buf, data, size);
        uint64_t sum = XXH3_64bits(buf, size - AU_WIRE_CHECKSUM_SIZE);
        for (int i = 0; i < 8; i++) buf[size - 1 - i] = (uint8_t)(sum >> (8 * i));
        open_and_check(&limits, NULL, buf, size);
    }
    free(buf);

    /* 3. the input as the frames of a sealed datagram */
    size_t sealed_len = AU_WIRE_HEADER_SIZE + AU_WIRE_NONCE_SIZE + size + AU_WIRE_TAG_SIZE;
    if (sealed_len <= limits.mtu) {
        uint8_t *sealed = malloc(sealed_len);
        if (!sealed) abort();
        au_wire_header h = {.flags = AU_WIRE_FLAG_SEALED, .incarnation = 7, .seq = 1};
        au_wire_header_encode(&h, sealed);
        if (size) memcpy(sealed + AU_WIRE_HEADER_SIZE + AU_WIRE_NONCE_SIZE, data, size);
        if (au_seal_close(&key, sealed, sealed_len - AU_WIRE_TAG_SIZE) != sealed_len) abort();
        open_and_check(&limits, &key, sealed, sealed_len);
        free(sealed);
    }
    return 0;
}
