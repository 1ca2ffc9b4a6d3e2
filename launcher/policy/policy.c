/*
 * policy.c - the table of policies (policy.h): one line per policy file.
 */
#include "policy/policy.h"
#include "cluster.h"

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
