/* test_device_subscribe_twice.c — au_device_server_subscribe and au_device_server_receive with
 * a reference that is subscribed already: nothing changes (as for au_cluster_subscribe and
 * au_share_subscribe). The same probe subscribed twenty times more is told the device's UP
 * once and gets its user message once, and takes one of the 16 slots, so a new subscriber
 * still finds room. (Each subscription was kept: every event and message went out 21 times,
 * and the 16th repeat was AU_EFULL, locking out every other subscriber.) One server and one
 * device on 127.0.0.1, real UDP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "device_world.h"

static dw_world W;

static bool one_device_up(dw_world *w) { return dw_devices_converged(w) && w->d[0].cfg.device; }

static bool is_up(const au_device_event *e, void *arg) {
    return e->kind == AU_DEVICE_UP && e->device == *(const uint64_t *)arg;
}

static void subscribing_the_same_reference_again_changes_nothing(void **state) {
    (void)state;
    dw_world *w = &W;
    memset(w, 0, sizeof *w);
    w->drv = *au_driver_default();
    dw_server_start(w, 0, -1, &(au_device_server_config){ .shards = 1 }); /* subscribes once */
    dw_server *s = &w->s[0];
    for (int i = 0; i < 20; i++) {
        assert_int_equal(au_device_server_subscribe(s->ds, au_probe_lref(s->events, au_device_event)), AU_OK);
        assert_int_equal(au_device_server_receive(s->ds, au_probe_lref(s->messages, au_device_message)), AU_OK);
    }
    /* room for others: the repeats took no slot */
    au_probe *other = au_probe_new(s->node, au_device_event);
    au_probe *other_msgs = au_probe_new(s->node, au_device_message);
    assert_int_equal(au_device_server_subscribe(s->ds, au_probe_lref(other, au_device_event)), AU_OK);
    assert_int_equal(au_device_server_receive(s->ds, au_probe_lref(other_msgs, au_device_message)), AU_OK);

    dw_device_start(w, 0, (int[]){ 0 }, 1, 100);
    assert_true(dw_wait(w, one_device_up, 10000));
    uint64_t dev = w->d[0].cfg.device;
    au_device_event e;
    assert_int_equal(au_probe_expect_match(s->events, au_device_event, is_up, &dev, &e, AU_SEC(5)), AU_OK);
    au_value_free(&au_type_au_device_event, &e);
    assert_int_equal(au_probe_expect_match(other, au_device_event, is_up, &dev, &e, AU_SEC(5)), AU_OK);
    au_value_free(&au_type_au_device_event, &e);

    /* one user message from the device: once to each receiver */
    uint8_t cbor[8];
    au_dc_cbor_out o = { cbor, 0, sizeof cbor, 0 };
    au_dc_cbor_put_uint(&o, 5);
    assert_int_equal(o.err, 0);
    assert_int_equal(au_dc_send(&w->d[0].dc, 1234, cbor, o.len), AU_DC_OK);
    au_device_message m;
    assert_int_equal(au_probe_expect(other_msgs, au_device_message, &m, AU_SEC(5)), AU_OK);
    au_value_free(&au_type_au_device_message, &m);
    assert_int_equal(au_probe_expect(s->messages, au_device_message, &m, AU_SEC(5)), AU_OK);
    assert_int_equal(m.type, 1234);
    au_value_free(&au_type_au_device_message, &m);

    /* nothing twice: no second UP, no second copy of the message */
    uint32_t t0 = dw_now_ms();
    while (dw_now_ms() - t0 < 300) {
        dw_pump(w);
        nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
    }
    while (au_probe_expect(s->events, au_device_event, &e, 0) == AU_OK) {
        assert_false(is_up(&e, &dev));
        au_value_free(&au_type_au_device_event, &e);
    }
    assert_int_equal(au_probe_count(s->messages), 0);
    dw_stop(w);
    au_probe_free(other);
    au_probe_free(other_msgs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(subscribing_the_same_reference_again_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
