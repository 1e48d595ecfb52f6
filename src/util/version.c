/* version.c — au_version(): the version this library was built as, from aurum/version.h. Lives
 * in the library, not in a header, so a program can tell which build it runs against. */
#include <aurum/version.h>

const char *au_version(void) { return AURUM_VERSION; }
