/* tools/aurum/status.c — `aurum status`: asks a node's admin actor for its status (one ask with a
 * timeout, from a client node of its own) and prints it as an aligned table, as JSON, or as
 * Prometheus text exposition.
 *
 * Relies on the admin protocol (aurum_cli.h), au_forge and a promise. The JSON is one object:
 *   {"address", "id", "version", "uptime_ms", "replication_factor",
 *    "members": [{"address", "id", "state", "reason", "ring_share"}],
 *    "has_devices", "devices": [{"name", "id", "owner", "state"}],
 *    "has_crdt", "values": [{"name", "kind", "value"}], "counter" (a number, or null),
 *      where a set's "value" is the array of its elements and the counter's its decimal text,
 *    "node_stats": {name: value}, "cluster_stats": {name: value}}
 * ring_share is a fraction (0..1) of AURUM_RING_SAMPLES sample keys. Every "id" (64 bits) is a
 * string of its decimal digits: a JSON number above 2^53 loses digits in most readers. */
#include "aurum_cli.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: aurum status HOST:PORT [--key-file FILE] [--json | --prometheus] [--timeout MS]\n"
    "Asks the node at HOST:PORT for its members, ring, devices, shared values and counters.\n"
    "  --key-file FILE  the cluster's key file (when the node runs with one)\n"
    "  --json           one JSON object (see aurum-status(1) for its fields)\n"
    "  --prometheus     Prometheus text exposition format\n"
    "  --timeout MS     how long to wait for the answer (default 2000)\n"
    "Exit status: 0 answered, 2 bad flags, 3 no answer in time, 4 bad key file, 1 other\n"
    "(such as output that cannot be written).\n";

static void json_str(FILE *o, au_str s) {
    fputc('"', o);
    for (uint32_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\') fprintf(o, "\\%c", c);
        else if (c < 0x20) fprintf(o, "\\u%04x", c);
        else fputc(c, o);
    }
    fputc('"', o);
}

static void json_stats(FILE *o, const adm_stat_array *a) {
    fputc('{', o);
    for (uint32_t i = 0; i < a->len; i++) {
        if (i) fputc(',', o);
        json_str(o, a->ptr[i].name);
        fprintf(o, ":%llu", (unsigned long long)a->ptr[i].value);
    }
    fputc('}', o);
}

static const adm_value *counter_of(const adm_status *st) {
    for (uint32_t i = 0; i < st->values.len; i++)
        if (st->values.ptr[i].kind.len == 7 && !memcmp(st->values.ptr[i].kind.ptr, "counter", 7))
            return &st->values.ptr[i];
    return NULL;
}

