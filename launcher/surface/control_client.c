/*
 * control_client.c - one client of the control socket or the metrics
 * endpoint: how its answer is written without blocking, and how it ends.
 *
 * An answer is written with MSG_DONTWAIT: what the socket takes now, the
 * rest on EPOLLOUT.  A status of a large cluster can be bigger than the
 * socket buffer, and a client that does not read must cost the loop
 * nothing but its timer.
 *
 * Must not: read a request, run a command, or wait for anything; it is
 * the bottom of the control's modules and calls none of them.
 *
 * Not here: accepting, reading and the timeouts (control.c), the command
 * words (control_cmd.c), the clients that wait (control_wait.c).
 */
#include "surface/control_client.h"
#include "cluster.h"
#include "base/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

void control_client_close(struct client *cl)
{
	struct control *ctl = cl->ctl;

	if (cl->prev)
		cl->prev->next = cl->next;
	else
		ctl->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	ctl->nclients[cl->metrics]--;
	loop_timer_cancel(ctl->c->loop, cl->timer);
	if (cl->fd >= 0) {              /* -1: handed over (control.c, hand_over) */
		loop_del_fd(ctl->c->loop, cl->fd);
		close(cl->fd);
	}
	free(cl->reply.data);
	free(cl);
}

int control_client_send(struct client *cl)
{
	while (cl->sent < cl->reply.len) {
		ssize_t n = send(cl->fd, cl->reply.data + cl->sent, cl->reply.len - cl->sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return 1;
		cl->sent += (size_t)n;
	}
	return 1;
}

void control_client_reply(struct client *cl)
{
	if (control_client_send(cl) || loop_mod_fd(cl->ctl->c->loop, cl->fd, EPOLLOUT) < 0)
		control_client_close(cl);
}
