/* test_core_misuse.c — the core's public API (aurum.h: error, types, ref, actor, node, keys,
 * layer, driver) as a careless or hostile user meets it, each case held to what the header says:
 *  - error names and sentences for values that are not codes;
 *  - node configurations at and beyond their ranges (bind strings, workers, mtu, message and
 *    reassembly limits, keys and key files), NULL arguments to the node's readers;
 *  - spawn with NULL, empty, too long and duplicate names and bad mailbox options; forging with
 *    NULL or malformed names and addresses;
 *  - sends through null references, to stopped actors, with huge and zero delays, timers
 *    cancelled twice; receive timeouts and promise waits of the largest duration;
 *  - death watch on null, self, stopped targets, twice, and unwatch of what is not watched;
 *  - promises: timeout 0, a reply after the timeout, never waited on (freed by node stop), a
 *    waiter on another thread when the node stops;
 *  - au_node_stop of its own node from an actor's hook (pooled and dedicated), a timer of
 *    au_node_call_at or a peer-event callback: refused, logged;
 *  - layers attached beyond the limit, detached out of order or after spawning into them,
 *    attached or spawned into from a stopping hook;
 *  - remote messages at the size limit (exactly max, max + 1) over UDP loopback.
 * Relies on probes (aurum/testkit.h) to observe; every node binds 127.0.0.1:0 or has no network. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

static au_node *local_node(unsigned workers) {
    au_node *node = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = workers, .no_network = true }, &node), AU_OK);
    return node;
}

static au_node *udp_node(size_t max_message_size) {
    au_node *node = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 2, .max_message_size = max_message_size }, &node),
                     AU_OK);
    return node;
}

/* ---- errors ----------------------------------------------------------------------------------- */

static void error_names_of_values_that_are_not_codes(void **s) {
    int bad[] = { 1, -18, -1000, INT_MIN, INT_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_string_equal(au_strerror(bad[i]), "unknown error");
        assert_string_equal(au_err_name(bad[i]), "AU_EUNKNOWN");
    }
    assert_string_equal(au_err_name(AU_ESTATE), "AU_ESTATE");
    assert_string_equal(au_strerror(AU_OK), "success");
}

/* ---- configuration ---------------------------------------------------------------------------- */

static void refused(const au_node_config *cfg, au_err want) {
    au_node *node = (au_node *)(uintptr_t)1;
    assert_int_equal(au_node_start(cfg, &node), want);
    assert_null(node);
}

/* Every malformed bind string is AU_ECONFIG, whichever way it is malformed, and leaves *out NULL. */
static void malformed_bind_strings_are_econfig(void **s) {
    const char *bad[] = { "", "127.0.0.1", "127.0.0.1:", "127.0.0.1:-1", "127.0.0.1:65536",
                          "127.0.0.1:4294967296", "127.0.0.1:18446744073709551617", "127.0.0.1:abc",
                          "127.0.0.1:1x", "127.0.0.1: 1", "127.0.0.1:+1", "127.0.0.1:\t1", ":0", "[::1", "[::1]", "[::1]:", "[::1]0",
                          "[]:0", "[127.0.0.1:0", ":", "::::" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        au_node *node = (au_node *)(uintptr_t)1;
        au_err err = au_node_start(&(au_node_config){ .workers = 1, .bind = bad[i] }, &node);
        if (err != AU_ECONFIG) print_error("bind \"%s\": %s\n", bad[i], au_err_name(err));
        assert_int_equal(err, AU_ECONFIG);
        assert_null(node);
        node = (au_node *)(uintptr_t)1;
        err = au_node_start(&(au_node_config){ .workers = 1, .advertise = bad[i] }, &node);
        assert_int_equal(err, AU_ECONFIG);
        assert_null(node);
    }
    /* A host name longer than any name resolves: refused, never a crash or a truncated bind. */
    static char longhost[8192];
    memset(longhost, 'h', sizeof longhost - 3);
    memcpy(longhost + sizeof longhost - 3, ":0", 3);
    au_node *node = (au_node *)(uintptr_t)1;
    au_err err = au_node_start(&(au_node_config){ .workers = 1, .bind = longhost }, &node);
    assert_true(err == AU_ECONFIG || err == AU_ERESOLVE);
    assert_null(node);
}

/* "[::1]:0" binds IPv6 loopback where there is one (else AU_EBIND), and says so in its address. */
static void an_ipv6_bind_works_or_is_ebind(void **s) {
    au_node *node = NULL;
    au_err err = au_node_start(&(au_node_config){ .workers = 1, .bind = "[::1]:0" }, &node);
    if (err == AU_EBIND) {
        assert_null(node);
        return;
    }
    assert_int_equal(err, AU_OK);
    assert_true(strncmp(au_node_address(node), "[::1]:", 6) == 0);
    assert_true(au_node_incarnation(node) != 0);
    au_node_stop(node);
}

static void fields_out_of_range_are_econfig(void **s) {
    refused(&(au_node_config){ .workers = 1025 }, AU_ECONFIG);
    refused(&(au_node_config){ .workers = UINT_MAX }, AU_ECONFIG);
    refused(&(au_node_config){ .workers = 1, .mtu = 1 }, AU_ECONFIG);
    refused(&(au_node_config){ .workers = 1, .mtu = 95 }, AU_ECONFIG);
    refused(&(au_node_config){ .workers = 1, .mtu = 65508 }, AU_ECONFIG);
    refused(&(au_node_config){ .workers = 1, .mtu = SIZE_MAX }, AU_ECONFIG);
    refused(&(au_node_config){ .workers = 1, .max_message_size = 1 }, AU_ECONFIG);
    refused(&(au_node_config){ .workers = 1, .max_message_size = SIZE_MAX }, AU_ECONFIG);
    refused(&(au_node_config){ .workers = 1, .max_partials = SIZE_MAX }, AU_ECONFIG);
    refused(&(au_node_config){ .workers = 1, .max_reassembly_bytes = 1 << 20, .max_reassembly_total = 1 },
            AU_ECONFIG);
    refused(&(au_node_config){ .workers = 1, .nkeys = 1 }, AU_ECONFIG);
    refused(&(au_node_config){ .workers = 1, .clock = &(au_clock){ 0 } }, AU_ECONFIG); /* no now */
    refused(&(au_node_config){ .workers = 1, .no_network = true, .clock = &(au_clock){ 0 } }, AU_ECONFIG);
    au_key many[AU_KEYS_MAX + 1];
    for (int i = 0; i < AU_KEYS_MAX + 1; i++) assert_int_equal(au_key_generate(&many[i], (uint8_t)i), AU_OK);
    refused(&(au_node_config){ .workers = 1, .keys = many, .nkeys = AU_KEYS_MAX + 1 }, AU_ECONFIG);
    refused(&(au_node_config){ .workers = 1, .keys = many, .nkeys = SIZE_MAX }, AU_ECONFIG);
    au_key twice[2] = { many[0], many[1] };
    twice[1].id = twice[0].id;
    refused(&(au_node_config){ .workers = 1, .keys = twice, .nkeys = 2 }, AU_ECONFIG);
    /* at the edges of the ranges: starts */
    au_node *node = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 1, .mtu = 96 }, &node), AU_OK);
    au_node_stop(node);
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 1, .mtu = 65507, .batch = UINT_MAX,
                                                      .keys = many, .nkeys = AU_KEYS_MAX }, &node), AU_OK);
    assert_true(au_node_sealed(node));
    au_node_stop(node);
}

/* A NULL configuration is every default (aurum/node.h); a NULL out is AU_EINVAL. */
static void a_null_config_is_the_defaults_and_a_null_out_is_einval(void **s) {
    assert_int_equal(au_node_start(NULL, NULL), AU_EINVAL);
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 1 }, NULL), AU_EINVAL);
    au_node *node = NULL;
    assert_int_equal(au_node_start(NULL, &node), AU_OK);
    assert_true(strncmp(au_node_address(node), "127.0.0.1:", 10) == 0);
    au_node_stop(node);
}

