/* members.c — the membership table, its merge rule, the dissemination queue and the digest
 * tree (see members.h). */
#include "cluster/members.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

bool cl_addr_ok(const au_str *a) {
    if (!a->ptr || a->len < 3 || a->len > CL_MAX_ADDR) return false;
    bool colon = false;
    for (uint32_t i = 0; i < a->len; i++) {
        char ch = a->ptr[i];
        if (ch == ':') colon = true;
        else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   ch == '.' || ch == '-' || ch == '[' || ch == ']' || ch == '_'))
            return false;
    }
    return colon && strlen(a->ptr) == a->len;
}

bool cl_update_ok(const cl_update *u) {
    return cl_addr_ok(&u->addr) && u->id != 0 && u->state <= CL_LEFT && u->vnodes <= 4096;
}

bool cl_sync_ok(const cl_sync *y) {
    return cl_addr_ok(&y->from) && y->digest.len <= CL_DIGEST_MAX && y->level <= CL_LEVELS &&
           y->entries.len <= CL_MAX_UPDATES && y->start < ((size_t)1 << y->level) &&
           y->digest.len <= ((size_t)1 << y->level);
}

void cl_member_accuse(cl_member *m, uint64_t by) {
    if (!by) by = 1;
    for (unsigned i = 0; i < m->naccusers; i++)
        if (m->accusers[i] == by) return;
    if (!m->accusers && !(m->accusers = malloc(CL_MAX_ACCUSERS * sizeof *m->accusers))) return;
    if (m->naccusers < CL_MAX_ACCUSERS) m->accusers[m->naccusers++] = by;
}

uint64_t cl_key(const char *addr, size_t len) {
    uint64_t k = XXH3_64bits(addr, len);
    return k ? k : 1;
}

void cl_table_init(cl_table *t) { memset(t, 0, sizeof *t); }

void cl_table_free(cl_table *t) {
    for (size_t i = 0; i < t->by_key.cap; i++) {
        if (!t->by_key.keys || !t->by_key.keys[i]) continue;
        cl_member *m = t->by_key.values[i];
        free(m->addr);
        free(m->accusers);
        free(m);
    }
    au_u64map_free(&t->by_key);
    free(t->live);
    memset(t, 0, sizeof *t);
}

cl_member *cl_table_get(cl_table *t, const char *addr, size_t len) {
    cl_member *m = au_u64map_get(&t->by_key, cl_key(addr, len));
    /* a 64-bit hash collision between two addresses is treated as unknown (never merged) */
    if (m && (m->addr_len != len || memcmp(m->addr, addr, len) != 0)) return NULL;
    return m;
}

static uint64_t entry_hash(const cl_member *m) {
    uint64_t v[4] = { m->key, m->id, m->inc, m->state };
    return XXH3_64bits(v, sizeof v);
}

static void digest_toggle(cl_table *t, const cl_member *m) {
    if (!cl_is_live(m->state)) return;
    uint64_t h = entry_hash(m);
    for (unsigned l = 0; l <= CL_LEVELS; l++)
        t->tree[((size_t)1 << l) - 1 + cl_bucket(m->key, l)] ^= h;
}

static bool grow(void *arr, size_t *cap, size_t need) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *p = realloc(*(void **)arr, nc * sizeof(void *));
    if (!p) return false;
    *(void **)arr = p;
    *cap = nc;
    return true;
}

static void live_insert(cl_table *t, cl_member *m) {
    if (m->self || m->live_index != SIZE_MAX || !grow(&t->live, &t->live_cap, t->nlive + 1)) return;
    m->live_index = t->nlive;
    t->live[t->nlive++] = m;
}

static void live_remove(cl_table *t, cl_member *m) {
    if (m->live_index == SIZE_MAX) return;
    cl_member *last = t->live[--t->nlive];
    t->live[m->live_index] = last;
    last->live_index = m->live_index;
    m->live_index = SIZE_MAX;
}

