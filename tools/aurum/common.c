/* tools/aurum/common.c — helpers every subcommand uses: one-line errors, flag values, numbers,
 * host:port checks, key files (with the reason a file is refused), the client node.
 *
 * Relies on the public API (aurum/keys.h, aurum/node.h, aurum/log.h) and POSIX stat(2). */
#include "aurum_cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int aurum_fail(const char *cmd, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "aurum %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

bool aurum_is_help(const char *arg) {
    return !strcmp(arg, "--help") || !strcmp(arg, "-h");
}

const char *aurum_flag_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        aurum_fail(cmd, AURUM_EXIT_USAGE, "%s needs a value (see aurum %s --help)", argv[*i], cmd);
        return NULL;
    }
    return argv[++*i];
}

bool aurum_parse_uint(const char *s, unsigned long max, unsigned long *out) {
    if (!s || !*s || *s == '-' || *s == '+') return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v == 0 || v > max) return false;
    *out = v;
    return true;
}

int aurum_client_flag(const char *cmd, int argc, char **argv, int *i, const char **key_file,
                      unsigned long *timeout_ms) {
    bool key = !strcmp(argv[*i], "--key-file");
    if (!key && strcmp(argv[*i], "--timeout")) return 0;
    const char *v = aurum_flag_value(cmd, argc, argv, i);
    if (!v) return -1;
    if (key) {
        *key_file = v;
    } else if (!aurum_parse_uint(v, 3600000, timeout_ms)) {
        aurum_fail(cmd, AURUM_EXIT_USAGE, "bad --timeout \"%s\" (want milliseconds, 1..3600000)", v);
        return -1;
    }
    return 1;
}

bool aurum_check_hostport(const char *s, bool allow_zero) {
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) return false;
    if (s[0] == '[' && colon[-1] != ']') return false;
    const char *p = colon + 1;
    if (!*p) return false;
    char *end;
    errno = 0;
    unsigned long port = strtoul(p, &end, 10);
    if (errno || *end || *p == '-' || *p == '+' || port > 65535) return false;
    return allow_zero || port > 0;
}

int aurum_read_keys(const char *cmd, const char *path, au_key *keys, size_t *n) {
    struct stat st;
    if (stat(path, &st) != 0)
        return aurum_fail(cmd, AURUM_EXIT_KEY, "key file %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return aurum_fail(cmd, AURUM_EXIT_KEY, "key file %s: not a regular file", path);
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        return aurum_fail(cmd, AURUM_EXIT_KEY,
                          "key file %s: readable or writable by group or others (mode %03o); "
                          "run: chmod 600 %s",
                          path, (unsigned)(st.st_mode & 0777), path);
    au_log_level was = au_log_get_level(AU_LOG_NET);
    au_log_set_level(AU_LOG_NET, AU_LOG_OFF); /* the one line below says it all */
    au_err err = au_key_file_read(path, keys, AU_KEYS_MAX, n);
    au_log_set_level(AU_LOG_NET, was);
    if (err == AU_EIO)
        return aurum_fail(cmd, AURUM_EXIT_KEY, "key file %s: cannot be read", path);
    if (err)
        return aurum_fail(cmd, AURUM_EXIT_KEY,
                          "key file %s: not a key file (want lines \"<id> <64 hex digits>\"; "
                          "aurum keygen writes one)",
                          path);
    return 0;
}

int aurum_client_node(const char *cmd, const char *key_file, const char *target, au_node **out) {
    aurum_log_setup(cmd, NULL);
    au_key keys[AU_KEYS_MAX];
    size_t nkeys = 0;
    if (key_file) {
        int rc = aurum_read_keys(cmd, key_file, keys, &nkeys);
        if (rc) return rc;
    }
    /* The node answers to the address this one advertises (its bound one): the loopback of
     * the target's family, since a node bound to [::1] cannot send to 127.0.0.1. */
    bool v6 = target && target[0] == '[';
    au_err err = au_node_start(&(au_node_config){ .bind = v6 ? "[::1]:0" : "127.0.0.1:0",
                                                  .workers = 1,
                                                  .keys = nkeys ? keys : NULL, .nkeys = nkeys,
                                                  .no_spin = true },
                               out);
    memset(keys, 0, sizeof keys);
    if (err)
        return aurum_fail(cmd, AURUM_EXIT_FAIL, "cannot start a client node on %s: %s (%s)",
                          v6 ? "[::1]" : "127.0.0.1", au_strerror(err), au_err_name(err));
    return 0;
}

int aurum_log_setup(const char *cmd, const char *spec) {
    if (!spec) {
        /* A client command says itself what went wrong, in one line; the library's warnings
         * (its own unauthenticated node, unanswered datagrams) would only repeat it. AU_LOG
         * from the environment still applies. */
        if (!getenv("AU_LOG")) au_log_set_all_levels(AU_LOG_ERROR);
        return 0;
    }
    if (au_log_configure(spec) != AU_OK)
        return aurum_fail(cmd, AURUM_EXIT_USAGE,
                          "bad --log-level \"%s\" (want e.g. info, debug, net=debug,core=info)",
                          spec);
    return 0;
}

bool aurum_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t more;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) more = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) more = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) more = 3, cp = c & 0x07;
        else return false;
        if (n - i <= more) return false;
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (more == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return false;
        if (more == 3 && (cp < 0x10000 || cp > 0x10FFFF)) return false;
        i += more + 1;
    }
    return true;
}

const char *aurum_printable(char *buf, size_t cap, const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t o = 0;
    if (!cap) return buf;
    for (size_t i = 0; s && i < n;) {
        size_t len = 1;
        bool escape;
        unsigned char c = s[i];
        if (c < 0x80) {
            escape = c < 0x20 || c == 0x7f;
        } else {
            len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            escape = len > n - i || !aurum_utf8_valid(str + i, len) ||
                     (c == 0xC2 && s[i + 1] >= 0x80 && s[i + 1] <= 0x9F); /* C1 controls */
            if (escape) len = 1;
        }
        size_t need = escape ? 4 : len;
        if (o + need >= cap) break;
        if (escape) snprintf(buf + o, cap - o, "\\x%02x", c);
        else memcpy(buf + o, s + i, len);
        o += need;
        i += len;
    }
    buf[o] = '\0';
    return buf;
}

int aurum_check_stdout(const char *cmd) {
    static bool reported;
    int err = 0;
    if (fflush(stdout) != 0) err = errno ? errno : EIO;
    else if (ferror(stdout)) err = EIO;
    if (!err) return 0;
    if (!reported)
        aurum_fail(cmd, AURUM_EXIT_FAIL, "cannot write to standard output: %s", strerror(err));
    reported = true;
    return AURUM_EXIT_FAIL;
}
