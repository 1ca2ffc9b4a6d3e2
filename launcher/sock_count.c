/*
 * sock_count.c - how many TCP connections on a port a worker still holds,
 * seen from outside: the socket inodes in the fd tables of its processes
 * (its process group, /proc/PID/fd) against the connections of the
 * network namespace (/proc/net/tcp and tcp6: local port, state, inode).
 *
 * This is how the master knows a seccomp worker has finished its requests
 * without its help (the shim would count them).  Listening sockets are not
 * connections; TIME_WAIT ones belong to no fd.  O(processes + sockets) per
 * call: used only while a worker drains, every few tens of ms.
 */
#include "seccomp.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TCP_LISTEN_STATE 0x0A

struct inodes {
	unsigned long *v;
	size_t n, cap;
};

static void add_inode(struct inodes *s, unsigned long ino)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		unsigned long *grown = realloc(s->v, cap * sizeof(*grown));
		if (!grown)
			return;
		s->v = grown;
		s->cap = cap;
	}
	s->v[s->n++] = ino;
}

static int has_inode(const struct inodes *s, unsigned long ino)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i] == ino)
			return 1;
	return 0;
}

static int in_group(const char *pid, pid_t pgid)
{
	char path[300], buf[512], *p;
	FILE *f;
	int pgrp = -1;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %*c %*d %d", &pgrp);
	fclose(f);
	return pgrp == pgid;
}

static void collect_sockets(const char *pid, struct inodes *s)
{
	char path[300], link[600], target[64];
	struct dirent *e;
	unsigned long ino;
	DIR *d;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (sscanf(target, "socket:[%lu]", &ino) == 1)
			add_inode(s, ino);
	}
	closedir(d);
}

static int count_in(const char *file, uint16_t port, const struct inodes *s)
{
	char line[512];
	unsigned lport, state;
	unsigned long ino;
	int n = 0;
	FILE *f = fopen(file, "re");

	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f)) {    /* the header */
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		/* sl local:port rem:port st tx:rx tr:when retr uid timeout inode */
		if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu",
			   &lport, &state, &ino) != 3)
			continue;
		if (lport == port && state != TCP_LISTEN_STATE && ino && has_inode(s, ino))
			n++;
	}
	fclose(f);
	return n;
}

int sock_count_conns(pid_t pgid, uint16_t port)
{
	struct inodes s = { 0 };
	struct dirent *e;
	DIR *d = opendir("/proc");
	int n;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9' || !in_group(e->d_name, pgid))
			continue;
		collect_sockets(e->d_name, &s);
	}
	closedir(d);
	n = s.n ? count_in("/proc/net/tcp", port, &s) + count_in("/proc/net/tcp6", port, &s) : 0;
	free(s.v);
	return n;
}
