/* pool.h — per-thread free lists of small blocks, so the message path does not call malloc.
 *
 * Blocks come in size classes (48 … 4096 bytes); larger requests go to malloc. Each thread
 * keeps a free list per class; a thread that frees more than it allocates (a consumer) hands
 * batches to a global list, where a thread that allocates more (a producer) picks them up.
 * Memory is taken from the system in chunks, owned by the pool, and returned when the last
 * user (node) releases the pool; a thread's cached blocks are discarded then (an epoch counter
 * tells a thread its cache is stale).
 *
 * Built with AU_POOL_PASSTHROUGH (sanitizer builds), every call goes to malloc/free so that
 * ASan and valgrind see each block. */
#ifndef AU_CORE_POOL_H
#define AU_CORE_POOL_H

#include <stddef.h>
#include <stdint.h>

#define AU_POOL_CLASSES 9
#define AU_POOL_LARGE 0xFF /* class of a block that came from malloc */

/* Takes a reference on the process-wide pool (one per node). */
void au_pool_acquire(void);
/* Drops it; the last release frees every chunk. No block may be in use then. */
void au_pool_release(void);
/* The class serving `size` bytes, or AU_POOL_LARGE. */
uint8_t au_pool_class(size_t size);
/* A block of at least `size` bytes for class cls (from au_pool_class); NULL if out of memory. */
void *au_pool_alloc(uint8_t cls, size_t size);
/* Returns a block; cls must be the class it was allocated with. */
void au_pool_free(uint8_t cls, void *block);
/* Gives this thread's cached blocks back to the global lists (threads call it before exiting). */
void au_pool_thread_flush(void);

#endif
