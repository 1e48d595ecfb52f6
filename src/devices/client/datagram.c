/* datagram.c — the device client's side of aurum's wire format (docs/wire-format.md): one
 * message frame per outgoing datagram, plain (XXH3-64 trailer) or sealed (XChaCha20-Poly1305,
 * the header as associated data); received datagrams checked whole, their message frames
 * walked.
 *
 * Relies on: proto/wire.h and proto/seal.h for the layout's constants (static asserts below keep
 * the public AU_DC_* values equal to them); xxHash's header, inlined (XXH_INLINE_ALL: no library
 * to link, about 1.5 KiB of code for XXH3-64 on a Cortex-M4); aead.c.
 *
 * Subset of the format a device speaks, and why: it never coalesces (each control message is
 * sent when it is due, to one peer) and never fragments (its messages are small; a user message
 * must fit the tx buffer); it accepts coalesced datagrams but not fragment frames, since
 * reassembly would need memory a device does not have — servers keep downlink messages within
 * one datagram (docs/devices.md §3).
 *
 * Invariants: every read of a received datagram is preceded by a check that the bytes are
 * there (lengths compared by subtraction from the end); a sealed datagram is authenticated
 * before anything in it is read but the header and the nonce; the sealed nonce is
 * key id | device id | 7 random bytes | sequence number, unique per key as long as the
 * (random, sequence) pair never repeats for a device (au_dc_config.nonce_random). */
#include "devices/client/internal.h"

#if AU_DC_PLAIN
#define XXH_INLINE_ALL
#include <xxhash.h>
#endif

_Static_assert(AU_DC_OVERHEAD_PLAIN == AU_WIRE_HEADER_SIZE + AU_WIRE_MESSAGE_FRAME_HEADER +
                                           AU_WIRE_BODY_HEADER + AU_WIRE_CHECKSUM_SIZE,
               "plain overhead");
_Static_assert(AU_DC_OVERHEAD_SEALED == AU_WIRE_HEADER_SIZE + AU_WIRE_MESSAGE_FRAME_HEADER +
                                            AU_WIRE_BODY_HEADER + AU_SEAL_OVERHEAD,
               "sealed overhead");
_Static_assert(AU_DC_KEY_SIZE == AU_SEAL_KEY_SIZE, "key size");

#define SEALED(dc) ((dc)->cfg->key != NULL)
#define NONCE_AT AU_WIRE_HEADER_SIZE

size_t au_dc_frames_start(const au_dc *dc) {
    return AU_WIRE_HEADER_SIZE + (SEALED(dc) ? AU_WIRE_NONCE_SIZE : 0);
}

size_t au_dc_frames_end(const au_dc *dc) {
    /* A server's node drops a datagram above its mtu unread (AU_DC_MAX_DATAGRAM: its default);
     * past the largest UDP payload a frame's 16-bit body length could not say it either. */
    size_t max = AU_DC_MAX_DATAGRAM < AU_WIRE_MAX_MTU ? AU_DC_MAX_DATAGRAM : AU_WIRE_MAX_MTU;
    size_t cap = dc->cfg->tx_cap < max ? dc->cfg->tx_cap : max;
    return cap - (SEALED(dc) ? AU_WIRE_TAG_SIZE : AU_WIRE_CHECKSUM_SIZE);
}

/* ---- sending ------------------------------------------------------------------------------ */

size_t au_dc_begin_message(au_dc *dc) {
    uint8_t *frame = dc->cfg->tx_buf + au_dc_frames_start(dc);
    uint8_t *body = frame + AU_WIRE_MESSAGE_FRAME_HEADER;
    frame[0] = AU_WIRE_FRAME_MESSAGE; /* the body length follows once the payload is written */
    body[0] = AU_WIRE_KIND_MESSAGE;
    body[1] = dc->name_len;
    au_dc_put_be(body + 2, AU_DC_UP_TYPE_ID, 8);  /* root: au_device_up */
    au_dc_put_be(body + 10, AU_DC_UP_TYPE_ID, 8); /* interface: the whole root */
    const char *name = dc->cfg->server_name ? dc->cfg->server_name : AU_DC_SERVER_NAME;
    au_dc_copy(body + AU_WIRE_BODY_HEADER, (const uint8_t *)name, dc->name_len);
    return (size_t)(body + AU_WIRE_BODY_HEADER + dc->name_len - dc->cfg->tx_buf);
}

