/*
 * event_loop.c - epoll, poll and select behind event_loop.h.
 *
 * Interest is kept in a table indexed by fd for all three modes: poll and
 * select rebuild their arguments from it on every wait (O(highest fd), fine
 * for a test server), epoll uses it to choose between EPOLL_CTL_ADD, _MOD
 * and _DEL.  A handler may change interest or close fds while events are
 * being delivered; the caller must tolerate a stale event for an fd number
 * it has just reused (all its I/O is nonblocking, so that costs an EAGAIN).
 */
#include "event_loop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

struct event_loop {
	enum event_mode mode;
	int epoll_fd;
	int max_fd;                      /* highest fd with interest, or -1 */
	unsigned char interest[FD_SETSIZE];
};

struct event_loop *event_loop_new(const char *mode_name)
{
	struct event_loop *loop = calloc(1, sizeof(*loop));

	if (loop == NULL)
		return NULL;
	loop->epoll_fd = -1;
	loop->max_fd = -1;
	if (strcmp(mode_name, "epoll") == 0) {
		loop->mode = EVENT_EPOLL;
		loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
		if (loop->epoll_fd >= 0)
			return loop;
	} else if (strcmp(mode_name, "poll") == 0) {
		loop->mode = EVENT_POLL;
		return loop;
	} else if (strcmp(mode_name, "select") == 0) {
		loop->mode = EVENT_SELECT;
		return loop;
	} else {
		errno = EINVAL;
	}
	free(loop);
	return NULL;
}

enum event_mode event_loop_mode(const struct event_loop *loop)
{
	return loop->mode;
}

static int epoll_update(struct event_loop *loop, int fd, int old, int events)
{
	struct epoll_event ev = { .data.fd = fd };
	int op = old == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;

	if (events & EVENT_READ)
		ev.events |= EPOLLIN;
	if (events & EVENT_WRITE)
		ev.events |= EPOLLOUT;
	return epoll_ctl(loop->epoll_fd, op, fd, &ev);
}

int event_loop_set(struct event_loop *loop, int fd, int events)
{
	int old;

	if (fd < 0 || fd >= FD_SETSIZE) {
		errno = EMFILE;
		return -1;
	}
	old = loop->interest[fd];
	if (old == events)
		return 0;
	if (loop->mode == EVENT_EPOLL && epoll_update(loop, fd, old, events) < 0)
		return -1;
	loop->interest[fd] = (unsigned char)events;
	if (events != 0 && fd > loop->max_fd)
		loop->max_fd = fd;
	while (loop->max_fd >= 0 && loop->interest[loop->max_fd] == 0)
		loop->max_fd--;
	return 0;
}

static int wait_epoll(struct event_loop *loop, int timeout_ms, const sigset_t *sigmask,
		      event_handler *handler, void *arg)
{
	struct epoll_event evs[64];
	int n = epoll_pwait(loop->epoll_fd, evs, 64, timeout_ms, sigmask);

	for (int i = 0; i < n; i++) {
		int events = 0;

		if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			events |= EVENT_READ;
		if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			events |= EVENT_WRITE;
		handler(arg, evs[i].data.fd, events);
	}
	return n;
}

static int wait_poll(struct event_loop *loop, int timeout_ms, const sigset_t *sigmask,
		     event_handler *handler, void *arg)
{
	struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
	struct pollfd pfds[FD_SETSIZE];
	nfds_t count = 0;
	int n;

	for (int fd = 0; fd <= loop->max_fd; fd++) {
		if (loop->interest[fd] == 0)
			continue;
		pfds[count].fd = fd;
		pfds[count].events = (loop->interest[fd] & EVENT_READ ? POLLIN : 0) |
				     (loop->interest[fd] & EVENT_WRITE ? POLLOUT : 0);
		count++;
	}
	n = ppoll(pfds, count, timeout_ms < 0 ? NULL : &ts, sigmask);
	for (nfds_t i = 0; n > 0 && i < count; i++) {
		short r = pfds[i].revents;
		int events = 0;

		if (r & (POLLIN | POLLERR | POLLHUP | POLLNVAL))
			events |= EVENT_READ;
		if (r & (POLLOUT | POLLERR | POLLHUP | POLLNVAL))
			events |= EVENT_WRITE;
		if (events != 0)
			handler(arg, pfds[i].fd, events);
	}
	return n;
}

static int wait_select(struct event_loop *loop, int timeout_ms, const sigset_t *sigmask,
		       event_handler *handler, void *arg)
{
	struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
	fd_set rfds, wfds;
	int n, top = loop->max_fd;

	FD_ZERO(&rfds);
	FD_ZERO(&wfds);
	for (int fd = 0; fd <= top; fd++) {
		if (loop->interest[fd] & EVENT_READ)
			FD_SET(fd, &rfds);
		if (loop->interest[fd] & EVENT_WRITE)
			FD_SET(fd, &wfds);
	}
	n = pselect(top + 1, &rfds, &wfds, NULL, timeout_ms < 0 ? NULL : &ts, sigmask);
	for (int fd = 0; n > 0 && fd <= top; fd++) {
		int events = (FD_ISSET(fd, &rfds) ? EVENT_READ : 0) |
			     (FD_ISSET(fd, &wfds) ? EVENT_WRITE : 0);

		if (events != 0)
			handler(arg, fd, events);
	}
	return n;
}

int event_loop_wait(struct event_loop *loop, int timeout_ms, const sigset_t *sigmask,
		    event_handler *handler, void *arg)
{
	switch (loop->mode) {
	case EVENT_EPOLL:
		return wait_epoll(loop, timeout_ms, sigmask, handler, arg);
	case EVENT_POLL:
		return wait_poll(loop, timeout_ms, sigmask, handler, arg);
	default:
		return wait_select(loop, timeout_ms, sigmask, handler, arg);
	}
}
