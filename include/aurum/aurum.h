/* aurum/aurum.h — the whole public API of aurum-c.
 *
 *   version.h AURUM_VERSION macros and au_version()
 *   error.h   au_err, au_strerror and au_err_name
 *   types.h   type descriptors, au_str, au_bytes, au_unit
 *   schema.h  AU_RECORD, AU_ROOT, AU_LOCAL_ROOT, AU_ARRAY, AU_LOCAL_TYPE, AU_CUSTOM_TYPE
 *   ref.h     typed references: au_send, au_stop, au_narrow, au_forge
 *   actor.h   AU_ACTOR, au_spawn, timers, death watch, ask
 *   node.h    au_node_start / au_node_stop, clock, statistics
 *   keys.h    cluster keys: sealing, the key ring, rotation, key files
 *   log.h     leveled logging with per-module levels and a pluggable sink
 *   driver.h  the node driver: clock, timers, how actors run, datagram I/O
 *   layer.h   for library layers: stop order, incarnation, peer events, remote watch hook
 *
 * Test tools (probes, fault injection, deterministic simulation) are in aurum/testkit.h. */
#ifndef AURUM_AURUM_H
#define AURUM_AURUM_H

#include <aurum/version.h>
#include <aurum/error.h>
#include <aurum/types.h>
#include <aurum/schema.h>
#include <aurum/ref.h>
#include <aurum/actor.h>
#include <aurum/node.h>
#include <aurum/keys.h>
#include <aurum/log.h>
#include <aurum/driver.h>
#include <aurum/layer.h>

#endif
