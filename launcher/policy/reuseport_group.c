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
 *
 * What the program does with a slot's index is the group's steering mode,
 * kept here so that every re-steer (a join, a leave, a seccomp
 * replacement, a scale) keeps it: at random (reuseport), by shares per
 * slot (the kernel variants of rr, random, leastconn, p2c, jiq:
 * reuseport_group_shares), or by a hash of the client's address
 * (sticky: reuseport_group_hash).
 */
#include "cluster.h"
#include "base/log.h"
#include "base/state.h"
#include "policy/policy_state.h"

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
	int mode;                       /* BY_* */
	unsigned *shares;               /* BY_SHARES: by slot */
	int nshares;
};

enum { BY_RANDOM, BY_SHARES, BY_HASH };

#define HASH_BUCKETS 256        /* sticky: the hash's top 8 bits pick a bucket */

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
		g->mode = BY_RANDOM;
		g->nshares = 0;
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

static int steer_by_shares(struct listener *l, struct rp_group *g, int n);
static int steer_by_hash(struct listener *l, struct rp_group *g, int n);

void reuseport_group_steer(struct listener *l, int n)
{
	struct rp_group *g = group_of(l);

	/* TCP only: a random choice per datagram would split UDP flows.  And
	 * not one socket alone: the kernel has no group for it yet (the
	 * first socket listens alone, net/sockets.c; the group is made when
	 * a second one joins, and steered then), nor anything to choose. */
	if (l->type != SOCK_STREAM || (g && g->n < 2))
		return;
	if (g && g->mode == BY_SHARES && steer_by_shares(l, g, n) == 0)
		return;
	if (g && g->mode == BY_HASH && steer_by_hash(l, g, n) == 0)
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

static void attach_program(struct listener *l, struct sock_filter *code, int k)
{
	struct sock_fprog prog;

	memset(&prog, 0, sizeof(prog));
	prog.len = (unsigned short)k;
	prog.filter = code;
	if (setsockopt(l->fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		log_warn("%s: steering the reuseport group", l->name);
}

/* The group index of the socket serving each of slots 0..n-1. */
static void slot_indexes(const struct rp_group *g, const struct listener *l, int n, int *idx)
{
	int i;

	for (i = 0; i < n; i++) {
		idx[i] = index_of(g, serving(g, l, i));
		if (idx[i] < 0)
			idx[i] = i;
	}
}

int reuseport_group_shares(struct listener *l, int n, const unsigned *shares)
{
	struct rp_group *g = group_of(l);
	unsigned *grown;
	int i, same;

	if (!g || n < 1 || n > MAX_WORKERS)
		return -1;
	same = g->mode == BY_SHARES && g->nshares == n;
	for (i = 0; same && i < n; i++)
		same = g->shares[i] == shares[i];
	if (same)
		return 0;
	if (n > g->nshares || !g->shares) {
		grown = realloc(g->shares, (size_t)n * sizeof(*grown));
		if (!grown)
			return -1;
		g->shares = grown;
	}
	memcpy(g->shares, shares, (size_t)n * sizeof(*shares));
	g->nshares = n;
	g->mode = BY_SHARES;
	reuseport_group_steer(l, n);
	return 1;
}

void reuseport_group_hash(struct listener *l)
{
	struct rp_group *g = group_of(l);

	if (g)
		g->mode = BY_HASH;
}

/* Weighted random among slots 0..n-1: draw R below the sum of the shares,
 * return the index of the first slot whose running sum passes R.  Slots
 * beyond the shares given get none; no share at all: an even spread.
 * 2 instructions a slot (BPF_MAXINSNS allows 2046 slots). */
static int steer_by_shares(struct listener *l, struct rp_group *g, int n)
{
	struct sock_filter *code;
	int i, k = 0, last = -1, idx[MAX_WORKERS];
	uint64_t sum = 0;

	if (n < 1 || n > MAX_WORKERS)
		return -1;
	for (i = 0; i < n && i < g->nshares; i++)
		sum += g->shares[i];
	if (sum == 0 || sum > UINT32_MAX)
		return -1;              /* an even spread: steer_by_table/in_order */
	slot_indexes(g, l, n, idx);
	code = calloc((size_t)(2 * n + 3), sizeof(*code));
	if (!code)
		return -1;
	code[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						 (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM));
	code[k++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, (uint32_t)sum);
	sum = 0;
	for (i = 0; i < n && i < g->nshares; i++) {
		if (!g->shares[i])
			continue;
		sum += g->shares[i];
		/* R >= running sum: not this slot, skip its return */
		code[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)sum, 1, 0);
		code[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (uint32_t)idx[i]);
		last = i;
	}
	code[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (uint32_t)idx[last]);
	attach_program(l, code, k);
	free(code);
	return 0;
}

/* Lamping and Veach's jump consistent hash: key to one of n buckets, so
 * that going from n to n+1 moves 1/(n+1) of the keys, all to the new one,
 * and going from n to n-1 moves only the last one's. */
static int jump_hash(uint64_t key, int n)
{
	int64_t b = -1, j = 0;

	while (j < n) {
		b = j;
		key = key * 2862933555777941757ULL + 1;
		j = (int64_t)((double)(b + 1) * ((double)(1LL << 31) / (double)((key >> 33) + 1)));
	}
	return (int)b;
}

struct range { uint32_t start; int idx; };

/* A binary search over ranges [lo, hi) of buckets: 2 instructions per
 * inner node (a compare and a long jump, since a subtree may be longer
 * than a conditional jump's 255), one per leaf. */
static void emit_search(struct sock_filter *code, int *k, const struct range *r, int lo, int hi)
{
	int mid, ja;

	if (hi - lo == 1) {
		code[(*k)++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (uint32_t)r[lo].idx);
		return;
	}
	mid = (lo + hi) / 2;
	/* bucket >= the right half's start: the jump to it; else the left half */
	code[(*k)++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, r[mid].start, 0, 1);
	ja = (*k)++;
	emit_search(code, k, r, lo, mid);
	code[ja] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, (uint32_t)(*k - ja - 1));
	emit_search(code, k, r, mid, hi);
}

/* Sticky: the client's source address, IPv4 (network offset 12) or IPv6
 * (offset 8, its four words folded by xor), multiplied by 2^32/phi; the
 * top 8 bits are a bucket; bucket b belongs to slot jump_hash(b, n).  The
 * master keeps a slot's socket across crashes and reloads (and the serving
 * table follows seccomp's replacement sockets), so an address keeps its
 * slot until n changes; then 1/(n+1) of the buckets move (to the new
 * slot) on scale-up, and only the removed slot's on scale-down.  A
 * dual-stack IPv6 listener sees IPv4 headers too: the version nibble
 * decides. */
static int steer_by_hash(struct listener *l, struct rp_group *g, int n)
{
	struct sock_filter head[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (uint32_t)SKF_NET_OFF),
		BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 2, 0),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_NET_OFF + 12)),
		BPF_STMT(BPF_JMP | BPF_JA, 10),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_NET_OFF + 8)),
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_NET_OFF + 12)),
		BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_NET_OFF + 16)),
		BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_NET_OFF + 20)),
		BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
		BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 0x9E3779B1u),
		BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 24),
	};
	struct range r[HASH_BUCKETS];
	struct sock_filter *code;
	int b, nr = 0, k, idx[MAX_WORKERS], nhead = (int)(sizeof(head) / sizeof(head[0]));

	if (n < 1 || n > MAX_WORKERS)
		return -1;
	slot_indexes(g, l, n, idx);
	for (b = 0; b < HASH_BUCKETS; b++) {
		int at = idx[jump_hash((uint64_t)b, n)];

		if (nr == 0 || r[nr - 1].idx != at)
			r[nr++] = (struct range){ .start = (uint32_t)b, .idx = at };
	}
	code = calloc((size_t)(nhead + 3 * nr), sizeof(*code));
	if (!code)
		return -1;
	memcpy(code, head, sizeof(head));
	k = nhead;
	emit_search(code, &k, r, 0, nr);
	attach_program(l, code, k);
	free(code);
	return 0;
}