static char key_dir[64];
static char *key_path(const char *name) {
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", key_dir, name);
    return path;
}
static void write_file(const char *path, const char *text, mode_t mode) {
    unlink(path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void bad_key_files_are_refused(void **s) {
    snprintf(key_dir, sizeof key_dir, "/tmp/au_core_misuse_%d", (int)getpid());
    assert_int_equal(mkdir(key_dir, 0700), 0);
    const char *good = "7 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
    struct { const char *name, *text; mode_t mode; au_err want; } cases[] = {
        { "open", "", 0644, AU_ECONFIG },                                    /* readable by others */
        { "empty", "", 0600, AU_ECONFIG },                                   /* no key */
        { "comments", "# nothing\n\n", 0600, AU_ECONFIG },
        { "short", "7 0001020304\n", 0600, AU_ECONFIG },                     /* a key of 5 bytes */
        { "long", "7 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00\n", 0600, AU_ECONFIG },
        { "badhex", "7 zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 0600, AU_ECONFIG },
        { "badid", "256 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 0600, AU_ECONFIG },
        { "negid", "-1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 0600, AU_ECONFIG },
        { "noid", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 0600, AU_ECONFIG },
        { "nul", "7 0001020304050607\0" "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 0600, AU_ECONFIG },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_file(key_path(cases[i].name), cases[i].text, cases[i].mode);
        au_key keys[AU_KEYS_MAX];
        size_t n = 99;
        au_err err = au_key_file_read(key_path(cases[i].name), keys, AU_KEYS_MAX, &n);
        if (err != cases[i].want) print_error("key file %s: %s\n", cases[i].name, au_err_name(err));
        assert_int_equal(err, cases[i].want);
        refused(&(au_node_config){ .workers = 1, .key_file = key_path(cases[i].name) }, cases[i].want);
    }
    /* twice the same id */
    char dup[256];
    snprintf(dup, sizeof dup, "%s%s", good, good);
    write_file(key_path("dup"), dup, 0600);
    refused(&(au_node_config){ .workers = 1, .key_file = key_path("dup") }, AU_ECONFIG);
    /* a directory, a missing file */
    refused(&(au_node_config){ .workers = 1, .key_file = key_dir }, AU_ECONFIG);
    refused(&(au_node_config){ .workers = 1, .key_file = key_path("missing") }, AU_EIO);
    /* more keys than max, and max 0 */
    write_file(key_path("good"), good, 0600);
    au_key one[1];
    size_t n = 0;
    assert_int_equal(au_key_file_read(key_path("good"), one, 1, &n), AU_OK);
    assert_int_equal(n, 1);
    assert_int_equal(one[0].id, 7);
    assert_int_equal(au_key_file_read(key_path("good"), one, 0, &n), AU_ECONFIG);
    /* NULL arguments */
    assert_int_equal(au_key_file_read(NULL, one, 1, &n), AU_EINVAL);
    assert_int_equal(au_key_file_read(key_path("good"), NULL, 1, &n), AU_EINVAL);
    assert_int_equal(au_key_file_read(key_path("good"), one, 1, NULL), AU_EINVAL);
    assert_int_equal(au_key_file_write(NULL, one, 1), AU_EINVAL);
    assert_int_equal(au_key_file_write(key_path("w"), NULL, 1), AU_EINVAL);
    assert_int_equal(au_key_file_write(key_path("w0"), one, 0), AU_EINVAL); /* a file read refuses */
    assert_int_equal(access(key_path("w0"), F_OK), -1);
    assert_int_equal(au_key_file_write(key_path("good"), one, 1), AU_EEXIST);
    assert_int_equal(au_key_generate(NULL, 1), AU_EINVAL);
    uint8_t master[AU_KEY_SIZE] = { 1 }, out[AU_KEY_SIZE];
    assert_int_equal(au_device_key_derive(NULL, 1, out), AU_EINVAL);
    assert_int_equal(au_device_key_derive(master, 0, out), AU_EINVAL);
    assert_int_equal(au_device_key_derive(master, 1, NULL), AU_EINVAL);
    /* a good file starts a sealed node */
    au_node *node = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 1, .key_file = key_path("good") }, &node), AU_OK);
    assert_true(au_node_sealed(node));
    /* the key ring at run time: NULL key, an id twice, the key in use, unknown ids */
    assert_int_equal(au_node_key_add(node, NULL), AU_EINVAL);
    assert_int_equal(au_node_key_add(node, &one[0]), AU_EEXIST);
    assert_int_equal(au_node_key_use(node, 200), AU_ENOTFOUND);
    assert_int_equal(au_node_key_remove(node, 7), AU_ESTATE);
    assert_int_equal(au_node_key_remove(node, 200), AU_ENOTFOUND);
    assert_int_equal(au_node_key_add(NULL, &one[0]), AU_EINVAL);
    assert_int_equal(au_node_key_use(NULL, 7), AU_EINVAL);
    assert_int_equal(au_node_key_remove(NULL, 7), AU_EINVAL);
    au_node_stop(node);
    const char *names[] = { "open", "empty", "comments", "short", "long", "badhex", "badid", "negid",
                            "noid", "nul", "dup", "good" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) unlink(key_path(names[i]));
    assert_int_equal(rmdir(key_dir), 0);
}

static int peer_events;
static void on_peer(au_node *node, const au_peer_event *e, void *arg) {
    (void)node;
    (void)arg;
    if (e->kind == AU_PEER_GONE) peer_events++;
}

/* The readers of a node take NULL as the headers say (or as a node without anything). */
static void node_readers_with_null_arguments(void **s) {
    au_node_stop(NULL);
    assert_string_equal(au_node_address(NULL), "");
    assert_int_equal(au_node_now(NULL), 0);
    assert_int_equal(au_node_unanswered(NULL, "127.0.0.1:1"), 0);
    assert_false(au_node_sealed(NULL));
    assert_int_equal(au_node_incarnation(NULL), 0);
    assert_null(au_node_driver(NULL));
    au_node_stats st;
    memset(&st, 0xff, sizeof st);
    au_node_stats_get(NULL, &st);
    for (size_t i = 0; i < AU_NODE_STATS_COUNT; i++) assert_int_equal(au_node_stats_value(&st, i), 0);
    assert_null(au_node_stats_describe(AU_NODE_STATS_COUNT));
    assert_null(au_node_stats_describe(SIZE_MAX));
    assert_int_equal(au_node_stats_value(&st, SIZE_MAX), 0);
    assert_int_equal(au_timer_cancel(NULL, 1), AU_EINVAL);
    assert_int_equal(au_peer_gone(NULL, "127.0.0.1:1"), AU_EINVAL);

    au_node *node = local_node(1);
    assert_string_equal(au_node_address(node), "");
    assert_int_equal(au_node_unanswered(node, NULL), 0);
    assert_int_equal(au_node_unanswered(node, "garbage"), 0);
    assert_false(au_node_sealed(node));
    assert_int_equal(au_node_incarnation(node), 0);
    assert_true(au_node_now(node) > 0);
    assert_int_equal(au_timer_cancel(node, 0), AU_EINVAL); /* never a timer */
    assert_int_equal(au_timer_cancel(node, UINT64_MAX), AU_ENOTFOUND);
    assert_int_equal(au_peer_gone(node, "127.0.0.1:1"), AU_ESTATE);
    au_key k;
    assert_int_equal(au_key_generate(&k, 1), AU_OK);
    assert_int_equal(au_node_key_add(node, &k), AU_ESTATE);
    au_node_stats_get(node, NULL); /* nothing to fill: a no-op */
    au_node_stop(node);

    node = udp_node(0);
    assert_int_equal(au_node_unanswered(node, NULL), 0);
    assert_int_equal(au_peer_gone(node, NULL), AU_EINVAL);
    assert_int_equal(au_peer_gone(node, "garbage"), AU_EINVAL);
    assert_int_equal(au_peer_gone(node, "127.0.0.1:99999"), AU_EINVAL);
    assert_int_equal(au_peer_gone(node, "127.0.0.1:1"), AU_OK);
    assert_int_equal(au_node_key_add(node, &k), AU_ESTATE); /* started without keys */
    assert_int_equal(au_peer_subscribe(node, NULL, NULL), AU_EINVAL);
    assert_int_equal(au_peer_subscribe(NULL, NULL, NULL), AU_EINVAL);
    /* the same (fn, arg) again changes nothing: called once per event, one slot (it was called
     * once per subscription, and eight of them filled the table) */
    for (int i = 0; i < 8; i++) assert_int_equal(au_peer_subscribe(node, on_peer, NULL), AU_OK);
    peer_events = 0;
    assert_int_equal(au_peer_gone(node, "127.0.0.1:3"), AU_OK);
    assert_int_equal(peer_events, 1);
    static int args[8];
    for (int i = 1; i < 8; i++) assert_int_equal(au_peer_subscribe(node, on_peer, &args[i]), AU_OK);
    assert_int_equal(au_peer_subscribe(node, on_peer, &args[0]), AU_EFULL);
    assert_int_equal(au_peer_subscribe(node, on_peer, &args[5]), AU_OK); /* there already */
    peer_events = 0;
    assert_int_equal(au_peer_gone(node, "127.0.0.1:2"), AU_OK);
    assert_int_equal(peer_events, 8); /* GONE, to each subscriber, on this thread */
    au_node_stop(node);

    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(au_address_resolve(NULL, &ss, &len), AU_EINVAL);
    assert_int_equal(au_address_resolve("127.0.0.1:1", NULL, &len), AU_EINVAL);
    assert_int_equal(au_address_resolve("127.0.0.1:1", &ss, NULL), AU_EINVAL);
    assert_int_equal(au_address_resolve("127.0.0.1:65536", &ss, &len), AU_EINVAL);
    assert_int_equal(au_address_resolve("[::1]:1", &ss, &len), AU_OK);
    assert_false(au_address_equal(NULL, NULL));
}

/* ---- value helpers ------------------------------------------------------------------------------ */

AU_RECORD(mm_rec, (au_str, text), (au_bytes, data));

static void value_helpers_at_their_edges(void **s) {
    au_str v = au_str_view(NULL);
    assert_int_equal(v.len, 0);
    au_str d = au_str_dup(NULL, 0);
    assert_non_null(d.ptr);
    assert_int_equal(d.len, 0);
    au_str_free(&d);
    au_str_free(NULL);
    assert_null(au_str_dup(NULL, 5).ptr);
    assert_null(au_bytes_dup(NULL, 5).ptr);
    assert_null(au_str_dup("x", UINT32_MAX).ptr);
    au_bytes b = au_bytes_dup(NULL, 0);
    assert_int_equal(b.len, 0);
    au_bytes_free(&b);
    au_bytes_free(NULL);
    au_buf buf = { 0 };
    assert_int_equal(au_buf_append(&buf, NULL, 0), AU_OK);
    /* no buffer, or a length with nothing to copy from: refused (they crashed, or memcpy'd from
     * NULL) */
    assert_int_equal(au_buf_reserve(NULL, 1), AU_EINVAL);
    assert_int_equal(au_buf_append(NULL, "x", 1), AU_EINVAL);
    assert_int_equal(au_buf_append(&buf, NULL, 3), AU_EINVAL);
    assert_int_equal(buf.len, 0);
    assert_int_equal(au_buf_reserve(&buf, SIZE_MAX), AU_ENOMEM);
    assert_int_equal(au_buf_append(&buf, "x", 1), AU_OK);
    assert_int_equal(au_buf_reserve(&buf, SIZE_MAX - 1), AU_ENOMEM);
    assert_int_equal(buf.len, 1);
    au_buf_free(&buf);
    au_buf_free(NULL);
    char schema[4];
    size_t full = au_type_schema(&au_type_mm_rec, schema, sizeof schema);
    assert_true(full > sizeof schema);
    assert_int_equal(strlen(schema), sizeof schema - 1);
    assert_int_equal(au_type_schema(&au_type_mm_rec, NULL, 0), full);
    mm_rec r;
    memset(&r, 0x5a, sizeof r);
    assert_int_equal(au_value_decode(&au_type_mm_rec, &r, NULL, 0), AU_EDECODE);
    uint8_t junk[] = { 0xff, 0xff, 0xff };
    assert_int_equal(au_value_decode(&au_type_mm_rec, &r, junk, sizeof junk), AU_EDECODE);
    au_value_free(&au_type_mm_rec, &r); /* left empty: freeing it is harmless */
}

/* ---- actors used below ---------------------------------------------------------------------------- */

AU_ROOT(mm_msg, (num, int64_t, AU_REMOTE), (blob, au_bytes, AU_REMOTE), (stop, au_unit, AU_PLAIN));

/* Forwards what it gets to a probe: numbers as they are, blobs as their length. */
typedef struct fwd {
    int64_t_ref to;
} fwd;
static void fwd_recv(au_ctx *ctx, fwd *self, mm_msg *m) {
    if (m->tag == mm_msg_num) au_send(self->to, m->num);
    if (m->tag == mm_msg_blob) au_send(self->to, (int64_t)m->blob.len);
    if (m->tag == mm_msg_stop) au_stop_self(ctx);
}
static void fwd_stop(au_ctx *ctx, fwd *self) {
    (void)ctx;
    au_send(self->to, (int64_t)-1);
}
AU_ACTOR(fwd_actor, fwd, mm_msg, .recv = fwd_recv, .post_stop = fwd_stop);

static void expect_int(au_probe *p, int64_t want) {
    int64_t got = 0;
    assert_int_equal(au_probe_expect(p, int64_t, &got, AU_SEC(5)), AU_OK);
    assert_int_equal(got, want);
}

/* ---- spawn ------------------------------------------------------------------------------------------ */

static void spawn_with_bad_names_and_options(void **s) {
    au_node *node = local_node(2);
    au_probe *p = au_probe_new(node, int64_t);
    fwd st = { au_probe_ref(p, int64_t) };

    mm_msg_ref r = au_spawn(NULL, fwd_actor, "x", &st);
    assert_true(au_ref_is_null(r.raw));
    assert_int_equal(au_last_error(), AU_EINVAL);

    static char longname[300];
    memset(longname, 'n', 256);
    r = au_spawn(node, fwd_actor, longname, &st); /* 256: one beyond the wire's byte of length */
    assert_true(au_ref_is_null(r.raw));
    assert_int_equal(au_last_error(), AU_EINVAL);
    longname[255] = 0;
    r = au_spawn(node, fwd_actor, longname, &st); /* 255: the longest */
    assert_false(au_ref_is_null(r.raw));

    r = au_spawn(node, fwd_actor, "", &st); /* an empty name is no name anyone can reach */
    assert_true(au_ref_is_null(r.raw));
    assert_int_equal(au_last_error(), AU_EINVAL);

    /* '~' begins the names generated for anonymous actors: reserved, so a user's "~1" can
     * neither take the name an anonymous actor's reference will get nor be refused for it. */
    r = au_spawn(node, fwd_actor, "~1", &st);
    assert_true(au_ref_is_null(r.raw));
    assert_int_equal(au_last_error(), AU_EINVAL);
    r = au_spawn(node, fwd_actor, "a~", &st); /* only the first byte is reserved */
    assert_false(au_ref_is_null(r.raw));

    mm_msg_ref a = au_spawn(node, fwd_actor, "a", &st);
    assert_false(au_ref_is_null(a.raw));
    r = au_spawn(node, fwd_actor, "a", &st);
    assert_true(au_ref_is_null(r.raw));
    assert_int_equal(au_last_error(), AU_EEXIST);
    r = au_spawn(node, fwd_actor, "a\0b", &st); /* C sees "a" */
    assert_true(au_ref_is_null(r.raw));
    assert_int_equal(au_last_error(), AU_EEXIST);

    /* bad mailbox options */
    const au_spawn_opts *bad[] = {
        au_opts(.capacity = 4, .low_water = 4),
        au_opts(.capacity = 4, .low_water = UINT32_MAX),
        au_opts(.capacity = 4, .policy = (au_mailbox_policy)99),
        au_opts(.capacity = 4, .policy = (au_mailbox_policy)-1),
        au_opts(.low_water = 1),
        au_opts(.policy = AU_MAILBOX_DROP_OLDEST),
        au_opts(.term = (au_term_policy)7),
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = au_spawn_with(node, fwd_actor, bad[i], &st);
        assert_true(au_ref_is_null(r.raw));
        assert_int_equal(au_last_error(), AU_EINVAL);
    }
    /* the largest capacity and receive timeout are accepted; the actor works */
    r = au_spawn_with(node, fwd_actor, au_opts(.capacity = UINT32_MAX, .receive_timeout = UINT64_MAX), &st);
    assert_false(au_ref_is_null(r.raw));
    assert_int_equal(au_send(au_narrow(mm_msg, int64_t, r), (int64_t)5), AU_OK);
    expect_int(p, 5);
    uint32_t depth = 99;
    assert_int_equal(au_mailbox_depth(r, &depth), AU_OK);
    assert_int_equal(au_mailbox_depth(r, NULL), AU_EINVAL);
    assert_int_equal(au_probe_expect_none(p, AU_MSEC(50)), AU_OK); /* no receive timeout fired */
    au_node_stop(node);
    au_probe_free(p);
}

/* ---- sends ---------------------------------------------------------------------------------------- */

/* A root exposed as an interface of another: what a hand-set inner tag would reach. */
AU_ROOT(nest_inner, (a, int64_t, AU_REMOTE));
AU_ROOT(nest_outer, (in, nest_inner, AU_REMOTE), (n, int64_t, AU_REMOTE));
typedef struct nest { int64_t_ref to; } nest;
static void nest_recv(au_ctx *ctx, nest *self, nest_outer *m) {
    (void)ctx;
    if (m->tag == nest_outer_in) au_send(self->to, (int64_t)m->in.tag);
}
AU_ACTOR(nest_actor, nest, nest_outer, .recv = nest_recv);

/* Roots deeper inside a message: a record's field, an array's element, a variant's payload. */
AU_RECORD(deep_rec, (int64_t, n), (nest_inner, in));
AU_ARRAY(nest_inner);
AU_ROOT(deep_msg, (rec, deep_rec, AU_REMOTE), (list, nest_inner_array, AU_REMOTE),
        (outer, nest_outer, AU_REMOTE), (n, int64_t, AU_REMOTE));
static void deep_recv(au_ctx *ctx, nest *self, deep_msg *m) {
    (void)ctx;
    int64_t v = -100;
    if (m->tag == deep_msg_rec) v = m->rec.in.tag;
    if (m->tag == deep_msg_list && m->list.len) v = (int64_t)m->list.ptr[m->list.len - 1].tag;
    if (m->tag == deep_msg_outer && m->outer.tag == nest_outer_in) v = m->outer.in.tag;
    if (m->tag == deep_msg_n) v = m->n;
    au_send(self->to, v);
}
AU_ACTOR(deep_actor, nest, deep_msg, .recv = deep_recv);

/* Strings are UTF-8 (RFC 3629) on every path: a local send refuses what a remote send would
 * refuse to encode, owned or borrowed, at the top or inside an array, and passes the rest. */
AU_ARRAY(au_str);
AU_ROOT(text_msg, (text, au_str, AU_REMOTE), (lines, au_str_array, AU_REMOTE));
static void text_recv(au_ctx *ctx, fwd *self, text_msg *m) {
    (void)ctx;
    if (m->tag == text_msg_text) au_send(self->to, (int64_t)m->text.len);
    if (m->tag == text_msg_lines) au_send(self->to, (int64_t)m->lines.len);
}
AU_ACTOR(text_actor, fwd, text_msg, .recv = text_recv);

static void strings_that_are_not_utf8_are_refused_locally_as_remotely(void **s) {
    au_node *node = local_node(2);
    au_probe *p = au_probe_new(node, int64_t);
    text_msg_ref t = au_spawn(node, text_actor, NULL, &(fwd){ au_probe_ref(p, int64_t) });
    static const char *const bad[] = {
        "\xff", "ab\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "tail\xe2\x82", "\x80x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        au_str view = au_str_view(bad[i]);
        text_msg m = { .tag = text_msg_text, .text = view };
        assert_int_equal(au_send(t, m), AU_EENCODE);
        assert_int_equal(au_try_send(t, m), AU_EENCODE);
        assert_int_equal(au_send_after(t, 0, m), 0);
        assert_int_equal(au_last_error(), AU_EENCODE);
        au_buf enc = { 0 };
        assert_int_equal(au_value_encode(&au_type_text_msg, &m, &enc), AU_EENCODE);
        au_buf_free(&enc);
        text_msg copy;
        assert_int_equal(au_value_copy(&au_type_text_msg, &copy, &m), AU_EENCODE);
        assert_int_equal(copy.text.len, 0);
        /* owned: moved, not copied, but refused all the same (and freed with the message) */
        text_msg owned = { .tag = text_msg_text, .text = au_str_dup(view.ptr, view.len) };
        assert_int_equal(au_send(t, owned), AU_EENCODE);
        /* inside an array, borrowed or owned */
        au_str lines[3] = { au_str_lit("ok"), au_str_lit("fine"), view };
        text_msg arr = { .tag = text_msg_lines, .lines = { lines, 3, 0 } };
        assert_int_equal(au_send(t, arr), AU_EENCODE);
        au_str *own = calloc(2, sizeof *own);
        own[0] = au_str_dup("ok", 2);
        own[1] = au_str_dup(view.ptr, view.len);
        text_msg oarr = { .tag = text_msg_lines, .lines = { own, 2, 1 } };
        assert_int_equal(au_send(t, oarr), AU_EENCODE);
    }
    /* valid text of every length class goes, borrowed and owned */
    const char *good = "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9d\x84\x9e";
    assert_int_equal(au_send(t, ((text_msg){ .tag = text_msg_text, .text = au_str_view(good) })),
                     AU_OK);
    expect_int(p, (int64_t)strlen(good));
    assert_int_equal(
        au_send(t, ((text_msg){ .tag = text_msg_text, .text = au_str_dup(good, strlen(good)) })),
        AU_OK);
    expect_int(p, (int64_t)strlen(good));
    au_str lines[2] = { au_str_lit(""), au_str_view(good) };
    assert_int_equal(au_send(t, ((text_msg){ .tag = text_msg_lines, .lines = { lines, 2, 0 } })),
                     AU_OK);
    expect_int(p, 2);
    au_probe_free(p);
    au_node_stop(node);
}

static void sends_through_null_and_stopped_references(void **s) {
    au_node *node = local_node(2);
    au_probe *p = au_probe_new(node, int64_t);
    mm_msg_ref null = { 0 };
    int64_t_ref nint = au_narrow(mm_msg, int64_t, null);
    assert_true(au_ref_is_null(nint.raw));
    mm_msg m = { .tag = mm_msg_num, .num = 1 };
    assert_int_equal(au_send(null, m), AU_EINVAL);
    assert_int_equal(au_try_send(null, m), AU_EINVAL);
    assert_int_equal(au_send_wait(null, AU_MSEC(10), m), AU_EINVAL);
    assert_int_equal(au_send_control(null, m), AU_EINVAL);
    assert_int_equal(au_stop(null), AU_EINVAL);
    assert_int_equal(au_send_after(null, AU_MSEC(1), m), 0);
    uint32_t depth;
    assert_int_equal(au_mailbox_depth(null, &depth), AU_EINVAL);
    assert_false(au_ref_is_local(null.raw));
    assert_true(au_ref_equal(null.raw, null.raw));
    char buf[64];
    assert_true(au_ref_format(null.raw, buf, sizeof buf) > 0);
    assert_true(au_ref_format(null.raw, NULL, 0) > 0);
    /* bytes with a length but no pointer cannot be copied */
    mm_msg_ref f = au_spawn(node, fwd_actor, NULL, &(fwd){ au_probe_ref(p, int64_t) });
    mm_msg lie = { .tag = mm_msg_blob, .blob = { NULL, 10, 0 } };
    assert_int_equal(au_send(f, lie), AU_EENCODE);
    /* a tag set by hand to no variant: refused as a remote send would refuse it (it went to recv
     * as it was, tag and all, on the local path) */
    int bad_tags[] = { 3, 99, -1, INT_MIN };
    for (size_t i = 0; i < sizeof bad_tags / sizeof *bad_tags; i++) {
        mm_msg odd = { .tag = (mm_msg_tag)bad_tags[i], .num = 5 };
        assert_int_equal(au_send(f, odd), AU_EENCODE);
        assert_int_equal(au_try_send(f, odd), AU_EENCODE);
        assert_int_equal(au_send_control(f, odd), AU_EENCODE);
        assert_int_equal(au_send_after(f, 0, odd), 0);
        assert_int_equal(au_last_error(), AU_EENCODE);
    }
    assert_int_equal(au_send(f, m), AU_OK);
    expect_int(p, 1);
    /* the same for a root sent through an interface of another root: its own tag is checked */
    nest_outer_ref no = au_spawn(node, nest_actor, NULL, &(nest){ au_probe_ref(p, int64_t) });
    nest_inner_ref ni = au_narrow(nest_outer, nest_inner, no);
    assert_false(au_ref_is_null(ni.raw));
    assert_int_equal(au_send(ni, ((nest_inner){ .tag = (nest_inner_tag)7, .a = 1 })), AU_EENCODE);
    assert_int_equal(au_send_after(ni, 0, ((nest_inner){ .tag = (nest_inner_tag)-2, .a = 1 })), 0);
    assert_int_equal(au_send(ni, ((nest_inner){ .tag = nest_inner_a, .a = 1 })), AU_OK);
    expect_int(p, nest_inner_a);
    /* ... and a root nested inside the message sent whole: refused as the encoder refuses it */
    nest_outer bad_in = { .tag = nest_outer_in, .in = { .tag = (nest_inner_tag)7, .a = 1 } };
    assert_int_equal(au_send(no, bad_in), AU_EENCODE);
    assert_int_equal(au_try_send(no, bad_in), AU_EENCODE);
    assert_int_equal(au_send_after(no, 0, bad_in), 0);
    assert_int_equal(au_last_error(), AU_EENCODE);
    au_buf enc = { 0 };
    assert_int_equal(au_value_encode(&au_type_nest_outer, &bad_in, &enc), AU_EENCODE);
    au_buf_free(&enc);
    assert_int_equal(au_stop(no), AU_OK);
    deep_msg_ref dm = au_spawn(node, deep_actor, NULL, &(nest){ au_probe_ref(p, int64_t) });
    deep_msg d = { .tag = deep_msg_rec, .rec = { 1, { .tag = (nest_inner_tag)-3, .a = 1 } } };
    assert_int_equal(au_send(dm, d), AU_EENCODE);
    deep_rec_ref dr = au_narrow(deep_msg, deep_rec, dm);
    assert_int_equal(au_send(dr, d.rec), AU_EENCODE); /* through an interface: the same */
    nest_inner items[3] = { { .tag = nest_inner_a }, { .tag = nest_inner_a },
                            { .tag = (nest_inner_tag)1 } };
    d = (deep_msg){ .tag = deep_msg_list, .list = { items, 3, 0 } };
    assert_int_equal(au_send(dm, d), AU_EENCODE);
    d = (deep_msg){ .tag = deep_msg_outer,
                    .outer = { .tag = nest_outer_in, .in = { .tag = (nest_inner_tag)9 } } };
    assert_int_equal(au_send(dm, d), AU_EENCODE);
    /* the good ones still go */
    d = (deep_msg){ .tag = deep_msg_rec, .rec = { 1, { .tag = nest_inner_a, .a = 1 } } };
    assert_int_equal(au_send(dm, d), AU_OK);
    expect_int(p, nest_inner_a);
    items[2].tag = nest_inner_a;
    d = (deep_msg){ .tag = deep_msg_list, .list = { items, 3, 0 } };
    assert_int_equal(au_send(dm, d), AU_OK);
    expect_int(p, nest_inner_a);
    /* a bad tag in a variant not taken is not looked at (only the active variant is live) */
    d = (deep_msg){ .tag = deep_msg_n, .n = 77 };
    d.rec.in.tag = (nest_inner_tag)7;
    assert_int_equal(au_send(dm, d), AU_OK);
    expect_int(p, 77);
    assert_int_equal(au_stop(dm), AU_OK);

    /* a stopped actor: sends are refused and counted, stop again is ESTOPPED, never a crash */
    assert_true(au_ref_format(f.raw, NULL, 0) > 0);
    assert_int_equal(au_stop(f), AU_OK);
    expect_int(p, -1);
    au_node_stats st;
    au_node_stats_get(node, &st);
    uint64_t dead = st.drops_dead_actor;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(au_send(f, m), AU_ESTOPPED);
        assert_int_equal(au_try_send(f, m), AU_ESTOPPED);
        assert_int_equal(au_send_control(f, m), AU_ESTOPPED);
    }
    assert_int_equal(au_stop(f), AU_ESTOPPED);
    assert_int_equal(au_mailbox_depth(f, &depth), AU_ESTOPPED);
    au_node_stats_get(node, &st);
    assert_true(st.drops_dead_actor >= dead + 9);
    /* its cell reused by a new actor: the old reference still reaches nobody */
    mm_msg_ref g = au_spawn(node, fwd_actor, NULL, &(fwd){ au_probe_ref(p, int64_t) });
    assert_false(au_ref_equal(f.raw, g.raw));
    assert_int_equal(au_send(f, m), AU_ESTOPPED);
    assert_int_equal(au_probe_expect_none(p, AU_MSEC(50)), AU_OK);
    au_node_stop(node);
    au_probe_expect(p, int64_t, &(int64_t){ 0 }, 0); /* g's post_stop */
    au_probe_free(p);
}

static void timers_with_odd_delays_and_double_cancels(void **s) {
    au_node *node = local_node(2);
    au_probe *p = au_probe_new(node, int64_t);
    int64_t_ref r = au_probe_ref(p, int64_t);
    /* 0: at once */
    au_timer t0 = au_send_after(r, 0, (int64_t)1);
    assert_true(t0 != 0);
    expect_int(p, 1);
    assert_int_equal(au_timer_cancel(node, t0), AU_ENOTFOUND); /* fired */
    /* the largest delays, and "negative" ones (a wrapped unsigned): never now */
    au_timer big = au_send_after(r, UINT64_MAX, (int64_t)2);
    au_timer neg = au_send_after(r, (au_nanos)-5, (int64_t)3);
    au_timer half = au_send_after(r, UINT64_MAX / 2 + 7, (int64_t)4);
    assert_true(big && neg && half);
    assert_int_equal(au_probe_expect_none(p, AU_MSEC(100)), AU_OK);
    assert_int_equal(au_timer_cancel(node, big), AU_OK);
    assert_int_equal(au_timer_cancel(node, big), AU_ENOTFOUND);
    assert_int_equal(au_timer_cancel(node, neg), AU_OK);
    /* the pending one is freed by the node's stop (valgrind, ASan: no leak) */
    au_timer soon = au_send_after(r, AU_MSEC(1), (int64_t)5);
    assert_int_equal(au_timer_cancel(node, soon), AU_OK);
    assert_int_equal(au_timer_cancel(node, soon), AU_ENOTFOUND);
    assert_int_equal(au_probe_expect_none(p, AU_MSEC(30)), AU_OK);
    /* au_node_call_at with a deadline in the past runs at once; at UINT64_MAX never */
    au_node_stop(node);
    au_probe_free(p);
}

/* ---- hooks doing odd things ---------------------------------------------------------------------- */

enum {
    OP_WATCH, OP_WATCH_TWICE, OP_UNWATCH, OP_WATCH_SELF, OP_WATCH_NULL, OP_UNWATCH_NULL,
    OP_UNWATCH_UNKNOWN, OP_SEND_WAIT_IN_HOOK, OP_SELF_WRONG_ROOT, OP_RECEIVE_TIMEOUT_MAX,
    OP_ORIGIN, OP_ASK_NULL_CB, OP_STOP_SELF_TWICE, OP_ASK_MAX, OP_NODE_STOP_IN_HOOK,
    OP_PROMISE_WAIT_IN_HOOK
};
AU_ROOT(doer_msg, (op, int32_t, AU_REMOTE), (target, mm_msg_ref, AU_PLAIN), (reply, int64_t, AU_PLAIN));

typedef struct doer {
    int64_t_ref report;   /* results of ops */
    int64_t_ref notices;  /* terminated (1000) and timeouts (2000), ask callbacks (3000 + err) */
    mm_msg_ref target;
} doer;
static void doer_terminated(au_ctx *ctx, doer *self, au_ref who) {
    (void)ctx;
    (void)who;
    au_send(self->notices, (int64_t)1000);
}
static void doer_timeout(au_ctx *ctx, doer *self) {
    (void)ctx;
    au_send(self->notices, (int64_t)2000);
}
static void doer_asked(au_ctx *ctx, void *state, int64_t *reply, au_err err) {
    (void)ctx;
    doer *self = state;
    au_send(self->notices, (int64_t)(3000 + (reply ? *reply : err)));
}
static void doer_recv(au_ctx *ctx, doer *self, doer_msg *m) {
    if (m->tag == doer_msg_target) {
        self->target = m->target;
        return;
    }
    if (m->tag == doer_msg_reply) return;
    int64_t r = 0;
    mm_msg_ref null = { 0 };
    switch (m->op) {
    case OP_WATCH: r = au_watch(ctx, self->target); break;
    case OP_WATCH_TWICE:
        r = au_watch(ctx, self->target);
        if (!r) r = au_watch(ctx, self->target);
        break;
    case OP_UNWATCH: r = au_unwatch(ctx, self->target); break;
    case OP_WATCH_SELF: r = au_watch(ctx, au_self(ctx, doer_msg)); break;
    case OP_WATCH_NULL: r = au_watch(ctx, null); break;
    case OP_UNWATCH_NULL: r = au_unwatch(ctx, null); break;
    case OP_UNWATCH_UNKNOWN: r = au_unwatch(ctx, au_self(ctx, doer_msg)); break;
    case OP_SEND_WAIT_IN_HOOK: {
        mm_msg x = { .tag = mm_msg_num, .num = 1 };
        r = au_send_wait(self->target, 0, x);
        break;
    }
    case OP_SELF_WRONG_ROOT: {
        mm_msg_ref wrong = au_self(ctx, mm_msg);
        r = au_ref_is_null(wrong.raw) ? au_last_error() : 1;
        break;
    }
    case OP_RECEIVE_TIMEOUT_MAX: au_set_receive_timeout(ctx, UINT64_MAX); break;
    case OP_ORIGIN: {
        char b[8] = "xxxxxxx";
        r = (int64_t)au_ctx_origin(ctx, NULL, 0) * 10 + (int64_t)au_ctx_origin(ctx, b, sizeof b);
        if (b[0] != 0) r = -99;
        break;
    }
    case OP_ASK_NULL_CB: {
        au_ref a = au_ask_(ctx, &au_type_int64_t, AU_SEC(1), NULL);
        r = au_ref_is_null(a) ? au_last_error() : 1;
        break;
    }
    case OP_STOP_SELF_TWICE:
        au_stop_self(ctx);
        au_stop_self(ctx);
        break;
    case OP_NODE_STOP_IN_HOOK: /* its own node, from its hook: refused, logged, returns */
        au_node_stop(au_ctx_node(ctx));
        r = 77;
        break;
    case OP_PROMISE_WAIT_IN_HOOK: { /* a reply already there, then none: refused both times
                                       in a pooled hook; a dedicated actor may block */
        int64_t v = 0;
        int64_t_promise p = au_promise_new(au_ctx_node(ctx), int64_t);
        au_send(au_promise_ref(p, int64_t), (int64_t)5);
        au_err first = au_promise_wait(p, int64_t, &v, AU_MSEC(100));
        p = au_promise_new(au_ctx_node(ctx), int64_t);
        au_err second = au_promise_wait(p, int64_t, &v, AU_MSEC(100));
        r = first * 100 + second;
        break;
    }
    case OP_ASK_MAX: { /* the longest timeout: the reply must win, not an instant timeout */
        int64_t_ref to = au_ask(ctx, int64_t, UINT64_MAX, doer_asked);
        r = au_ref_is_null(to.raw) ? -1 : 0;
        if (!r) au_send_after(to, AU_MSEC(50), (int64_t)7);
        break;
    }
    }
    au_send(self->report, r);
}
AU_ACTOR(doer_actor, doer, doer_msg, .recv = doer_recv, .terminated = doer_terminated,
         .timeout = doer_timeout);

typedef struct world {
    au_node *node;
    au_probe *report, *notices, *fwd_out;
    doer_msg_ref doer;
} world;

static void world_start(world *w, au_node *node) {
    w->node = node;
    w->report = au_probe_new(node, int64_t);
    w->notices = au_probe_new(node, int64_t);
    w->fwd_out = au_probe_new(node, int64_t);
    w->doer = au_spawn(node, doer_actor, NULL,
                       &(doer){ .report = au_probe_ref(w->report, int64_t), .notices = au_probe_ref(w->notices, int64_t) });
    assert_false(au_ref_is_null(w->doer.raw));
}
static void world_end(world *w) {
    au_node_stop(w->node);
    au_probe_free(w->report);
    au_probe_free(w->notices);
    au_probe_free(w->fwd_out);
}
static int64_t run_op(world *w, int32_t op) {
    doer_msg m = { .tag = doer_msg_op, .op = op };
    assert_int_equal(au_send(w->doer, m), AU_OK);
    int64_t got = -12345;
    assert_int_equal(au_probe_expect(w->report, int64_t, &got, AU_SEC(5)), AU_OK);
    return got;
}
static void set_target(world *w, mm_msg_ref t) {
    doer_msg m = { .tag = doer_msg_target, .target = t };
    assert_int_equal(au_send(w->doer, m), AU_OK);
}
static mm_msg_ref spawn_fwd(world *w) {
    return au_spawn(w->node, fwd_actor, NULL, &(fwd){ au_probe_ref(w->fwd_out, int64_t) });
}

static void watch_misuse(void **s) {
    world w;
    world_start(&w, local_node(2));
    assert_int_equal(run_op(&w, OP_WATCH_NULL), AU_EINVAL);
    assert_int_equal(run_op(&w, OP_UNWATCH_NULL), AU_EINVAL);
    assert_int_equal(run_op(&w, OP_UNWATCH_UNKNOWN), AU_ENOTFOUND);
    /* watching itself: allowed, nothing arrives while it lives */
    assert_int_equal(run_op(&w, OP_WATCH_SELF), AU_OK);
    /* watched twice: one terminated, as the header says ("called once") */
    mm_msg_ref t = spawn_fwd(&w);
    set_target(&w, t);
    assert_int_equal(run_op(&w, OP_WATCH_TWICE), AU_OK);
    assert_int_equal(au_stop(t), AU_OK);
    expect_int(w.fwd_out, -1);
    expect_int(w.notices, 1000);
    assert_int_equal(au_probe_expect_none(w.notices, AU_MSEC(100)), AU_OK);
    /* a target already gone: terminated at once; unwatching it afterwards is ENOTFOUND */
    assert_int_equal(run_op(&w, OP_WATCH), AU_OK);
    expect_int(w.notices, 1000);
    assert_int_equal(run_op(&w, OP_UNWATCH), AU_ENOTFOUND);
    /* watch, unwatch, unwatch again, then the stop tells nothing */
    t = spawn_fwd(&w);
    set_target(&w, t);
    assert_int_equal(run_op(&w, OP_WATCH), AU_OK);
    assert_int_equal(run_op(&w, OP_UNWATCH), AU_OK);
    assert_int_equal(run_op(&w, OP_UNWATCH), AU_ENOTFOUND);
    assert_int_equal(au_stop(t), AU_OK);
    expect_int(w.fwd_out, -1);
    assert_int_equal(au_probe_expect_none(w.notices, AU_MSEC(100)), AU_OK);
    world_end(&w);
}

static void hooks_misusing_the_api(void **s) {
    world w;
    world_start(&w, local_node(2));
    mm_msg_ref t = au_spawn_with(w.node, fwd_actor, au_opts(.capacity = 2),
                                 &(fwd){ au_probe_ref(w.fwd_out, int64_t) });
    set_target(&w, t);
    assert_int_equal(run_op(&w, OP_SEND_WAIT_IN_HOOK), AU_ESTATE);
    assert_int_equal(run_op(&w, OP_SELF_WRONG_ROOT), AU_ETYPE);
    assert_int_equal(run_op(&w, OP_ORIGIN), 0);
    assert_int_equal(run_op(&w, OP_ASK_NULL_CB), AU_EINVAL);
    /* the longest receive timeout never fires (it saturates; it does not wrap to "now") */
    assert_int_equal(run_op(&w, OP_RECEIVE_TIMEOUT_MAX), 0);
    assert_int_equal(au_probe_expect_none(w.notices, AU_MSEC(100)), AU_OK);
    /* an ask with the longest timeout gets its reply */
    assert_int_equal(run_op(&w, OP_ASK_MAX), 0);
    expect_int(w.notices, 3007);
    /* au_node_stop of its own node from a hook (pooled, then on a thread of its own) returns
     * at once, stopping nothing: it waited for the very hook that called it, and hung there
     * (and so did the au_node_stop from outside that followed) */
    assert_int_equal(run_op(&w, OP_NODE_STOP_IN_HOOK), 77);
    doer_msg_ref ded = au_spawn_with(w.node, doer_actor, au_opts(.dedicated = true),
                                     &(doer){ .report = au_probe_ref(w.report, int64_t),
                                              .notices = au_probe_ref(w.notices, int64_t) });
    assert_int_equal(au_send(ded, ((doer_msg){ .tag = doer_msg_op, .op = OP_NODE_STOP_IN_HOOK })), AU_OK);
    int64_t got = 0;
    assert_int_equal(au_probe_expect(w.report, int64_t, &got, AU_SEC(5)), AU_OK);
    assert_int_equal(got, 77);
    assert_int_equal(run_op(&w, OP_ORIGIN), 0); /* the node runs on */
    /* au_promise_wait in a pooled hook: AU_ESTATE at once (it blocked a worker, and with one
     * worker nothing ran to reply or even to time out); on a dedicated actor's thread it waits */
    assert_int_equal(run_op(&w, OP_PROMISE_WAIT_IN_HOOK), AU_ESTATE * 100 + AU_ESTATE);
    assert_int_equal(au_send(ded, ((doer_msg){ .tag = doer_msg_op, .op = OP_PROMISE_WAIT_IN_HOOK })), AU_OK);
    assert_int_equal(au_probe_expect(w.report, int64_t, &got, AU_SEC(5)), AU_OK);
    assert_int_equal(got, AU_OK * 100 + AU_ETIMEDOUT);
    /* stop_self twice: one stop, one post_stop */
    set_target(&w, (mm_msg_ref){ 0 });
    assert_int_equal(run_op(&w, OP_STOP_SELF_TWICE), 0);
    doer_msg m = { .tag = doer_msg_op, .op = OP_ORIGIN };
    for (int i = 0; i < 100; i++) {
        au_err err = au_send(w.doer, m);
        if (err == AU_ESTOPPED) break;
        assert_int_equal(err, AU_OK);
        usleep(1000);
    }
    assert_int_equal(au_send(w.doer, m), AU_ESTOPPED);
    world_end(&w);
}

/* A pooled actor of a one-worker node waiting on a promise without a timeout: it hung the node
 * for good (nothing else could run, the reply's sender nor the promise's own timer). */
static void promise_wait_in_the_only_worker(void **s) {
    world w;
    world_start(&w, local_node(1));
    assert_int_equal(run_op(&w, OP_PROMISE_WAIT_IN_HOOK), AU_ESTATE * 100 + AU_ESTATE);
    assert_int_equal(run_op(&w, OP_ORIGIN), 0);
    world_end(&w);
}

/* ---- promises --------------------------------------------------------------------------------------- */

typedef struct later { int64_t_ref to; int64_t v; unsigned ms; } later;
static void *reply_later(void *arg) {
    later *l = arg;
    usleep(l->ms * 1000u);
    au_send(l->to, l->v);
    return NULL;
}

static void promise_misuse(void **s) {
    int64_t_promise np = au_promise_new(NULL, int64_t);
    assert_null(np.raw);
    assert_int_equal(au_last_error(), AU_EINVAL);
    int64_t v = 0;
    assert_int_equal(au_promise_wait(np, int64_t, &v, AU_MSEC(1)), AU_EINVAL);
    assert_true(au_ref_is_null(au_promise_ref(np, int64_t).raw));

    au_node *node = local_node(2);
    /* timeout 0 waits without limit (like au_send_wait): the reply 50 ms later is taken */
    int64_t_promise p = au_promise_new(node, int64_t);
    later l = { au_promise_ref(p, int64_t), 11, 50 };
    pthread_t th;
    pthread_create(&th, NULL, reply_later, &l);
    assert_int_equal(au_promise_wait(p, int64_t, &v, 0), AU_OK);
    assert_int_equal(v, 11);
    pthread_join(th, NULL);
    /* the longest timeout does not wrap into an instant timeout */
    p = au_promise_new(node, int64_t);
    l = (later){ au_promise_ref(p, int64_t), 12, 50 };
    pthread_create(&th, NULL, reply_later, &l);
    assert_int_equal(au_promise_wait(p, int64_t, &v, UINT64_MAX), AU_OK);
    assert_int_equal(v, 12);
    pthread_join(th, NULL);
    /* a reply after the timeout is dropped and freed; the reference is then a dead one */
    p = au_promise_new(node, int64_t);
    int64_t_ref late = au_promise_ref(p, int64_t);
    assert_int_equal(au_promise_wait(p, int64_t, &v, AU_MSEC(10)), AU_ETIMEDOUT);
    au_err err = au_send(late, (int64_t)13);
    assert_true(err == AU_OK || err == AU_ESTOPPED);
    /* two replies: the first wins */
    p = au_promise_new(node, int64_t);
    assert_int_equal(au_send(au_promise_ref(p, int64_t), (int64_t)1), AU_OK);
    au_send(au_promise_ref(p, int64_t), (int64_t)2);
    assert_int_equal(au_promise_wait(p, int64_t, &v, AU_SEC(5)), AU_OK);
    assert_int_equal(v, 1);
    /* never waited on, never answered, answered but never waited: freed by the node's stop
     * (LeakSanitizer and valgrind hold it to that). A thread blocked in a wait when the node
     * stops gets AU_ESTOPPED: test_actor.c has that case. */
    (void)au_promise_new(node, int64_t);
    p = au_promise_new(node, int64_t);
    au_send(au_promise_ref(p, int64_t), (int64_t)3);
    au_node_stop(node);
}

/* ---- layers ------------------------------------------------------------------------------------- */

static int frees;
static void count_free(void *arg) {
    (void)arg;
    frees++;
}
static au_err stopping_attach, stopping_spawn, stopping_detach;
static void misbehaving_stopping(au_node *node, void *arg) {
    au_layer *l = au_layer_attach(node, &(au_layer_def){ .name = "late" });
    stopping_attach = l ? AU_OK : au_last_error();
    mm_msg_ref r = au_spawn(node, fwd_actor, NULL, NULL);
    stopping_spawn = au_ref_is_null(r.raw) ? au_last_error() : AU_OK;
    stopping_detach = au_layer_detach(arg);
}
static au_layer *stop_layer;

/* au_node_stop of the node from a callback it runs: a timer of au_node_call_at (on its timer
 * thread) and a peer-event subscriber (here on the thread of au_peer_gone). Refused and logged,
 * as from an actor's hook; the node runs on and stops from outside. (It freed the node under the
 * timer loop that had called it: a use after free.) */
static void stop_in_callback(au_node *node, void *arg) {
    au_node_stop(node);
    atomic_store((_Atomic int *)arg, 1);
}
static void stop_in_peer_event(au_node *node, const au_peer_event *e, void *arg) {
    (void)e;
    stop_in_callback(node, arg);
}
/* au_node_stop from within the stop: a layer's stopping hook, a discard callback of a timer the
 * stop discards. Refused and logged; the stop under way finishes (the hook recursed into a
 * second stop until the stack ran out; the discard freed the node twice). */
static _Atomic int stop_hook_runs, stop_discard_runs, stop_free_runs;
static void stop_in_stopping(au_node *node, void *arg) {
    (void)arg;
    atomic_fetch_add(&stop_hook_runs, 1);
    au_node_stop(node);
}
static void stop_in_discard(void *arg) {
    atomic_fetch_add(&stop_discard_runs, 1);
    au_node_stop(arg);
}
static void never_called(au_node *node, void *arg) {
    (void)node;
    (void)arg;
    fail();
}
static void stop_layer_free(void *arg) {
    (void)arg;
    atomic_fetch_add(&stop_free_runs, 1);
}
static void node_stop_from_within_its_stop_is_refused(void **s) {
    (void)s;
    for (unsigned workers = 0; workers <= 2; workers += 2) {
        atomic_store(&stop_hook_runs, 0);
        atomic_store(&stop_discard_runs, 0);
        atomic_store(&stop_free_runs, 0);
        au_node *node = workers ? udp_node(0) : local_node(1);
        assert_non_null(au_layer_attach(node, &(au_layer_def){
                                                  .name = "stopper", .stopping = stop_in_stopping,
                                                  .free = stop_layer_free }));
        assert_int_not_equal(au_node_call_at(node, UINT64_MAX, never_called, stop_in_discard, node),
                             0);
        au_node_stop(node);
        assert_int_equal(atomic_load(&stop_hook_runs), 1);
        assert_int_equal(atomic_load(&stop_discard_runs), 1);
        assert_int_equal(atomic_load(&stop_free_runs), 1);
    }
}

static void node_stop_from_its_own_callbacks_is_refused(void **s) {
    au_node *node = udp_node(0);
    static _Atomic int timer_done, peer_done;
    assert_int_not_equal(au_node_call_at(node, 0, stop_in_callback, NULL, (void *)&timer_done), 0);
    for (int i = 0; i < 5000 && !atomic_load(&timer_done); i++) usleep(1000);
    assert_int_equal(atomic_load(&timer_done), 1);
    assert_int_equal(au_peer_subscribe(node, stop_in_peer_event, (void *)&peer_done), AU_OK);
    assert_int_equal(au_peer_gone(node, "127.0.0.1:9"), AU_OK);
    assert_int_equal(atomic_load(&peer_done), 1);
    /* still running: a timer fires, an actor answers */
    static _Atomic int fired;
    assert_int_not_equal(au_node_call_at(node, 0, stop_in_callback, NULL, (void *)&fired), 0);
    for (int i = 0; i < 5000 && !atomic_load(&fired); i++) usleep(1000);
    assert_int_equal(atomic_load(&fired), 1);
    au_probe *p = au_probe_new(node, int64_t);
    mm_msg_ref f = au_spawn(node, fwd_actor, NULL, &(fwd){ au_probe_ref(p, int64_t) });
    assert_int_equal(au_send(f, ((mm_msg){ .tag = mm_msg_num, .num = 4 })), AU_OK);
    expect_int(p, 4);
    au_node_stop(node);
    au_probe_free(p);
}

static void layer_misuse(void **s) {
    assert_null(au_layer_attach(NULL, &(au_layer_def){ .name = "x" }));
    assert_int_equal(au_last_error(), AU_EINVAL);
    assert_int_equal(au_layer_detach(NULL), AU_EINVAL);
    au_node *node = local_node(1);
    assert_null(au_layer_attach(node, NULL));
    assert_int_equal(au_last_error(), AU_EINVAL);
    /* a NULL name, and a name longer than a log line wants: both attach */
    static char longname[1000];
    memset(longname, 'l', sizeof longname - 1);
    au_layer *a = au_layer_attach(node, &(au_layer_def){ .name = NULL, .free = count_free });
    au_layer *b = au_layer_attach(node, &(au_layer_def){ .name = longname, .free = count_free });
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(au_layer_detach(a), AU_ESTATE); /* not the last */
    assert_int_equal(au_layer_detach(b), AU_OK);
    assert_int_equal(au_layer_detach(b), AU_EINVAL); /* taken back already */
    /* spawned into, it cannot be taken back: its actors need its place in the stop order */
    mm_msg_ref r = au_spawn_with(node, fwd_actor, au_opts(.layer = a), NULL);
    assert_false(au_ref_is_null(r.raw));
    assert_int_equal(au_layer_detach(a), AU_ESTATE);
    /* a layer of another node */
    au_node *other = local_node(1);
    r = au_spawn_with(other, fwd_actor, au_opts(.layer = a), NULL);
    assert_true(au_ref_is_null(r.raw));
    assert_int_equal(au_last_error(), AU_EINVAL);
    au_node_stop(other);
    /* up to the limit, then EFULL */
    int n = 1;
    while (au_layer_attach(node, &(au_layer_def){ .name = "more", .free = count_free })) n++;
    assert_int_equal(au_last_error(), AU_EFULL);
    assert_int_equal(n, AU_LAYERS_MAX);
    frees = 0;
    au_node_stop(node); /* the layer with an actor stops it: no hang */
    assert_int_equal(frees, AU_LAYERS_MAX);

    /* attach, spawn and detach from a stopping hook: the node is stopping */
    node = local_node(1);
    stop_layer = au_layer_attach(node, &(au_layer_def){ .name = "s" });
    assert_non_null(au_layer_attach(node, &(au_layer_def){ .name = "s2", .stopping = misbehaving_stopping,
                                                            .arg = stop_layer }));
    au_node_stop(node);
    assert_int_equal(stopping_attach, AU_ESTOPPED);
    assert_int_equal(stopping_spawn, AU_ESTOPPED);
    assert_int_equal(stopping_detach, AU_ESTOPPED);
}

/* ---- forging ----------------------------------------------------------------------------------------- */

static void forging_with_bad_arguments(void **s) {
    au_node *node = udp_node(0);
    struct { const char *name, *addr; } bad[] = {
        { NULL, "127.0.0.1:1" }, { "x", NULL }, { "", "127.0.0.1:1" }, { "x", "" }, { "x", "garbage" },
        { "x", "127.0.0.1:99999" }, { "x", "[::1" }, { "x", "127.0.0.1:" }, { "x", ":1" },
        { "x", "127.0.0.1:0" }, /* nobody listens on port 0 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mm_msg_ref r = au_forge(mm_msg, mm_msg, node, bad[i].name, bad[i].addr);
        if (!au_ref_is_null(r.raw)) print_error("forge %s@%s accepted\n", bad[i].name, bad[i].addr);
        assert_true(au_ref_is_null(r.raw));
        assert_int_equal(au_last_error(), AU_EINVAL);
    }
    static char longname[300];
    memset(longname, 'n', 256);
    mm_msg_ref r = au_forge(mm_msg, mm_msg, node, longname, "127.0.0.1:1");
    assert_true(au_ref_is_null(r.raw));
    assert_int_equal(au_last_error(), AU_EINVAL);
    r = au_forge(mm_msg, mm_msg, NULL, "x", "127.0.0.1:1");
    assert_true(au_ref_is_null(r.raw));
    assert_int_equal(au_last_error(), AU_EINVAL);
    r = au_forge(mm_msg, mm_msg, node, "x", "host-that-does-not-resolve.invalid:1");
    assert_true(au_ref_is_null(r.raw));
    assert_int_equal(au_last_error(), AU_ERESOLVE);
    /* forged to an IPv6 address from an IPv4 node, to itself with no such actor: sends go out
     * (or are counted as failed), nothing crashes */
    const char *odd[] = { "[::1]:9", au_node_address(node) };
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        r = au_forge(mm_msg, mm_msg, node, "nobody", odd[i]);
        assert_false(au_ref_is_null(r.raw));
        assert_false(au_ref_is_local(r.raw));
        mm_msg m = { .tag = mm_msg_num, .num = 1 };
        assert_int_equal(au_send(r, m), AU_OK);
        assert_int_equal(au_stop(r), AU_OK);
        char text[128];
        assert_true(au_ref_format(r.raw, text, sizeof text) > 0);
    }
    au_node_stop(node);
    /* a node without a network forges nothing */
    node = local_node(1);
    r = au_forge(mm_msg, mm_msg, node, "x", "127.0.0.1:1");
    assert_true(au_ref_is_null(r.raw));
    assert_int_not_equal(au_last_error(), AU_OK);
    au_node_stop(node);
}

/* ---- generated names ------------------------------------------------------------------------- */

/* Reports the text of every reference it is given ("name@address as interface"). */
AU_RECORD(ref_text, (au_str, text));
AU_ROOT(keep_msg, (given, mm_msg_ref, AU_REMOTE));
typedef struct keeper { ref_text_ref to; } keeper;
static void keeper_recv(au_ctx *ctx, keeper *self, keep_msg *m) {
    (void)ctx;
    char text[160];
    au_ref_format(m->given.raw, text, sizeof text);
    au_send(self->to, ((ref_text){ au_str_view(text) }));
}
AU_ACTOR(keeper_actor, keeper, keep_msg, .recv = keeper_recv);

/* The generated name of an anonymous actor of `a` once its reference reached b's keeper. */
static void name_sent(au_probe *texts, keep_msg_ref to, mm_msg_ref anon, char *name,
                      size_t size) {
    assert_int_equal(au_send(to, ((keep_msg){ .tag = keep_msg_given, .given = anon })), AU_OK);
    ref_text t;
    assert_int_equal(au_probe_expect(texts, ref_text, &t, AU_SEC(5)), AU_OK);
    const char *at = strchr(t.text.ptr, '@');
    assert_non_null(at);
    assert_true((size_t)(at - t.text.ptr) < size);
    memcpy(name, t.text.ptr, (size_t)(at - t.text.ptr));
    name[at - t.text.ptr] = '\0';
    au_str_free(&t.text);
}

/* An anonymous actor whose reference leaves its node is registered under a generated name: one
 * such name must not give away the next. They were "~1", "~2", ...: on a node without a key
 * anyone could forge the reply target of the next promise or ask and answer it. */
static void generated_names_are_not_guessable(void **s) {
    au_node *a = udp_node(0), *b = udp_node(0);
    au_probe *got = au_probe_new(a, int64_t), *texts = au_probe_new(b, ref_text);
    keep_msg_ref kept = au_spawn(b, keeper_actor, "keeper", &(keeper){ au_probe_ref(texts, ref_text) });
    keep_msg_ref to_keeper = au_forge(keep_msg, keep_msg, a, "keeper", au_node_address(b));
    assert_false(au_ref_is_null(kept.raw) || au_ref_is_null(to_keeper.raw));
    enum { N = 3 };
    char names[N][64];
    mm_msg_ref anon[N];
    for (int i = 0; i < N; i++) {
        anon[i] = au_spawn(a, fwd_actor, NULL, &(fwd){ au_probe_ref(got, int64_t) });
        name_sent(texts, to_keeper, anon[i], names[i], sizeof names[i]);
        assert_true(names[i][0] == '~');
        for (int j = 0; j < i; j++) {
            /* more than a counter apart: they differ in most of their characters */
            size_t len = strlen(names[i]), differ = 0;
            assert_true(len >= 12 && strlen(names[j]) == len);
            for (size_t k = 1; k < len; k++) differ += names[i][k] != names[j][k];
            if (differ < 4) print_error("%s then %s\n", names[j], names[i]);
            assert_true(differ >= 4);
        }
    }
    /* the names a counter gives, forged from b, reach none of them */
    for (unsigned k = 0; k < 64; k++) {
        char guess[24];
        snprintf(guess, sizeof guess, "~%x", k);
        mm_msg_ref r = au_forge(mm_msg, mm_msg, b, guess, au_node_address(a));
        assert_false(au_ref_is_null(r.raw));
        assert_int_equal(au_send(r, ((mm_msg){ .tag = mm_msg_num, .num = 1000 + k })), AU_OK);
    }
    /* and the generated ones do (sent after the guesses: one link, in order) */
    for (int i = 0; i < N; i++) {
        mm_msg_ref r = au_forge(mm_msg, mm_msg, b, names[i], au_node_address(a));
        assert_false(au_ref_is_null(r.raw));
        assert_int_equal(au_send(r, ((mm_msg){ .tag = mm_msg_num, .num = i })), AU_OK);
    }
    unsigned seen = 0; /* three actors, three workers' turns: in any order */
    for (int i = 0; i < N; i++) {
        int64_t v = -1;
        assert_int_equal(au_probe_expect(got, int64_t, &v, AU_SEC(5)), AU_OK);
        if (v < 0 || v >= N) print_error("%lld arrived\n", (long long)v);
        assert_true(v >= 0 && v < N);
        seen |= 1u << v;
    }
    assert_int_equal(seen, (1u << N) - 1);
    assert_int_equal(au_probe_expect_none(got, AU_MSEC(50)), AU_OK);
    au_node_stop(a);
    au_node_stop(b);
    au_probe_free(got);
    au_probe_free(texts);
}

/* ---- nesting depth ---------------------------------------------------------------------------- */

/* Records nested n deep (dn<n>); the root message adds one level: ok is 32 levels, deep 33. */
AU_RECORD(dn1, (int64_t, v));
AU_RECORD(dn2, (dn1, in));
AU_RECORD(dn3, (dn2, in));
AU_RECORD(dn4, (dn3, in));
AU_RECORD(dn5, (dn4, in));
AU_RECORD(dn6, (dn5, in));
AU_RECORD(dn7, (dn6, in));
AU_RECORD(dn8, (dn7, in));
AU_RECORD(dn9, (dn8, in));
AU_RECORD(dn10, (dn9, in));
AU_RECORD(dn11, (dn10, in));
AU_RECORD(dn12, (dn11, in));
AU_RECORD(dn13, (dn12, in));
AU_RECORD(dn14, (dn13, in));
AU_RECORD(dn15, (dn14, in));
AU_RECORD(dn16, (dn15, in));
AU_RECORD(dn17, (dn16, in));
AU_RECORD(dn18, (dn17, in));
AU_RECORD(dn19, (dn18, in));
AU_RECORD(dn20, (dn19, in));
AU_RECORD(dn21, (dn20, in));
AU_RECORD(dn22, (dn21, in));
AU_RECORD(dn23, (dn22, in));
AU_RECORD(dn24, (dn23, in));
AU_RECORD(dn25, (dn24, in));
AU_RECORD(dn26, (dn25, in));
AU_RECORD(dn27, (dn26, in));
AU_RECORD(dn28, (dn27, in));
AU_RECORD(dn29, (dn28, in));
AU_RECORD(dn30, (dn29, in));
AU_RECORD(dn31, (dn30, in));
AU_RECORD(dn32, (dn31, in));
AU_ROOT(dn_msg, (ok, dn31, AU_REMOTE), (deep, dn32, AU_REMOTE));
typedef struct dn_sink { int64_t_ref to; } dn_sink;
static void dn_recv(au_ctx *ctx, dn_sink *self, dn_msg *m) {
    (void)ctx;
    au_send(self->to, (int64_t)(m->tag == dn_msg_ok ? 31 : 32));
}
AU_ACTOR(dn_actor, dn_sink, dn_msg, .recv = dn_recv);

/* A receiving node decodes values 32 levels deep (records, roots, arrays, references), while
 * the encoder took 256: a deeper message was sent (AU_OK) and dropped on arrival. Now the
 * sender refuses it, AU_EENCODE, and the one at the limit still arrives. */
static void messages_nested_beyond_what_a_receiver_decodes(void **s) {
    au_node *a = udp_node(0), *b = udp_node(0);
    au_probe *p = au_probe_new(b, int64_t);
    dn_msg_ref local = au_spawn(b, dn_actor, "dn", &(dn_sink){ au_probe_ref(p, int64_t) });
    dn_msg_ref remote = au_forge(dn_msg, dn_msg, a, "dn", au_node_address(b));
    assert_false(au_ref_is_null(local.raw) || au_ref_is_null(remote.raw));
    dn_msg m = { .tag = dn_msg_ok };
    assert_int_equal(au_send(remote, m), AU_OK);
    expect_int(p, 31);
    m = (dn_msg){ .tag = dn_msg_deep };
    assert_int_equal(au_send(remote, m), AU_EENCODE);
    au_buf enc = { 0 }; /* au_value_encode is not held to the network's depth */
    assert_int_equal(au_value_encode(&au_type_dn_msg, &m, &enc), AU_OK);
    au_buf_free(&enc);
    assert_int_equal(au_send(local, m), AU_OK); /* nor is a local send */
    expect_int(p, 32);
    m = (dn_msg){ .tag = dn_msg_ok }; /* the link still works */
    assert_int_equal(au_send(remote, m), AU_OK);
    expect_int(p, 31);
    au_node_stats st;
    au_node_stats_get(b, &st);
    assert_int_equal(st.drops_decode, 0);
    au_node_stop(a);
    au_node_stop(b);
    au_probe_free(p);
}

/* ---- message size limits --------------------------------------------------------------------- */

/* A blob whose encoded mm_msg is exactly `size` bytes: the array head, the tag, the bytes head. */
static size_t encoded_blob(size_t n) {
    size_t head = n < 24 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5;
    return 1 + 1 + head + n; /* [tag, bytes] */
}

/* au_send to a remote actor says AU_ETOOBIG for what the transport will not carry, and AU_OK for
 * what it will: the message at the limit arrives, the one a byte over is refused at the sender
 * (and counted), never accepted and then silently dropped. Locally the limit does not apply. */
static void messages_at_the_size_limit(void **s) {
    enum { MAX = 4000 };
    au_node *a = udp_node(MAX), *b = udp_node(MAX);
    au_probe *p = au_probe_new(b, int64_t);
    mm_msg_ref local = au_spawn(b, fwd_actor, "sink", &(fwd){ au_probe_ref(p, int64_t) });
    assert_false(au_ref_is_null(local.raw));
    mm_msg_ref remote = au_forge(mm_msg, mm_msg, a, "sink", au_node_address(b));
    assert_false(au_ref_is_null(remote.raw));
    /* find the largest blob au_send accepts */
    size_t n = MAX;
    while (encoded_blob(n) > MAX) n--;
    au_err err = AU_ETOOBIG;
    for (; n > 0; n--) {
        uint8_t *data = calloc(1, n);
        mm_msg m = { .tag = mm_msg_blob, .blob = { data, (uint32_t)n, 1 } };
        err = au_send(remote, m);
        if (err != AU_ETOOBIG) break;
    }
    assert_int_equal(err, AU_OK);
    expect_int(p, (int64_t)n); /* the largest accepted one arrives */
    /* one byte more is refused at the sender, counted */
    au_node_stats st;
    au_node_stats_get(a, &st);
    uint64_t too_big = st.drops_too_big;
    uint8_t *data = calloc(1, n + 1);
    mm_msg m = { .tag = mm_msg_blob, .blob = { data, (uint32_t)(n + 1), 1 } };
    assert_int_equal(au_send(remote, m), AU_ETOOBIG);
    au_node_stats_get(a, &st);
    assert_int_equal(st.drops_too_big, too_big + 1);
    assert_int_equal(au_probe_expect_none(p, AU_MSEC(200)), AU_OK);
    /* the accepted size is not far below the limit: the message's header and name at most */
    assert_true(encoded_blob(n) + 18 + strlen("sink") >= MAX);
    /* locally the limit does not apply */
    data = calloc(1, 4 * MAX);
    m = (mm_msg){ .tag = mm_msg_blob, .blob = { data, 4 * MAX, 1 } };
    assert_int_equal(au_send(local, m), AU_OK);
    expect_int(p, 4 * MAX);
    au_node_stop(a);
    au_node_stop(b);
    au_probe_free(p);
}

/* ---- contexts, remote watches, tiny limits, timer calls ------------------------------------- */

static _Atomic int calls; /* written on the node's timer thread */
static void count_call(au_node *node, void *arg) {
    (void)node;
    (void)arg;
    calls++;
}

/* A NULL ctx (a hook's call made from outside any hook) is refused or a no-op, never a crash. */
static void context_calls_with_a_null_ctx(void **s) {
    au_stop_self(NULL);
    au_set_receive_timeout(NULL, AU_SEC(1));
    assert_null(au_ctx_node(NULL));
    assert_null(au_ctx_name(NULL));
    mm_msg_ref self = au_self((au_ctx *)NULL, mm_msg);
    assert_true(au_ref_is_null(self.raw));
    assert_int_equal(au_last_error(), AU_EINVAL);
    mm_msg_ref null = { 0 };
    assert_int_equal(au_watch((au_ctx *)NULL, null), AU_EINVAL);
    assert_int_equal(au_unwatch((au_ctx *)NULL, null), AU_EINVAL);
    char buf[4] = "xyz";
    assert_int_equal(au_ctx_origin(NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(au_ctx_origin(NULL, NULL, 16), 0);
    au_node *node = local_node(1);
    mm_msg_ref f = au_spawn(node, fwd_actor, NULL, NULL);
    mm_msg m = { .tag = mm_msg_num, .num = 1 };
    assert_int_equal(au_send_or_notify((au_ctx *)NULL, f, m), AU_EINVAL);
    assert_true(au_ref_is_null(au_ask_(NULL, &au_type_int64_t, AU_SEC(1), NULL)));
    /* au_node_call_at: NULL fn refused; deadline 0 (the past) runs at once; UINT64_MAX never
     * runs and its discard runs at stop */
    assert_int_equal(au_node_call_at(node, 1, NULL, NULL, NULL), 0);
    assert_int_equal(au_node_call_at(NULL, 1, count_call, NULL, NULL), 0);
    calls = 0;
    assert_true(au_node_call_at(node, 0, count_call, NULL, NULL) != 0);
    au_timer never = au_node_call_at(node, UINT64_MAX, count_call, NULL, NULL);
    assert_true(never != 0);
    for (int i = 0; i < 5000 && calls == 0; i++) usleep(1000);
    assert_int_equal(calls, 1);
    assert_int_equal(au_timer_cancel(node, never), AU_OK);
    au_node_stop(node);
    assert_int_equal(calls, 1);
}

/* Over UDP loopback: a remote actor watched twice is told once; a watch on a name with no actor
 * there is answered at once; the reference's mailbox depth is ESTATE (remote). */
static void remote_watches_twice_and_of_nobody(void **s) {
    au_node *b = udp_node(0);
    world w;
    world_start(&w, udp_node(0));
    au_probe *out = au_probe_new(b, int64_t);
    mm_msg_ref t = au_spawn(b, fwd_actor, "target", &(fwd){ au_probe_ref(out, int64_t) });
    assert_false(au_ref_is_null(t.raw));
    mm_msg_ref rt = au_forge(mm_msg, mm_msg, w.node, "target", au_node_address(b));
    uint32_t depth;
    assert_int_equal(au_mailbox_depth(rt, &depth), AU_ESTATE);
    set_target(&w, rt);
    assert_int_equal(run_op(&w, OP_WATCH_TWICE), AU_OK);
    /* the watch request is in place once the target's node counts it */
    au_node_stats st;
    for (int i = 0; i < 5000; i++) {
        au_node_stats_get(b, &st);
        if (st.remote_watched >= 1) break;
        usleep(1000);
    }
    assert_int_equal(st.remote_watched, 1);
    assert_int_equal(au_stop(t), AU_OK);
    expect_int(w.notices, 1000);
    assert_int_equal(au_probe_expect_none(w.notices, AU_MSEC(300)), AU_OK);
    assert_int_equal(run_op(&w, OP_UNWATCH), AU_ENOTFOUND); /* that watch ended */
    /* nobody of that name: answered at once */
    set_target(&w, au_forge(mm_msg, mm_msg, w.node, "nobody", au_node_address(b)));
    assert_int_equal(run_op(&w, OP_WATCH), AU_OK);
    expect_int(w.notices, 1000);
    world_end(&w);
    au_node_stop(b);
    au_probe_free(out);
}

/* Table limits of 1: a forged reference keeps its entry (node.h, max_remote_refs), so once the
 * table is full of forged ones further forges are AU_EFULL (ref.h); the one that holds the
 * entry still works. */
static void tables_of_one_entry(void **s) {
    au_node *a = NULL, *b = udp_node(0);
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 1, .max_peers = 1, .max_remote_refs = 1,
                                                      .max_partials = 1, .max_remote_watches = 1 }, &a),
                     AU_OK);
    au_probe *p = au_probe_new(b, int64_t);
    au_spawn(b, fwd_actor, "sink", &(fwd){ au_probe_ref(p, int64_t) });
    mm_msg_ref sink = au_forge(mm_msg, mm_msg, a, "sink", au_node_address(b));
    assert_false(au_ref_is_null(sink.raw));
    assert_true(au_ref_equal(sink.raw, au_forge(mm_msg, mm_msg, a, "sink", au_node_address(b)).raw));
    for (int i = 0; i < 20; i++) {
        char name[16], addr[32];
        snprintf(name, sizeof name, "n%d", i);
        snprintf(addr, sizeof addr, "127.0.0.1:%d", 20000 + i);
        mm_msg_ref r = au_forge(mm_msg, mm_msg, a, name, addr);
        assert_true(au_ref_is_null(r.raw));
        assert_int_equal(au_last_error(), AU_EFULL);
    }
    mm_msg m = { .tag = mm_msg_num, .num = 42 };
    assert_int_equal(au_send(sink, m), AU_OK);
    expect_int(p, 42);
    au_node_stop(a);
    au_node_stop(b);
    au_probe_free(p);
}

/* ---- references kept past their node --------------------------------------------------------- */

/* After au_node_stop a reference may still be tested for null and copied (ref.h); a probe that
 * outlives its node reports the actor stopped. */
static void references_kept_past_their_node(void **s) {
    au_node *node = local_node(1);
    au_probe *p = au_probe_new(node, int64_t);
    int64_t_ref r = au_probe_ref(p, int64_t);
    mm_msg_ref f = au_spawn(node, fwd_actor, "kept", &(fwd){ r });
    au_node_stop(node);
    int64_t v = 0;
    au_err err = au_probe_expect(p, int64_t, &v, AU_MSEC(10)); /* f's post_stop, if it came first */
    if (err == AU_OK) {
        assert_int_equal(v, -1);
        err = au_probe_expect(p, int64_t, &v, AU_MSEC(10));
    }
    assert_int_equal(err, AU_ESTOPPED);
    assert_false(au_ref_is_null(f.raw));
    assert_false(au_ref_is_null(r.raw));
    au_probe_free(p);
}

int main(void) {
    /* Every refusal above logs an ERROR line; only failures are of interest here. */
    if (!getenv("AU_LOG")) au_log_set_all_levels(AU_LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_names_of_values_that_are_not_codes),
        cmocka_unit_test(malformed_bind_strings_are_econfig),
        cmocka_unit_test(an_ipv6_bind_works_or_is_ebind),
        cmocka_unit_test(fields_out_of_range_are_econfig),
        cmocka_unit_test(a_null_config_is_the_defaults_and_a_null_out_is_einval),
        cmocka_unit_test(bad_key_files_are_refused),
        cmocka_unit_test(node_readers_with_null_arguments),
        cmocka_unit_test(value_helpers_at_their_edges),
        cmocka_unit_test(spawn_with_bad_names_and_options),
        cmocka_unit_test(sends_through_null_and_stopped_references),
        cmocka_unit_test(timers_with_odd_delays_and_double_cancels),
        cmocka_unit_test(watch_misuse),
        cmocka_unit_test(hooks_misusing_the_api),
        cmocka_unit_test(promise_misuse),
        cmocka_unit_test(promise_wait_in_the_only_worker),
        cmocka_unit_test(node_stop_from_its_own_callbacks_is_refused),
        cmocka_unit_test(node_stop_from_within_its_stop_is_refused),
        cmocka_unit_test(layer_misuse),
        cmocka_unit_test(forging_with_bad_arguments),
        cmocka_unit_test(generated_names_are_not_guessable),
        cmocka_unit_test(messages_at_the_size_limit),
        cmocka_unit_test(messages_nested_beyond_what_a_receiver_decodes),
        cmocka_unit_test(references_kept_past_their_node),
        cmocka_unit_test(context_calls_with_a_null_ctx),
        cmocka_unit_test(remote_watches_twice_and_of_nobody),
        cmocka_unit_test(tables_of_one_entry),
        cmocka_unit_test(strings_that_are_not_utf8_are_refused_locally_as_remotely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
