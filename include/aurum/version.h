/* aurum/version.h — the version of aurum-c: the one place it is written down.
 *
 * CMakeLists.txt reads the three numbers below to set the project's version, so the CMake
 * package (aurumConfigVersion.cmake), aurum.pc and the shared library's soname all follow this
 * file. The policy (README.md, "Versions"): while MAJOR is 0, a MINOR release may break the API
 * and the ABI, and the soname is libaurum.so.0.MINOR; from 1.0 on, only a MAJOR release may, and
 * the soname is libaurum.so.MAJOR. A PATCH release never breaks either.
 *
 * The macros tell what a program was compiled against; au_version() what it runs against (the
 * shared library may be another build than the headers). */
#ifndef AURUM_VERSION_H
#define AURUM_VERSION_H

#include <aurum/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The version's numbers: MAJOR.MINOR.PATCH (https://semver.org). */
#define AURUM_VERSION_MAJOR 0
#define AURUM_VERSION_MINOR 1
#define AURUM_VERSION_PATCH 0

/** The version as a string literal, "MAJOR.MINOR.PATCH" ("0.1.0"). */
#define AURUM_VERSION \
    AU_VERSION_STR_(AURUM_VERSION_MAJOR) "." AU_VERSION_STR_(AURUM_VERSION_MINOR) "." \
    AU_VERSION_STR_(AURUM_VERSION_PATCH)

/** The version as one number for `#if`: MAJOR * 1000000 + MINOR * 1000 + PATCH (0.1.0 is 1000),
 *  e.g. `#if AURUM_VERSION_NUMBER >= 2000` for 0.2.0 or later. */
#define AURUM_VERSION_NUMBER \
    (AURUM_VERSION_MAJOR * 1000000 + AURUM_VERSION_MINOR * 1000 + AURUM_VERSION_PATCH)

/** The version of the library linked at run time, "MAJOR.MINOR.PATCH" (static storage, never
 *  NULL). Equal to AURUM_VERSION when the program runs against the build it was compiled with. */
AU_API const char *au_version(void);

#define AU_VERSION_STR_(n) AU_VERSION_STR2_(n)
#define AU_VERSION_STR2_(n) #n

#ifdef __cplusplus
}
#endif
#endif
