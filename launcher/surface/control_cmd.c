/*
 * control_cmd.c - the control socket's command words: one request line
 * into its answer, or into a wait.
 *
 *   status [--json] | reload [--wait] ... (reload_cmd.c) |
 *   rollout continue|abort [--wait] | scale N [--wait] | stop | signal SIG |
 *   logs [SLOT|master] [-n N] [-f] | upgrade [PATH]
 *   -> "ok\n" + body, or "error: why\n"
 *
 * A word this build does not know is answered "error: unknown command":
 * the protocol has no version, so new words only, never a changed
 * meaning (control.c).
 *
 * Must not: write to the client or close it (the answer goes into its
 * reply, which control.c sends), nor keep it: a command that answers
 * later says so in cl->waiting, and control_wait.c answers it.
 *
 * Not here: reading the line and the sockets (control.c), the clients
 * that wait (control_wait.c), reload's words (reload_cmd.c), logs' words
 * and lines (logs.c), status (report.c), the upgrade (upgrade.c).
 */
#include "surface/control_cmd.h"
#include "cluster.h"
#include "supervise/lifecycle.h"
#include "supervise/rollout.h"
#include "supervise/slots.h"
#include "supervise/slots_scale.h"
#include "supervise/worker.h"
#include "surface/control_wait.h"
#include "surface/logs.h"
#include "surface/reload_cmd.h"
#include "surface/report.h"
#include "surface/upgrade_api.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int signal_number(const char *s)
{
	static const struct { const char *name; int sig; } names[] = {
		{ "TERM", SIGTERM }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "HUP", SIGHUP },
		{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "KILL", SIGKILL },
		{ "WINCH", SIGWINCH }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
		{ "TSTP", SIGTSTP }, { "ALRM", SIGALRM }, { "PIPE", SIGPIPE },
	};
	char *end;
	long n;
	size_t i;

	if (!strncmp(s, "SIG", 3))
		s += 3;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i].name))
			return names[i].sig;
	n = strtol(s, &end, 10);
	return *end || end == s || n < 1 || n > SIGRTMAX ? -1 : (int)n;
}

/* cluster-ctl signal SIG: to every worker's process group.  HUP is
 * cluster-run's own (rolling restart), so it is refused, not forwarded. */
static void signal_workers(struct cluster *c, const char *arg, struct buf *b)
{
	int sig = signal_number(arg), i;

	if (sig < 0) {
		buf_printf(b, "error: '%s' is not a signal (TERM, USR1, 10...)\n", arg);
		return;
	}
	if (sig == SIGHUP) {
		buf_printf(b, "error: HUP is cluster-run's own (a rolling restart): "
			      "use cluster-ctl reload\n");
		return;
	}
	for (i = 0; i < c->nworkers; i++)
		worker_signal(c->workers[i], sig);
	buf_printf(b, "ok\nsent %s to %d worker%s\n", strsignal(sig), c->nworkers,
		   c->nworkers == 1 ? "" : "s");
}

/* "ARG --wait" -> ARG, and whether --wait was there. */
static int strip_wait(char *arg)
{
	size_t n = strlen(arg);

	if (!strcmp(arg, "--wait")) {
		arg[0] = '\0';
		return 1;
	}
	if (n > 7 && !strcmp(arg + n - 7, " --wait")) {
		arg[n - 7] = '\0';
		return 1;
	}
	return 0;
}

/* After a reload or a rollout step was started: answer now, or wait. */
static void reload_started(struct client *cl, int wait, const char *what, struct buf *b)
{
	struct cluster *c = cl->ctl->c;
	const struct reload_record *r;

	if (!wait) {
		buf_printf(b, "ok\n%s\n", what);
		return;
	}
	control_wait_start(cl, WAIT_RELOAD);
	r = lifecycle_last_reload(c);
	if (r->outcome != RELOAD_RUNNING)       /* nothing to do */
		control_wait_reply(cl, r->outcome == RELOAD_COMPLETE, r->outcome ==
			   RELOAD_COMPLETE ? "reload complete" : r->why);
}

static void reload_command(struct client *cl, char *arg, struct buf *b)
{
	struct cluster *c = cl->ctl->c;
	struct reload_request rq;
	char why[512], what[160];
	int wait, r, canary;

	r = reload_cmd_parse(arg, &rq, &wait, why, sizeof(why));
	canary = rq.canary;
	if (r == 0 && rq.argv)
		r = rollout_check_program(c, &rq, why, sizeof(why));
	if (r == 0)
		r = rollout_reload(c, &rq, why, sizeof(why));
	reload_request_free(&rq);
	if (r < 0) {
		buf_printf(b, "error: %s\n", why);
		return;
	}
	snprintf(what, sizeof(what), "reloading %d worker%s%s", c->target,
		 c->target == 1 ? "" : "s", canary ? ", canary first" : "");
	reload_started(cl, wait, what, b);
}