cl_member *cl_table_add(cl_table *t, const char *addr, size_t len, uint64_t id, uint32_t inc,
                        uint8_t state, uint16_t vnodes) {
    cl_member *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->addr = malloc(len + 1);
    if (!m->addr) { free(m); return NULL; }
    memcpy(m->addr, addr, len);
    m->addr[len] = 0;
    m->addr_len = (uint32_t)len;
    m->key = cl_key(addr, len);
    m->live_index = SIZE_MAX;
    m->state = CL_DEAD; /* so that set() below counts the transition */
    if (!au_u64map_put(&t->by_key, m->key, m)) {
        free(m->addr);
        free(m);
        return NULL;
    }
    t->ntombstones++;
    cl_table_set(t, m, id, inc, state, vnodes);
    return m;
}

void cl_table_set(cl_table *t, cl_member *m, uint64_t id, uint32_t inc, uint8_t state,
                  uint16_t vnodes) {
    bool was = cl_is_live(m->state), is = cl_is_live(state);
    digest_toggle(t, m);
    m->id = id;
    m->inc = inc;
    m->state = state;
    m->vnodes = vnodes;
    digest_toggle(t, m);
    if (was && !is) t->ntombstones++;
    if (!was && is) t->ntombstones--;
    if (is) live_insert(t, m);
    else live_remove(t, m);
}

void cl_table_mark_self(cl_table *t, cl_member *m) {
    live_remove(t, m);
    m->self = true;
}

static unsigned level_of(const cl_member *m) { return m->tx_done < CL_QLEVELS ? m->tx_done : CL_QLEVELS - 1; }

static void queue_remove(cl_table *t, cl_member *m) {
    if (!m->queued) return;
    unsigned l = level_of(m);
    if (m->q_prev) m->q_prev->q_next = m->q_next;
    else t->qhead[l] = m->q_next;
    if (m->q_next) m->q_next->q_prev = m->q_prev;
    else t->qtail[l] = m->q_prev;
    m->q_prev = m->q_next = NULL;
    m->queued = false;
    t->nqueue--;
}

/* Appends m at the tail of its level (tx_done). */
static void queue_append(cl_table *t, cl_member *m) {
    unsigned l = level_of(m);
    m->q_next = NULL;
    m->q_prev = t->qtail[l];
    if (t->qtail[l]) t->qtail[l]->q_next = m;
    else t->qhead[l] = m;
    t->qtail[l] = m;
    m->queued = true;
    t->nqueue++;
}

void cl_table_drop(cl_table *t, cl_member *m) {
    digest_toggle(t, m);
    live_remove(t, m);
    queue_remove(t, m);
    if (!cl_is_live(m->state)) t->ntombstones--;
    au_u64map_take(&t->by_key, m->key);
    free(m->addr);
    free(m->accusers);
    free(m);
}

static int state_rank(uint8_t s) { return s == CL_LEFT ? CL_DEAD : s; }

bool cl_update_wins(const cl_member *m, uint64_t id, uint32_t inc, uint8_t state) {
    if (id != m->id) return id > m->id;
    if (inc != m->inc) return inc > m->inc;
    return state_rank(state) > state_rank(m->state);
}

void cl_queue_push(cl_table *t, cl_member *m, unsigned times) {
    queue_remove(t, m); /* queued already: starts over at level 0 */
    m->tx_left = times;
    m->tx_done = 0;
    queue_append(t, m);
}

cl_update cl_member_update(const cl_member *m) {
    /* the latest accuser: each confirmation is queued again and so travels on its own */
    uint64_t by = m->state == CL_SUSPECT && m->naccusers ? m->accusers[m->naccusers - 1] : 0;
    return (cl_update){ .addr = cl_member_addr(m), .id = m->id, .inc = m->inc,
                        .state = m->state, .vnodes = m->vnodes, .by = by };
}

