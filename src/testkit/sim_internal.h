/* sim_internal.h — the hooks between the runtime and the simulation engine (sim.c). A node with
 * node->sim set routes scheduling, timers and datagrams through these instead of threads,
 * libuv and the socket. */
#ifndef AU_CORE_SIM_INTERNAL_H
#define AU_CORE_SIM_INTERNAL_H

#include <aurum/sim.h>

#include <sys/socket.h>

struct au_cell;
struct au_addr;
struct au_net;

au_clock au_sim_clock_(au_sim *sim);
/* The node's port at 127.0.0.1 in the simulated network; 0 if the simulation is full. */
uint16_t au_sim_node_add_(au_sim *sim, au_node *node);
/* Forgets the node and hands its pending timers back (au_timers_discard_). */
void au_sim_node_remove_(au_sim *sim, au_node *node);
void au_sim_schedule_(au_sim *sim, struct au_cell *cell);
bool au_sim_timer_add_(au_sim *sim, au_node *node, void *timer, au_nanos deadline);
void au_sim_send_(au_sim *sim, uint16_t from_port, const struct au_addr *to, const uint8_t *bytes,
                  size_t len);
void au_sim_run_node_stop_(au_sim *sim, au_node *node);

/* timer.c: fire or free a timer entry the simulation held. */
void au_timers_fire_(au_node *node, void *timer);
void au_timers_discard_(au_node *node, void *timer);
/* transport.c: a datagram arrives (the buffer is the receiver's to modify). */
void au_net_receive(struct au_net *net, uint8_t *data, size_t len, const struct sockaddr *from);

#endif
