/* tools/aurum/keygen.c — `aurum keygen`: writes a new key file (one key, id 0, from the system's
 * CSPRNG) with mode 0600, to FILE or to aurum.key. Never overwrites: an existing path is refused
 * (exit 4), so a running cluster's key is not lost by accident.
 *
 * Relies on au_key_generate and au_key_file_write (aurum/keys.h). */
#include "aurum_cli.h"

#include <string.h>

static const char usage[] =
    "usage: aurum keygen [-o FILE] [--id N]\n"
    "Writes a new cluster key file (mode 0600) to FILE (default aurum.key); refuses to overwrite.\n"
    "Give the same file to every node (--key-file) and to the commands that talk to them\n"
    "(status, watch, incr, add); a fleet key for devices is made the same way and given to\n"
    "the nodes with --device-key-file and to aurum device with --key-file.\n"
    "  -o FILE   where to write it\n"
    "  --id N    the key's id, 0..255 (default 0; a new id for each rotation)\n"
    "Exit status: 0 written, 2 bad flags, 4 the file exists or cannot be written.\n";

int aurum_keygen(int argc, char **argv) {
    const char *path = "aurum.key";
    unsigned long id = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (aurum_is_help(a)) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(path = aurum_flag_value("keygen", argc, argv, &i))) return AURUM_EXIT_USAGE;
        } else if (!strcmp(a, "--id")) {
            const char *v = aurum_flag_value("keygen", argc, argv, &i);
            if (!v) return AURUM_EXIT_USAGE;
            if (!strcmp(v, "0")) id = 0;
            else if (!aurum_parse_uint(v, 255, &id))
                return aurum_fail("keygen", AURUM_EXIT_USAGE, "bad --id \"%s\" (want 0..255)", v);
        } else {
            return aurum_fail("keygen", AURUM_EXIT_USAGE,
                              "unknown argument \"%s\" (see aurum keygen --help)", a);
        }
    }
    au_key key;
    au_err err = au_key_generate(&key, (uint8_t)id);
    if (err) return aurum_fail("keygen", AURUM_EXIT_FAIL, "no random key: %s", au_strerror(err));
    err = au_key_file_write(path, &key, 1);
    memset(&key, 0, sizeof key);
    if (err == AU_EEXIST)
        return aurum_fail("keygen", AURUM_EXIT_KEY, "%s exists; not overwritten (remove it first)", path);
    if (err)
        return aurum_fail("keygen", AURUM_EXIT_KEY, "cannot write %s: %s", path, au_strerror(err));
    printf("aurum keygen: wrote %s (key id %lu, mode 0600)\n", path, id);
    return 0;
}
