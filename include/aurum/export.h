/* aurum/export.h — what the shared library exports.
 *
 * The library is built with -fvisibility=hidden: only declarations marked AU_API are part of
 * libaurum's dynamic symbol table. Every function a public header declares carries it (also the
 * `_`-suffixed functions behind public macros); internal functions never do. */
#ifndef AURUM_EXPORT_H
#define AURUM_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define AU_API __attribute__((visibility("default")))
#else
#define AU_API
#endif

/* Ends a macro that declares things at file scope (AU_RECORD, AU_ROOT, AU_ORMAP_OF, ...) with a
 * declaration still open, so that the `;` written after the macro closes it: an empty
 * declaration (a `;` after a function body or a `};`) is what -Wpedantic calls an extra `;`. */
#define AU_DECL_END_ _Static_assert(1, "")

#endif
