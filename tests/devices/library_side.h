/* library_side.h — the cluster's end of the device protocol, built from the library's own parts
 * (proto/wire packer and parser, proto/seal, proto/codec with the schema types of
 * aurum/device_protocol.h), for the device client tests. Whatever the client sends must open and
 * decode here, and whatever this builds must be accepted by the client: that is what makes the
 * client speak the library's format rather than its own reading of the documentation.
 *
 * A lib_server is one server node as a device sees it: an id, an incarnation, a packer (its
 * sequence numbers) and, when sealed, a key whose nonce names the server id. Static functions:
 * include it from one test file. */
#ifndef TESTS_DEVICES_LIBRARY_SIDE_H
#define TESTS_DEVICES_LIBRARY_SIDE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <aurum/device_client.h>
#include <aurum/device_protocol.h>

#include "proto/codec.h"
#include "proto/seal.h"
#include "proto/wire.h"

#define LIB_DGRAM_MAX 1400

typedef struct lib_server {
    uint64_t id;
    au_wire_limits limits;
    au_wire_ids ids;
    au_seal_key key;
    int sealed;
    au_wire_packer packer;
    uint8_t out[LIB_DGRAM_MAX]; /* the last datagram the packer emitted */
    size_t out_len;
} lib_server;

static void lib_emit(void *user, const uint8_t *dgram, size_t len) {
    lib_server *s = user;
    assert_true(len <= sizeof s->out);
    memcpy(s->out, dgram, len);
    s->out_len = len;
}

/* secret NULL: plain. */
static void lib_server_init(lib_server *s, uint64_t id, uint64_t incarnation, const uint8_t *secret,
                            uint8_t key_id) {
    memset(s, 0, sizeof *s);
    s->id = id;
    s->limits = au_wire_limits_default();
    au_wire_ids_init(&s->ids);
    s->sealed = secret != NULL;
    if (secret) assert_int_equal(au_seal_key_init_id(&s->key, secret, key_id, id), AU_WIRE_OK);
    assert_int_equal(au_wire_packer_init(&s->packer, &s->limits, incarnation, &s->ids,
                                         secret ? &s->key : NULL, lib_emit, s),
                     AU_WIRE_OK);
}

static void lib_server_destroy(lib_server *s) { au_wire_packer_destroy(&s->packer); }

/* Appends one message to the pending datagram: a downlink root to (name, root, iface). */
static void lib_add(lib_server *s, const au_device_down *msg, const char *name, uint64_t root,
                    uint64_t iface, uint8_t kind) {
    au_buf buf = { 0 };
    assert_int_equal(au_encode(&au_type_au_device_down, msg, &buf, NULL), AU_OK);
    au_wire_dest dest = { .kind = kind, .name = (const uint8_t *)name, .name_len = strlen(name),
                          .root_type = root, .iface_type = iface };
    assert_int_equal(au_wire_packer_add(&s->packer, &dest, buf.data, buf.len), AU_WIRE_OK);
    au_buf_free(&buf);
}

/* One datagram holding msg, addressed as a device expects; into s->out. */
static void lib_build(lib_server *s, const au_device_down *msg) {
    lib_add(s, msg, AU_DEVICE_CLIENT_NAME, AU_DC_DOWN_TYPE_ID, AU_DC_DOWN_TYPE_ID, AU_WIRE_KIND_MESSAGE);
    au_wire_packer_flush(&s->packer);
}

static au_device_down lib_request(uint64_t device, uint64_t incarnation, uint64_t server,
                                  uint64_t request, uint32_t clock, uint32_t interval_ms) {
    return (au_device_down){ .tag = au_device_down_request,
                             .request = { device, incarnation, server, request, clock, interval_ms, 0 } };
}

static au_device_down lib_data(uint64_t device, uint64_t incarnation, uint64_t server,
                               uint64_t type, const uint8_t *payload, size_t len) {
    return (au_device_down){ .tag = au_device_down_data,
                             .data = { device, incarnation, server, type,
                                       { (uint8_t *)payload, (uint32_t)len, 0 } } };
}

/* An uplink datagram as the server's node receives it: opened (checksum or seal), exactly one
 * message frame, addressed to (name, au_device_up, whole root), payload decoded by the codec.
 * Returns the header; *msg owns what it decoded (au_value_free). */
static au_wire_header lib_open_up(const lib_server *s, const uint8_t *dgram, size_t len,
                                  const char *name, au_device_up *msg) {
    uint8_t copy[LIB_DGRAM_MAX];
    assert_true(len <= sizeof copy);
    memcpy(copy, dgram, len);
    au_wire_header h;
    au_wire_reader r;
    assert_int_equal(au_wire_datagram_open(&s->limits, s->sealed ? &s->key : NULL, copy, len, &h, &r),
                     AU_WIRE_OK);
    au_wire_frame f;
    assert_int_equal(au_wire_reader_next(&r, &f), 1);
    assert_int_equal(f.type, AU_WIRE_FRAME_MESSAGE);
    const au_wire_message *m = &f.as.message;
    assert_int_equal(m->dest.kind, AU_WIRE_KIND_MESSAGE);
    assert_int_equal(m->dest.name_len, strlen(name));
    assert_memory_equal(m->dest.name, name, strlen(name));
    assert_true(m->dest.root_type == au_type_id(&au_type_au_device_up));
    assert_true(m->dest.iface_type == au_type_id(&au_type_au_device_up));
    assert_int_equal(au_decode(&au_type_au_device_up, msg, m->payload, m->payload_len, NULL, NULL),
                     AU_OK);
    assert_int_equal(au_wire_reader_next(&r, &f), 0);
    return h;
}

#endif