static void print_json(FILE *o, const adm_status *st) {
    fputs("{\"address\":", o);
    json_str(o, st->address);
    fprintf(o, ",\"id\":\"%llu\",\"version\":", (unsigned long long)st->id);
    json_str(o, st->version);
    fprintf(o, ",\"uptime_ms\":%llu,\"replication_factor\":%u,\"members\":[",
            (unsigned long long)st->uptime_ms, st->replication_factor);
    for (uint32_t i = 0; i < st->members.len; i++) {
        const adm_member *m = &st->members.ptr[i];
        fputs(i ? ",{\"address\":" : "{\"address\":", o);
        json_str(o, m->address);
        fprintf(o, ",\"id\":\"%llu\",\"state\":", (unsigned long long)m->id);
        json_str(o, m->state);
        fputs(",\"reason\":", o);
        json_str(o, m->reason);
        fprintf(o, ",\"ring_share\":%.6f}", m->share_ppm / 1e6);
    }
    fprintf(o, "],\"has_devices\":%s,\"devices\":[", st->has_devices ? "true" : "false");
    for (uint32_t i = 0; i < st->devices.len; i++) {
        const adm_device *d = &st->devices.ptr[i];
        fputs(i ? ",{\"name\":" : "{\"name\":", o);
        json_str(o, d->name);
        fprintf(o, ",\"id\":\"%llu\",\"owner\":", (unsigned long long)d->id);
        json_str(o, d->owner);
        fputs(",\"state\":", o);
        json_str(o, d->state);
        fputc('}', o);
    }
    fprintf(o, "],\"has_crdt\":%s,\"values\":[", st->has_crdt ? "true" : "false");
    for (uint32_t i = 0; i < st->values.len; i++) {
        const adm_value *v = &st->values.ptr[i];
        fputs(i ? ",{\"name\":" : "{\"name\":", o);
        json_str(o, v->name);
        fputs(",\"kind\":", o);
        json_str(o, v->kind);
        fputs(",\"value\":", o);
        if (v->kind.len == 3 && !memcmp(v->kind.ptr, "set", 3)) { /* its elements, an array */
            fputc('[', o);
            for (uint32_t k = 0; k < v->elements.len; k++) {
                if (k) fputc(',', o);
                json_str(o, v->elements.ptr[k]);
            }
            fputc(']', o);
        } else {
            json_str(o, v->value);
        }
        fputc('}', o);
    }
    const adm_value *c = counter_of(st);
    if (c) fprintf(o, "],\"counter\":%.*s", (int)c->value.len, c->value.ptr);
    else fputs("],\"counter\":null", o);
    fputs(",\"node_stats\":", o);
    json_stats(o, &st->node_stats);
    fputs(",\"cluster_stats\":", o);
    json_stats(o, &st->cluster_stats);
    fputs("}\n", o);
}

/* Prometheus label values escape backslash, quote and newline. */
static void prom_label(FILE *o, au_str s) {
    for (uint32_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (c == '\\' || c == '"') fprintf(o, "\\%c", c);
        else if (c == '\n') fputs("\\n", o);
        else fputc(c, o);
    }
}

static void prom_stats(FILE *o, const char *prefix, const adm_stat_array *a, au_str node) {
    for (uint32_t i = 0; i < a->len; i++) {
        const adm_stat *s = &a->ptr[i];
        const char *suffix = s->gauge ? "" : "_total";
        fprintf(o, "# HELP %s_%.*s%s %.*s\n", prefix, (int)s->name.len, s->name.ptr, suffix,
                (int)s->doc.len, s->doc.ptr);
        fprintf(o, "# TYPE %s_%.*s%s %s\n", prefix, (int)s->name.len, s->name.ptr, suffix,
                s->gauge ? "gauge" : "counter");
        fprintf(o, "%s_%.*s%s{node=\"", prefix, (int)s->name.len, s->name.ptr, suffix);
        prom_label(o, node);
        fprintf(o, "\"} %llu\n", (unsigned long long)s->value);
    }
}

