/* hot_key_bench — one ORSet element, or one ORMap key, updated n times by one replica within
 * one delta window, the way the dispersal actor sees it: each update's delta joined into a
 * group accumulator (and, separately, one accumulator passed to every mutation). Prints the
 * time (CPU time of the thread) and the encoded size of the resulting group; asserts nothing
 * (the bound on the size: test_crdt_sizes).
 *
 *   hot_key_bench [n]      updates (default 8000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <aurum/crdt.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static size_t encoded(const au_crdt_type *t, const void *v) {
    au_buf b = { 0 };
    if (t->encode(v, &b)) abort();
    size_t n = b.len;
    au_buf_free(&b);
    return n;
}

static au_err v_add(au_pncounter *v, au_pncounter *dv, void *arg) {
    return au_pncounter_add(v, dv, *(uint64_t *)arg, 1);
}

/* kind 0: ORSet add of one element; 1: ORSet add then remove; 2: ORMap of PNCounters, one key. */
static void run(int kind, long n, bool shared_acc) {
    const au_crdt_type *t = kind == 2 ? &au_ormap_pncounter_type : &au_orset_type;
    void *s = t->create(t, false), *group = t->create(t, true);
    uint64_t r = 7;
    double t0 = now_ms();
    for (long i = 0; i < n; i++) {
        void *d = shared_acc ? group : t->create(t, true);
        au_err e;
        if (kind == 2) {
            e = au_ormap_pncounter_update((au_ormap_pncounter){ s }, (au_ormap_pncounter){ d }, "key", 3,
                                          v_add, &r);
        } else {
            e = au_orset_add(s, d, r, "element", 7);
            if (!e && kind == 1) e = au_orset_remove(s, d, "element", 7);
        }
        if (e) abort();
        if (!shared_acc) {
            if (t->join(group, d)) abort();
            t->free(d);
        }
    }
    double ms = now_ms() - t0;
    printf("%-28s %-12s n %6ld: %8.1f ms, group %7zu B, state %5zu B\n",
           kind == 0 ? "orset add one element" : kind == 1 ? "orset add+remove one element"
                                                          : "ormap<pncounter> one key",
           shared_acc ? "(one acc)" : "(joined)", n, ms, encoded(t, group), encoded(t, s));
    t->free(group);
    t->free(s);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 8000;
    for (int kind = 0; kind < 3; kind++) {
        run(kind, n, false);
        run(kind, n, true);
    }
    return 0;
}
