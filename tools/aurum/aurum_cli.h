/* tools/aurum/aurum_cli.h — what the subcommands of the `aurum` command share: the admin
 * protocol (the messages a node's "aurum-admin" actor answers), the exit codes, and helpers for
 * flags, key files and the small client node that `status` and `watch` run.
 *
 * Relies on the public API only (include/aurum/); every subcommand is one file (node.c,
 * status.c, watch.c, device.c, keygen.c) with an entry point `int aurum_<cmd>(argc, argv)`
 * called by main.c with argv[0] the subcommand's name.
 *
 * The admin protocol is typed: a node and the programs asking it compile these declarations, so
 * their type ids agree; a `status` built from another version is dropped and counted on the node
 * (drops_schema_mismatch) and sees "no answer". With a key file, the node seals every datagram,
 * so only holders of the key can ask it anything (the admin actor is authenticated by the
 * transport, docs/security.md). */
#ifndef AURUM_CLI_H
#define AURUM_CLI_H

#include <aurum/aurum.h>
#include <aurum/cluster.h>
#include <aurum/keys.h>

#include <stdbool.h>
#include <stdio.h>

/* ---- exit codes (documented in man/aurum.1) -------------------------------------------------- */
enum {
    AURUM_EXIT_OK = 0,
    AURUM_EXIT_FAIL = 1,        /* anything else: out of memory, an internal error */
    AURUM_EXIT_USAGE = 2,       /* a bad flag, a missing or malformed argument */
    AURUM_EXIT_UNREACHABLE = 3, /* the node did not answer in time (down, wrong port, other key) */
    AURUM_EXIT_KEY = 4,         /* a key file that cannot be read, is malformed, or is readable
                                   by group or others (or keygen: the path exists) */
    AURUM_EXIT_BIND = 5,        /* the address cannot be bound: port in use, not local, privileged */
};

/* ---- the admin protocol ---------------------------------------------------------------------- */

/** The name the admin actor registers under on every `aurum node`. */
#define AURUM_ADMIN_NAME "aurum-admin"

/** A member as one node sees it. state: "alive", "self", "removed"; reason (removed only):
 *  "failed", "leaving", "replaced". share_ppm: the share of the ring it owns, in millionths,
 *  measured over AURUM_RING_SAMPLES keys (0 when not in the ring). */
AU_RECORD(adm_member, (au_str, address), (uint64_t, id), (au_str, state), (au_str, reason),
          (uint32_t, share_ppm));
AU_ARRAY(adm_member);

/** One counter or gauge: its name, value, kind and one line saying what it counts. */
AU_RECORD(adm_stat, (au_str, name), (uint64_t, value), (bool, gauge), (au_str, doc));
AU_ARRAY(adm_stat);

/** A device and the member owning it (address, "" when unknown). state: "up" or "down" when
 *  this node owns it (its device server's verdict), "" when another node does. */
AU_RECORD(adm_device, (au_str, name), (uint64_t, id), (au_str, owner), (au_str, state));
AU_ARRAY(adm_device);

AU_ARRAY(au_str);

/** A shared value: a CRDT's name, kind ("counter", "set") and its value as text (the counter's
 *  decimal value; the set's elements, comma-separated, for people); elements: the set's
 *  elements one by one (empty for the counter), which an element holding a comma needs. */
AU_RECORD(adm_value, (au_str, name), (au_str, kind), (au_str, value), (au_str_array, elements));
AU_ARRAY(adm_value);

/** A node's status, as the admin actor answers it. has_devices / has_crdt: whether this build of
 *  the node runs a device server / the shared CRDTs (the lists are empty without). */
AU_RECORD(adm_status, (au_str, address), (uint64_t, id), (au_str, version), (uint64_t, uptime_ms),
          (adm_member_array, members), (uint32_t, replication_factor),
          (bool, has_devices), (adm_device_array, devices),
          (bool, has_crdt), (adm_value_array, values),
          (adm_stat_array, node_stats), (adm_stat_array, cluster_stats));

