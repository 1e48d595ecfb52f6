// layer: util
// expect: proto/wire.h
/* util is the ground floor: it includes nothing of the layers above it. */
#include "proto/wire.h"
