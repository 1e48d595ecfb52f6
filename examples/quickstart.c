/* quickstart.c — the README's quickstart, kept compiling and running. */
#include <aurum/aurum.h>
#include <stdio.h>

AU_RECORD(greeting, (au_str, text), (uint32_t, times));     /* struct + codec + type id + refs */
AU_ROOT(greeter_msg,
        (greet, greeting, AU_REMOTE),   /* greeting is an interface: greeting_ref reaches us */
        (count, int64_t, AU_REMOTE),
        (total, int64_t_ref, AU_PLAIN)); /* "send your total there": only via greeter_msg_ref */

typedef struct { int64_t total; } greeter;

static void greeter_recv(au_ctx *ctx, greeter *self, greeter_msg *msg) {
    switch (msg->tag) {
    case greeter_msg_greet: printf("%s x%u\n", msg->greet.text.ptr, msg->greet.times); break;
    case greeter_msg_count: self->total += msg->count; break;
    case greeter_msg_total: au_send(msg->total, self->total); break;
    }
}
AU_ACTOR(greeter_actor, greeter, greeter_msg, .recv = greeter_recv);

int main(void) {
    au_node *node;
    if (au_node_start(&(au_node_config){ .bind = "127.0.0.1:0" }, &node)) return 1; /* any port */
    greeter_msg_ref g = au_spawn(node, greeter_actor, "greeter", &(greeter){ 0 });

    greeting_ref gi = au_narrow(greeter_msg, greeting, g);         /* a subset reference */
    au_send(gi, ((greeting){ .text = au_str_lit("hi"), .times = 2 }));
    au_send(au_narrow(greeter_msg, int64_t, g), (int64_t)2);
    /* au_send(gi, (int64_t)5);           -> compile error: wrong message type   */
    /* au_narrow(greeter_msg, double, g); -> compile error: not an interface     */

    /* Any node can forge a reference from the name alone; both ends check the type ids. */
    const char *addr = au_node_address(node);                      /* "127.0.0.1:<port>" */
    greeter_msg_ref far = au_forge(greeter_msg, greeter_msg, node, "greeter", addr);
    au_send(au_narrow(greeter_msg, greeting, far), ((greeting){ au_str_lit("over UDP"), 1 }));
    au_send(au_narrow(greeter_msg, int64_t, far), (int64_t)40);

    /* Ask from main: a promise is a one-shot reply target, here reached over UDP too. */
    au_promise *p = au_promise_new(node, int64_t);
    au_send(far, ((greeter_msg){ .tag = greeter_msg_total, .total = au_promise_ref(p, int64_t) }));
    int64_t total = 0;
    if (au_promise_wait(p, int64_t, &total, AU_SEC(1)) == AU_OK) printf("total %lld\n", (long long)total);

    au_node_stop(node);   /* post_stop hooks run, threads joined, memory freed */
}
