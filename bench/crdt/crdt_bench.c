/* crdt_bench — memory and time of the ORSet at 100,000 elements, and joins and redundancy
 * removal at that size, its digest, and the size-only pass that measures an encoding (as
 * au_share does for each delta it buffers). Prints, asserts nothing (bytes per delta by type:
 * test_crdt_sizes).
 *
 *   crdt_bench [n]        n elements (default 100000); elements are 16 bytes
 *
 * Memory is what malloc holds (mallinfo2: in-use and mmap'd bytes, with malloc's headers) after
 * building the set, minus before; "overhead" is that per element minus the 16 element bytes.
 * Times are the median of 5 runs on fresh copies, in CPU time of the thread (see now_ms). The
 * last line times a delta group as the dispersal actor builds it (1,400 GCounter increments). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <aurum/crdt.h>

#define ELEM_LEN 16

/* Times are CPU time of this thread: the machine may be shared, and wall time would count
 * other processes' turns (run it on an idle machine and they agree). */
static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static size_t heap(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd; /* small blocks and mmap'd large ones */
}

/* "element-" and 8 decimal digits of i (modulo 10^8). */
static void elem(char buf[ELEM_LEN + 1], long i) {
    memcpy(buf, "element-", 8);
    for (int k = 15; k >= 8; k--, i /= 10) buf[k] = (char)('0' + i % 10);
    buf[ELEM_LEN] = 0;
}

