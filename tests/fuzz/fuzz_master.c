/*
 * fuzz_master.c - fuzz what the master does with bytes from a worker.
 *
 * A worker is untrusted input (README, "Design").  This drives the real
 * message dispatch (launcher/mechanism/shim_peer.c), bind handling
 * (mechanism/attach.c), listener registry (net/listener.c) and balancer
 * (policy/balancer.c) with sequences of fuzzed messages from two fake workers,
 * each with two processes, and checks that the master neither crashes nor
 * leaks, whatever arrives.  stubs.c stands in for the supervisor, the
 * process spawner and the network: bind() and listen() are interposed so
 * fuzzed addresses never reach the kernel.
 *
 * Input: a sequence of records [peer:1][len:1][len bytes].  Records are
 * often valid-looking messages, so the fuzzer gets past msg_valid().
 *
 * Two ways to run it:
 *   - built with clang -fsanitize=fuzzer (meson -Dfuzz=libfuzzer): libFuzzer
 *     drives LLVMFuzzerTestOneInput;
 *   - otherwise, main() below: a bounded random run (--seconds S, --seed N)
 *     that mutates valid messages, plus replay of any files given.  This
 *     is the one `meson test` runs.
 */
#include "cluster.h"
#include "mechanism/shim_peer.h"
#include "net/listener.h"
#include "policy/policy.h"
#include "supervise/worker.h"
#include "base/loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int fuzz_misbehaved;    /* stubs.c counts verdicts here */

static struct worker *fake_worker(struct cluster *c, int slot)
{
	struct worker *w = calloc(1, sizeof(*w));
	int i;

	w->c = c;
	w->slot = slot;
	w->doorbell = -1;
	w->state = W_STARTING;
	for (i = 0; i < CLUSTER_MAX_LISTENERS; i++)
		w->routes[i].chan = w->routes[i].chan_peer = -1;
	c->workers = realloc(c->workers, (size_t)(c->nworkers + 1) * sizeof(*c->workers));
	c->workers[c->nworkers++] = w;
	return w;
}

/* A process of w: the master's end of its private channel is p->fd; the
 * other end (*far) receives the replies, which we drain and close. */
static struct peer *fake_peer(struct worker *w, int *far)
{
	struct peer *p = calloc(1, sizeof(*p));
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	p->fd = sv[0];
	*far = sv[1];
	p->pid = 4242;
	p->w = w;
	w->peers = realloc(w->peers, (size_t)(w->npeers + 1) * sizeof(*w->peers));
	w->peers[w->npeers++] = p;
	return p;
}

static void drain(int fd)
{
	char buf[1024];
	int got;

	while (msg_recv(fd, buf, sizeof(buf), &got, MSG_DONTWAIT) > 0)
		if (got >= 0)
			close(got);
}

static void run_one(const uint8_t *data, size_t size)
{
	static struct options opt;
	static struct program prog = { .path = "/fuzz" };
	struct cluster *c = calloc(1, sizeof(*c));
	struct peer *peers[4];
	int far[4], i;

	opt.policy = policy_table[size ? data[0] % 4 : 0];     /* rr, shared, reuseport, leastconn */
	opt.grace = 1;
	c->opt = &opt;
	c->prog = &prog;
	c->loop = loop_new();
	c->target = 2;
	for (i = 0; i < 2; i++) {
		struct worker *w = fake_worker(c, i);
		peers[2 * i] = fake_peer(w, &far[2 * i]);
		peers[2 * i + 1] = fake_peer(w, &far[2 * i + 1]);
	}
	for (i = size ? 1 : 0; (size_t)i + 2 <= size;) {
		union any_msg m;
		int who = data[i] % 4;
		size_t len = data[i + 1];

		i += 2;
		if ((size_t)i + len > size)
			len = size - (size_t)i;
		memset(&m, 0, sizeof(m));
		memcpy(&m, data + i, len < sizeof(m) ? len : sizeof(m));
		i += (int)len;
		if (worker_handle_message(peers[who], &m, (ssize_t)len, -1) < 0)
			fuzz_misbehaved++;
		drain(far[who]);
	}
	while (c->nworkers)
		worker_free(c, c->workers[0]);
	for (i = 0; i < 4; i++)
		close(far[i]);
	listener_close_all(c);
	loop_free(c->loop);
	free(c->workers);
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run_one(data, size);
	return 0;
}

#ifndef CLUSTER_LIBFUZZER
static uint64_t rng;

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/* A plausible message of a random type, then a few random mutations. */
static size_t make_record(uint8_t *out)
{
	union any_msg m;
	uint16_t type = (uint16_t)(1 + next_rand() % (MSG_TYPE_MAX + 1));
	size_t len = msg_size(type) ? msg_size(type) : next_rand() % sizeof(m);
	int k, muts = (int)(next_rand() % 4);

	memset(&m, 0, sizeof(m));
	msg_init(&m, type, next_rand());
	if (type == MSG_BIND || type == MSG_UNLINK) {
		static const int fams[] = { AF_INET, AF_INET6, AF_UNIX, 0 };
		m.bind.family = fams[next_rand() % 4];
		m.bind.type = next_rand() % 2 ? SOCK_STREAM : SOCK_DGRAM;
		m.bind.protocol = next_rand() % 2 ? 6 : 17;
		m.bind.addrlen = next_rand() % 2 ? 16 : next_rand() % 140;
		m.bind.opts = next_rand() % 32;
		m.bind.addr.ss_family = (sa_family_t)m.bind.family;
		for (k = 2; k < 24; k++)
			((uint8_t *)&m.bind.addr)[k] = (uint8_t)(next_rand() % 3 ? 0 : next_rand());
	} else if (type == MSG_LISTEN || type == MSG_UNLISTEN || type == MSG_CONN_CLOSED) {
		m.listener.listener = next_rand() % 4 ? next_rand() % 3 : next_rand();
	}
	for (k = 0; k < muts; k++)
		((uint8_t *)&m)[next_rand() % len] = (uint8_t)next_rand();
	if (next_rand() % 8 == 0)
		len = next_rand() % (len + 8);
	if (len > 255)
		len = 255;
	out[0] = (uint8_t)next_rand();
	out[1] = (uint8_t)len;
	memcpy(out + 2, &m, len);
	return len + 2;
}

static int replay(const char *path)
{
	static uint8_t buf[1 << 16];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		perror(path);
		return 1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	run_one(buf, n);
	return 0;
}

int main(int argc, char **argv)
{
	double seconds = 5;
	uint64_t seed = (uint64_t)time(NULL), runs = 0;
	static uint8_t input[8192];
	time_t end;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (replay(argv[i]))
			return 1;
	}
	/* the master's log lines would drown the report */
	if (!freopen("/dev/null", "w", stderr))
		return 1;
	rng = seed ? seed : 1;
	end = time(NULL) + (time_t)seconds;
	while (time(NULL) < end) {
		size_t n = 1;
		input[0] = (uint8_t)next_rand();
		while (n < sizeof(input) - 300 && next_rand() % 24)
			n += make_record(input + n);
		run_one(input, n);
		runs++;
	}
	printf("fuzz_master: %llu inputs (seed %llu), %d misbehaviour verdicts, no crash\n",
	       (unsigned long long)runs, (unsigned long long)seed, fuzz_misbehaved);
	return 0;
}
#endif
