/*
 * mechanism.c - how a worker's binds reach the master, chosen per program:
 * the shim (LD_PRELOAD) where the dynamic loader runs it, seccomp user
 * notification where it cannot (static and Go binaries); --via chooses by
 * hand.
 *
 * Under seccomp the master only sees bind and listen, never accept: the
 * program accepts on the socket it was given.  So only the policies that
 * give a real listening socket work as they are, those without `channel`
 * (reuseport, seccomp's default in policy_default(), and shared).  The
 * channel policies' hop needs the master to hand over each connection
 * into the program's accept, which only the shim can do: through seccomp
 * each runs as its variant steered in the kernel (policy_in_kernel), and
 * --steer hop is refused in one line.  --steer kernel asks for the same
 * variants under the shim.  shared gives a real socket, but one that
 * every worker holds: through seccomp nothing can keep a retiring worker
 * from accepting on it, so it cannot be drained, and it is served on
 * per-slot sockets instead (policy_through_seccomp, policy_shared_k.c);
 * the start-up line says so.
 *
 * Not here: the filter and the kernel probe (seccomp_filter.c).
 */
#include "mechanism/mechanism.h"
#include "cluster.h"
#include "base/log.h"
#include "base/options.h"
#include "base/program.h"
#include "mechanism/seccomp_filter.h"
#include "policy/policy.h"

/* Policies whose workers accept on a real socket: the ones seccomp can
 * serve, as it puts a socket into the program, never a connection. */
static int gives_a_socket(const struct policy_ops *ops)
{
	return !ops->channel;
}

int mechanism_choose(struct options *opt, struct program *prog)
{
	enum via via = opt->via;
	const char *lacks;

	if (via == VIA_AUTO)
		via = prog->shim_blind && !prog->setuid ? VIA_SECCOMP : VIA_SHIM;
	prog->via = via;
	if (via == VIA_SHIM && opt->steer == STEER_KERNEL && policy_in_kernel(opt->policy))
		opt->policy = policy_in_kernel(opt->policy);
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
		opt->policy = policy_default(1);
	} else if (opt->policy->channel && (opt->steer == STEER_HOP ||
					    !policy_in_kernel(opt->policy))) {
		char names[256];

		log_warnx("policy %s needs the shim (the master hands connections into "
			  "accept); through seccomp use --steer kernel or policy %s",
			  opt->policy->name,
			  policy_list(names, sizeof(names), gives_a_socket, "or"));
		return EXIT_USAGE;
	} else {
		opt->policy = policy_through_seccomp(opt->policy);
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
