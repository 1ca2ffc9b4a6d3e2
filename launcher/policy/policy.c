/*
 * policy.c - the table of policies (policy.h): one line per policy file.
 */
#include "policy/policy.h"
#include "cluster.h"

#include <sys/socket.h>

const struct policy_ops *policy_ops_of(enum policy p)
{
	switch (p) {
	case POLICY_RR:        return &policy_rr;
	case POLICY_SHARED:    return &policy_shared;
	case POLICY_REUSEPORT: return &policy_reuseport;
	case POLICY_LEASTCONN: return &policy_leastconn;
	case POLICY_STICKY:    return &policy_sticky;
	case POLICY_RANDOM:    return &policy_random;
	case POLICY_P2C:       return &policy_p2c;
	case POLICY_JIQ:       return &policy_jiq;
	case POLICY_COUNT:     break;
	}
	return &policy_rr;
}

const struct policy_ops *policy_for_bind(const struct policy_ops *asked,
					 const struct msg_bind *req, const char **why)
{
	*why = NULL;
	if (req->type == SOCK_DGRAM && asked->channel) {
		*why = "datagrams cannot be handed out";
		return &policy_shared;
	}
	if (req->family == AF_UNIX && asked == &policy_reuseport) {
		*why = "unix sockets have no SO_REUSEPORT";
		return &policy_shared;
	}
	return asked;
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

const char *policy_name(enum policy p)
{
	return policy_ops_of(p)->name;
}
