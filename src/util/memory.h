/* memory.h — returning freed memory to the system.
 *
 * After a burst of large, short-lived allocations (a reassembly flood, once its partials
 * expire), glibc keeps much of the freed memory mapped: its mmap threshold grows with every large
 * block freed, so later large blocks come from the heap, whose pages stay resident after free.
 * au_memory_return asks the allocator to give free pages back (malloc_trim); elsewhere it does
 * nothing. It walks the allocator's arenas, so call it after a large release, not per free. */
#ifndef AU_UTIL_MEMORY_H
#define AU_UTIL_MEMORY_H

#if defined(__GLIBC__)
#include <malloc.h>
static inline void au_memory_return(void) { malloc_trim(0); }
#else
static inline void au_memory_return(void) {}
#endif

#endif
