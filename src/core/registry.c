/* registry.c — the node's table of named actors: (name, root type id) → (cell, gen).
 *
 * The same name may be registered with different root types (they are different actors). A
 * reader-writer lock guards the table: lookups (one per remote message) share it; spawn and stop
 * take it exclusively. Spawn inserts while holding it across the actor's publication, so a
 * lookup sees either no entry or a live, started-queued actor — never a half-made one.
 *
 * Names longer than AU_REGISTRY_PREFIX are also counted by (root type, length, first
 * AU_REGISTRY_PREFIX bytes): the receive path asks whether a first fragment that carries only
 * the start of its destination's name may be for an actor here (au_registry_has_prefix). */
#include "core/internal.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include <xxhash.h>

typedef struct entry {
    struct entry *next;
    uint64_t hash; /* of the name only, so one bucket holds every root type of a name */
    uint64_t root_id;
    au_cell *cell;
    uint32_t gen;
    size_t name_len;
    char name[];
} entry;

typedef struct au_registry {
    pthread_rwlock_t lock;
    entry **buckets;
    size_t nbuckets, count;
    au_u64map by_cell;   /* cell address → its entry (an actor has at most one name) */
    au_u64map prefixes;  /* prefix_key → how many long names have it (as a uintptr_t) */
    uint64_t next_auto;  /* for generated names: how many were drawn */
    /* The key of generated names, set by the remote path at start (au_registry_set_name_key;
     * only a node with a network generates names): never leaves the node. */
    uint8_t name_key[crypto_shorthash_KEYBYTES];
} au_registry;

static uint64_t name_hash(const char *name, size_t len) { return XXH3_64bits(name, len); }

/* The key of a long name's prefix, never 0 (an empty slot of the map). Two prefixes sharing a
 * key only make au_registry_has_prefix say yes for both, which a full lookup settles later. */
static uint64_t prefix_key(const char *prefix, size_t name_len, uint64_t root_id) {
    return XXH3_64bits_withSeed(prefix, AU_REGISTRY_PREFIX, root_id ^ name_len) | 1;
}

/* Counts a long name in (delta 1) or out (delta -1). Out of memory a count may be off by one:
 * at worst a first fragment is let in for a name that is gone (its full lookup drops it), or
 * dropped as it would be without this index. */
static void prefix_count(au_registry *r, const char *name, size_t len, uint64_t root_id,
                         int delta) {
    if (len <= AU_REGISTRY_PREFIX) return;
    uint64_t key = prefix_key(name, len, root_id);
    uintptr_t n = (uintptr_t)au_u64map_get(&r->prefixes, key);
    if (delta < 0 && n == 0) return; /* never counted in (out of memory then) */
    n += (uintptr_t)(intptr_t)delta;
    if (n) au_u64map_put(&r->prefixes, key, (void *)n);
    else au_u64map_take(&r->prefixes, key);
}

au_err au_registry_create(au_node *node) {
    au_registry *r = calloc(1, sizeof *r);
    if (!r) return AU_ENOMEM;
    r->nbuckets = 64;
    r->buckets = calloc(r->nbuckets, sizeof *r->buckets);
    if (!r->buckets) {
        free(r);
        return AU_ENOMEM;
    }
    pthread_rwlock_init(&r->lock, NULL);
    node->registry = r;
    return AU_OK;
}

