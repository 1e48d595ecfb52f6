/* kv_server.c — a key-value store served over UDP: one actor, "kv", holding string keys and
 * values, answering put / get / del requests (examples/kv.h) from kv_client or any other node.
 *
 *   kv_server [HOST:PORT]        bind there (default 127.0.0.1:0: a port the OS picks)
 *
 * Prints "kv_server: listening on HOST:PORT" once it can be reached, serves until SIGINT (Ctrl-C)
 * or SIGTERM, then stops its node and says how many requests it served. Log lines for each
 * request with AU_LOG=user=info. Shows: spawning a named actor that other processes forge
 * references to, moving strings out of received messages, answering through the reference a
 * request carries, au_wait_for_signal. */
#include "kv.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    au_str key, value; /* owned: moved out of the put that brought them */
} entry;

typedef struct store {
    entry *entries;
    size_t n, cap;
    uint64_t served;
} store;

static entry *find(store *s, au_str key) {
    for (size_t i = 0; i < s->n; i++)
        if (s->entries[i].key.len == key.len && !memcmp(s->entries[i].key.ptr, key.ptr, key.len))
            return &s->entries[i];
    return NULL;
}

/* A received string kept beyond recv: taken if the message owns it (anything that came over the
 * network does), copied if it is a view of a local sender's memory; the message keeps nothing. */
static au_str take(au_str *field) {
    au_str s = field->owned ? *field : au_str_dup(field->ptr, field->len);
    *field = (au_str){ 0 };
    return s;
}

/* The answer: the value an entry holds (copied: the reply is the asker's to free), or none. */
static kv_value answer(const entry *e) {
    return e ? (kv_value){ true, au_str_dup(e->value.ptr, e->value.len) } : (kv_value){ false };
}

static void kv_recv(au_ctx *ctx, store *self, kv_msg *m) {
    self->served++;
    switch (m->tag) {
    case kv_msg_put: {
        entry *e = find(self, m->put.key);
        au_log(AU_LOG_USER, AU_LOG_INFO, "put %s (%s)", m->put.key.ptr, e ? "replaces" : "new");
        au_send(m->put.reply, answer(e)); /* the value it held before */
        if (e) {
            au_str_free(&e->value);
        } else {
            if (self->n == self->cap) {
                size_t cap = self->cap ? 2 * self->cap : 16;
                entry *grown = realloc(self->entries, cap * sizeof *grown);
                if (!grown) {
                    au_log(AU_LOG_USER, AU_LOG_ERROR, "put %s: out of memory", m->put.key.ptr);
                    return;
                }
                self->entries = grown;
                self->cap = cap;
            }
            e = &self->entries[self->n++];
            e->key = take(&m->put.key);
        }
        e->value = take(&m->put.value);
        break;
    }
    case kv_msg_get: {
        entry *e = find(self, m->get.key);
        au_log(AU_LOG_USER, AU_LOG_INFO, "get %s (%s)", m->get.key.ptr, e ? "found" : "not found");
        au_send(m->get.reply, answer(e));
        break;
    }
    case kv_msg_del: {
        entry *e = find(self, m->del.key);
        au_log(AU_LOG_USER, AU_LOG_INFO, "del %s (%s)", m->del.key.ptr, e ? "found" : "not found");
        au_send(m->del.reply, answer(e));
        if (e) {
            au_str_free(&e->key);
            au_str_free(&e->value);
            *e = self->entries[--self->n];
        }
        break;
    }
    }
}

static void kv_post_stop(au_ctx *ctx, store *self) {
    printf("kv_server: served %llu requests, %zu keys held\n", (unsigned long long)self->served,
           self->n);
    for (size_t i = 0; i < self->n; i++) {
        au_str_free(&self->entries[i].key);
        au_str_free(&self->entries[i].value);
    }
    free(self->entries);
}

AU_ACTOR(kv_actor, store, kv_msg, .recv = kv_recv, .post_stop = kv_post_stop);

int main(int argc, char **argv) {
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: kv_server [HOST:PORT]   (default 127.0.0.1:0)\n");
        return 2;
    }
    const char *bind = argc == 2 ? argv[1] : "127.0.0.1:0";
    au_node *node;
    au_err err = au_node_start(&(au_node_config){ .bind = bind }, &node);
    if (err) {
        fprintf(stderr, "kv_server: cannot start on %s: %s (%s)\n", bind, au_strerror(err),
                au_err_name(err));
        return 1;
    }
    kv_msg_ref kv = au_spawn(node, kv_actor, KV_ACTOR_NAME, NULL);
    if (au_ref_is_null(kv.raw)) {
        fprintf(stderr, "kv_server: spawn: %s\n", au_strerror(au_last_error()));
        au_node_stop(node);
        return 1;
    }
    printf("kv_server: listening on %s\n", au_node_address(node));
    fflush(stdout); /* whoever waits for the address reads it now, not at exit */

    int sig = au_wait_for_signal();
    printf("kv_server: %s, stopping\n",
           sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : au_err_name(sig));
    au_node_stop(node); /* the actor's post_stop prints what it served */
    return 0;
}
