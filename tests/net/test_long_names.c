/* test_long_names.c — a plain node at a small mtu reaches an actor whose name is too long for
 * the first fragment of a message to it: the receiver has no state for the sender yet, and lets
 * the message in on the part of the name it sees (its length, root type and first bytes), then
 * looks the whole name up once reassembled. A first fragment that shares its datagram with a
 * message for no one here, and one whose name matches no actor, are the cases around it. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "support/recorder.h"

AU_ROOT(box_msg, (value, int64_t, AU_REMOTE), (blob, au_bytes, AU_REMOTE));

/* Sends, in one turn (so both leave in the same datagrams), `lead` bytes to `lead_to` (an actor
 * that is not there) and then `size` bytes, the first one `go`, to `to`. */
AU_ROOT(pair_msg, (go, int64_t, AU_PLAIN));
typedef struct pair {
    au_bytes_ref lead_to, to;
    size_t lead, size;
} pair;

static void pair_recv(au_ctx *ctx, pair *self, pair_msg *m) {
    uint8_t buf[1024] = { 0 };
    if (self->lead) au_send(self->lead_to, au_bytes_dup(buf, self->lead));
    buf[0] = (uint8_t)m->go;
    au_send(self->to, au_bytes_dup(buf, self->size));
}

AU_ACTOR(pair_actor, pair, pair_msg, .recv = pair_recv);

static au_node *plain_node(size_t mtu) {
    au_node *node = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1:0", .mtu = mtu, .workers = 1 },
                                   &node), AU_OK);
    return node;
}

static void long_name(char *out, size_t len, char c) {
    memset(out, c, len);
    out[len] = 0;
}

/* Each of `rounds` messages of `size` bytes, after a lead of `lead` bytes to nobody, reaches the
 * actor with the 200-byte name on a node of that mtu; the first comes from a sender it has no
 * state for. */
static void messages_reach_the_long_name(size_t mtu, size_t lead, size_t size, int rounds) {
    char name[201];
    long_name(name, 200, 'n');
    au_node *a = plain_node(mtu), *b = plain_node(mtu);
    au_probe *p = au_probe_new_with(b, box_msg, &(au_probe_opts){ .name = name });
    assert_non_null(p);
    pair state = { .lead_to = au_forge(box_msg, au_bytes, a, "nobody", au_node_address(b)),
                   .to = au_forge(box_msg, au_bytes, a, name, au_node_address(b)),
                   .lead = lead, .size = size };
    assert_false(au_ref_is_null(state.to.raw));
    pair_msg_ref sender = au_spawn(a, pair_actor, NULL, &state);
    for (int i = 1; i <= rounds; i++) {
        assert_int_equal(au_send(sender, ((pair_msg){ .tag = pair_msg_go, .go = i })), AU_OK);
        box_msg got;
        assert_int_equal(au_probe_expect(p, box_msg, &got, AU_SEC(30)), AU_OK);
        assert_int_equal(got.tag, box_msg_blob);
        assert_int_equal(got.blob.len, size);
        assert_int_equal(got.blob.ptr[0], i);
        au_value_free(&au_type_box_msg, &got);
    }
    au_node_stats st;
    au_node_stats_get(b, &st);
    assert_int_equal(st.drops_peer_limit, 0);
    assert_int_equal(st.drops_reassembly, 0);
    assert_int_equal(st.drops_unknown_actor, lead ? (uint64_t)rounds : 0);
    au_probe_free(p);
    au_node_stop(a);
    au_node_stop(b);
}

static void at_mtu_96_a_name_longer_than_any_fragment_is_reached(void **s) {
    messages_reach_the_long_name(96, 0, 10, 3);  /* every message fragmented: 218 bytes of head */
    messages_reach_the_long_name(96, 20, 300, 3); /* the lead a whole message of its own */
}

static void at_mtu_300_a_first_fragment_sharing_its_datagram_is_reached(void **s) {
    /* The lead takes about 100 of the 272 bytes for frames: the first fragment that follows
     * carries about 150 bytes of body, not the 218 of the destination. */
    messages_reach_the_long_name(300, 70, 400, 3);
    messages_reach_the_long_name(300, 0, 400, 3); /* alone: its first fragment holds the name */
}

/* A first fragment with the start of a live actor's name, but another length of name or
 * another root type, makes no sender state: its datagrams are counted, nothing arrives. */
AU_ROOT(other_msg, (blob, au_bytes, AU_REMOTE));

static bool fragments_dropped(void *arg) {
    au_node_stats st;
    au_node_stats_get(arg, &st);
    return st.drops_peer_limit >= 12; /* 6 fragments of 49 bytes for each message */
}

static void a_cut_name_that_matches_no_actor_makes_no_state(void **s) {
    char name[201], shorter[201];
    long_name(name, 200, 'n');
    long_name(shorter, 199, 'n');
    au_node *a = plain_node(96), *b = plain_node(96);
    au_probe *p = au_probe_new_with(b, box_msg, &(au_probe_opts){ .name = name });
    assert_non_null(p);
    au_bytes_ref by_length = au_forge(box_msg, au_bytes, a, shorter, au_node_address(b));
    au_bytes_ref by_root = au_forge(other_msg, au_bytes, a, name, au_node_address(b));
    assert_false(au_ref_is_null(by_length.raw) || au_ref_is_null(by_root.raw));
    uint8_t buf[65] = { 0 }; /* 18 + 199 + 65 and 18 + 200 + 64 body bytes (with the lengths) */
    assert_int_equal(au_send(by_length, au_bytes_dup(buf, 65)), AU_OK);
    assert_int_equal(au_send(by_root, au_bytes_dup(buf, 64)), AU_OK);
    assert_true(wait_until(fragments_dropped, b, 30000));
    au_node_stats st;
    au_node_stats_get(b, &st);
    assert_int_equal(st.senders, 0);
    assert_int_equal(st.drops_reassembly, 0);
    assert_int_equal(au_probe_count(p), 0);
    au_probe_free(p);
    au_node_stop(a);
    au_node_stop(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(at_mtu_96_a_name_longer_than_any_fragment_is_reached),
        cmocka_unit_test(at_mtu_300_a_first_fragment_sharing_its_datagram_is_reached),
        cmocka_unit_test(a_cut_name_that_matches_no_actor_makes_no_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
