/*
 * mechanism.c - how a worker's binds reach the master, chosen per program:
 * the shim (LD_PRELOAD) where the dynamic loader runs it, seccomp user
 * notification where it cannot (static and Go binaries); --via chooses by
 * hand.
 *
 * Under seccomp the master only sees bind and listen, never accept: the
 * program accepts on the socket it was given.  So only the policies that
 * give a real listening socket work: reuseport (the default for seccomp:
 * one socket per worker, an even spread and a socket's O_NONBLOCK owned by
 * one program) and shared.  rr and leastconn need the master to hand over
 * each connection into the program's accept, which only the shim can do:
 * refused in one line.
 *
 * Not here: the filter and the kernel probe (seccomp_filter.c).
 */
#include "mechanism/mechanism.h"
#include "base/log.h"
#include "base/options.h"
#include "base/program.h"
#include "mechanism/seccomp_filter.h"
#include "policy/policy.h"

int mechanism_choose(struct options *opt, struct program *prog)
{
	enum via via = opt->via;
	const char *lacks;

	if (via == VIA_AUTO)
		via = prog->shim_blind && !prog->setuid ? VIA_SECCOMP : VIA_SHIM;
	prog->via = via;
	if (via == VIA_SHIM) {
		if (prog->shim_blind)
			return program_refuse(prog->path, prog->shim_blind, opt->force);
		return -1;
	}
	if (prog->setuid) {
		log_warnx("%s is setuid/setgid: --via seccomp would run it without its "
			  "privileges (no_new_privs)", prog->path);
		return EXIT_CANNOT_EXEC;
	}
	if (!opt->policy_set) {
		opt->policy = POLICY_REUSEPORT;
	} else if (opt->policy != POLICY_REUSEPORT && opt->policy != POLICY_SHARED) {
		log_warnx("policy %s needs the shim (the master hands connections into "
			  "accept); through seccomp use -p reuseport or -p shared",
			  policy_name(opt->policy));
		return EXIT_USAGE;
	}
	lacks = seccomp_kernel_lacks();
	if (lacks) {
		log_warnx("%s%s needs %s, which this kernel lacks", prog->path,
			  prog->shim_blind ? " (static or Go)" : "", lacks);
		return EXIT_CANNOT_EXEC;
	}
	return -1;
}

const char *via_name(enum via v)
{
	switch (v) {
	case VIA_AUTO:    return "auto";
	case VIA_SHIM:    return "shim";
	case VIA_SECCOMP: return "seccomp";
	}
	return "?";
}
