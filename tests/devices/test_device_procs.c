/* test_device_procs.c — devices as separate OS processes: three tools/device/au_device programs
 * (linked against libaurum_device_client.a and libaurum_device_posix.a only, not libaurum) are
 * owned by a two-server cluster on 127.0.0.1. Each reports its owner on stdout ("owner 0x..."):
 * it must be the one live server that polls it. Then one process is killed (SIGKILL): its owner
 * declares it down within 3 intervals (plus the tick), and the others stay up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "device_world.h"

typedef struct proc {
    pid_t pid;
    int out;
    char buf[4096];
    size_t len;
    uint64_t owner;
    bool live;
} proc;

static proc P[3];

static int kill_all(void **state) {
    (void)state;
    for (int i = 0; i < 3; i++)
        if (P[i].pid > 0) {
            kill(P[i].pid, SIGKILL);
            waitpid(P[i].pid, NULL, 0);
            P[i].pid = 0;
        }
    return 0;
}

static void device_exe(char *out, size_t size) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    snprintf(out, size, "%s/../tools/device/au_device", dirname(self));
    assert_int_equal(access(out, X_OK), 0);
}

/* key_file: the device's key (--key-file), or NULL for a plain device. */
static void spawn(proc *p, uint64_t id, const char *seed, const char *key_file) {
    char exe[PATH_MAX], idtxt[32];
    device_exe(exe, sizeof exe);
    snprintf(idtxt, sizeof idtxt, "%llu", (unsigned long long)id);
    int out[2];
    assert_int_equal(pipe(out), 0);
    memset(p, 0, sizeof *p);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        if (key_file)
            execl(exe, exe, "--device", idtxt, "--seed", seed, "--bind", "127.0.0.1:0",
                  "--interval", "100", "--key-file", key_file, (char *)NULL);
        else
            execl(exe, exe, "--device", idtxt, "--seed", seed, "--bind", "127.0.0.1:0",
                  "--interval", "100", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    p->out = out[0];
    p->live = true;
}

/* Reads what the process printed so far; keeps the last "owner" line's value. */
static void drain(proc *p) {
    struct pollfd pf = { .fd = p->out, .events = POLLIN };
    while (poll(&pf, 1, 0) == 1) {
        ssize_t n = read(p->out, p->buf + p->len, sizeof p->buf - 1 - p->len);
        if (n <= 0) return;
        p->len += (size_t)n;
        p->buf[p->len] = 0;
        char *nl;
        while ((nl = strchr(p->buf, '\n'))) {
            *nl = 0;
            if (strncmp(p->buf, "owner ", 6) == 0) p->owner = strtoull(p->buf + 6, NULL, 0);
            size_t rest = p->len - (size_t)(nl + 1 - p->buf);
            memmove(p->buf, nl + 1, rest);
            p->len = rest;
            p->buf[p->len] = 0;
        }
    }
}

static dw_world W;

static bool procs_owned(dw_world *w) {
    for (int i = 0; i < 3; i++) {
        if (!P[i].live) continue;
        drain(&P[i]);
        int holder = -1;
        for (int k = 0; k < w->ns; k++)
            if (au_device_server_state(w->s[k].ds, 7000u + (uint64_t)i) == AU_DEVICE_UP)
                holder = holder == -1 ? k : -2;
        if (holder < 0 || P[i].owner != w->s[holder].id) return false;
    }
    return true;
}

static bool match_down(const au_device_event *e, void *arg) {
    return e->kind == AU_DEVICE_DOWN && e->device == *(uint64_t *)arg;
}

/* sealed: the servers hold a fleet master key (and no cluster key); each device process seals
 * with the key derived for it, read from a key file of its own. */
static void run(bool sealed) {
    dw_world *w = &W;
    memset(w, 0, sizeof *w);
    w->drv = *au_driver_default();
    uint8_t master[AU_KEY_SIZE];
    char dir[] = "/tmp/au_device_keys_XXXXXX", files[3][PATH_MAX];
    if (sealed) {
        for (size_t b = 0; b < sizeof master; b++) master[b] = (uint8_t)(0xa5 ^ b);
        w->node_cfg.device_master_key = master;
        assert_non_null(mkdtemp(dir));
        for (int i = 0; i < 3; i++) {
            au_key k = { .id = 0 };
            assert_int_equal(au_device_key_derive(master, 7000u + (uint64_t)i, k.bytes), AU_OK);
            snprintf(files[i], sizeof files[i], "%s/device%d.key", dir, i);
            assert_int_equal(au_key_file_write(files[i], &k, 1), AU_OK);
        }
    }
    dw_server_start(w, 0, -1, NULL);
    dw_server_start(w, 1, 0, NULL);
    assert_true(dw_wait(w, dw_cluster_converged, 20000));
    for (int i = 0; i < 3; i++)
        spawn(&P[i], 7000u + (uint64_t)i, w->s[0].addr, sealed ? files[i] : NULL);
    if (!dw_wait(w, procs_owned, 20000)) {
        for (int i = 0; i < 3; i++) fprintf(stderr, "device %d owner %016llx\n", i, (unsigned long long)P[i].owner);
        fail_msg("the device processes are not owned by the servers they name");
    }

    /* Kill one: its owner reports it down, within 3 intervals of 100 ms (and some slack for a
     * loaded machine); the other two stay owned. */
    uint64_t victim = 7001;
    int owner = -1;
    for (int k = 0; k < w->ns; k++)
        if (au_device_server_state(w->s[k].ds, victim) == AU_DEVICE_UP) owner = k;
    assert_true(owner >= 0);
    kill(P[1].pid, SIGKILL);
    waitpid(P[1].pid, NULL, 0);
    P[1].pid = 0;
    P[1].live = false;
    uint32_t t0 = dw_now_ms();
    au_device_event e;
    assert_int_equal(au_probe_expect_match(w->s[owner].events, au_device_event, match_down, &victim,
                                           &e, AU_SEC(10)), AU_OK);
    uint32_t took = dw_now_ms() - t0;
    fprintf(stderr, "killed device process: down event after %u ms (interval 100 ms)\n", took);
    assert_true(e.owner == w->s[owner].id);
    au_value_free(&au_type_au_device_event, &e);
    assert_true(took <= 1000);
    assert_true(dw_wait(w, procs_owned, 5000));
    if (sealed) { /* the devices' datagrams were opened with their own keys, none refused */
        for (int k = 0; k < w->ns; k++) {
            au_node_stats st;
            au_node_stats_get(w->s[k].node, &st);
            assert_int_equal(st.drops_device_seal + st.drops_device_unknown +
                                 st.drops_device_sender + st.drops_device_route, 0);
        }
        for (int i = 0; i < 3; i++) unlink(files[i]);
        rmdir(dir);
    }
    kill_all(NULL);
    dw_stop(w);
}

static void processes(void **state) {
    (void)state;
    run(false);
}

static void sealed_processes(void **state) {
    (void)state;
    run(true);
}

int main(void) {
    const struct CMUnitTest tests[] = { cmocka_unit_test_teardown(processes, kill_all),
                                        cmocka_unit_test_teardown(sealed_processes, kill_all) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
