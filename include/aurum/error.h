/* aurum/error.h — the one error enum of the library.
 *
 * Every public call that can fail returns an au_err: AU_OK (zero) on success, a negative code
 * otherwise. au_strerror() turns any code into a short English sentence, au_err_name() into its
 * identifier. The codes, their values and their sentences are one list, AU_ERRNO_MAP, from which
 * the enum and both functions are generated: a new code is one new line there. */
#ifndef AURUM_ERROR_H
#define AURUM_ERROR_H

#include <aurum/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Every error code as X(name, value, message): `name` without its AU_ prefix, `value` the
 *  (negative) number, `message` what au_strerror() returns. Values never change once released.
 *  Example, a table of the codes: `#define ROW(n, v, m) { v, #n },` then `AU_ERRNO_MAP(ROW)`. */
#define AU_ERRNO_MAP(X)                                                                            \
    X(OK, 0, "success")                                                                            \
    /* AU_EINVAL: an argument is invalid (NULL, out of range, malformed) */                        \
    X(EINVAL, -1, "invalid argument")                                                              \
    /* AU_ENOMEM: an allocation failed or a configured memory limit was reached */                 \
    X(ENOMEM, -2, "out of memory or memory limit reached")                                         \
    /* AU_ECONFIG: the node configuration is invalid */                                            \
    X(ECONFIG, -3, "invalid configuration")                                                        \
    /* AU_EEXIST: a name is already registered */                                                  \
    X(EEXIST, -4, "name already registered")                                                       \
    /* AU_ENOTFOUND: no such actor, timer or entry */                                              \
    X(ENOTFOUND, -5, "not found")                                                                  \
    /* AU_ESTOPPED: the target actor or the node has stopped */                                    \
    X(ESTOPPED, -6, "actor or node stopped")                                                       \
    /* AU_ETIMEDOUT: a deadline passed before the awaited event */                                 \
    X(ETIMEDOUT, -7, "timed out")                                                                  \
    /* AU_ETYPE: a type id does not match (wrong root type or interface) */                        \
    X(ETYPE, -8, "type id mismatch")                                                               \
    /* AU_EDECODE: bytes could not be decoded into the expected type */                            \
    X(EDECODE, -9, "malformed encoded data")                                                       \
    /* AU_EENCODE: a value could not be encoded (e.g. a local-only field) */                       \
    X(EENCODE, -10, "value cannot be encoded")                                                     \
    /* AU_ETOOBIG: a message exceeds the configured size limit */                                  \
    X(ETOOBIG, -11, "message too large")                                                           \
    /* AU_ERESOLVE: a host name could not be resolved */                                           \
    X(ERESOLVE, -12, "host name resolution failed")                                                \
    /* AU_EBIND: the socket could not be bound */                                                  \
    X(EBIND, -13, "socket bind failed")                                                            \
    /* AU_EIO: a system call failed */                                                             \
    X(EIO, -14, "I/O error")                                                                       \
    /* AU_ELOCAL: the reference is local-only and cannot leave this node */                        \
    X(ELOCAL, -15, "local-only reference cannot be sent to another node")                          \
    /* AU_EFULL: a bounded resource (mailbox, table) is full */                                    \
    X(EFULL, -16, "bounded resource is full")                                                      \
    /* AU_ESTATE: the call is not valid in the current state */                                    \
    X(ESTATE, -17, "invalid in the current state")

/** Result of a fallible call: AU_OK or one of the negative codes of AU_ERRNO_MAP. */
typedef enum au_err {
#define AU_ERR_ENUM_(name, value, message) AU_##name = (value),
    AU_ERRNO_MAP(AU_ERR_ENUM_)
#undef AU_ERR_ENUM_
} au_err;

/** A short, static description of an au_err code ("timed out"); never NULL: "unknown error" for
 *  a value that is not a code. */
AU_API const char *au_strerror(int err);

/** The identifier of an au_err code ("AU_ETIMEDOUT"), static; never NULL: "AU_EUNKNOWN" for a
 *  value that is not a code. */
AU_API const char *au_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