static void print_prometheus(FILE *o, const adm_status *st) {
    fputs("# HELP aurum_member_up 1 for a member this node sees alive (or itself), 0 removed\n"
          "# TYPE aurum_member_up gauge\n", o);
    for (uint32_t i = 0; i < st->members.len; i++) {
        const adm_member *m = &st->members.ptr[i];
        fputs("aurum_member_up{node=\"", o);
        prom_label(o, st->address);
        fputs("\",member=\"", o);
        prom_label(o, m->address);
        fputs("\",state=\"", o);
        prom_label(o, m->state);
        fprintf(o, "\"} %d\n", !(m->state.len == 7 && !memcmp(m->state.ptr, "removed", 7)));
    }
    fputs("# HELP aurum_ring_share the fraction of sample keys a member owns on this node's ring\n"
          "# TYPE aurum_ring_share gauge\n", o);
    for (uint32_t i = 0; i < st->members.len; i++) {
        const adm_member *m = &st->members.ptr[i];
        fputs("aurum_ring_share{node=\"", o);
        prom_label(o, st->address);
        fputs("\",member=\"", o);
        prom_label(o, m->address);
        fprintf(o, "\"} %.6f\n", m->share_ppm / 1e6);
    }
    const adm_value *c = counter_of(st);
    if (c) {
        fputs("# HELP aurum_shared_counter the shared counter's value on this node\n"
              "# TYPE aurum_shared_counter gauge\naurum_shared_counter{node=\"", o);
        prom_label(o, st->address);
        fprintf(o, "\"} %.*s\n", (int)c->value.len, c->value.ptr);
    }
    /* Every device the node knows of (their hellos reach every member), and those it owns
     * (their state is its own device server's verdict). */
    uint32_t owned = 0;
    for (uint32_t i = 0; i < st->devices.len; i++) owned += st->devices.ptr[i].state.len > 0;
    fputs("# HELP aurum_devices devices this node knows of, owned by any member\n"
          "# TYPE aurum_devices gauge\naurum_devices{node=\"", o);
    prom_label(o, st->address);
    fprintf(o, "\"} %u\n", st->devices.len);
    fputs("# HELP aurum_devices_owned devices this node's device server owns\n"
          "# TYPE aurum_devices_owned gauge\naurum_devices_owned{node=\"", o);
    prom_label(o, st->address);
    fprintf(o, "\"} %u\n", owned);
    prom_stats(o, "aurum_node", &st->node_stats, st->address);
    prom_stats(o, "aurum_cluster", &st->cluster_stats, st->address);
}

/* A text from the node, made safe for a terminal (aurum_printable: control characters, such
 * as the escape sequences a device could put in its name, are printed as \xNN). */
#define SAFE(buf, s) aurum_printable((buf), sizeof (buf), (s).ptr, (s).len)

static void print_table(FILE *o, const adm_status *st) {
    char a[512], b[512], c[512], d[512];
    fprintf(o, "node %s  id %llu  aurum %s  up %.1f s  replication factor %u\n",
            SAFE(a, st->address), (unsigned long long)st->id, SAFE(b, st->version),
            st->uptime_ms / 1000.0, st->replication_factor);
    fprintf(o, "\n%-22s %-22s %-8s %-9s %s\n", "MEMBER", "ID", "STATE", "REASON", "RING SHARE");
    for (uint32_t i = 0; i < st->members.len; i++) {
        const adm_member *m = &st->members.ptr[i];
        fprintf(o, "%-22s %-22llu %-8s %-9s %5.1f%%\n", SAFE(a, m->address),
                (unsigned long long)m->id, SAFE(b, m->state), SAFE(c, m->reason),
                m->share_ppm / 1e4);
    }
    if (!st->has_devices) {
        fputs("\ndevices: no device server in this build\n", o);
    } else {
        fprintf(o, "\n%-22s %-22s %-22s %s\n", "DEVICE", "ID", "OWNER", "STATE (if owned here)");
        for (uint32_t i = 0; i < st->devices.len; i++) {
            const adm_device *dv = &st->devices.ptr[i];
            fprintf(o, "%-22s 0x%-20llx %-22s %s\n", SAFE(a, dv->name), (unsigned long long)dv->id,
                    SAFE(b, dv->owner), SAFE(c, dv->state));
        }
        if (!st->devices.len) fputs("(none)\n", o);
    }
    if (!st->has_crdt) {
        fputs("\nshared values: no CRDTs in this build\n", o);
    } else {
        fprintf(o, "\n%-22s %-9s %s\n", "SHARED VALUE", "KIND", "VALUE");
        for (uint32_t i = 0; i < st->values.len; i++) {
            const adm_value *v = &st->values.ptr[i];
            size_t cap = (size_t)v->value.len * 4 + 1; /* every byte escaped at worst */
            char *value = malloc(cap);
            fprintf(o, "%-22s %-9s %s\n", SAFE(a, v->name), SAFE(b, v->kind),
                    value ? aurum_printable(value, cap, v->value.ptr, v->value.len) : "?");
            free(value);
        }
    }
    const struct { const char *title; const adm_stat_array *a; } groups[] = {
        { "NODE COUNTER", &st->node_stats }, { "CLUSTER COUNTER", &st->cluster_stats } };
    for (size_t g = 0; g < 2; g++) {
        fprintf(o, "\n%-28s %12s  %s\n", groups[g].title, "VALUE", "WHAT");
        for (uint32_t i = 0; i < groups[g].a->len; i++) {
            const adm_stat *s = &groups[g].a->ptr[i];
            fprintf(o, "%-28s %12llu  %s%s\n", SAFE(a, s->name), (unsigned long long)s->value,
                    SAFE(d, s->doc), s->gauge ? " (now)" : "");
        }
    }
}