/* rollout continue|abort [--wait] */
static void rollout_command(struct client *cl, char *arg, struct buf *b)
{
	struct cluster *c = cl->ctl->c;
	int wait = strip_wait(arg), r;
	char why[512];

	arg[strcspn(arg, " \t")] = '\0';
	if (!strcmp(arg, "continue"))
		r = rollout_continue(c, why, sizeof(why));
	else if (!strcmp(arg, "abort"))
		r = rollout_abort(c, why, sizeof(why));
	else {
		buf_printf(b, "error: rollout takes continue or abort [--wait], not '%s'\n", arg);
		return;
	}
	if (r < 0) {
		buf_printf(b, "error: %s\n", why);
		return;
	}
	reload_started(cl, wait, !strcmp(arg, "abort") ? "going back to the previous release"
			: "continuing the rollout", b);
}

/* upgrade [PATH]: the client waits for upgrade_finished.  PATH comes
 * %XX-encoded from cluster-ctl (reload's words do too); it is made
 * absolute there, since our working directory is not the caller's.  One
 * upgrade at a time: a second one asked meanwhile is refused at once
 * (upgrade_start says why), not joined to the first. */
static void upgrade_command(struct client *cl, char *arg, struct buf *b)
{
	struct control *ctl = cl->ctl;
	char why[512];
	int r;

	if (arg[strcspn(arg, " \t")]) {
		buf_printf(b, "error: upgrade takes one PATH or nothing\n");
		return;
	}
	if (*arg && reload_cmd_decode(arg) < 0) {
		buf_printf(b, "error: upgrade: a broken %%XX escape in the path\n");
		return;
	}
	if (*arg && arg[0] != '/') {
		buf_printf(b, "error: upgrade: the path must be absolute, not '%s'\n", arg);
		return;
	}
	/* a waiter before it starts: a save that runs from inside
	 * upgrade_start must find it so, and so must an end told at once */
	control_wait_start(cl, WAIT_UPGRADE);
	ctl->asking = cl;
	why[0] = '\0';
	r = upgrade_start(ctl->c, *arg ? arg : NULL, why, sizeof(why));
	ctl->asking = NULL;
	if (r < 0) {
		cl->waiting = WAIT_NONE;
		buf_printf(b, "error: %s\n", why[0] ? why : "upgrade refused");
	}
}

/* One command line; the answer goes into cl->reply, or later (--wait). */
void control_cmd_run(struct client *cl, char *line, struct buf *b)
{
	struct cluster *c = cl->ctl->c;
	char *arg, *end = line + strlen(line);
	int wait;

	/* blanks around the command and its argument do not matter */
	while (end > line && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	line += strspn(line, " \t");
	arg = line + strcspn(line, " \t");
	if (*arg)
		*arg++ = '\0';
	arg += strspn(arg, " \t");
	if (!strcmp(line, "reload")) {
		reload_command(cl, arg, b);
		return;
	}
	if (!strcmp(line, "rollout")) {
		rollout_command(cl, arg, b);
		return;
	}
	if (!strcmp(line, "upgrade")) {
		upgrade_command(cl, arg, b);
		return;
	}
	wait = strip_wait(arg);
	if (wait && strcmp(line, "reload") && strcmp(line, "scale")) {
		buf_printf(b, "error: --wait goes with reload and scale\n");
		return;
	}
	if (!strcmp(line, "status") && *arg && strcmp(arg, "--json") && strcmp(arg, "json")) {
		buf_printf(b, "error: status takes --json or nothing, not '%s'\n", arg);
	} else if (!strcmp(line, "status")) {
		buf_printf(b, "ok\n");
		if (*arg)
			report_json(c, b);
		else
			report_text(c, b);
	} else if (!strcmp(line, "stop") && *arg) {
		buf_printf(b, "error: %s takes no argument\n", line);
	} else if (!strcmp(line, "scale")) {
		char *end;
		long n = strtol(arg, &end, 10);

		if (*end || end == arg || n < 1 || n > MAX_WORKERS) {
			buf_printf(b, "error: scale takes a worker count from 1 to %d\n", MAX_WORKERS);
			return;
		}
		if (supervisor_scale_to(c, (int)n) < 0) {
			buf_printf(b, "error: stopping\n");
			return;
		}
		if (wait)
			control_wait_start(cl, WAIT_SCALE);
		else
			buf_printf(b, "ok\nscaling to %ld worker%s\n", n, n == 1 ? "" : "s");
	} else if (!strcmp(line, "logs")) {
		if (logs_parse(arg, &cl->logs, b) < 0)
			return;
		buf_printf(b, "ok\n");
		logs_recent(&cl->logs, b);
		if (cl->logs.follow)
			cl->waiting = WAIT_LOGS;
	} else if (!strcmp(line, "signal") && *arg) {
		signal_workers(c, arg, b);
	} else if (!strcmp(line, "stop")) {
		buf_printf(b, "ok\nstopping\n");
		supervisor_stop(c, SIGTERM);
	} else {
		buf_printf(b, "error: unknown command '%s' (status [--json], reload [--wait], "
			   "rollout continue|abort, scale N [--wait], signal SIG, "
			   "logs [SLOT] [-n N] [-f], upgrade [PATH], stop)\n",
			   line);
	}
}
