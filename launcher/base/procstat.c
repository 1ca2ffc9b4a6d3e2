/*
 * procstat.c - what /proc says a worker costs: CPU seconds (user + system,
 * of the worker's process and the children it waited for) and resident
 * memory.  The worker's own process only: a prefork server's children
 * that are still running are not added (their /proc entries would have to
 * be walked on every status).
 *
 * Not here: presenting them (report.c).
 */
#include "base/procstat.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int procstat_read(pid_t pid, struct procstat *ps)
{
	char path[64], buf[1024], *p;
	unsigned long long utime, stime, cutime, cstime, rss_pages;
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	FILE *f;
	size_t n;

	memset(ps, 0, sizeof(*ps));
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the command name may hold spaces and parentheses: skip to the last ')' */
	p = strrchr(buf, ')');
	if (!p || tick <= 0 || page <= 0)
		return -1;
	/* fields from 3 (state) on; utime is 14, rss is 24 */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu "
		   "%*d %*d %*d %*d %*u %*u %llu", &utime, &stime, &cutime, &cstime,
		   &rss_pages) != 5)
		return -1;
	ps->cpu_seconds = (double)(utime + stime + cutime + cstime) / (double)tick;
	ps->rss_bytes = rss_pages * (unsigned long long)page;
	return 0;
}
