/*
 * main.c - cluster-run: run N copies of an unmodified server, sharing its
 * listening sockets.  Reads like a table of contents:
 *   parse options -> check PROGRAM -> choose shim or seccomp ->
 *   resolve --user -> find the shim -> raise the fd limit -> check it and
 *   the workers' exec size against the kernel's limits -> start the
 *   guard -> open the control socket -> start the workers -> run the loop
 *   -> close everything -> exit status.
 * Only main exits.
 */
#include "cluster.h"
#include "base/log.h"
#include "base/logline.h"
#include "base/logring.h"
#include "base/loop.h"
#include "base/options.h"
#include "base/program.h"
#include "base/shim_path.h"
#include "mechanism/mechanism.h"
#include "net/census.h"
#include "net/listener.h"
#include "supervise/accept_rate.h"
#include "supervise/guard.h"
#include "supervise/health.h"
#include "supervise/lifecycle.h"
#include "supervise/limits.h"
#include "supervise/rollout.h"
#include "supervise/supervisor.h"
#include "surface/control.h"
#include "surface/options.h"
#include "surface/reread.h"
#include "surface/upgrade.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

/* SCM_RIGHTS fails with ETOOMANYREFS once the fds in flight exceed the
 * sender's RLIMIT_NOFILE, and the master holds every listener and channel:
 * take the hard limit.  Workers get the original limit back (spawn.c). */
static void raise_nofile(struct cluster *c)
{
	struct rlimit raised;

	if (getrlimit(RLIMIT_NOFILE, &c->nofile) < 0)
		return;
	raised = c->nofile;
	raised.rlim_cur = raised.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &raised) < 0)
		log_warn("raising the open-file limit");
}

/* Dropped log lines: a warning at once, then at most once a minute. */
static void warn_drops(struct loop *loop, void *data)
{
	(void)loop;
	(void)data;
	logline_warn_drops();
}

static void drops_seen(void *data)
{
	struct cluster *c = data;

	loop_timer(c->loop, logline_drops_warning_in_ms(), warn_drops, c);
}

/* --user USER[:GROUP], by name or number; resolved now, used at spawn. */
static int resolve_user(const char *spec, struct creds *cr)
{
	char user[256], *group;
	struct passwd *pw;
	struct group *gr;

	if (geteuid() != 0) {
		log_warnx("--user needs cluster-run to be started as root");
		return EXIT_USAGE;
	}
	if (snprintf(user, sizeof(user), "%s", spec) >= (int)sizeof(user))
		return EXIT_USAGE;
	group = strchr(user, ':');
	if (group)
		*group++ = '\0';
	pw = getpwnam(user);
	if (!pw) {
		log_warnx("--user %s: no such user", user);
		return EXIT_USAGE;
	}
	cr->uid = pw->pw_uid;
	cr->gid = pw->pw_gid;
	if (group) {
		gr = getgrnam(group);
		if (!gr) {
			log_warnx("--user %s: no such group '%s'", spec, group);
			return EXIT_USAGE;
		}
		cr->gid = gr->gr_gid;
	}
	cr->ngroups = (int)(sizeof(cr->groups) / sizeof(cr->groups[0]));
	if (getgrouplist(pw->pw_name, cr->gid, cr->groups, &cr->ngroups) < 0)
		cr->ngroups = (int)(sizeof(cr->groups) / sizeof(cr->groups[0]));
	cr->drop = 1;
	return -1;
}

/* A check before the loop failed: an upgrade's new image gives the state
 * back to the old binary instead of exiting (the workers are ours). */
static int start_failed(int status)
{
	if (upgrade_adopting())
		upgrade_start_failed(status);
	return status;
}

int main(int argc, char **argv)
{
	static struct options opt;
	static struct program prog;
	static struct cluster c;
	int status;

	if (upgrade_probe_args(&argc, &argv) && argc < 2) {
		upgrade_probe_answer();
		return 0;
	}
	upgrade_remember(argc, argv);
	status = options_parse(&opt, argc, argv);
	if (status >= 0)
		return start_failed(status);
	reread_remember(&opt);
	log_set_debug(opt.verbose);
	logring_configure((unsigned)opt.log_lines);
	if (logline_configure(opt.log_prefix, opt.log_time, opt.log_json, opt.log_dir) < 0)
		return start_failed(EXIT_USAGE);
	status = program_check(&prog, opt.argv[0], opt.force);
	/* an upgrade's new image runs what the old one checked (a deploy may
	 * have removed the command line's PROGRAM since), and its probe
	 * does not check it either */
	if (status >= 0 && upgrade_program(&prog) < 0 && !upgrade_probing())
		return start_failed(status);
	status = mechanism_choose(&opt, &prog);
	if (status >= 0)
		return start_failed(status);
	upgrade_program(&prog);         /* ... by the mechanism it chose */
	c.opt = &opt;
	c.prog = &prog;
	reread_start(&c);
	if (opt.user && ((status = resolve_user(opt.user, &c.creds)) >= 0 ||
			 (status = program_check_user(&prog, &c.creds, opt.user)) >= 0))
		return start_failed(status);
	if (prog.via == VIA_SHIM && shim_path_find(c.shim_path, sizeof(c.shim_path)) < 0)
		return start_failed(EXIT_FAILURE_);
	raise_nofile(&c);
	if (limits_check_fds(&c) < 0 || limits_check_exec(&c) < 0)
		return start_failed(EXIT_USAGE);
	if (lifecycle_open(&c) < 0)
		return start_failed(EXIT_FAILURE_);
	c.loop = loop_new();
	if (!c.loop) {
		log_warn("event loop");
		return start_failed(EXIT_FAILURE_);
	}
	logline_on_drops(drops_seen, &c);
	if (upgrade_probing()) {
		/* every check of a start passed: this binary can take over */
		upgrade_probe_answer();
		return 0;
	}
	if (upgrade_adopting()) {
		upgrade_adopt(&c);      /* everything below, from the old image's state */
		goto run;
	}
	log_event("starting %d worker%s of %s, policy %s, via %s, shim %s", opt.workers,
		  opt.workers == 1 ? "" : "s", prog.path, opt.policy->name,
		  via_name(prog.via), c.shim_path);
	if (guard_start(&c) < 0 || control_open(&c) < 0)
		return start_failed(EXIT_FAILURE_);
	if (supervisor_start(&c) < 0)
		return start_failed(EXIT_FAILURE_);
	upgrade_hooks(&c);
run:
	loop_run(c.loop);
	log_event("stopped, exit status %d", c.exit_status);
	control_close(&c);
	listener_close_all(&c);
	lifecycle_close(&c);
	health_free(&c);
	rollout_free(&c);
	accept_rate_free(&c);
	census_close(&c);
	loop_free(c.loop);
	free(c.workers);
	return c.exit_status;
}
