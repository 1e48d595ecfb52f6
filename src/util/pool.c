/* pool.c — see pool.h. Global lists are guarded by one mutex per class: they are touched once
 * per BATCH blocks, so the lock is rare on the hot path (thread-local push/pop). */
#include "util/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

/* 48 and 96 fit the commonest envelopes (a 32-byte header and a scalar or small-record
 * message) without rounding them up by a third: fewer fresh pages when a backlog builds. */
static const size_t class_size[AU_POOL_CLASSES] = { 48, 64, 96, 128, 256, 512, 1024, 2048, 4096 };
uint8_t au_pool_class(size_t size) {
    for (uint8_t c = 0; c < AU_POOL_CLASSES; c++)
        if (size <= class_size[c]) return c;
    return AU_POOL_LARGE;
}


#ifdef AU_POOL_PASSTHROUGH
void au_pool_acquire(void) {}
void au_pool_release(void) {}
void *au_pool_alloc(uint8_t cls, size_t size) { return malloc(size); }
void au_pool_free(uint8_t cls, void *b) { free(b); }
void au_pool_thread_flush(void) {}
#else
#define BATCH 64

typedef struct block {
    struct block *next;       /* in a free list */
    struct block *next_batch; /* in the global list of batches (first block of a batch only) */
} block;

typedef struct chunk {
    struct chunk *next;
} chunk;

static struct {
    pthread_mutex_t lock[AU_POOL_CLASSES];
    block *batches[AU_POOL_CLASSES];
    chunk *chunks; /* guarded by lock[0] */
    unsigned users;
    uint64_t epoch; /* guarded by lock[0]; read by threads with an atomic load */
} pool = {
    .lock = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
              PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
              PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER },
};
static pthread_mutex_t users_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t current_epoch = 1;

static _Thread_local struct {
    block *free[AU_POOL_CLASSES];
    uint32_t count[AU_POOL_CLASSES];
    uint64_t epoch;
} local;

void au_pool_acquire(void) {
    pthread_mutex_lock(&users_lock);
    pool.users++;
    pthread_mutex_unlock(&users_lock);
}

void au_pool_release(void) {
    pthread_mutex_lock(&users_lock);
    if (--pool.users == 0) {
        pthread_mutex_lock(&pool.lock[0]);
        for (chunk *c = pool.chunks, *n; c; c = n) {
            n = c->next;
            free(c);
        }
        pool.chunks = NULL;
        pthread_mutex_unlock(&pool.lock[0]);
        for (int c = 0; c < AU_POOL_CLASSES; c++) pool.batches[c] = NULL;
        /* release: a thread that sees the new epoch discards its cache of freed memory. */
        atomic_fetch_add_explicit(&current_epoch, 1, memory_order_release);
    }
    pthread_mutex_unlock(&users_lock);
}

static void check_epoch(void) {
    uint64_t e = atomic_load_explicit(&current_epoch, memory_order_acquire);
    if (local.epoch != e) {
        for (int c = 0; c < AU_POOL_CLASSES; c++) {
            local.free[c] = NULL;
            local.count[c] = 0;
        }
        local.epoch = e;
    }
}

/* Refills this thread's list for class c: a global batch if any, else a new chunk. */
static bool refill(uint8_t c) {
    pthread_mutex_lock(&pool.lock[c]);
    block *b = pool.batches[c];
    if (b) pool.batches[c] = b->next_batch;
    pthread_mutex_unlock(&pool.lock[c]);
    if (b) {
        local.free[c] = b;
        local.count[c] = BATCH;
        return true;
    }
    size_t sz = class_size[c];
    chunk *ch = malloc(sizeof(chunk) + 16 + sz * BATCH);
    if (!ch) return false;
    pthread_mutex_lock(&pool.lock[0]);
    ch->next = pool.chunks;
    pool.chunks = ch;
    pthread_mutex_unlock(&pool.lock[0]);
    /* Blocks are 16-aligned: the chunk header is padded to 16 bytes. */
    uint8_t *base = (uint8_t *)ch + 16;
    block *head = NULL;
    for (int i = BATCH - 1; i >= 0; i--) {
        block *blk = (block *)(base + (size_t)i * sz);
        blk->next = head;
        head = blk;
    }
    local.free[c] = head;
    local.count[c] = BATCH;
    return true;
}

void *au_pool_alloc(uint8_t c, size_t size) {
    if (c == AU_POOL_LARGE) return malloc(size);
    check_epoch();
    if (!local.free[c] && !refill(c)) return NULL;
    block *b = local.free[c];
    local.free[c] = b->next;
    local.count[c]--;
    return b;
}

/* Moves BATCH blocks from this thread's list to the global list. */
static void give_batch(uint8_t c) {
    block *first = local.free[c], *last = first;
    for (int i = 1; i < BATCH; i++) last = last->next;
    local.free[c] = last->next;
    local.count[c] -= BATCH;
    last->next = NULL;
    pthread_mutex_lock(&pool.lock[c]);
    first->next_batch = pool.batches[c];
    pool.batches[c] = first;
    pthread_mutex_unlock(&pool.lock[c]);
}

void au_pool_free(uint8_t c, void *p) {
    if (!p) return;
    if (c == AU_POOL_LARGE) {
        free(p);
        return;
    }
    check_epoch();
    block *b = p;
    b->next = local.free[c];
    local.free[c] = b;
    if (++local.count[c] >= 2 * BATCH) give_batch(c);
}

void au_pool_thread_flush(void) {
    check_epoch();
    for (uint8_t c = 0; c < AU_POOL_CLASSES; c++)
        while (local.count[c] >= BATCH) give_batch(c);
    /* A partial batch stays cached: global batches must be exactly BATCH long. */
}
#endif
