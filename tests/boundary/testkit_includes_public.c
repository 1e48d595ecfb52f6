// layer: testkit
/* A file of testkit builds on the public API alone. Twin: testkit_includes_core_internal.c */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

const char *boundary_fixture_(void);
const char *boundary_fixture_(void) { return au_strerror(AU_OK); }