static au_orset *build(long from, long to, uint64_t replica) {
    au_orset *s = au_orset_new();
    char e[ELEM_LEN + 1];
    for (long i = from; i < to; i++) {
        elem(e, i);
        if (au_orset_add(s, NULL, replica, e, ELEM_LEN)) abort();
    }
    return s;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median time of joining b into copies of a. */
static double time_join(const au_orset *a, const au_orset *b) {
    double t[5];
    for (int k = 0; k < 5; k++) {
        au_orset *c;
        if (au_orset_copy(a, &c)) abort();
        double t0 = now_ms();
        if (au_orset_join(c, b)) abort();
        t[k] = now_ms() - t0;
        au_orset_free(c);
    }
    qsort(t, 5, sizeof *t, cmp_double);
    return t[2];
}

/* Median time of delta_minus(copy of d, s), and the reduced size. */
static double time_minus(const au_orset *d, const au_orset *s, size_t *bytes) {
    double t[5];
    for (int k = 0; k < 5; k++) {
        au_orset *c;
        if (au_orset_copy(d, &c)) abort();
        double t0 = now_ms();
        if (au_orset_delta_minus(c, s)) abort();
        t[k] = now_ms() - t0;
        au_buf b = { 0 };
        au_orset_encode(c, &b);
        *bytes = b.len;
        au_buf_free(&b);
        au_orset_free(c);
    }
    qsort(t, 5, sizeof *t, cmp_double);
    return t[2];
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    char cpu[512] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    for (char line[512]; f && fgets(line, sizeof line, f);)
        if (!strncmp(line, "model name", 10)) {
            char *p = strchr(line, ':');
            const char *v = p ? p + 2 : line;
            size_t len = strcspn(v, "\n");
            memcpy(cpu, v, len);
            cpu[len] = 0;
            break;
        }
    if (f) fclose(f);
    printf("crdt_bench: ORSet of %ld elements of %d bytes; CPU: %s\n", n, ELEM_LEN, cpu);

    size_t h0 = heap();
    au_orset *a = build(0, n, 1);
    size_t held = heap() - h0;
    printf("memory: %zu bytes held (mallinfo2), %.1f per element, %.1f beyond the element;"
           " au_orset_memory %.1f per element\n",
           held, (double)held / n, (double)held / n - ELEM_LEN, (double)au_orset_memory(a) / n);
    for (long m = n / 4; m <= 2 * n; m += n / 4) { /* the table's load varies with n */
        size_t g0 = heap();
        au_orset *s = build(0, m, 1);
        printf("  at %7ld elements: %.1f bytes beyond the element\n", m,
               (double)(heap() - g0) / m - ELEM_LEN);
        au_orset_free(s);
    }

    au_buf enc = { 0 };
    double t0 = now_ms();
    au_orset_encode(a, &enc);
    double t_enc = now_ms() - t0;
    au_orset *back;
    t0 = now_ms();
    if (au_orset_decode(enc.data, enc.len, &back)) abort();
    double t_dec = now_ms() - t0;
    printf("encoding: %zu bytes (%.1f per element); encode %.1f ms, decode %.1f ms\n", enc.len,
           (double)enc.len / n, t_enc, t_dec);
    au_buf_free(&enc);
    au_orset_free(back);

    /* The size of an encoding, as au_share measures each delta it buffers (max_buffer): a
     * size-only pass (au_buf_counter) against an encoding into a fresh buffer (the state) or a
     * reused one (n one-element deltas, made on a copy of the state). */
    {
        enum { K = 5 };
        double te[K], tc[K], de[K], dc[K];
        au_orset *c = NULL;
        if (au_orset_type.copy(a, (void **)&c)) abort();
        long nd = n < 100000 ? n : 100000;
        au_orset **ds = malloc((size_t)nd * sizeof *ds);
        if (!ds) abort();
        char e[ELEM_LEN + 1];
        for (long i = 0; i < nd; i++) {
            ds[i] = au_orset_new_delta();
            elem(e, n + i);
            if (au_orset_add(c, ds[i], 0x1234, e, ELEM_LEN)) abort();
        }
        size_t len_e = 0, len_c = 0;
        for (int k = 0; k < K; k++) {
            au_buf b = { 0 }, cnt = au_buf_counter();
            t0 = now_ms();
            if (au_orset_encode(a, &b)) abort();
            te[k] = now_ms() - t0;
            t0 = now_ms();
            if (au_orset_encode(a, &cnt)) abort();
            tc[k] = now_ms() - t0;
            if (b.len != cnt.len) abort();
            au_buf_free(&b);
            t0 = now_ms();
            for (long i = 0; i < nd; i++) {
                b.len = 0;
                if (au_orset_encode(ds[i], &b)) abort();
                len_e += b.len;
            }
            de[k] = now_ms() - t0;
            t0 = now_ms();
            for (long i = 0; i < nd; i++) {
                cnt = au_buf_counter();
                if (au_orset_encode(ds[i], &cnt)) abort();
                len_c += cnt.len;
            }
            dc[k] = now_ms() - t0;
            au_buf_free(&b);
        }
        if (len_e != len_c) abort();
        qsort(te, K, sizeof *te, cmp_double), qsort(tc, K, sizeof *tc, cmp_double);
        qsort(de, K, sizeof *de, cmp_double), qsort(dc, K, sizeof *dc, cmp_double);
        printf("size of an encoding (median of 5): the state: encode %.2f ms, size-only pass "
               "(au_buf_counter) %.2f ms; one-element deltas (%.1f B): encode %.0f ns, size-only "
               "%.0f ns each\n", te[2], tc[2], (double)len_e / K / (double)nd, de[2] * 1e6 / (double)nd,
               dc[2] * 1e6 / (double)nd);
        for (long i = 0; i < nd; i++) au_orset_free(ds[i]);
        free(ds);
        au_orset_free(c);
    }

    /* The digest (au_crdt_type.digest) a member catching up sends instead of its state: one pass
     * over the elements, no allocation. */
    double td[5];
    uint64_t dg[5];
    for (int k = 0; k < 5; k++) {
        t0 = now_ms();
        dg[k] = au_orset_digest(a);
        td[k] = now_ms() - t0;
    }
    qsort(td, 5, sizeof *td, cmp_double);
    printf("digest of the %ld-element state: %.2f ms (median of 5; %.1f ns per element), %016llx\n",
           n, td[2], td[2] * 1e6 / n, (unsigned long long)(dg[0] ^ dg[4] ^ dg[2]));

    /* Join of two replicas of n elements: the same elements added independently (each keeps
     * two dots), disjoint elements, and the common case of a peer that is 1% ahead. */
    au_orset *b_same = build(0, n, 2), *b_disjoint = build(n, 2 * n, 2), *b_ahead;
    if (au_orset_copy(a, &b_ahead)) abort();
    char e[ELEM_LEN + 1];
    for (long i = 0; i < n / 100; i++) {
        elem(e, i * 97 % n);
        au_orset_remove(b_ahead, NULL, e, ELEM_LEN);
        elem(e, n + i);
        au_orset_add(b_ahead, NULL, 3, e, ELEM_LEN);
    }
    printf("join of two %ld-element replicas (median of 5):\n", n);
    printf("  same elements, concurrent adds: %6.2f ms\n", time_join(a, b_same));
    printf("  disjoint elements:              %6.2f ms\n", time_join(a, b_disjoint));
    printf("  peer 1%% ahead (full state):    %6.2f ms\n", time_join(a, b_ahead));

    size_t bytes = 0;
    au_buf full = { 0 };
    au_orset_encode(b_ahead, &full);
    double t_minus = time_minus(b_ahead, a, &bytes);
    printf("delta_minus of that full state (%zu bytes) against the local one: %.2f ms, %zu bytes"
           " remain\n", full.len, t_minus, bytes);
    au_buf_free(&full);

    au_orset *d = au_orset_new_delta(), *st;
    if (au_orset_copy(a, &st)) abort();
    elem(e, 42);
    au_orset_remove(st, d, e, ELEM_LEN);
    au_orset_add(st, d, 1, "new-element-0001", ELEM_LEN);
    double t[5];
    for (int k = 0; k < 5; k++) {
        au_orset *c;
        au_orset_copy(a, &c);
        t0 = now_ms();
        au_orset_join(c, d);
        t[k] = now_ms() - t0;
        au_orset_free(c);
    }
    qsort(t, 5, sizeof *t, cmp_double);
    printf("join of a 2-update delta into the %ld-element state: %.4f ms\n", n, t[2]);

    /* A delta group as the dispersal actor builds it for a peer whose ack is past 0: the join
     * of a replica's buffered GCounter increments 300 .. 1,700 (their contexts are cloud dots,
     * the case that was quadratic before cctx_raise). */
    enum { NINC = 1700, FROM = 300 };
    au_gcounter *gs = au_gcounter_new(), **gd = calloc(NINC, sizeof *gd);
    if (!gd) abort();
    for (int k = 0; k < NINC; k++) {
        gd[k] = au_gcounter_new_delta();
        if (au_gcounter_inc(gs, gd[k], 0x1000, 1)) abort();
    }
    size_t group_bytes = 0;
    for (int k = 0; k < 5; k++) {
        au_gcounter *acc = au_gcounter_new_delta();
        t0 = now_ms();
        for (int i = FROM; i < NINC; i++)
            if (au_gcounter_join(acc, gd[i])) abort();
        t[k] = now_ms() - t0;
        au_buf gb = { 0 };
        au_gcounter_encode(acc, &gb);
        group_bytes = gb.len;
        au_buf_free(&gb);
        au_gcounter_free(acc);
    }
    qsort(t, 5, sizeof *t, cmp_double);
    printf("delta group of %d GCounter increments (from %d): joined in %.2f ms (median of 5), "
           "%zu bytes\n", NINC - FROM, FROM, t[2], group_bytes);
    au_gcounter_free(gs);
    for (int k = 0; k < NINC; k++) au_gcounter_free(gd[k]);
    free(gd);

    au_orset_free(a), au_orset_free(b_same), au_orset_free(b_disjoint), au_orset_free(b_ahead);
    au_orset_free(d), au_orset_free(st);
    return 0;
}
