/*
 * loop.h - the master's one event loop: epoll for fds, one-shot timers,
 * nothing else.  Callbacks are function types; the loop
 * knows nothing of workers or listeners.
 */
#ifndef LAUNCHER_LOOP_H
#define LAUNCHER_LOOP_H

#include <stdint.h>

struct loop;
typedef void fd_handler(struct loop *loop, int fd, uint32_t events, void *data);
typedef void timer_handler(struct loop *loop, void *data);

struct loop *loop_new(void);
void loop_free(struct loop *loop);
/* events: EPOLLIN/EPOLLOUT/EPOLLET...; 0 keeps the fd registered but quiet. */
int loop_add_fd(struct loop *loop, int fd, uint32_t events, fd_handler *cb, void *data);
int loop_mod_fd(struct loop *loop, int fd, uint32_t events);
void loop_del_fd(struct loop *loop, int fd);
/* A one-shot timer in ms from now; returns an id > 0, never reused, or 0
 * (logged) when out of memory.  Timers due at the same ms run in the order
 * they were added. */
uint64_t loop_timer(struct loop *loop, int64_t ms, timer_handler *cb, void *data);
/* Cancelling 0, or an id that already fired or was cancelled, does nothing. */
void loop_timer_cancel(struct loop *loop, uint64_t id);
/* An in-place upgrade carries timers as deadlines: loop_now_ms() is
 * CLOCK_MONOTONIC, the same clock on both sides of the exec.  When timer
 * id is due (loop ms), or -1 when it fired, was cancelled or is 0; and a
 * timer due at a loop time (now when it is past). */
int64_t loop_timer_due(const struct loop *loop, uint64_t id);
uint64_t loop_timer_at(struct loop *loop, int64_t when, timer_handler *cb, void *data);
void loop_run(struct loop *loop);
/* cb runs once per turn of the loop, before it waits: where handlers'
 * marks are applied (redis' beforeSleep).  A timer that fires at once is
 * not the same: it runs after the events of this turn, not before sleep. */
void loop_set_before_sleep(struct loop *loop, timer_handler *cb, void *data);
void loop_stop(struct loop *loop);
/* Which turn of the loop this is: before-sleep pass, events, timers.  It
 * changes only between turns, so what was computed under one number can
 * be shared by every handler of that turn (census.c's snapshot).  0 before
 * loop_run. */
uint64_t loop_turn(const struct loop *loop);
int64_t loop_now_ms(void);

/* Tests only: the clock loop_now_ms() reads, for every loop in the
 * process (NULL: CLOCK_MONOTONIC again), and one run of the timers due
 * by it, as a turn of loop_run does after its events.  Together they
 * drive timers through time in process without sleeping. */
typedef int64_t loop_clock(void);
void loop_set_clock(loop_clock *now);
void loop_run_due(struct loop *loop);

#endif
