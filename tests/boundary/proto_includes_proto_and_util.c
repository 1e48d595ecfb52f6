// layer: proto
/* proto may include its own internal headers and those of util, the layer below.
 * Twin: proto_includes_core_internal.c */
#include "proto/wire.h"
#include "util/pool.h"
