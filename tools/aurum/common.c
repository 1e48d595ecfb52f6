/* tools/aurum/common.c — helpers every subcommand uses: one-line errors, flag values, numbers,
 * host:port checks, key files (with the reason a file is refused), the client node.
 *
 * Relies on the public API (aurum/keys.h, aurum/node.h, aurum/log.h) and POSIX open(2) / fstat(2). */
#include "aurum_cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int aurum_fail(const char *cmd, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, *cmd ? "aurum %s: " : "aurum%s: ", cmd);
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

/* The library's one line naming what is wrong with a key file ("key file PATH[, line N]: why"):
 * caught while aurum_read_keys reads it, so the command's own line can say it. */
typedef struct key_why {
    char text[240];
} key_why;

static void catch_key_line(void *user, au_log_module module, au_log_level level,
                           const char *file, int line, const char *message) {
    (void)file;
    (void)line;
    key_why *w = user;
    if (module == AU_LOG_NET && level >= AU_LOG_ERROR && !w->text[0])
        snprintf(w->text, sizeof w->text, "%s", message);
}

int aurum_read_keys(const char *cmd, const char *path, au_key *keys, size_t *n) {
    /* Opened as the library opens it (O_NOFOLLOW: a symbolic link is refused, never followed),
     * and checked on that very file; O_NONBLOCK so a FIFO there does not hang the command. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && errno == ELOOP)
        return aurum_fail(cmd, AURUM_EXIT_KEY,
                          "key file %s: a symbolic link (not followed; name the file itself)", path);
    if (fd < 0 && errno == EACCES)
        return aurum_fail(cmd, AURUM_EXIT_KEY,
                          "key file %s: permission denied (this user cannot read it)", path);
    if (fd < 0)
        return aurum_fail(cmd, AURUM_EXIT_KEY, "key file %s: %s", path, strerror(errno));
    struct stat st;
    int serr = fstat(fd, &st) != 0 ? errno : 0;
    close(fd);
    if (serr) return aurum_fail(cmd, AURUM_EXIT_KEY, "key file %s: %s", path, strerror(serr));
    if (!S_ISREG(st.st_mode))
        return aurum_fail(cmd, AURUM_EXIT_KEY, "key file %s: not a regular file (%s)", path,
                          S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO"
                          : S_ISSOCK(st.st_mode) ? "a socket" : "a device");
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        return aurum_fail(cmd, AURUM_EXIT_KEY,
                          "key file %s: readable or writable by group or others (mode %03o); "
                          "run: chmod 600 %s",
                          path, (unsigned)(st.st_mode & 0777), path);
    if (st.st_size == 0)
        return aurum_fail(cmd, AURUM_EXIT_KEY,
                          "key file %s: empty (want lines \"<id> <64 hex digits>\"; aurum keygen "
                          "writes one)",
                          path);
    /* The library names the fault in one ERROR line: caught here and said once, in ours. */
    key_why why = { { 0 } };
    au_log_level was = au_log_get_level(AU_LOG_NET);
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    au_log_set_sink(catch_key_line, &why);
    au_err err = au_key_file_read(path, keys, AU_KEYS_MAX, n);
    au_log_set_sink(NULL, NULL);
    au_log_set_level(AU_LOG_NET, was);
    if (!err) return 0;
    /* "key file PATH, line N: why" / "key file PATH: why" -> "line N: why" / "why" */
    const char *what = why.text;
    size_t plen = strlen("key file ") + strlen(path);
    if (!strncmp(what, "key file ", 9) && strlen(what) > plen && !strncmp(what + 9, path, strlen(path)))
        what += plen + (what[plen] == ',' || what[plen] == ':' ? 1 : 0);
    while (*what == ' ') what++;
    if (err == AU_EIO)
        return aurum_fail(cmd, AURUM_EXIT_KEY, "key file %s: cannot be read: %s", path,
                          *what ? what : au_strerror(err));
    return aurum_fail(cmd, AURUM_EXIT_KEY,
                      "key file %s: not a key file: %s (aurum keygen writes one)",
                      path, *what ? what : au_strerror(err));
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