/* The slot of address a of family under sticky with n slots, as the
 * program computes it (tests, and the README's "how many move"). */
int reuseport_hash_slot(int family, const void *a, int n)
{
	const unsigned char *p = a;
	uint32_t h = 0;
	int i;

	if (family == 4)
		h = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	else
		for (i = 0; i < 16; i += 4)
			h ^= (uint32_t)p[i] << 24 | (uint32_t)p[i + 1] << 16 |
			     (uint32_t)p[i + 2] << 8 | p[i + 3];
	h = (h * 0x9E3779B1u) >> 24;
	return jump_hash(h, n);
}

/* The arrays as raw bytes: the same machine writes and reads them. */
void reuseport_group_save(struct cluster *c, struct state_out *o)
{
	int i;

	for (i = 0; i < c->nlisteners && i < CLUSTER_MAX_LISTENERS; i++) {
		const struct rp_group *g = &groups[i];

		if (g->l != c->listeners[i] || g->n == 0)
			continue;       /* never steered: group_of starts it afresh */
		state_rec(o, "rp_group");
		state_i64(o, "lid", i);
		state_i64(o, "mode", g->mode);
		state_bytes(o, "fds", g->fds, (size_t)g->n * sizeof(*g->fds));
		if (g->nserving)
			state_bytes(o, "serving", g->serving, (size_t)g->nserving * sizeof(*g->serving));
		if (g->nshares)
			state_bytes(o, "shares", g->shares, (size_t)g->nshares * sizeof(*g->shares));
	}
}

/* An array of up to max ints from key, into *p (grown): how many, or -1
 * when out of memory. */
static int restore_ints(const struct state_rec *r, const char *key, void **p, int max)
{
	size_t cap = (size_t)max * sizeof(int);
	void *grown = realloc(*p, cap ? cap : sizeof(int));
	long n;

	if (!grown)
		return -1;
	*p = grown;
	n = rec_bytes(r, key, grown, cap);
	return n > 0 ? (int)(n / (long)sizeof(int)) : 0;
}

int reuseport_group_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *r;

	for (r = state_first(in, "rp_group"); r; r = state_next(r)) {
		int64_t lid = rec_i64(r, "lid", -1);
		struct rp_group *g;
		int n;

		if (lid < 0 || lid >= c->nlisteners)
			continue;
		g = &groups[lid];
		/* the group holds every socket of the listener ever joined and
		 * not left: its slots' and the seccomp replacements' */
		n = restore_ints(r, "fds", (void **)&g->fds, 2 * MAX_WORKERS + 16);
		if (n < 0)
			goto nomem;
		g->cap = 2 * MAX_WORKERS + 16;
		g->n = n;
		if ((n = restore_ints(r, "serving", (void **)&g->serving, MAX_WORKERS)) < 0)
			goto nomem;
		g->nserving = n;
		if ((n = restore_ints(r, "shares", (void **)&g->shares, MAX_WORKERS)) < 0)
			goto nomem;
		g->nshares = n;
		g->mode = (int)rec_i64(r, "mode", BY_RANDOM);
		g->l = c->listeners[lid];
		if (g->n == 0 || index_of(g, g->l->fd) < 0)
			log_warnx("upgrade: %s: the reuseport group's order does not hold its "
				  "socket: steering starts over at the next change", g->l->name);
	}
	return 0;
nomem:
	log_warn("upgrade: reuseport group");
	return -1;
}
