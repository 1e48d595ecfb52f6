// layer: proto
// expect: core/internal.h
/* proto (bytes only) lies below core: core's headers are not on its include path.
 * Twin: proto_includes_proto_and_util.c */
#include "core/internal.h"
