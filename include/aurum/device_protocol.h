/* aurum/device_protocol.h — the messages a device and the cluster exchange, declared with the
 * schema macros, for the cluster side (the device server) and for tests.
 *
 * A device (aurum/device_client.h) cannot use the schema macros: it carries these messages' type
 * ids as constants (AU_DC_UP_TYPE_ID, AU_DC_DOWN_TYPE_ID) and encodes their CBOR by hand. The
 * declarations below are therefore a wire contract: changing a field changes the type ids, and
 * every deployed device then has its messages dropped as "schema mismatch". tests/devices checks
 * that au_type_id() of these types equals the client's constants. docs/devices.md describes each
 * message and when it is sent.
 *
 * Addressing (see docs/devices.md §2): uplink messages go to the actor named AU_DEVICE_SERVER_NAME
 * (or the name the device was configured with) whose root type is au_device_up; downlink messages
 * go to the name AU_DEVICE_CLIENT_NAME with root type au_device_down. In both directions the
 * interface is the whole root (interface type id = root type id).
 *
 * Ids: `device` is the device's 64-bit id (nonzero, unique in the fleet); `incarnation` the
 * device's incarnation (grows across its restarts); `server` the id of the cluster node that
 * sends (nonzero; when sealed, the sender id its nonce names). */
#ifndef AURUM_DEVICE_PROTOCOL_H
#define AURUM_DEVICE_PROTOCOL_H

#include <aurum/schema.h>

/** Default name of the device server's endpoint actor (uplink destination). */
#define AU_DEVICE_SERVER_NAME "au.devices"
/** Name of a device's endpoint (downlink destination); a device has exactly one. */
#define AU_DEVICE_CLIENT_NAME "au.device"

/* ---- uplink: device -> cluster ------------------------------------------------------------ */

/** "Here I am; poll me every interval_ms." Sent at start, when the interval changes, when the
 *  owner's view of the interval is stale, and while no owner polls the device. clock orders
 *  interval changes (+1 each); owner is the server the device believes owns it (0: none);
 *  max_datagram the largest datagram it accepts (downlink messages must fit in one). */
AU_RECORD(au_device_announce, (uint64_t, device), (uint64_t, incarnation), (uint32_t, clock),
          (uint32_t, interval_ms), (uint64_t, owner), (uint32_t, max_datagram));
/** A heartbeat: request names the request it answers, clock is the device's. beat is 0 for
 *  the answer sent when the request arrives, and k for the k-th one sent unprompted one
 *  interval after the one before, as the request's beats asked. */
AU_RECORD(au_device_heartbeat, (uint64_t, device), (uint64_t, incarnation), (uint64_t, request),
          (uint32_t, clock), (uint32_t, beat));
/** Two servers poll this device in turn (owner the newer, other the older): each should keep
 *  polling only if the ring makes it the owner. Sent to both. */
AU_RECORD(au_device_conflict, (uint64_t, device), (uint64_t, incarnation), (uint64_t, owner),
          (uint64_t, other));
/** A user message from the device: type is the type id of the user type, payload its CBOR. */
AU_RECORD(au_device_user_up, (uint64_t, device), (uint64_t, incarnation), (uint64_t, type),
          (au_bytes, payload));
/** Everything a device sends (variant indices 0..3 on the wire). */
AU_ROOT(au_device_up, (announce, au_device_announce, AU_PLAIN),
        (heartbeat, au_device_heartbeat, AU_PLAIN), (conflict, au_device_conflict, AU_PLAIN),
        (data, au_device_user_up, AU_PLAIN));

/* ---- downlink: cluster -> device ---------------------------------------------------------- */

/** A heartbeat request from the owner: answer with au_device_heartbeat{request, beat 0}, then,
 *  unprompted, with beat 1, 2, ... every interval_ms until beats heartbeats in all answered it
 *  (a lease of beats intervals; 0 and 1: the answer only; a device takes at most
 *  AU_DC_MAX_BEATS). A new request from the owner replaces the lease (one it sent before the
 *  lease's own, overtaken on the way, is answered and leaves the lease as it is). clock and interval_ms are
 *  the interval the server polls at; a device whose clock differs announces. */
AU_RECORD(au_device_request, (uint64_t, device), (uint64_t, incarnation), (uint64_t, server),
          (uint64_t, request), (uint32_t, clock), (uint32_t, interval_ms), (uint32_t, beats));
/** A user message for the device: type is the user type's id, payload its CBOR. */
AU_RECORD(au_device_user_down, (uint64_t, device), (uint64_t, incarnation), (uint64_t, server),
          (uint64_t, type), (au_bytes, payload));
/** Everything a device receives (variant indices 0..1 on the wire). */
AU_ROOT(au_device_down, (request, au_device_request, AU_PLAIN),
        (data, au_device_user_down, AU_PLAIN));

#endif
