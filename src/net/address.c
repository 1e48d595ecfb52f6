/* address.c — "host:port" text to socket addresses and back. Resolution (getaddrinfo) happens
 * when a node starts or a reference is forged or decoded, never per send. */
#include "net/net.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

au_err au_addr_resolve(const char *text, au_addr *out) { return au_addr_parse(text, out, false); }

au_err au_addr_parse(const char *text, au_addr *out, bool numeric_only) {
    if (!text || !out) return AU_EINVAL;
    char host[256];
    const char *port;
    bool bracketed = text[0] == '[';
    if (bracketed) { /* [v6]:port */
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof host) return AU_EINVAL;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof host || strchr(text, ':') != colon)
            return AU_EINVAL;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port = colon + 1;
    }
    /* Decimal digits only: strtol alone would also take leading blanks and a sign (" 1", "+1"). */
    if (port[0] < '0' || port[0] > '9') return AU_EINVAL;
    char *end;
    long p = strtol(port, &end, 10);
    if (*end || p < 0 || p > 65535 || !host[0]) return AU_EINVAL;

    /* Brackets hold an IPv6 literal and nothing else (RFC 3986): "[127.0.0.1]:1" or
     * "[localhost]:1" would be one node under two spellings. */
    struct addrinfo hints = { .ai_family = bracketed ? AF_INET6 : AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
                              .ai_flags = AI_NUMERICSERV |
                                          (numeric_only || bracketed ? AI_NUMERICHOST : 0) },
                    *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res) return AU_ERESOLVE;
    if (res->ai_addrlen > sizeof out->sa ||
        (res->ai_addr->sa_family != AF_INET && res->ai_addr->sa_family != AF_INET6)) {
        freeaddrinfo(res);
        return AU_ERESOLVE;
    }
    memset(out, 0, sizeof *out);
    memcpy(&out->sa, res->ai_addr, res->ai_addrlen);
    out->len = (socklen_t)res->ai_addrlen;
    freeaddrinfo(res);
    return AU_OK;
}

/* Writes v in decimal at p; returns the end. */
static char *put_decimal(char *p, unsigned v) {
    char d[5];
    int n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *p++ = d[--n];
    return p;
}

/* The receive path formats every datagram's source (for au_ctx_origin and log lines), so IPv4,
 * the common case, is written by hand: inet_ntop and snprintf were about 4 % of a device
 * server's CPU. Same text as inet_ntop + "%s:%u", truncated as snprintf truncates. */
void au_addr_format(const au_addr *a, char *buf, size_t size) {
    char ip[INET6_ADDRSTRLEN] = "?";
    if (a->sa.any.sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)&a->sa;
        const unsigned char *o = (const unsigned char *)&s->sin_addr;
        char text[sizeof "255.255.255.255:65535"], *p = text;
        for (int i = 0; i < 4; i++) {
            p = put_decimal(p, o[i]);
            *p++ = i < 3 ? '.' : ':';
        }
        p = put_decimal(p, ntohs(s->sin_port));
        if (!size) return;
        size_t n = (size_t)(p - text);
        if (n > size - 1) n = size - 1;
        memcpy(buf, text, n);
        buf[n] = 0;
    } else if (a->sa.any.sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->sa;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof ip);
        snprintf(buf, size, "[%s]:%u", ip, (unsigned)ntohs(s->sin6_port));
    } else {
        snprintf(buf, size, "?");
    }
}

/* Compares family, port and address only (not padding or flow labels). */
bool au_addr_equal(const au_addr *a, const au_addr *b) {
    if (a->sa.any.sa_family != b->sa.any.sa_family) return false;
    if (a->sa.any.sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)&a->sa, *y = (const void *)&b->sa;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->sa.any.sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)&a->sa, *y = (const void *)&b->sa;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
    return false;
}

uint64_t au_addr_hash(const au_addr *a) {
    unsigned char key[2 + 2 + 16] = { 0 };
    key[0] = (unsigned char)a->sa.any.sa_family;
    if (a->sa.any.sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)&a->sa;
        memcpy(key + 2, &x->sin_port, 2);
        memcpy(key + 4, &x->sin_addr, 4);
    } else if (a->sa.any.sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)&a->sa;
        memcpy(key + 2, &x->sin6_port, 2);
        memcpy(key + 4, &x->sin6_addr, 16);
    }
    return XXH3_64bits(key, sizeof key);
}

au_err au_address_resolve(const char *text, struct sockaddr_storage *out, socklen_t *len) {
    if (!out || !len) return AU_EINVAL;
    au_addr a;
    au_err err = au_addr_resolve(text, &a);
    if (err) return err;
    memset(out, 0, sizeof *out);
    memcpy(out, &a.sa, a.len);
    *len = a.len;
    return AU_OK;
}

bool au_address_equal(const struct sockaddr *a, const struct sockaddr *b) {
    if (!a || !b) return false;
    au_addr x = { .len = a->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in) };
    au_addr y = { .len = b->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in) };
    memcpy(&x.sa, a, x.len);
    memcpy(&y.sa, b, y.len);
    return au_addr_equal(&x, &y);
}

uint16_t au_addr_port(const au_addr *a) {
    if (a->sa.any.sa_family == AF_INET) return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
    if (a->sa.any.sa_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
    return 0;
}
