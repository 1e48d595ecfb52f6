/* stats.c — the node statistics as a table: each field's name, doc and kind, its value by index,
 * and a printer. Generated from AU_NODE_STATS (aurum/node.h), so a new statistic is one line
 * there; the snapshot itself is au_node_stats_get (node.c) and au_net_stats_ (transport.c). */
#include <aurum/node.h>

#include <stddef.h>
#include <stdio.h>

#define AU_STAT_GAUGE_COUNTER false
#define AU_STAT_GAUGE_GAUGE true

static const au_node_stats_field fields[] = {
#define ROW(name, kind, doc) { #name, doc, AU_STAT_GAUGE_##kind },
    AU_NODE_STATS(ROW)
#undef ROW
};

static const size_t offsets[] = {
#define ROW(name, kind, doc) offsetof(au_node_stats, name),
    AU_NODE_STATS(ROW)
#undef ROW
};

_Static_assert(sizeof fields / sizeof fields[0] == AU_NODE_STATS_COUNT, "one row per field");
_Static_assert(sizeof(au_node_stats) == AU_NODE_STATS_COUNT * sizeof(uint64_t),
               "au_node_stats is exactly its uint64_t fields");

const au_node_stats_field *au_node_stats_describe(size_t i) {
    return i < AU_NODE_STATS_COUNT ? &fields[i] : NULL;
}

uint64_t au_node_stats_value(const au_node_stats *s, size_t i) {
    if (!s || i >= AU_NODE_STATS_COUNT) return 0;
    const uint64_t *v = (const uint64_t *)(const void *)((const char *)s + offsets[i]);
    return *v;
}

void au_node_stats_print(const au_node_stats *s, FILE *out) {
    if (!s || !out) return;
    for (size_t i = 0; i < AU_NODE_STATS_COUNT; i++)
        fprintf(out, "%s %llu%s\n", fields[i].name, (unsigned long long)au_node_stats_value(s, i),
                fields[i].gauge ? " (gauge)" : "");
}
