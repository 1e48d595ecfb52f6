/* kv.h — the messages of the key-value example, shared by kv_server.c and kv_client.c.
 *
 * Both programs compile these same declarations, so their type ids agree; a server built from a
 * changed copy would drop the client's requests and count them (drops_schema_mismatch). Every
 * request carries the reference its answer goes to: the client puts a promise's reference there
 * (a kv_value_ref that crosses the network back to it). */
#ifndef KV_H
#define KV_H

#include <aurum/aurum.h>

/** An answer: whether the key held a value, and which (for put and del: the one it held before). */
AU_RECORD(kv_value, (bool, found), (au_str, value));

AU_RECORD(kv_put, (au_str, key), (au_str, value), (kv_value_ref, reply));
AU_RECORD(kv_get, (au_str, key), (kv_value_ref, reply));
AU_RECORD(kv_del, (au_str, key), (kv_value_ref, reply));

/** What the server's "kv" actor receives, through a kv_msg_ref forged from (address, "kv"). */
AU_ROOT(kv_msg, (put, kv_put, AU_PLAIN), (get, kv_get, AU_PLAIN), (del, kv_del, AU_PLAIN));

/** The name the server registers its actor under. */
#define KV_ACTOR_NAME "kv"

#endif
