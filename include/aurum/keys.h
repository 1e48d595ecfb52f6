/* aurum/keys.h — cluster keys: what seals a node's datagrams and what it accepts.
 *
 * A node configured with keys seals every datagram (XChaCha20-Poly1305) with its primary key and
 * accepts only datagrams sealed with a key of its ring; each datagram names the id of its key.
 * Rotation without downtime, on running nodes:
 *
 *   1. au_node_key_add(node, &new_key) on every node   (accepted everywhere, not used yet)
 *   2. au_node_key_use(node, new_key.id) node by node  (each node now seals with it)
 *   3. au_node_key_remove(node, old_id) on every node  (the old key is no longer accepted)
 *
 * Keys never appear in log lines. A key file holds one key per line, "<id> <64 hex digits>",
 * the id in canonical decimal (0-255, digits only, no sign, no leading zero: "7", not "+7" or
 * "07"); blank lines and lines starting with '#' are ignored; the first key is the primary. It must be
 * a regular file readable by its owner only (mode 0600 or stricter). See docs/security.md for
 * what sealing protects against and what it does not. */
#ifndef AURUM_KEYS_H
#define AURUM_KEYS_H

#include <aurum/error.h>
#include <aurum/export.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Bytes of a cluster key. */
#define AU_KEY_SIZE 32
/** Keys a node's ring holds at most. */
#define AU_KEYS_MAX 8

/** A cluster key and its id, which every datagram sealed with it names. */
typedef struct au_key {
    uint8_t id;                  /**< 0..255 */
    uint8_t bytes[AU_KEY_SIZE];  /**< the secret: from a CSPRNG (au_key_generate) */
} au_key;

/** Fills key->bytes from the system's CSPRNG (libsodium) and sets key->id. */
AU_API au_err au_key_generate(au_key *key, uint8_t id);

/** Reads up to max keys from a key file into keys[0..*n). AU_EIO (with a log line) when the
 *  file cannot be opened; AU_ECONFIG when it is not a regular file, is readable or writable by
 *  group or others, has a malformed line (its line number and what is wrong with it are logged,
 *  never its content; an id that is not canonical decimal, "+1" or "01", is malformed), names
 *  an id twice, or holds no key or more than max. */
AU_API au_err au_key_file_read(const char *path, au_key *keys, size_t max, size_t *n);

/** Writes n keys to a new key file created with mode 0600 (AU_EEXIST if the path exists; AU_EIO
 *  on a write error, and the partial file is removed). */
AU_API au_err au_key_file_write(const char *path, const au_key *keys, size_t n);

/** A device's key (aurum/device_client.h, au_dc_config.key): a datagram sealed with it is
 *  accepted only from that device (the nonce's sender id) and only for the device endpoint
 *  (au_node_config.device_endpoint); it never authorises anything else. See docs/security.md. */
typedef struct au_device_key {
    uint64_t device;             /**< the device's id (nonzero) */
    uint8_t bytes[AU_KEY_SIZE];  /**< its secret */
} au_device_key;

/** The key of one device derived from a fleet master key (libsodium's crypto_kdf, BLAKE2b,
 *  context "audevice", subkey id = device): what a node with au_node_config.device_master_key
 *  expects from that device, and what to provision the device with. AU_EINVAL for a NULL
 *  argument or device 0; AU_EIO if libsodium cannot initialise. */
AU_API au_err au_device_key_derive(const uint8_t master[AU_KEY_SIZE], uint64_t device,
                                   uint8_t out[AU_KEY_SIZE]);

typedef struct au_node au_node;

/** Whether `device` has a key on this node (its entry in au_node_config.device_keys, or its id
 *  in the master key's range): its messages reach the device endpoint only sealed with that
 *  key, so they are authenticated. false for a node without device keys or a network. */
AU_API bool au_node_device_keyed(au_node *node, uint64_t device);

/** Adds a key to the node's ring: datagrams sealed with it are accepted from now on. AU_EEXIST
 *  for an id already in the ring; AU_EFULL beyond AU_KEYS_MAX; AU_ESTATE on a node started
 *  without keys (its datagrams are not sealed) or without a network; AU_EINVAL for a NULL node
 *  or key (also for the two calls below, with a NULL node; they too are AU_ESTATE on a node
 *  without keys). */
AU_API au_err au_node_key_add(au_node *node, const au_key *key);

/** Seals from now on with the ring's key of that id. AU_ENOTFOUND if the ring has none. */
AU_API au_err au_node_key_use(au_node *node, uint8_t id);

/** Removes a key from the ring: datagrams sealed with it are refused from now on. AU_ESTATE for
 *  the key in use (switch first); AU_ENOTFOUND if the ring has none of that id. */
AU_API au_err au_node_key_remove(au_node *node, uint8_t id);

#ifdef __cplusplus
}
#endif
#endif
