/*
 * reuseport_group.c - the kernel's order of a reuseport group, modelled,
 * and the steering program that names each slot's socket wherever it sits.
 *
 * A classic BPF program on a reuseport group returns an index into the
 * group's socket array.  A socket joins at the end when it listens; one
 * that leaves is replaced by the group's last socket
 * (reuseport_detach_sock).  policy_reuseport.c keeps index = slot by
 * creating in slot order and closing from the top, and the seccomp rolling
 * restart (mechanism/seccomp_reuseport.c) breaks that on purpose: the
 * replacement gets a socket of its own, appended, and the old one leaves
 * from the middle.  So the order is followed here, join by join and leave
 * by leave, and the steering program maps slot i to its socket's index
 * with a table of jumps (2 instructions a slot; BPF_MAXINSNS allows 2046
 * slots).  While the order is slot order, a short random-modulo program
 * does it.
 *
 * Which socket serves a slot is l->slot_fds[slot] unless the layer above
 * named another (reuseport_group_serve: a seccomp replacement's own); the
 * steering reads that table and calls nobody above it.
 *
 * The model lives beside struct listener (a table by listener id, checked
 * against the listener it was made for) so that cluster.h needs no field.
 */
#include "cluster.h"
#include "base/log.h"

#include <errno.h>
#include <linux/filter.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct rp_group {
	const struct listener *l;       /* the listener this model is for */
	int *fds;                       /* the kernel's order */
	int n, cap;
	int *serving;                   /* by slot: a socket other than its own, or -1 */
	int nserving;
};

static int index_of(const struct rp_group *g, int fd);
static void steer(struct listener *l, int n);
static int steer_by_table(struct listener *l, int n);

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
		g->nserving = 0;
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
				steer((struct listener *)l, l->c->target);
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

/* The socket that serves slot of l: the one reuseport_group_serve named
 * (a seccomp replacement's own, seccomp_reuseport.c), else the slot's. */
static int serving(const struct rp_group *g, const struct listener *l, int slot)
{
	if (slot < g->nserving && g->serving[slot] >= 0)
		return g->serving[slot];
	return slot >= 0 && slot < l->nslot_fds ? l->slot_fds[slot] : -1;
}

int reuseport_group_serve(const struct listener *l, int slot, int fd)
{
	struct rp_group *g = group_of(l);
	int *grown, i;

	if (!g || slot < 0 || slot >= MAX_WORKERS)
		return -1;
	if (slot >= g->nserving) {
		if (fd < 0)
			return 0;
		grown = realloc(g->serving, (size_t)(slot + 1) * sizeof(*grown));
		if (!grown)
			return -1;
		for (i = g->nserving; i <= slot; i++)
			grown[i] = -1;
		g->serving = grown;
		g->nserving = slot + 1;
	}
	g->serving[slot] = fd;
	return 0;
}

/* Random choice among the first n sockets of the group: the short program,
 * for a group in slot order (index = slot). */
static void steer_in_order(struct listener *l, int n)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM)),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, (uint32_t)(n > 0 ? n : 1)),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_fprog prog;

	memset(&prog, 0, sizeof(prog));   /* padding after len goes to the kernel */
	prog.len = 3;
	prog.filter = code;
	if (setsockopt(l->fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		log_warn("%s: steering the reuseport group", l->name);
}

void reuseport_group_steer(struct listener *l, int n)
{
	struct rp_group *g = group_of(l);

	/* TCP only: a random choice per datagram would split UDP flows.  And
	 * not one socket alone: the kernel has no group for it yet (the
	 * first socket listens alone, net/sockets.c; the group is made when
	 * a second one joins, and steered then), nor anything to choose. */
	if (l->type != SOCK_STREAM || (g && g->n < 2))
		return;
	if (steer_by_table(l, n) < 0)
		steer_in_order(l, n);
}

static void steer(struct listener *l, int n)
{
	reuseport_group_steer(l, n);
}

/* Steer among the sockets serving slots 0..n-1 with a table of jumps.  0
 * when done here, -1 when the group is in slot order (steer_in_order). */
static int steer_by_table(struct listener *l, int n)
{
	struct rp_group *g = group_of(l);
	struct sock_filter *code;
	struct sock_fprog prog;
	int i, k = 0, identity = 1, idx[MAX_WORKERS];

	if (!g || n < 1 || n > MAX_WORKERS || l->type != SOCK_STREAM)
		return -1;
	for (i = 0; i < n; i++) {
		idx[i] = index_of(g, serving(g, l, i));
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
