/* missing.h — a public-style declaration that the library does not define:
 * symbols_rejects_missing passes it to the exported-symbol check as one more public header, and
 * the check must then fail, naming it. */
#ifndef AU_SYMBOLS_MISSING_H
#define AU_SYMBOLS_MISSING_H

#include <aurum/export.h>

AU_API void au_symbols_not_exported_(void);

#endif
