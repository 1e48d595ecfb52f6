/* aurum/error.h — the one error enum of the library.
 *
 * Every public call that can fail returns an au_err: AU_OK (zero) on success, a negative code
 * otherwise. au_strerror() turns any code into a short English sentence. */
#ifndef AURUM_ERROR_H
#define AURUM_ERROR_H

#include <aurum/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Result of a fallible call: AU_OK or one of the negative codes below. */
typedef enum au_err {
    AU_OK = 0,
    AU_EINVAL = -1,       /**< an argument is invalid (NULL, out of range, malformed) */
    AU_ENOMEM = -2,       /**< an allocation failed or a configured memory limit was reached */
    AU_ECONFIG = -3,      /**< the node configuration is invalid */
    AU_EEXIST = -4,       /**< a name is already registered */
    AU_ENOTFOUND = -5,    /**< no such actor, timer or entry */
    AU_ESTOPPED = -6,     /**< the target actor or the node has stopped */
    AU_ETIMEDOUT = -7,    /**< a deadline passed before the awaited event */
    AU_ETYPE = -8,        /**< a type id does not match (wrong root type or interface) */
    AU_EDECODE = -9,      /**< bytes could not be decoded into the expected type */
    AU_EENCODE = -10,     /**< a value could not be encoded (e.g. a local-only field) */
    AU_ETOOBIG = -11,     /**< a message exceeds the configured size limit */
    AU_ERESOLVE = -12,    /**< a host name could not be resolved */
    AU_EBIND = -13,       /**< the socket could not be bound */
    AU_EIO = -14,         /**< a system call failed */
    AU_ELOCAL = -15,      /**< the reference is local-only and cannot leave this node */
    AU_EFULL = -16,       /**< a bounded resource (mailbox, table) is full */
    AU_ESTATE = -17,      /**< the call is not valid in the current state */
} au_err;

/** A short, static description of an au_err code (never NULL, also for unknown codes). */
AU_API const char *au_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
