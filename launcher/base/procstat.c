/*
 * procstat.c - what /proc says a worker costs: CPU seconds (user + system,
 * of the worker's process and the children it waited for) and resident
 * memory.  The worker's own process only: a prefork server's children
 * that are still running are not added (their /proc entries would have to
 * be walked on every status).
 *
 * And who a process is among its relatives (procstat_ids): parent, group,
 * session, for following a worker that daemonizes (supervise/follow.c).
 *
 * Not here: presenting them (report.c).
 */
#include "base/procstat.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* /proc/PID/stat into buf; the text after the command name (which may
 * hold spaces and parentheses: it ends at the last ')'), or NULL. */
static const char *stat_fields(pid_t pid, char *buf, size_t cap)
{
	char path[64], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p + 2 : NULL;
}

int procstat_ids(pid_t pid, struct procids *id)
{
	char buf[1024];
	const char *p = stat_fields(pid, buf, sizeof(buf));
	int ppid, pgrp, sid;

	memset(id, 0, sizeof(*id));
	if (!p || sscanf(p, "%c %d %d %d %*d %*d %u", &id->state, &ppid, &pgrp, &sid,
			 &id->flags) < 4)
		return -1;
	id->ppid = ppid;
	id->pgrp = pgrp;
	id->sid = sid;
	return 0;
}

int procstat_read(pid_t pid, struct procstat *ps)
{
	char buf[1024];
	const char *p;
	unsigned long long utime, stime, cutime, cstime, rss_pages;
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);

	memset(ps, 0, sizeof(*ps));
	p = stat_fields(pid, buf, sizeof(buf));
	if (!p || tick <= 0 || page <= 0)
		return -1;
	/* fields from 3 (state) on; utime is 14, rss is 24 */
	if (sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu "
		   "%*d %*d %*d %*d %*u %*u %llu", &utime, &stime, &cutime, &cstime,
		   &rss_pages) != 5)
		return -1;
	ps->cpu_seconds = (double)(utime + stime + cutime + cstime) / (double)tick;
	ps->rss_bytes = rss_pages * (unsigned long long)page;
	return 0;
}