int au_dc_finish_and_send(au_dc *dc, size_t payload_end, const au_dc_addr *to) {
    const au_dc_config *cfg = dc->cfg;
    uint8_t *buf = cfg->tx_buf;
    size_t frame = au_dc_frames_start(dc);
    au_dc_put_be(buf + frame + 1, payload_end - frame - AU_WIRE_MESSAGE_FRAME_HEADER, 2);

    uint64_t seq = dc->seq++;
    au_dc_put_be(buf, AU_WIRE_MAGIC, 2);
    buf[2] = AU_WIRE_VERSION;
    buf[3] = SEALED(dc) ? AU_WIRE_FLAG_SEALED : 0;
    au_dc_put_be(buf + 4, cfg->incarnation, 8);
    au_dc_put_be(buf + 12, seq, 8);
    size_t len;
#if AU_DC_SEALING
    if (SEALED(dc)) {
        uint8_t *nonce = buf + NONCE_AT;
        nonce[0] = cfg->key_id;
        au_dc_put_be(nonce + 1, cfg->device, 8);
        bool random = false;
        for (int i = 0; i < 7; i++) random |= cfg->nonce_random[i] != 0;
        if (random) au_dc_copy(nonce + 9, cfg->nonce_random, 7);
        else au_dc_put_be(nonce + 9, cfg->incarnation, 7);
        au_dc_put_be(nonce + 16, seq, 8);
        au_dc_aead_seal(buf + frame, payload_end - frame, buf + payload_end, buf,
                        AU_WIRE_HEADER_SIZE, nonce, cfg->key);
        len = payload_end + AU_WIRE_TAG_SIZE;
    } else
#endif
    {
#if AU_DC_PLAIN
        au_dc_put_be(buf + payload_end, XXH3_64bits(buf, payload_end), 8);
        len = payload_end + AU_WIRE_CHECKSUM_SIZE;
#else
        return AU_DC_EINVAL; /* unreachable: au_dc_init refuses a keyless config */
#endif
    }
    if (cfg->platform.send(cfg->platform.ctx, to, buf, len) < 0) {
        dc->stats.send_errors++;
        return AU_DC_ESEND;
    }
    dc->stats.sent++;
    return AU_DC_OK;
}

/* ---- receiving ---------------------------------------------------------------------------- */

