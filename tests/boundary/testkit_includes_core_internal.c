// layer: testkit
// expect: core/internal.h
/* A file of testkit (or of any layer above it) sees include/ and util/ only: the runtime's internal
 * structures are not on its include path, so this does not build.
 * Twin: testkit_includes_public.c */
#include "core/internal.h"
