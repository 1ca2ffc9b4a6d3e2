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

/* Who a process is among its relatives: its state letter ('R', 'S', 'Z'...),
 * parent, process group and session; and its kernel flags (PF_*: field 9
 * of /proc/PID/stat).  0, or -1 when it is gone. */
struct procids {
	char state;
	pid_t ppid, pgrp, sid;
	unsigned flags;
};
#define PROC_PF_EXITING 0x4     /* set at the start of exit (do_exit) */
int procstat_ids(pid_t pid, struct procids *id);

#endif
