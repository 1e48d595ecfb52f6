/* keys.c — a node's cluster keys: the ring it accepts, the primary it seals with, rotation on a
 * running node, and key files.
 *
 * Rings are immutable snapshots (proto/seal.h): a change builds a new ring and publishes it with
 * one release store; the receive thread loads it per datagram. Packers follow the primary key
 * through net->primary. Neither a replaced ring nor a removed key is freed before the node
 * stops (a thread may still be using it): a change costs a few hundred bytes until then, which
 * is what a rotation every few hours can afford. Keys live in libsodium's guarded memory (never
 * swapped out) and are wiped when freed; no key byte is ever logged. */
#include "net/net.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

/* A growing list of blocks freed at stop. */
static bool keep(void ***list, size_t *n, size_t *cap, void *p) {
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        void **l = realloc(*list, c * sizeof *l);
        if (!l) return false;
        *list = l;
        *cap = c;
    }
    (*list)[(*n)++] = p;
    return true;
}

static au_seal_key *new_key(au_net_t *net, const au_key *k) {
    au_seal_key *key = sodium_malloc(sizeof *key);
    if (!key) return NULL;
    if (au_seal_key_init_id(key, k->bytes, k->id, net->sender_id) != AU_WIRE_OK ||
        !keep(&net->old_keys, &net->nold_keys, &net->old_keys_cap, key)) {
        sodium_free(key); /* sodium_free wipes */
        return NULL;
    }
    return key;
}

static const au_seal_ring *ring_now(au_net_t *net) {
    return atomic_load_explicit(&net->ring, memory_order_acquire);
}

/* Publishes a copy of the current ring with `add` added and the key of id `drop` (if >= 0)
 * removed. Called with key_lock. */
static au_err publish(au_net_t *net, const au_seal_key *add, int drop) {
    const au_seal_ring *old = ring_now(net);
    au_seal_ring *ring = calloc(1, sizeof *ring);
    if (!ring || !keep(&net->old_rings, &net->nold_rings, &net->old_rings_cap, ring)) {
        free(ring);
        return AU_ENOMEM;
    }
    for (size_t i = 0; old && i < old->n; i++)
        if ((int)old->keys[i]->id != drop) ring->keys[ring->n++] = old->keys[i];
    if (add) ring->keys[ring->n++] = add;
    /* release: a receive thread that loads the ring sees its keys. */
    atomic_store_explicit(&net->ring, ring, memory_order_release);
    return AU_OK;
}

au_err au_net_keys_start(au_net_t *net, const au_key *keys, size_t n) {
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (keys[j].id == keys[i].id) {
                au_log(AU_LOG_NET, AU_LOG_ERROR, "config: key id %u given twice", keys[i].id);
                return AU_ECONFIG;
            }
        }
    }
    if (n > AU_KEYS_MAX) {
        au_log(AU_LOG_NET, AU_LOG_ERROR, "config: %zu keys (at most %d)", n, AU_KEYS_MAX);
        return AU_ECONFIG;
    }
    for (size_t i = 0; i < n; i++) {
        au_seal_key *key = new_key(net, &keys[i]);
        au_err err = key ? publish(net, key, -1) : AU_ENOMEM;
        if (err) return err;
        /* release: a packer that loads the primary sees the key's bytes. */
        if (i == 0) atomic_store_explicit(&net->primary, key, memory_order_release);
    }
    return AU_OK;
}

void au_net_keys_free(au_net_t *net) {
    for (size_t i = 0; i < net->nold_keys; i++) sodium_free(net->old_keys[i]);
    for (size_t i = 0; i < net->nold_rings; i++) free(net->old_rings[i]);
    free(net->old_keys);
    free(net->old_rings);
}

/* ---- rotation -------------------------------------------------------------------------------- */

static au_net_t *sealed_net(au_node *node) {
    au_net_t *net = node ? node->net : NULL;
    return net && ring_now(net) ? net : NULL;
}

/* A keyed node stays keyed: rotation replaces the ring, never empties it (the primary stays). */
bool au_node_sealed(au_node *node) { return sealed_net(node) != NULL; }

bool au_node_device_keyed(au_node *node, uint64_t device) {
    au_net_t *net = node ? node->net : NULL;
    return net && au_net_device_keyed(net, device);
}

au_err au_node_key_add(au_node *node, const au_key *key) {
    if (!node || !key) return AU_EINVAL;
    au_net_t *net = sealed_net(node);
    if (!net) return AU_ESTATE;
    pthread_mutex_lock(&net->key_lock);
    const au_seal_ring *ring = ring_now(net);
    au_err err = AU_OK;
    if (au_seal_ring_find(ring, key->id) || au_net_devkeys_uses_id(net, key->id))
        err = AU_EEXIST; /* the device key id too (device_keys.c) */
    else if (ring->n >= AU_KEYS_MAX)
        err = AU_EFULL;
    else {
        au_seal_key *k = new_key(net, key);
        err = k ? publish(net, k, -1) : AU_ENOMEM;
    }
    pthread_mutex_unlock(&net->key_lock);
    if (!err) au_log(AU_LOG_NET, AU_LOG_INFO, "key %u added to the ring", key->id);
    return err;
}

au_err au_node_key_use(au_node *node, uint8_t id) {
    if (!node) return AU_EINVAL;
    au_net_t *net = sealed_net(node);
    if (!net) return AU_ESTATE;
    pthread_mutex_lock(&net->key_lock);
    const au_seal_key *k = au_seal_ring_find(ring_now(net), id);
    if (k) atomic_store_explicit(&net->primary, (au_seal_key *)k, memory_order_release);
    pthread_mutex_unlock(&net->key_lock);
    if (!k) return AU_ENOTFOUND;
    au_log(AU_LOG_NET, AU_LOG_INFO, "sealing with key %u", id);
    return AU_OK;
}