int au_dc_open(const au_dc *dc, uint8_t *buf, size_t len, au_dc_opened *out) {
    if (len < AU_WIRE_HEADER_SIZE) return AU_WIRE_TRUNCATED;
    if (au_dc_get_be(buf, 2) != AU_WIRE_MAGIC) return AU_WIRE_BAD_MAGIC;
    if (buf[2] != AU_WIRE_VERSION) return AU_WIRE_BAD_VERSION;
    if (buf[3] & ~AU_WIRE_FLAGS_KNOWN) return AU_WIRE_BAD_FLAGS;
    bool sealed = (buf[3] & AU_WIRE_FLAG_SEALED) != 0;
    if (SEALED(dc) && !sealed) return AU_WIRE_NOT_SEALED;
    if (!SEALED(dc) && sealed) return AU_WIRE_NO_KEY;
    out->incarnation = au_dc_get_be(buf + 4, 8);
    out->seq = au_dc_get_be(buf + 12, 8);
    out->sender = 0;
    size_t start, end;
#if AU_DC_SEALING
    if (sealed) {
        if (len < AU_WIRE_HEADER_SIZE + AU_SEAL_OVERHEAD) return AU_WIRE_TRUNCATED;
        /* The key id (nonce[0]) is not looked at: the client holds one key, and a datagram
         * sealed with another fails authentication like any altered byte. */
        start = AU_WIRE_HEADER_SIZE + AU_WIRE_NONCE_SIZE;
        end = len - AU_WIRE_TAG_SIZE;
        if (au_dc_aead_open(buf + start, end - start, buf + end, buf, AU_WIRE_HEADER_SIZE,
                            buf + NONCE_AT, dc->cfg->key) != 0)
            return AU_WIRE_BAD_SEAL;
        out->sender = au_dc_get_be(buf + NONCE_AT + 1, 8);
    } else
#endif
    {
#if AU_DC_PLAIN
        if (len < AU_WIRE_HEADER_SIZE + AU_WIRE_CHECKSUM_SIZE) return AU_WIRE_TRUNCATED;
        start = AU_WIRE_HEADER_SIZE;
        end = len - AU_WIRE_CHECKSUM_SIZE;
        if (XXH3_64bits(buf, end) != au_dc_get_be(buf + end, 8)) return AU_WIRE_BAD_CHECKSUM;
#else
        return AU_WIRE_NO_KEY;
#endif
    }
    if (out->incarnation == 0) return AU_DC_NO_INCARNATION;
    if (start == end) return AU_WIRE_NO_FRAMES;
    out->pos = buf + start;
    out->end = buf + end;
    return AU_WIRE_OK;
}

static const uint8_t CLIENT_NAME[] = AU_DC_CLIENT_NAME;
#define CLIENT_NAME_LEN (sizeof CLIENT_NAME - 1)

int au_dc_next_frame(au_dc_opened *d, au_dc_frame *frame) {
    if (d->pos == d->end) return 0;
    size_t left = (size_t)(d->end - d->pos);
    /* Fragment frames are well-formed aurum but need reassembly memory: refused. */
    if (d->pos[0] != AU_WIRE_FRAME_MESSAGE) return AU_WIRE_BAD_FRAME;
    if (left < AU_WIRE_MESSAGE_FRAME_HEADER) return AU_WIRE_TRUNCATED;
    size_t body_len = (size_t)au_dc_get_be(d->pos + 1, 2);
    if (body_len > left - AU_WIRE_MESSAGE_FRAME_HEADER) return AU_WIRE_LENGTH_PAST_END;
    const uint8_t *body = d->pos + AU_WIRE_MESSAGE_FRAME_HEADER;
    if (body_len < AU_WIRE_BODY_HEADER) return AU_WIRE_TRUNCATED;
    size_t name_len = body[1];
    if (body[0] != AU_WIRE_KIND_MESSAGE && body[0] != AU_WIRE_KIND_SIGNAL) return AU_WIRE_BAD_KIND;
    if (name_len > body_len - AU_WIRE_BODY_HEADER) return AU_WIRE_LENGTH_PAST_END;
    d->pos = body + body_len;
    /* Well-formed from here: whether it is for this device is another question (a signal —
     * nothing can stop a device — another name, another root or interface type). */
    if (body[0] != AU_WIRE_KIND_MESSAGE || name_len != CLIENT_NAME_LEN ||
        !au_dc_same(body + AU_WIRE_BODY_HEADER, CLIENT_NAME, CLIENT_NAME_LEN) ||
        au_dc_get_be(body + 2, 8) != AU_DC_DOWN_TYPE_ID ||
        au_dc_get_be(body + 10, 8) != AU_DC_DOWN_TYPE_ID)
        return AU_DC_NOT_MINE;
    frame->payload = body + AU_WIRE_BODY_HEADER + name_len;
    frame->len = body_len - AU_WIRE_BODY_HEADER - name_len;
    return 1;
}
