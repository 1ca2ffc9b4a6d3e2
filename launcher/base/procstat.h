/*
 * procstat.h - see procstat.c.
 */
#ifndef LAUNCHER_BASE_PROCSTAT_H
#define LAUNCHER_BASE_PROCSTAT_H

#include <sys/types.h>


/* procstat.c */
struct procstat {
	double cpu_seconds;
	unsigned long long rss_bytes;
};
int procstat_read(pid_t pid, struct procstat *ps);

#endif
