/*
 * reuseport_group.c - the kernel's order of a reuseport group, modelled,
 * so steering can name a slot's socket wherever it sits in the group.
 *
 * A classic BPF program on a reuseport group returns an index into the
 * group's socket array.  A socket joins at the end when it listens; one
 * that leaves is replaced by the group's last socket
 * (reuseport_detach_sock).  reuseport.c keeps index = slot by creating in
 * slot order and closing from the top, and the seccomp rolling restart
 * (seccomp_reuseport.c) breaks that on purpose: the replacement gets a
 * socket of its own, appended, and the old one leaves from the middle.
 * So the order is followed here, join by join and leave by leave, and the
 * steering program maps slot i to its socket's index with a table of
 * jumps (2 instructions a slot; BPF_MAXINSNS allows 2046 slots).  While
 * the order is slot order, the short random-modulo program of reuseport.c
 * is used as before.
 *
 * The model lives beside struct listener (a table by listener id, checked
 * against the listener it was made for) so that cluster.h needs no field.
 *
 * Not here: which socket serves a slot (seccomp_reuseport.c picks a
 * replacement's own socket over l->slot_fds).
 */
#include "cluster.h"
#include "base/log.h"
#include "mechanism/seccomp_reuseport.h"
#include "policy/policy_reuseport.h"

#include <errno.h>
#include <linux/filter.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct rp_group {
	const struct listener *l;       /* the listener this model is for */
	int *fds;                       /* the kernel's order */
	int n, cap;
};

static int index_of(const struct rp_group *g, int fd);

static struct rp_group groups[CLUSTER_MAX_LISTENERS];

/* The model of l; on first use, the group is l->fd alone (listener.c
 * creates it first, before any other slot's socket). */
static struct rp_group *group_of(const struct listener *l)
{
	struct rp_group *g;

	if (l->id >= CLUSTER_MAX_LISTENERS)
		return NULL;
	g = &groups[l->id];
	/* a listener of an earlier cluster (the fuzz target) had this id */
	if (g->l != l || g->n == 0 || index_of(g, l->fd) < 0) {
		g->l = l;
		g->n = 0;
		if (!g->fds) {
			g->cap = 16;
			g->fds = calloc((size_t)g->cap, sizeof(*g->fds));
			if (!g->fds)
				return NULL;
		}
		g->fds[g->n++] = l->fd;
	}
	return g;
}

void reuseport_group_join(const struct listener *l, int fd)
{
	struct rp_group *g = group_of(l);
	int i;

	if (!g || fd < 0)
		return;
	for (i = 0; i < g->n; i++)
		if (g->fds[i] == fd)
			return;
	if (g->n == g->cap) {
		int *grown = realloc(g->fds, (size_t)g->cap * 2 * sizeof(*grown));
		if (!grown) {
			log_warnx("%s: out of memory: steering may miss a worker", l->name);
			return;
		}
		g->fds = grown;
		g->cap *= 2;
	}
	g->fds[g->n++] = fd;
}

void reuseport_group_leave(const struct listener *l, int fd)
{
	struct rp_group *g = group_of(l);
	int i;

	if (!g)
		return;
	for (i = 0; i < g->n; i++)
		if (g->fds[i] == fd) {
			g->fds[i] = g->fds[--g->n];     /* as the kernel does */
			/* the moved socket's slot has a new index */
			if (l->c && i < g->n)
				reuseport_steer((struct listener *)l, l->c->target);
			return;
		}
}

static int index_of(const struct rp_group *g, int fd)
{
	int i;

	for (i = 0; i < g->n; i++)
		if (g->fds[i] == fd)
			return i;
	return -1;
}

/* Steer among the sockets serving slots 0..n-1.  0 when done here, -1 when
 * the group is in slot order (reuseport.c's program does it). */
int reuseport_group_steer(struct listener *l, int n)
{
	struct rp_group *g = group_of(l);
	struct sock_filter *code;
	struct sock_fprog prog;
	int i, k = 0, identity = 1, idx[MAX_WORKERS];

	if (!g || n < 1 || n > MAX_WORKERS || l->type != SOCK_STREAM)
		return -1;
	for (i = 0; i < n; i++) {
		idx[i] = index_of(g, seccomp_reuseport_serving(l, i));
		if (idx[i] < 0)
			idx[i] = i;
		identity &= idx[i] == i;
	}
	if (identity)
		return -1;
	code = calloc((size_t)(2 * n + 3), sizeof(*code));
	if (!code)
		return -1;
	code[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						 (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM));
	code[k++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, (uint32_t)n);
	for (i = 0; i < n; i++) {
		code[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)i, 0, 1);
		code[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (uint32_t)idx[i]);
	}
	code[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (uint32_t)idx[0]);
	memset(&prog, 0, sizeof(prog));
	prog.len = (unsigned short)k;
	prog.filter = code;
	if (setsockopt(l->fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		log_warn("%s: steering the reuseport group", l->name);
	free(code);
	return 0;
}