int aurum_status(int argc, char **argv) {
    const char *addr = NULL, *key_file = NULL;
    enum { TABLE, JSON, PROM } format = TABLE;
    unsigned long timeout_ms = 2000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int taken;
        if (aurum_is_help(a)) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(a, "--json") || !strcmp(a, "--prometheus")) {
            bool want_json = a[2] == 'j';
            if (format != TABLE && (format == JSON) != want_json)
                return aurum_fail("status", AURUM_EXIT_USAGE,
                                  "--json and --prometheus exclude each other (pick one)");
            format = want_json ? JSON : PROM;
        } else if ((taken = aurum_client_flag("status", argc, argv, &i, &key_file, &timeout_ms)) != 0) {
            if (taken < 0) return AURUM_EXIT_USAGE;
        } else if (a[0] == '-' || addr) {
            return aurum_fail("status", AURUM_EXIT_USAGE,
                              "unknown argument \"%s\" (see aurum status --help)", a);
        } else {
            addr = a;
        }
    }
    if (!addr) return aurum_fail("status", AURUM_EXIT_USAGE, "which node? (aurum status HOST:PORT)");
    if (!aurum_check_hostport(addr, false))
        return aurum_fail("status", AURUM_EXIT_USAGE, "bad address \"%s\" (want HOST:PORT)", addr);

    au_node *node;
    int rc = aurum_client_node("status", key_file, addr, &node);
    if (rc) return rc;
    adm_status_req_ref admin = au_forge(adm_msg, adm_status_req, node, AURUM_ADMIN_NAME, addr);
    if (au_ref_is_null(admin.raw)) {
        au_node_stop(node);
        return aurum_fail("status", AURUM_EXIT_USAGE, "bad address \"%s\": %s", addr,
                          au_strerror(au_last_error()));
    }
    adm_status_promise p = au_promise_new(node, adm_status);
    adm_status st = { 0 };
    au_err err = au_send(admin, ((adm_status_req){ au_promise_ref(p, adm_status) }));
    /* Waited on either way: the wait frees the promise. */
    au_err werr = au_promise_wait(p, adm_status, &st, err ? AU_MSEC(1) : AU_MSEC(timeout_ms));
    if (!err) err = werr;
    if (err == AU_ETIMEDOUT) {
        rc = aurum_fail("status", AURUM_EXIT_UNREACHABLE,
                        "no answer from %s within %lu ms (%llu datagram(s) sent, none answered):"
                        " is `aurum node` running there%s?",
                        addr, timeout_ms, (unsigned long long)au_node_unanswered(node, addr),
                        key_file ? ", with this key" : ", without a key file");
    } else if (err) {
        rc = aurum_fail("status", AURUM_EXIT_FAIL, "asking %s: %s (%s)", addr, au_strerror(err),
                        au_err_name(err));
    } else {
        if (format == JSON) print_json(stdout, &st);
        else if (format == PROM) print_prometheus(stdout, &st);
        else print_table(stdout, &st);
        rc = aurum_check_stdout("status"); /* a full disk, a closed pipe: exit 1, said */
    }
    au_value_free(&au_type_adm_status, &st);
    au_node_stop(node);
    return rc;
}
