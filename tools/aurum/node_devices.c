/* tools/aurum/node_devices.c — the device server of `aurum node`. This build has no device
 * server layer yet (src/devices/server), so aurum_devices_available() is false and status
 * reports has_devices false with no devices. Isolated here so that adding the server changes
 * this file only. */
#include "aurum_cli.h"

bool aurum_devices_start(au_node *node, au_cluster *c) {
    (void)node;
    (void)c;
    return false;
}

bool aurum_devices_available(void) { return false; }

void aurum_devices_list(adm_device_array *out) { *out = (adm_device_array){ 0 }; }
