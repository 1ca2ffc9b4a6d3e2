/*
 * test_reuseport_slots.c - reuseport keeps "slot i's socket is at index i
 * of the kernel's group" across scale-down: only the highest socket is
 * ever closed.
 *
 * The kernel fills a hole in a reuseport group with its last socket.  So
 * if the socket of a removed slot 2 were closed while slot 3's worker is
 * still draining, slot 3's socket would move to index 2; scaling back up
 * to 3 would then give slot 2's new worker a socket at index 3, and the
 * steering (the first 3 indexes) would send its share of connections to
 * the old worker of slot 3 instead.
 *
 * Here the retired workers ignore SIGTERM (so slot 3's stays), the test
 * kills slot 2's itself, scales back up, and looks at who answers.
 */
#include "harness.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

TestSuite(reuseport_slots, .fini = tmpdir_fini, .timeout = 90);

/* cluster-ctl -s sock ARGS; its output into buf, 1 when it said ok. */
static int ctl(const char *sock, const char *args, char *buf, size_t cap)
{
	char cmd[1024];
	size_t len = 0, n;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' -s '%s' %s", cluster_ctl_path(), sock, args);
	p = popen(cmd, "r");
	cr_assert(p, "popen: %s", strerror(errno));
	while (len < cap - 1 && (n = fread(buf + len, 1, cap - 1 - len, p)) > 0)
		len += n;
	buf[len] = '\0';
	return pclose(p) == 0;
}

/* The worker in slot (as status --json has it): its pid, and whether its
 * state is state; 0 when the slot has no worker. */
static pid_t worker_in(const char *json, int slot, const char *state, int *in_state)
{
	char key[32];
	const char *p;
	int pid;

	snprintf(key, sizeof(key), "{\"slot\":%d,\"pid\":", slot);
	p = strstr(json, key);
	if (!p || sscanf(p + strlen(key), "%d", &pid) != 1)
		return 0;
	if (in_state) {
		char want[48];

		snprintf(want, sizeof(want), ",\"state\":\"%s\"", state);
		*in_state = !strncmp(strchr(p + strlen(key), ','), want, strlen(want));
	}
	return pid;
}

/* Wait (10 s) until slot's worker is in state; its pid. */
static pid_t wait_state(const char *sock, int slot, const char *state, char *json, size_t cap)
{
	long deadline = now_ms() + 10000;
	int in = 0;
	pid_t pid = 0;

	while (now_ms() < deadline) {
		if (ctl(sock, "status --json", json, cap) &&
		    (pid = worker_in(json, slot, state, &in)) > 0 && in)
			return pid;
		sleep_ms(50);
	}
	cr_assert_fail("slot %d never got to %s: %s", slot, state, json);
	return 0;
}

static void wait_gone(const char *sock, int slot, char *json, size_t cap)
{
	long deadline = now_ms() + 10000;

	while (now_ms() < deadline) {
		if (ctl(sock, "status --json", json, cap) && !worker_in(json, slot, NULL, NULL))
			return;
		sleep_ms(50);
	}
	cr_assert_fail("slot %d's worker never went: %s", slot, json);
}

Test(reuseport_slots, scale_down_closes_from_the_top)
{
	static char json[65536], buf[8192];
	char dir[64], sock[96];
	long per[8] = { 0 };
	int port, i;
	pid_t old2;
	struct cr *cr;

	tmpdir_new(dir, "cr-rp");
	snprintf(sock, sizeof(sock), "%s/c.sock", dir);
	cr = cr_start(NULL, "-n", "4", "-p", "reuseport", "--grace", "60", "--control", sock,
		      "--", helper("blocking_server"), "--port", "0", "--ignore-term", NULL);
	port = cr_ready_port(cr, 0, 10000);
	cr_assert(port > 0, "%s", cr->log);

	cr_assert(ctl(sock, "scale 2", buf, sizeof(buf)), "%s", buf);
	/* stop signal sent, ignored: both stay, their sockets too */
	old2 = wait_state(sock, 2, "stopping", json, sizeof(json));
	wait_state(sock, 3, "stopping", json, sizeof(json));
	/* slot 2's worker leaves first, slot 3's stays */
	cr_assert_eq(kill(old2, SIGKILL), 0);
	wait_gone(sock, 2, json, sizeof(json));

	cr_assert(ctl(sock, "scale 3", buf, sizeof(buf)), "%s", buf);
	wait_state(sock, 2, "ready", json, sizeof(json));
	for (i = 0; i < 90; i++) {
		int n = http_get("127.0.0.1", port, buf, sizeof(buf), 5000), w;

		cr_assert_gt(n, 0, "request %d: %s\n%s", i, strerror(errno), cr->log);
		w = response_worker(buf);
		cr_assert(w >= 0 && w < 8, "%s", buf);
		per[w]++;
	}
	cr_assert_eq(per[3], 0, "the retired worker of slot 3 got %ld of 90 connections "
		     "(its socket took slot 2's place in the group)", per[3]);
	cr_assert_gt(per[2], 0, "slot 2's new worker got none of 90 connections (0: %ld, 1: %ld)",
		     per[0], per[1]);
	/* the retired worker ignores SIGTERM: a second stop kills at once */
	cr_assert(ctl(sock, "stop", buf, sizeof(buf)), "%s", buf);
	cr_stop(cr, SIGTERM, 15000);
}
