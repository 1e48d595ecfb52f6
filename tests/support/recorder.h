/* recorder.h — a thread-safe event log for tests: actors append, the test thread waits until the
 * log holds enough entries (with a deadline, never a bare sleep) and then asserts on it. */
#ifndef AU_TESTS_RECORDER_H
#define AU_TESTS_RECORDER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct recorder {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int64_t *items;
    size_t n, cap;
} recorder;

static inline void recorder_init(recorder *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &a);
    pthread_condattr_destroy(&a);
}

static inline void recorder_destroy(recorder *r) {
    free(r->items);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
}

static inline void recorder_add(recorder *r, int64_t v) {
    pthread_mutex_lock(&r->lock);
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->items = realloc(r->items, r->cap * sizeof *r->items);
    }
    r->items[r->n++] = v;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static inline size_t recorder_count(recorder *r) {
    pthread_mutex_lock(&r->lock);
    size_t n = r->n;
    pthread_mutex_unlock(&r->lock);
    return n;
}

static inline int64_t recorder_at(recorder *r, size_t i) {
    pthread_mutex_lock(&r->lock);
    int64_t v = i < r->n ? r->items[i] : INT64_MIN;
    pthread_mutex_unlock(&r->lock);
    return v;
}

static inline uint64_t test_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Waits until the log has at least n entries or timeout_ms passes; returns whether it has. */
static inline bool recorder_wait(recorder *r, size_t n, unsigned timeout_ms) {
    uint64_t deadline = test_now_ns() + (uint64_t)timeout_ms * 1000000u;
    struct timespec ts = { (time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u) };
    pthread_mutex_lock(&r->lock);
    while (r->n < n)
        if (pthread_cond_timedwait(&r->cond, &r->lock, &ts) != 0) break;
    bool ok = r->n >= n;
    pthread_mutex_unlock(&r->lock);
    return ok;
}

/* Waits until pred(arg) is true, polling every millisecond, or timeout_ms passes. For
 * conditions that have no event to wait on (node counters). */
static inline bool wait_until(bool (*pred)(void *), void *arg, unsigned timeout_ms) {
    uint64_t deadline = test_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        if (pred(arg)) return true;
        if (test_now_ns() > deadline) return false;
        struct timespec d = { 0, 1000000 };
        nanosleep(&d, NULL);
    }
}

#endif