void au_registry_destroy(au_node *node) {
    au_registry *r = node->registry;
    if (!r) return;
    sodium_memzero(r->name_key, sizeof r->name_key);
    for (size_t i = 0; i < r->nbuckets; i++) {
        for (entry *e = r->buckets[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    }
    free(r->buckets);
    au_u64map_free(&r->by_cell);
    au_u64map_free(&r->prefixes);
    pthread_rwlock_destroy(&r->lock);
    free(r);
    node->registry = NULL;
}

static void grow(au_registry *r) {
    size_t n = r->nbuckets * 2;
    entry **b = calloc(n, sizeof *b);
    if (!b) return; /* keep the longer chains: still correct */
    for (size_t i = 0; i < r->nbuckets; i++) {
        for (entry *e = r->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = n;
}

void au_registry_write_lock(au_node *node) { pthread_rwlock_wrlock(&node->registry->lock); }
void au_registry_write_unlock(au_node *node) { pthread_rwlock_unlock(&node->registry->lock); }

au_err au_registry_insert_locked(au_node *node, const char *name, uint64_t root_id,
                                 au_cell *cell, uint32_t gen) {
    au_registry *r = node->registry;
    size_t len = strlen(name);
    uint64_t h = name_hash(name, len);
    for (entry *e = r->buckets[h & (r->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && e->root_id == root_id && e->name_len == len &&
            memcmp(e->name, name, len) == 0)
            return AU_EEXIST;
    entry *e = malloc(sizeof *e + len + 1);
    if (!e) return AU_ENOMEM;
    e->hash = h;
    e->root_id = root_id;
    e->cell = cell;
    e->gen = gen;
    e->name_len = len;
    memcpy(e->name, name, len + 1);
    if (!au_u64map_put(&r->by_cell, (uint64_t)(uintptr_t)cell, e)) {
        free(e);
        return AU_ENOMEM;
    }
    e->next = r->buckets[h & (r->nbuckets - 1)];
    r->buckets[h & (r->nbuckets - 1)] = e;
    prefix_count(r, e->name, len, root_id, 1);
    if (++r->count > r->nbuckets) grow(r);
    return AU_OK;
}

au_err au_registry_add(au_node *node, const char *name, uint64_t root_id, au_cell *cell,
                       uint32_t gen) {
    au_registry_write_lock(node);
    au_err err = au_registry_insert_locked(node, name, root_id, cell, gen);
    au_registry_write_unlock(node);
    return err;
}

void au_registry_remove(au_node *node, const char *name, uint64_t root_id, au_cell *cell) {
    au_registry *r = node->registry;
    size_t len = strlen(name);
    uint64_t h = name_hash(name, len);
    pthread_rwlock_wrlock(&r->lock);
    for (entry **p = &r->buckets[h & (r->nbuckets - 1)]; *p; p = &(*p)->next) {
        entry *e = *p;
        if (e->hash == h && e->root_id == root_id && e->cell == cell && e->name_len == len &&
            memcmp(e->name, name, len) == 0) {
            *p = e->next;
            au_u64map_take(&r->by_cell, (uint64_t)(uintptr_t)cell);
            prefix_count(r, e->name, e->name_len, e->root_id, -1);
            free(e);
            r->count--;
            break;
        }
    }
    pthread_rwlock_unlock(&r->lock);
}

au_err au_registry_find(au_node *node, const char *name, size_t len, uint64_t root_id,
                        au_cell **cell, uint32_t *gen, uint64_t *other_root) {
    au_registry *r = node->registry;
    uint64_t h = name_hash(name, len);
    au_err result = AU_ENOTFOUND;
    pthread_rwlock_rdlock(&r->lock);
    for (entry *e = r->buckets[h & (r->nbuckets - 1)]; e; e = e->next) {
        if (e->hash != h || e->name_len != len || memcmp(e->name, name, len) != 0) continue;
        if (e->root_id != root_id) {
            result = AU_ETYPE;
            if (other_root) *other_root = e->root_id;
            continue;
        }
        *cell = e->cell;
        *gen = e->gen;
        result = AU_OK;
        break;
    }
    pthread_rwlock_unlock(&r->lock);
    return result;
}

bool au_registry_has_prefix(au_node *node, const char *prefix, size_t name_len,
                            uint64_t root_id) {
    if (name_len <= AU_REGISTRY_PREFIX) return false;
    au_registry *r = node->registry;
    pthread_rwlock_rdlock(&r->lock);
    bool found = au_u64map_get(&r->prefixes, prefix_key(prefix, name_len, root_id)) != NULL;
    pthread_rwlock_unlock(&r->lock);
    return found;
}

_Static_assert(AU_NAME_KEY_SIZE == crypto_shorthash_KEYBYTES, "the name key is SipHash's");

void au_registry_set_name_key(au_node *node, const uint8_t key[AU_NAME_KEY_SIZE]) {
    au_registry *r = node->registry;
    pthread_rwlock_wrlock(&r->lock);
    memcpy(r->name_key, key, sizeof r->name_key);
    pthread_rwlock_unlock(&r->lock);
}

/* The next generated name into buf (AU_GENERATED_NAME_LEN + 1 bytes): '~' and the SipHash-2-4,
 * under the node's secret key, of a counter, as 11 characters of base64url (66 bits, the top
 * two zero). Not the counter itself: "~1", "~2", ... were guessed by anyone who saw one, and a
 * guessed reply target (a promise's, an ask's) took forged replies on a node without a key. */
static void generate_name(au_registry *r, char *buf) {
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t in[8], out[crypto_shorthash_BYTES];
    uint64_t n = ++r->next_auto;
    for (int i = 0; i < 8; i++) in[i] = (uint8_t)(n >> (8 * i));
    crypto_shorthash(out, in, sizeof in, r->name_key);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++) h |= (uint64_t)out[i] << (8 * i);
    buf[0] = '~';
    for (int i = 1; i <= 11; i++, h >>= 6) buf[i] = digits[h & 63];
    buf[12] = '\0';
}

size_t au_registry_name_of(au_node *node, au_cell *cell, uint32_t gen, uint64_t root_id,
                           char *buf, size_t size) {
    au_registry *r = node->registry;
    pthread_rwlock_rdlock(&r->lock);
    entry *e = au_u64map_get(&r->by_cell, (uint64_t)(uintptr_t)cell);
    size_t n = 0;
    if (e && e->gen == gen && e->name_len < size) {
        memcpy(buf, e->name, e->name_len + 1);
        n = e->name_len;
    }
    pthread_rwlock_unlock(&r->lock);
    if (n) return n;

    /* Anonymous: give it a generated name, once, so a reference to it can cross the network.
     * The cell is re-checked under the lock; the flag tells its stop to remove the name
     * (seq_cst pairs with finish_stop's gen store and flag load: one of them sees the other). */
    pthread_rwlock_wrlock(&r->lock);
    e = au_u64map_get(&r->by_cell, (uint64_t)(uintptr_t)cell);
    if (e && e->gen == gen && e->name_len < size) {
        memcpy(buf, e->name, e->name_len + 1);
        n = e->name_len;
    } else if (!e && size > AU_GENERATED_NAME_LEN) {
        /* Flag first, then check the gen (both seq_cst); finish_stop stores the gen, then
         * reads the flag: either it sees the flag and removes the entry, or we see it dead. */
        atomic_store_explicit(&cell->autonamed, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&cell->gen, memory_order_seq_cst) == gen) {
            /* A name already taken (two counters with one hash: about never) takes the next. */
            au_err err = AU_EEXIST;
            for (int tries = 0; tries < 4 && err == AU_EEXIST; tries++) {
                generate_name(r, buf);
                err = au_registry_insert_locked(node, buf, root_id, cell, gen);
            }
            if (err == AU_OK) n = AU_GENERATED_NAME_LEN;
        }
    }
    pthread_rwlock_unlock(&r->lock);
    return n;
}

void au_registry_forget_cell(au_node *node, au_cell *cell) {
    au_registry *r = node->registry;
    pthread_rwlock_wrlock(&r->lock);
    entry *e = au_u64map_take(&r->by_cell, (uint64_t)(uintptr_t)cell);
    if (e) {
        for (entry **p = &r->buckets[e->hash & (r->nbuckets - 1)]; *p; p = &(*p)->next) {
            if (*p == e) {
                *p = e->next;
                r->count--;
                break;
            }
        }
        prefix_count(r, e->name, e->name_len, e->root_id, -1);
        free(e);
    }
    pthread_rwlock_unlock(&r->lock);
}
