/* quickstart.c — the README's quickstart, kept compiling and running. */
#include <aurum/aurum.h>
#include <stdio.h>

AU_RECORD(greeting, (au_str, text), (uint32_t, times));      /* struct, codec, type id, refs */
AU_ROOT(greeter_msg, (greet, greeting, AU_REMOTE),           /* interfaces: greeting, int64_t */
        (count, int64_t, AU_REMOTE), (total, int64_t_ref, AU_PLAIN));
typedef struct { int64_t total; } greeter;
static void greeter_recv(au_ctx *ctx, greeter *self, greeter_msg *m) {
    if (m->tag == greeter_msg_greet) printf("%s x%u\n", m->greet.text.ptr, m->greet.times);
    if (m->tag == greeter_msg_count) self->total += m->count;
    if (m->tag == greeter_msg_total) au_send(m->total, self->total);             /* reply */
}
AU_ACTOR(greeter_actor, greeter, greeter_msg, .recv = greeter_recv);

int main(void) {
    au_node *node;
    if (au_node_start(&(au_node_config){ .bind = "127.0.0.1:0" }, &node)) return 1;
    greeter_msg_ref g = au_spawn(node, greeter_actor, "greeter", &(greeter){ 0 });
    au_send(au_narrow(greeter_msg, greeting, g), ((greeting){ au_str_lit("hi"), 2 }));
    au_send(au_narrow(greeter_msg, int64_t, g), (int64_t)2);   /* au_send(g, 5): compile error */
    /* A reference forged from (address, name) crosses UDP; type ids are checked there. */
    greeter_msg_ref far = au_forge(greeter_msg, greeter_msg, node, "greeter", au_node_address(node));
    au_send(au_narrow(greeter_msg, int64_t, far), (int64_t)40);
    int64_t_promise p = au_promise_new(node, int64_t);                        /* ask, from main */
    au_send(far, ((greeter_msg){ .tag = greeter_msg_total, .total = au_promise_ref(p, int64_t) }));
    int64_t total = 0;
    if (au_promise_wait(p, int64_t, &total, AU_SEC(1)) == AU_OK) printf("total %lld\n", (long long)total);
    au_node_stop(node);   /* post_stop hooks run, threads joined, memory freed */
}
