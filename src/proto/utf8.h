/* UTF-8 validation: what every au_str holds. A leaf of proto/, used by the codec (encoder and
 * decoder) and by types.c (the local send's copy), so neither depends on the other for it. */
#ifndef AU_PROTO_UTF8_H
#define AU_PROTO_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True if s[0..n) is RFC 3629 UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
bool au_utf8_valid(const uint8_t *s, size_t n);

#endif