size_t cl_queue_take(cl_table *t, cl_update *out, size_t max, bool count) {
    size_t got = 0;
    cl_member *picked[CL_MAX_UPDATES];
    if (max > CL_MAX_UPDATES) max = CL_MAX_UPDATES;
    /* the `max` least-sent: level by level from 0, each oldest first; the last level may hold
     * members sent more often than its number, in the order they reached it */
    for (unsigned l = 0; l < CL_QLEVELS && got < max; l++)
        for (cl_member *m = t->qhead[l]; m && got < max; m = m->q_next) picked[got++] = m;
    for (size_t i = 0; i < got; i++) {
        cl_member *m = picked[i];
        out[i] = cl_member_update(m);
        if (!count) continue;
        /* one level up, behind those there already; exhausted records leave the queue (out[]
         * borrows only their addresses, which stay: the member stays in the table) */
        queue_remove(t, m);
        m->tx_done++;
        if (m->tx_left) m->tx_left--;
        if (m->tx_left) queue_append(t, m);
    }
    return got;
}

const char *cl_table_check(const cl_table *t) {
    size_t n = 0, nlive = 0, ntomb = 0, nqueued = 0;
    uint64_t tree[sizeof t->tree / sizeof t->tree[0]] = { 0 };
    for (size_t i = 0; i < t->by_key.cap; i++) {
        if (!t->by_key.keys[i]) continue;
        const cl_member *m = t->by_key.values[i];
        n++;
        if (!m || m->key != t->by_key.keys[i]) return "by_key: an entry not under its key";
        if (!m->addr || strlen(m->addr) != m->addr_len || m->key != cl_key(m->addr, m->addr_len))
            return "member: address and key disagree";
        if (m->state > CL_LEFT) return "member: unknown state";
        if (m->naccusers > CL_MAX_ACCUSERS || (m->naccusers && !m->accusers))
            return "member: accusers";
        if (cl_is_live(m->state)) {
            if (!m->self) {
                nlive++;
                if (m->live_index >= t->nlive || t->live[m->live_index] != m)
                    return "live[]: a live member missing or at the wrong index";
            } else if (m->live_index != SIZE_MAX) {
                return "live[]: self is in it";
            }
            uint64_t v[4] = { m->key, m->id, m->inc, m->state };
            uint64_t h = XXH3_64bits(v, sizeof v);
            for (unsigned l = 0; l <= CL_LEVELS; l++) tree[((size_t)1 << l) - 1 + cl_bucket(m->key, l)] ^= h;
        } else {
            ntomb++;
            if (m->live_index != SIZE_MAX) return "live[]: a removed member in it";
        }
        if (m->queued) nqueued++;
    }
    if (n != t->by_key.count) return "by_key: count";
    if (nlive != t->nlive) return "live[]: count";
    if (nlive > t->live_cap) return "live[]: capacity";
    for (size_t i = 0; i < t->nlive; i++)
        if (!t->live[i] || t->live[i]->live_index != i ||
            au_u64map_get(&t->by_key, t->live[i]->key) != t->live[i])
            return "live[]: an entry not in by_key";
    if (ntomb != t->ntombstones) return "ntombstones";
    if (memcmp(tree, t->tree, sizeof tree) != 0) return "digest tree";
    size_t inq = 0;
    for (unsigned l = 0; l < CL_QLEVELS; l++) {
        const cl_member *prev = NULL;
        for (const cl_member *m = t->qhead[l]; m; prev = m, m = m->q_next) {
            if (++inq > n) return "queue: a cycle";
            if (!m->queued || m->q_prev != prev || level_of(m) != l ||
                au_u64map_get(&t->by_key, m->key) != m)
                return "queue: links";
        }
        if (t->qtail[l] != prev) return "queue: tail";
    }
    if (inq != t->nqueue || inq != nqueued) return "queue: count";
    return NULL;
}
