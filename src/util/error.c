/* error.c — descriptions and names of the au_err codes, generated from AU_ERRNO_MAP
 * (aurum/error.h), so a code cannot have one without the other. */
#include <aurum/error.h>

const char *au_strerror(int err) {
    switch (err) {
#define AU_ERR_MESSAGE_(name, value, message) case AU_##name: return message;
        AU_ERRNO_MAP(AU_ERR_MESSAGE_)
#undef AU_ERR_MESSAGE_
    }
    return "unknown error";
}

const char *au_err_name(int err) {
    switch (err) {
#define AU_ERR_NAME_(name, value, message) case AU_##name: return "AU_" #name;
        AU_ERRNO_MAP(AU_ERR_NAME_)
#undef AU_ERR_NAME_
    }
    return "AU_EUNKNOWN";
}
