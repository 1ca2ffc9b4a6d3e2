/*
 * control_wait.c - the control's clients that wait: reload, rollout and
 * scale --wait, and upgrade.
 *
 * --wait keeps the client until the reload or the scaling has finished
 * (lifecycle.c calls reload_finished through c->hooks; scaling is checked every
 * WAIT_CHECK_MS): a waiting client has no timeout here, it has its own
 * (cluster-ctl --timeout), and it leaves by closing.
 *
 * A client waiting for a reload gets each batch's progress line as it
 * happens, "progress: TEXT\n", before its "ok" or "error" line; a canary
 * reload's clients get their "ok" when it pauses.
 *
 * upgrade [PATH] keeps the client until c->hooks.upgrade_finished, which
 * runs in whichever image ends the upgrade (the client crosses the exec:
 * control.c's control_save and control_restore).
 *
 * Must not: run a command or read from a client; news comes only through
 * c->hooks and the scale check's timer.
 *
 * Not here: which command starts a wait (control_cmd.c), the sockets and
 * the EPOLLOUT that sends a waiter the rest of its lines (control.c's
 * client_event), logs -f (logs.c).
 */
#include "surface/control_wait.h"
#include "cluster.h"
#include "base/loop.h"
#include "supervise/lifecycle.h"
#include "supervise/rollout.h"

#include <stdio.h>
#include <sys/epoll.h>

#define WAIT_CHECK_MS 100

void control_wait_reply(struct client *cl, int ok, const char *text)
{
	struct cluster *c = cl->ctl->c;

	cl->waiting = WAIT_NONE;
	if (ok)
		buf_printf(&cl->reply, "ok\n%s in %.1fs: %d worker%s listening\n", text,
			   (double)(loop_now_ms() - cl->wait_started) / 1000.0, c->target,
			   c->target == 1 ? "" : "s");
	else
		buf_printf(&cl->reply, "error: %s\n", text);
}

static void finish_wait(struct client *cl, int ok, const char *text)
{
	control_wait_reply(cl, ok, text);
	control_client_reply(cl);
}

static void reload_finished(struct cluster *c, int ok, const char *text)
{
	struct client *cl, *next;

	if (!c->control)
		return;
	for (cl = c->control->clients; cl; cl = next) {
		next = cl->next;
		if (cl->waiting == WAIT_RELOAD)
			finish_wait(cl, ok, text);
	}
}

/* A batch finished: its line to every client waiting for the reload.
 * What the socket does not take now goes on EPOLLOUT (client_event). */
static void reload_progress(struct cluster *c, const char *text)
{
	struct client *cl, *next;

	if (!c->control)
		return;
	for (cl = c->control->clients; cl; cl = next) {
		next = cl->next;
		if (cl->waiting != WAIT_RELOAD)
			continue;
		buf_printf(&cl->reply, "progress: %s\n", text);
		if (control_client_send(cl)) {
			if (cl->sent < cl->reply.len)
				control_client_close(cl);       /* it went away */
		} else if (loop_mod_fd(c->loop, cl->fd, EPOLLOUT) < 0) {
			control_client_close(cl);
		}
	}
}

/* A canary paused: its clients have their answer. */
static void reload_paused(struct cluster *c)
{
	char line[160], text[256];

	rollout_progress(c, line, sizeof(line));
	snprintf(text, sizeof(text), "canary paused at %s (cluster-ctl rollout continue | "
		 "rollout abort)", line);
	reload_finished(c, 1, text);
}

/* An upgrade ended (surface/upgrade.c), in the old image or the new one:
 * its clients have their answer.  The one whose command is running now
 * (upgrade_start ended it at once) gets it in its reply, which answer()
 * sends: closing it here would free it under control_cmd_run's feet. */
static void upgrade_finished(struct cluster *c, int ok, const char *text)
{
	struct client *cl, *next;

	if (!c->control)
		return;
	for (cl = c->control->clients; cl; cl = next) {
		next = cl->next;
		if (cl->waiting != WAIT_UPGRADE)
			continue;
		cl->waiting = WAIT_NONE;
		if (ok)
			buf_printf(&cl->reply, "ok\n%s\n", text);
		else
			buf_printf(&cl->reply, "error: %s\n", text);
		if (cl == c->control->asking)
			continue;
		control_client_reply(cl);
	}
}

/* scale --wait: done when every slot listens and no extra worker is left. */
static void check_scale_waiters(struct loop *loop, void *data)
{
	struct control *ctl = data;
	struct client *cl, *next;
	int left = 0;

	ctl->wait_timer = 0;
	for (cl = ctl->clients; cl; cl = next) {
		next = cl->next;
		if (cl->waiting != WAIT_SCALE)
			continue;
		if (ctl->c->stopping)
			finish_wait(cl, 0, "cluster-run is stopping");
		else if (lifecycle_settled(ctl->c))
			finish_wait(cl, 1, "scaled");
		else
			left++;
	}
	if (left)
		ctl->wait_timer = loop_timer(loop, WAIT_CHECK_MS, check_scale_waiters, ctl);
}

void control_wait_scale(struct control *ctl)
{
	if (!ctl->wait_timer)
		ctl->wait_timer = loop_timer(ctl->c->loop, 0, check_scale_waiters, ctl);
}

void control_wait_start(struct client *cl, enum wait_kind kind)
{
	cl->waiting = kind;
	cl->wait_started = loop_now_ms();
	if (kind == WAIT_SCALE)
		control_wait_scale(cl->ctl);
}

void control_wait_hooks(struct cluster *c)
{
	c->hooks.reload_finished = reload_finished;
	c->hooks.reload_progress = reload_progress;
	c->hooks.reload_paused = reload_paused;
	c->hooks.upgrade_finished = upgrade_finished;
}