/** An event for a watcher. kind 0: an acknowledgement of a subscription (line empty); kind 1: a
 *  line to print ("ADDED 127.0.0.1:4001 id=..."). */
AU_RECORD(adm_event, (int32_t, kind), (au_str, line));

AU_RECORD(adm_status_req, (adm_status_ref, reply));
/** Subscribes (or renews: a subscription lapses AURUM_WATCH_LEASE_MS after the last renewal). */
AU_RECORD(adm_subscribe, (adm_event_ref, to));
/** Increments the shared counter by `by` (answered with 0 once the increment is queued to the
 *  node's replica, -1 without CRDTs in this build or when it was refused). */
AU_RECORD(adm_incr, (int64_t, by), (int64_t_ref, reply));
/** Adds an element to the shared set (answered like adm_incr). */
AU_RECORD(adm_add, (au_str, element), (int64_t_ref, reply));

/** What the admin actor receives. Only the AU_REMOTE variants can be sent from another process;
 *  the cluster's updates and the device lines (node_devices.c: a line for the watchers) come
 *  from this node alone. */
AU_LOCAL_ROOT(adm_msg, (status, adm_status_req, AU_REMOTE), (subscribe, adm_subscribe, AU_REMOTE),
              (incr, adm_incr, AU_REMOTE), (add, adm_add, AU_REMOTE),
              (cluster, au_cluster_update, AU_LOCAL), (line, au_str, AU_LOCAL));

/** The user message type of a device's hello (`aurum device` sends it whenever its owner
 *  changes, and every AURUM_DEVICE_HELLO_MS): its payload is the device's name, a CBOR text.
 *  The device server relays device messages to every member, so every node learns every
 *  device's name and current owner from it. */
#define AURUM_DEVICE_HELLO_TYPE 0x61752e68656c6c6full /* "au.hello" */
#define AURUM_DEVICE_HELLO_MS 5000u
/* The key id devices seal with (au_dc_config.key_id, au_node_config.device_key_id): apart from
 * the ids aurum keygen gives cluster keys (0 upward), since a device key id must not be one. */
#define AURUM_DEVICE_KEY_ID 200u
#define AURUM_MAX_DEVICES 4096u

#define AURUM_RING_SAMPLES 4096u
#define AURUM_WATCH_LEASE_MS 5000u
#define AURUM_MAX_WATCHERS 64u
#define AURUM_MAX_MEMBERS 1024u

/* ---- the admin actor (admin.c) --------------------------------------------------------------- */

typedef struct aurum_admin aurum_admin;

/** Spawns the admin actor on node (registered as AURUM_ADMIN_NAME) and subscribes it to c.
 *  seeds (nseeds of them, copied) are the --seed addresses: when the node nevertheless starts
 *  alone, the actor logs a WARN naming them. NULL with a message on stderr on failure. The
 *  handle is the caller's: free it with aurum_admin_free after au_node_stop (the actor's own
 *  state is freed when it stops). */
aurum_admin *aurum_admin_start(au_node *node, au_cluster *c, const char *const *seeds,
                               size_t nseeds);
void aurum_admin_free(aurum_admin *a);
/** The admin actor's line interface: each au_str sent there goes to every watcher. */
au_str_lref aurum_admin_lines(aurum_admin *a);

/** Waits up to timeout_ms for the admin actor to have seen this node's LEFT event (and told its
 *  watchers). true if it did. */
bool aurum_admin_wait_left(aurum_admin *a, unsigned timeout_ms);

/* ---- the optional parts of a node (node_crdt.c, node_devices.c) ------------------------------ */

/** The shared counter and set. Each returns false when this build has no CRDT layer. */
bool aurum_crdt_start(au_node *node, au_cluster *c);
bool aurum_crdt_available(void);
int64_t aurum_crdt_incr(int64_t by);         /* 0 queued, -1 without CRDTs or refused */
int64_t aurum_crdt_add(const char *element); /* 0 queued, -1 without CRDTs or refused */
/** Appends the shared values to *out (owned strings). */
void aurum_crdt_values(adm_value_array *out);

