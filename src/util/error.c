/* error.c — descriptions of the au_err codes. */
#include <aurum/error.h>

const char *au_strerror(int err) {
    switch (err) {
    case AU_OK: return "success";
    case AU_EINVAL: return "invalid argument";
    case AU_ENOMEM: return "out of memory or memory limit reached";
    case AU_ECONFIG: return "invalid configuration";
    case AU_EEXIST: return "name already registered";
    case AU_ENOTFOUND: return "not found";
    case AU_ESTOPPED: return "actor or node stopped";
    case AU_ETIMEDOUT: return "timed out";
    case AU_ETYPE: return "type id mismatch";
    case AU_EDECODE: return "malformed encoded data";
    case AU_EENCODE: return "value cannot be encoded";
    case AU_ETOOBIG: return "message too large";
    case AU_ERESOLVE: return "host name resolution failed";
    case AU_EBIND: return "socket bind failed";
    case AU_EIO: return "I/O error";
    case AU_ELOCAL: return "local-only reference cannot be sent to another node";
    case AU_EFULL: return "bounded resource is full";
    case AU_ESTATE: return "invalid in the current state";
    }
    return "unknown error";
}
