/* The CRDT types the CRDT harnesses pick from, by index (fuzz_crdt_decode.c, fuzz_share_msg.c)
 * and the seed generator writes for (gen_corpus.c): one table, so a seed's first byte names the
 * same type in all three. Every built-in type and ORMap instance, plus an ORMap of ORMaps of
 * ORSets for nesting.
 *
 * Defines objects: include it once per program (each harness is a program of its own). */
#ifndef AU_FUZZ_CRDT_TYPES_H
#define AU_FUZZ_CRDT_TYPES_H

#include <aurum/crdt.h>

AU_CRDT_ORMAP_TYPE(fz_nested_type, "fuzz.ormap.ormap.orset.1", &au_ormap_orset_type);

static const au_crdt_type *const types[] = {
    &au_gcounter_type,       &au_pncounter_type,     &au_gset_type,
    &au_twopset_type,        &au_orset_type,         &au_lwwreg_type,
    &au_mvreg_type,          &au_ewflag_type,        &au_dwflag_type,
    &au_lwwmap_type,         &au_ormap_gcounter_type, &au_ormap_pncounter_type,
    &au_ormap_orset_type,    &au_ormap_mvreg_type,   &au_ormap_ewflag_type,
    &au_ormap_dwflag_type,   &fz_nested_type,
};
#define NTYPES (sizeof types / sizeof types[0])

#endif