/** The device server; its events and the devices' hellos become lines for the watchers
 *  (sent to `lines`). */
bool aurum_devices_start(au_node *node, au_cluster *c, au_str_lref lines);
bool aurum_devices_available(void);
/** The ring that names device owners in watch lines (the admin actor's latest; retained until
 *  the next call; NULL releases it). */
void aurum_devices_ring(const au_ring *ring);
/** Sets *out to the devices this node knows and their owners (owned strings); owner ids are
 *  resolved to addresses through ring (may be NULL). */
void aurum_devices_list(adm_device_array *out, const au_ring *ring);

/* ---- helpers (common.c) ---------------------------------------------------------------------- */

/** Prints "aurum <cmd>: <message>" to stderr and returns code. */
int aurum_fail(const char *cmd, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** Whether arg is a --help / -h flag. */
bool aurum_is_help(const char *arg);

/** A flag's value: argv[*i + 1], advancing *i; NULL (and a message) when missing. */
const char *aurum_flag_value(const char *cmd, int argc, char **argv, int *i);

/** Parses a positive decimal number into *out; false when it is not one or above max. */
bool aurum_parse_uint(const char *s, unsigned long max, unsigned long *out);

/** The flags every command that talks to a node takes: --key-file FILE and --timeout MS (1 ..
 *  3,600,000). At argv[*i]: 1 when it was one of them (stored, *i advanced), 0 when it was not,
 *  -1 when its value is missing or bad (the message is printed; exit AURUM_EXIT_USAGE). */
int aurum_client_flag(const char *cmd, int argc, char **argv, int *i, const char **key_file,
                      unsigned long *timeout_ms);

/** Checks "host:port" (a port 1..65535 unless allow_zero; a non-empty host). */
bool aurum_check_hostport(const char *s, bool allow_zero);

/** Reads a key file into keys (with clear one-line errors naming the fault: opened without
 *  following a symbolic link, checked on the opened file, the library's reason for content it
 *  refuses). Returns 0 or AURUM_EXIT_KEY. */
int aurum_read_keys(const char *cmd, const char *path, au_key *keys, size_t *n);

/** Starts the small node a client command sends from, on the loopback address of the target's
 *  family (127.0.0.1, or [::1] when target is "[v6]:port"), an OS-chosen port, one worker;
 *  sealed with the key file's keys when key_file is not NULL. 0 or an exit code. */
int aurum_client_node(const char *cmd, const char *key_file, const char *target, au_node **out);

/** Whether s[0..n) is well-formed UTF-8 (RFC 3629: no overlongs, surrogates, or code points
 *  above U+10FFFF), as the wire format demands of every text. */
bool aurum_utf8_valid(const char *s, size_t n);

/** s[0..n) made safe for a terminal, NUL-terminated in buf (cap bytes, truncated at a
 *  character): control characters (C0, DEL, C1) and bytes that are not UTF-8 become \xNN;
 *  everything else is copied. Returns buf. */
const char *aurum_printable(char *buf, size_t cap, const char *s, size_t n);

/** Checks standard output after a command printed to it (flushing it): 0, or AURUM_EXIT_FAIL
 *  after "aurum <cmd>: cannot write to standard output: <reason>" on stderr (once per
 *  process: later calls return AURUM_EXIT_FAIL quietly). */
int aurum_check_stdout(const char *cmd);

/** Log levels from spec; with spec NULL, only errors (a client command reports its own
 *  failures) unless AU_LOG is set. 0 or AURUM_EXIT_USAGE. */
int aurum_log_setup(const char *cmd, const char *spec);

int aurum_node(int argc, char **argv);
int aurum_status(int argc, char **argv);
int aurum_watch(int argc, char **argv);
int aurum_device(int argc, char **argv);
int aurum_keygen(int argc, char **argv);
int aurum_incr(int argc, char **argv);
int aurum_add(int argc, char **argv);

#endif
