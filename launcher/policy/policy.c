/*
 * policy.c - the registry of policies: one table of their operations, in
 * the order users see them, and what the rest of the master asks about
 * policies as a whole (by name, the default, the fallbacks by kind, lists
 * for --help and error lines).
 *
 * Not here: what any one policy does (policy_*.c); which policy a
 * listener has is decided once, at its creation (mechanism/attach.c), and
 * then only its table is asked.
 */
#include "policy/policy.h"
#include "cluster.h"
#include "net/listener.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Every policy, in the order --help and error lines list them.  Adding one
 * is its file (policy_NAME.c defining `const struct policy_ops policy_NAME`,
 * in launcher/meson.build) and its line here.  X(NAME) declares the table
 * and fills it from the same line, so the two cannot disagree. */
#define POLICIES(X) \
	X(rr) \
	X(shared) \
	X(reuseport) \
	X(leastconn) \
	X(sticky) \
	X(random) \
	X(p2c) \
	X(jiq)

/* The channel policies' variants steered in the kernel (policy_*_k.c,
 * policy_steer.c), named as the policy they stand for: --steer kernel,
 * and through seccomp.  Not in policy_table: -p names a policy, --steer
 * where it runs. */
#define KERNEL_VARIANTS(X) \
	X(rr_k) \
	X(leastconn_k) \
	X(sticky_k) \
	X(random_k) \
	X(p2c_k) \
	X(jiq_k)

#define DECLARE(name) extern const struct policy_ops policy_##name;
#define ENTRY(name) &policy_##name,
POLICIES(DECLARE)
KERNEL_VARIANTS(DECLARE)
const struct policy_ops *const policy_table[] = { POLICIES(ENTRY) NULL };
static const struct policy_ops *const kernel_table[] = { KERNEL_VARIANTS(ENTRY) NULL };

const struct policy_ops *policy_in_kernel(const struct policy_ops *ops)
{
	const struct policy_ops *const *p;

	if (!ops->channel)
		return ops;
	for (p = kernel_table; *p; p++)
		if (!strcmp((*p)->name, ops->name))
			return *p;
	return NULL;
}

/* shared's stand-in through seccomp (policy_shared_k.c). */
extern const struct policy_ops policy_shared_k;

const struct policy_ops *policy_through_seccomp(const struct policy_ops *ops)
{
	if (ops == &policy_shared)
		return &policy_shared_k;
	return policy_in_kernel(ops);
}

const struct policy_ops *policy_by_name(const char *name)
{
	const struct policy_ops *const *p;

	for (p = policy_table; *p; p++)
		if (!strcmp((*p)->name, name))
			return *p;
	return NULL;
}

const struct policy_ops *policy_by_saved_name(const char *name, int in_kernel)
{
	const struct policy_ops *ops = policy_by_name(name);

	if (!ops || !in_kernel)
		return ops;
	ops = policy_through_seccomp(ops);      /* shared's stand-in, or the variant */
	return ops && ops->in_kernel ? ops : NULL;
}

/* The listener registry is a layer below and cannot name this table: it
 * gets the lookup before main() runs, so that whatever adopts an upgrade's
 * listeners finds it there, whoever calls first. */
__attribute__((constructor)) static void register_lookup(void)
{
	listener_set_policy_lookup(policy_by_saved_name);
}

/* rr is Node's default.  Through seccomp the master never sees accept, so
 * it cannot hand connections out; reuseport gives an even spread with a
 * socket per worker, whose O_NONBLOCK is one program's own (README). */
const struct policy_ops *policy_default(int through_seccomp)
{
	return through_seccomp ? &policy_reuseport : &policy_rr;
}

/* A channel policy keeps each worker's queue on its channel; a per-slot one
 * on its slot's socket; otherwise every worker accepts from one queue. */
int policy_queue_per_worker(const struct policy_ops *ops)
{
	return ops->channel || ops->per_slot_sockets;
}

const char *policy_list(char *buf, size_t cap, int (*which)(const struct policy_ops *),
			const char *conj)
{
	const struct policy_ops *const *p;
	size_t len = 0;
	int n = 0, k = 0;

	for (p = policy_table; *p; p++)
		n += !which || which(*p);
	buf[0] = '\0';
	/* len may pass cap when snprintf truncates: the loop stops there */
	for (p = policy_table; *p && len < cap; p++) {
		if (which && !which(*p))
			continue;
		if (conj && k > 0 && k == n - 1)
			len += (size_t)snprintf(buf + len, cap - len, " %s %s", conj, (*p)->name);
		else
			len += (size_t)snprintf(buf + len, cap - len, "%s%s", k ? ", " : "",
						(*p)->name);
		k++;
	}
	return buf;
}

const struct policy_ops *policy_for_bind(const struct policy_ops *asked,
					 const struct msg_bind *req, const char **why)
{
	*why = NULL;
	if (req->type == SOCK_DGRAM && asked->channel) {
		*why = "datagrams cannot be handed out";
		return &policy_shared;
	}
	/* Nothing is accepted from a datagram socket, so one shared socket
	 * drains as it is, and a per-slot one would drop its queue when
	 * closed: shared's stand-in is for streams only (not a fallback,
	 * so no line). */
	if (req->type == SOCK_DGRAM && asked == &policy_shared_k)
		return &policy_shared;
	if (req->family == AF_UNIX && asked->per_slot_sockets) {
		*why = "unix sockets have no SO_REUSEPORT";
		return &policy_shared;
	}
	return asked;
}

const struct policy_ops *policy_for_plain_socket(const struct policy_ops *ops, const char **why)
{
	if (!ops->per_slot_sockets)
		return ops;
	*why = "the inherited socket has no SO_REUSEPORT (ReusePort=yes in the .socket unit)";
	return &policy_shared;
}

void policies_slots_changed(struct cluster *c)
{
	int i;

	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];
		if (l->ops->slots_changed)
			l->ops->slots_changed(c, l);
	}
}
