/* orset.h — the ORSet's store, shared by orset.c (joins, mutators, reads) and orset_wire.c
 * (equality, encoding, redundancy removal). See orset.c for the representation. */
#ifndef AU_CRDT_ORSET_H
#define AU_CRDT_ORSET_H

#include <stdlib.h>

#include "crdt_internal.h"

#define EXT_MARK 0xFFFFu
#define DEAD 0 /* payload of an element to be swept (no dot is 0) */

typedef struct ext {
    uint64_t *d; /* nt tombs, then nl live dots, each list sorted; NULL: they are in inl (two
                    or fewer); room for ext_room(nt + nl) (orset.c) */
    uint32_t nl, nt;
    uint64_t inl[2];
} ext;

struct au_orset {
    crdt_cobj h;
    ktab tab;
    ext *ext;
    uint32_t next, cap;
    uint32_t *freel; /* released ext indices; as large as ext[], so releasing never fails */
    uint32_t nfree;
    bool dead; /* some element may be DEAD: sweep */
};

typedef struct edots {
    const uint64_t *l, *t;
    uint32_t nl, nt;
    uint64_t one;
} edots;

static inline uint64_t ref_of(const au_orset *s, uint32_t slot) {
    uint64_t r;
    memcpy(&r, ktab_payload(&s->tab, slot), 8);
    return r;
}

static inline void set_ref(au_orset *s, uint32_t slot, uint64_t r) {
    memcpy(ktab_payload(&s->tab, slot), &r, 8);
}

static inline bool is_ext(uint64_t r) { return r != DEAD && dot_ridx(r) == EXT_MARK; }

/* The dots of the element at slot (none for KTAB_NONE or DEAD). v is filled in place. */
static inline void dots_of(const au_orset *s, uint32_t slot, edots *v) {
    uint64_t r = slot == KTAB_NONE ? DEAD : ref_of(s, slot);
    v->nl = v->nt = 0;
    v->l = v->t = NULL;
    if (r == DEAD) return;
    if (!is_ext(r)) {
        v->one = r;
        v->l = &v->one;
        v->nl = 1;
        return;
    }
    const ext *e = &s->ext[(uint32_t)dot_ctr(r)];
    const uint64_t *d = e->d ? e->d : e->inl;
    v->t = d, v->nt = e->nt, v->l = d + e->nt, v->nl = e->nl;
}

/* Sets the element's dots (copied; they may alias its current ones); nothing left: DEAD. */
au_err orset_set_dots(au_orset *s, uint32_t slot, const uint64_t *l, uint32_t nl,
                      const uint64_t *t, uint32_t nt);
/* Deletes the elements marked DEAD. */
void orset_sweep(au_orset *s);

/* ---- growable dot buffers with a small stack part ------------------------------------------ */

typedef struct dbuf {
    uint64_t *p;
    uint32_t n, cap;
    uint64_t stack[CRDT_STACK_DOTS];
} dbuf;

static inline void dbuf_init(dbuf *b) { b->p = b->stack, b->n = 0, b->cap = CRDT_STACK_DOTS; }
static inline void dbuf_free(dbuf *b) {
    if (b->p != b->stack) free(b->p);
}

static inline au_err dbuf_push(dbuf *b, uint64_t d) {
    if (b->n == b->cap) {
        uint32_t cap = b->cap * 2;
        uint64_t *p = b->p == b->stack ? malloc(cap * sizeof *p) : realloc(b->p, cap * sizeof *p);
        if (!p) return AU_ENOMEM;
        if (b->p == b->stack) memcpy(p, b->stack, sizeof b->stack);
        b->p = p, b->cap = cap;
    }
    b->p[b->n++] = d;
    return AU_OK;
}

/* orset_wire.c */
bool orset_equal(const void *va, const void *vb, crdt_xlat *x);
uint64_t orset_digest(const void *v);
au_err orset_encode(const void *v, au_buf *out);
au_err orset_decode(void *v, crdt_rd *r);
au_err orset_minus(void *dv, const void *sv, crdt_xlat *x);
void orset_map_dots(void *v, uint64_t (*fn)(void *arg, uint64_t dot), void *arg);

#endif