au_err au_node_key_remove(au_node *node, uint8_t id) {
    if (!node) return AU_EINVAL;
    au_net_t *net = sealed_net(node);
    if (!net) return AU_ESTATE;
    pthread_mutex_lock(&net->key_lock);
    const au_seal_key *k = au_seal_ring_find(ring_now(net), id);
    au_err err = !k ? AU_ENOTFOUND
                 : k == atomic_load_explicit(&net->primary, memory_order_relaxed) ? AU_ESTATE
                 : publish(net, NULL, id);
    pthread_mutex_unlock(&net->key_lock);
    if (!err) au_log(AU_LOG_NET, AU_LOG_INFO, "key %u removed from the ring", id);
    return err;
}

/* ---- keys and key files ---------------------------------------------------------------------- */

au_err au_key_generate(au_key *key, uint8_t id) {
    if (!key) return AU_EINVAL;
    if (sodium_init() < 0) return AU_EIO;
    key->id = id;
    randombytes_buf(key->bytes, sizeof key->bytes);
    return AU_OK;
}

static int hex_value(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "<id> <64 hex>" with optional surrounding blanks; false if malformed, with *why set. The id
 * is canonical decimal, as au_key_file_write writes it: digits only (no sign, no blank inside),
 * no leading zero but in "0" itself, at most 255. strtoul took "+1", "01" and "-0" too, so one
 * id could be written in several ways that all meant the same key. */
static bool parse_line(const char *line, au_key *out, const char **why) {
    static const char malformed[] = "expected \"<id 0-255> <64 hex digits>\"";
    *why = malformed;
    const char *end = line;
    unsigned id = 0;
    while (*end >= '0' && *end <= '9' && end - line < 4) id = id * 10 + (unsigned)(*end++ - '0');
    if (end == line) {
        if (*end == '+' || *end == '-')
            *why = "the key id must be written in decimal digits only, without a sign";
        return false;
    }
    if ((*end >= '0' && *end <= '9') || id > 255) {
        *why = "the key id must be 0-255";
        return false;
    }
    if (*line == '0' && end - line > 1) {
        *why = "the key id must be written without leading zeros";
        return false;
    }
    if (!isblank((unsigned char)*end)) return false;
    while (isblank((unsigned char)*end)) end++;
    for (size_t i = 0; i < AU_KEY_SIZE; i++) {
        int hi = hex_value((unsigned char)end[2 * i]), lo = hi < 0 ? -1 : hex_value((unsigned char)end[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out->bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    end += 2 * AU_KEY_SIZE;
    while (isspace((unsigned char)*end)) end++;
    out->id = (uint8_t)id;
    return *end == '\0';
}

static au_err file_error(au_err err, const char *path, const char *why, size_t line) {
    if (line)
        au_log(AU_LOG_NET, AU_LOG_ERROR, "key file %s, line %zu: %s", path, line, why);
    else
        au_log(AU_LOG_NET, AU_LOG_ERROR, "key file %s: %s", path, why);
    return err;
}

au_err au_key_file_read(const char *path, au_key *keys, size_t max, size_t *n) {
    if (!path || !keys || !n) return AU_EINVAL;
    *n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return file_error(AU_EIO, path, strerror(errno), 0);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return file_error(AU_ECONFIG, path, "not a regular file", 0);
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        return file_error(AU_ECONFIG, path,
                          "readable or writable by group or others (chmod 600 it)", 0);
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return file_error(AU_EIO, path, strerror(errno), 0);
    }
    char line[256];
    size_t lineno = 0;
    au_err err = AU_OK;
    while (!err && fgets(line, sizeof line, f)) {
        lineno++;
        const char *p = line;
        while (isspace((unsigned char)*p)) p++;
        if (!*p || *p == '#') continue;
        au_key k;
        const char *why;
        if (!parse_line(p, &k, &why))
            err = file_error(AU_ECONFIG, path, why, lineno);
        else if (*n == max)
            err = file_error(AU_ECONFIG, path, "more keys than fit", lineno);
        else {
            for (size_t i = 0; i < *n; i++)
                if (keys[i].id == k.id) err = file_error(AU_ECONFIG, path, "key id given twice", lineno);
            if (!err) keys[(*n)++] = k;
        }
        sodium_memzero(&k, sizeof k);
    }
    sodium_memzero(line, sizeof line);
    fclose(f);
    if (!err && !*n) err = file_error(AU_ECONFIG, path, "no key", 0);
    if (err) {
        sodium_memzero(keys, max * sizeof *keys);
        *n = 0;
    }
    return err;
}

au_err au_key_file_write(const char *path, const au_key *keys, size_t n) {
    if (!path || !keys || !n) return AU_EINVAL;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return errno == EEXIST ? AU_EEXIST : file_error(AU_EIO, path, strerror(errno), 0);
    FILE *f = fdopen(fd, "w");
    bool ok = f != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        ok = fprintf(f, "%u ", keys[i].id) > 0;
        for (size_t b = 0; ok && b < AU_KEY_SIZE; b++) ok = fprintf(f, "%02x", keys[i].bytes[b]) == 2;
        ok = ok && fputc('\n', f) != EOF;
    }
    if (f) ok = fclose(f) == 0 && ok;
    else close(fd);
    if (!ok) {
        unlink(path);
        return file_error(AU_EIO, path, "write failed", 0);
    }
    return AU_OK;
}
