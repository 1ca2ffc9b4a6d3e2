/*
 * event_loop.h - one small interface over epoll, poll and select, so that
 * event_server can drive the same state machine with each of them (servers
 * in the wild use all three, and each sees the shim's fds differently).
 *
 * Level-triggered only; fds must be below FD_SETSIZE (select's limit, kept
 * for all three so the modes behave alike).  Not a general event library.
 */
#ifndef EVENT_LOOP_H
#define EVENT_LOOP_H

#include <signal.h>

enum event_mode { EVENT_EPOLL, EVENT_POLL, EVENT_SELECT };

#define EVENT_READ  1
#define EVENT_WRITE 2

struct event_loop;

/* Called for each ready fd with EVENT_READ and/or EVENT_WRITE (errors and
 * hang-ups are reported as both, so the handler's read or write finds out). */
typedef void event_handler(void *arg, int fd, int events);

/* mode_name is "epoll", "poll" or "select".  NULL with errno set on failure. */
struct event_loop *event_loop_new(const char *mode_name);

enum event_mode event_loop_mode(const struct event_loop *loop);

/* Watch fd for events (0 stops watching it).  -1 with errno on failure. */
int event_loop_set(struct event_loop *loop, int fd, int events);

/* Wait up to timeout_ms (-1: forever) and call handler for each ready fd.
 * sigmask, if not NULL, is the signal mask while waiting (epoll_pwait,
 * ppoll, pselect): a signal kept blocked elsewhere can then only arrive
 * here, as EINTR, never just before the wait.  Returns the number of ready
 * fds, or -1 with errno (EINTR included). */
int event_loop_wait(struct event_loop *loop, int timeout_ms, const sigset_t *sigmask,
		    event_handler *handler, void *arg);

#endif
