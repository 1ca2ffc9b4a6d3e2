/*
 * logline.c - the format and destination of every line cluster-run writes:
 * its own messages and its workers' output (see logline.h).
 *
 * A line is formatted whole into one buffer and written with one write(),
 * so lines never mix (output.c hands over whole lines only).  Text lines
 * are "[TIME ][[slot pid] ]line"; JSON lines are
 *   {"time":"2026-11-30T14:32:13.123Z","slot":3,"pid":812,
 *    "stream":"stdout","message":"..."}
 * with "slot":null and "stream":"master" for cluster-run's own.  Bytes
 * that are not UTF-8 become U+FFFD, so every line is valid JSON.
 *
 * Files under --log-dir are opened O_APPEND on first use and kept open;
 * logline_reopen() (SIGUSR1) closes and reopens them by name, so after
 * logrotate renames a file the next line starts the new one.  The master
 * is the only writer: workers write into pipes, never into the files, so
 * a reopen needs nothing from them.
 *
 * A line that cannot be written whole (a full disk, a closed pipe, a
 * stdout left non-blocking and full) is dropped: nothing waits for the
 * disk.  Each one is counted (logline_dropped(): status and metrics), and
 * a warning on stderr says how many, at once for the first and then at
 * most once a minute.  The warning is written later, from a timer of the
 * caller's loop (logline_on_drops), never from inside a write: the line
 * buffer is in use there.  (The loop is not ours to call: it logs.)
 *
 * Every line also goes, unformatted, into the slot's ring in memory
 * (logring.c, for cluster-ctl logs), files or not.
 *
 * Not here: splitting a worker's output into lines (output.c).
 */
#include "base/logline.h"
#include "base/logring.h"
#include "base/state.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LINE_CAP (4096 * 6 + 512)       /* a 4 KiB line, every byte escaped */
#define DROP_WARN_MS 60000              /* at most one warning a minute */

static struct {
	int configured;
	int prefix, time, json;
	const char *dir;
	int master_fd;          /* DIR/cluster-run.log, or -1 */
	int *slot_fds;          /* DIR/worker-N.log, -1 until used */
	int nslot_fds;
	char line[LINE_CAP];
} sink = { .master_fd = -1 };

static struct {
	uint64_t total;         /* lines dropped since start */
	uint64_t unsaid;        /* ... not yet in a warning */
	int err;                /* the last one's errno (0: cut short) */
	char where[128];        /* ... and its destination */
	void (*hook)(void *);    /* told when a warning is wanted */
	void *hook_data;
	int asked;              /* the hook was told; the warning is not out */
	int64_t warned_ms;      /* when the last warning went out, or -1 */
	int warning;            /* writing a warning: its own drop is not counted */
} dropped = { .warned_ms = -1 };

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int open_log(const char *name)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "%s/%s", sink.dir, name) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
}

int logline_configure(int prefix, int time, int json, const char *dir)
{
	sink.prefix = prefix;
	sink.time = time;
	sink.json = json;
	sink.dir = dir;
	sink.configured = 1;
	if (sink.dir && (sink.master_fd = open_log("cluster-run.log")) < 0) {
		char msg[4200];
		int n = snprintf(msg, sizeof(msg), "--log-dir %s: %s", sink.dir, strerror(errno));

		sink.dir = NULL;
		logline_master(msg, n > 0 && n < (int)sizeof(msg) ? (size_t)n : 0);
		return -1;
	}
	return 0;
}

int logline_pipes_wanted(void)
{
	/* the ring (--log-lines, on by default) needs the lines too */
	return sink.prefix || sink.time || sink.json || sink.dir || logring_lines();
}

int logline_structured(void)
{
	return sink.time || sink.json || sink.dir;
}

static size_t put(size_t n, const char *s, size_t len)
{
	if (n >= sizeof(sink.line) - 2)
		return n;
	if (len > sizeof(sink.line) - 2 - n)
		len = sizeof(sink.line) - 2 - n;
	memcpy(sink.line + n, s, len);
	return n + len;
}

static size_t put_time(size_t n)
{
	struct timespec ts;
	struct tm tm;
	char t[40];
	size_t k;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	k = strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	k += (size_t)snprintf(t + k, sizeof(t) - k, ".%03ldZ", ts.tv_nsec / 1000000);
	return put(n, t, k);
}

/* The length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	size_t len, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > left)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;       /* overlong, out of range, or a surrogate */
	return len;
}

static size_t put_json_string(size_t n, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	n = put(n, "\"", 1);
	while (i < len) {
		char esc[8];
		size_t k = utf8_len(p + i, len - i);

		if (k == 0) {
			n = put(n, "\xef\xbf\xbd", 3);  /* U+FFFD */
			i++;
		} else if (k > 1) {
			n = put(n, s + i, k);
			i += k;
		} else if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)p[i++];
			n = put(n, esc, 2);
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", p[i++]);
			n = put(n, esc, 6);
		} else {
			n = put(n, s + i++, 1);
		}
	}
	return put(n, "\"", 1);
}

/* The whole line, newline included, in sink.line; its length. */
static size_t format(int slot, pid_t pid, const char *stream, const char *msg, size_t len)
{
	char head[96];
	size_t n = 0;

	if (sink.json) {
		n = put(n, "{\"time\":\"", 9);
		n = put_time(n);
		if (slot < 0)
			snprintf(head, sizeof(head), "\",\"slot\":null,\"pid\":%d,\"stream\":\"%s\","
				 "\"message\":", (int)pid, stream);
		else
			snprintf(head, sizeof(head), "\",\"slot\":%d,\"pid\":%d,\"stream\":\"%s\","
				 "\"message\":", slot, (int)pid, stream);
		n = put(n, head, strlen(head));
		n = put_json_string(n, msg, len);
		n = put(n, "}", 1);
	} else {
		if (sink.time) {
			n = put_time(n);
			n = put(n, " ", 1);
		}
		if (slot < 0)
			n = put(n, "cluster-run: ", 13);
		else if (sink.prefix) {
			snprintf(head, sizeof(head), "[%d %d] ", slot, (int)pid);
			n = put(n, head, strlen(head));
		}
		n = put(n, msg, len);
	}
	sink.line[n++] = '\n';
	return n;
}

void logline_warn_drops(void)
{
	char msg[256];
	int n;

	dropped.asked = 0;
	if (!dropped.unsaid)
		return;
	n = snprintf(msg, sizeof(msg), "%llu log line%s dropped (%s: %s); %llu since start",
		     (unsigned long long)dropped.unsaid, dropped.unsaid == 1 ? "" : "s",
		     dropped.where, dropped.err ? strerror(dropped.err) : "cut short",
		     (unsigned long long)dropped.total);
	dropped.unsaid = 0;
	dropped.warned_ms = mono_ms();
	dropped.warning = 1;
	logline_master(msg, n > 0 && n < (int)sizeof(msg) ? (size_t)n : strlen(msg));
	dropped.warning = 0;
}

/* One more line lost to fd (named by what, slot when >= 0). */
static void count_drop(int err, const char *what, int slot)
{
	if (dropped.warning)
		return;
	dropped.total++;
	dropped.unsaid++;
	dropped.err = err;
	if (slot >= 0)
		snprintf(dropped.where, sizeof(dropped.where), "%.80s/worker-%d.log",
			 sink.dir ? sink.dir : ".", slot);
	else if (!strcmp(what, "cluster-run.log"))
		snprintf(dropped.where, sizeof(dropped.where), "%.80s/%s",
			 sink.dir ? sink.dir : ".", what);
	else
		snprintf(dropped.where, sizeof(dropped.where), "%s", what);
	if (dropped.hook && !dropped.asked) {
		dropped.asked = 1;
		dropped.hook(dropped.hook_data);
	}
}

/* Whether a write to the inherited stdout/stderr would block now.  Their
 * reader may have stopped reading (a pipe into a stalled program, a
 * terminal held with ^S): a blocking write there would freeze the master,
 * and with it reloads, restarts and cluster-ctl, under every policy.  We
 * cannot make them O_NONBLOCK: the open file description is shared with
 * whoever started us.  poll() says POLLOUT on a pipe when a page is free,
 * so a line up to PIPE_BUF goes in whole; a longer one may still wait
 * for part of it.  Files under --log-dir are regular files: never asked. */
static int would_block(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int r;

	if (fd != STDOUT_FILENO && fd != STDERR_FILENO)
		return 0;
	do
		r = poll(&p, 1, 0);
	while (r < 0 && errno == EINTR);
	return r == 0;
}

/* The line, whole, or it is counted as dropped. */
static void write_line(int fd, size_t n, const char *what, int slot)
{
	ssize_t w;

	if (would_block(fd)) {
		count_drop(EAGAIN, what, slot);
		return;
	}
	do
		w = write(fd, sink.line, n);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)n)
		count_drop(w < 0 ? errno : 0, what, slot);
}

void logline_master(const char *msg, size_t len)
{
	size_t n = format(-1, getpid(), "master", msg, len);

	logring_add(LOGRING_MASTER, getpid(), 0, msg, len);
	write_line(STDERR_FILENO, n, "stderr", -1);
	if (sink.master_fd >= 0)
		write_line(sink.master_fd, n, "cluster-run.log", -1);
}

void logline_on_drops(void (*hook)(void *data), void *data)
{
	dropped.hook = hook;
	dropped.hook_data = data;
	if (dropped.unsaid && !dropped.asked) {
		dropped.asked = 1;
		hook(data);
	}
}

int64_t logline_drops_warning_in_ms(void)
{
	int64_t due = dropped.warned_ms < 0 ? 0 : dropped.warned_ms + DROP_WARN_MS - mono_ms();

	return due > 0 ? due : 0;
}

uint64_t logline_dropped(void)
{
	return dropped.total;
}

/* The slot's file, opened on first use; -1 when it cannot be. */
static int slot_fd(int slot)
{
	if (slot >= sink.nslot_fds) {
		int n = slot + 1, *grown = realloc(sink.slot_fds, (size_t)n * sizeof(*grown));
		if (!grown)
			return -1;
		while (sink.nslot_fds < n)
			grown[sink.nslot_fds++] = -1;
		sink.slot_fds = grown;
	}
	if (sink.slot_fds[slot] < 0) {
		char name[64];

		snprintf(name, sizeof(name), "worker-%d.log", slot);
		sink.slot_fds[slot] = open_log(name);
	}
	return sink.slot_fds[slot];
}

void logline_worker(int slot, pid_t pid, enum log_stream stream, const char *line, size_t len)
{
	size_t n = format(slot, pid, stream == LOG_STDOUT ? "stdout" : "stderr", line, len);
	int fd = sink.dir ? slot_fd(slot) : -1;

	logring_add(slot, pid, (int)stream, line, len);
	if (fd >= 0)
		write_line(fd, n, NULL, slot);
	else
		write_line((int)stream, n, stream == LOG_STDOUT ? "stdout" : "stderr", -1);
}

void logline_reopen(void)
{
	int i;

	if (!sink.dir)
		return;
	if (sink.master_fd >= 0) {
		close(sink.master_fd);
		sink.master_fd = open_log("cluster-run.log");
	}
	for (i = 0; i < sink.nslot_fds; i++)
		if (sink.slot_fds[i] >= 0) {
			close(sink.slot_fds[i]);
			sink.slot_fds[i] = -1;  /* reopened by the next line */
		}
	logline_master("log files reopened (USR1)", strlen("log files reopened (USR1)"));
}

/* Only the total: the lines not yet warned about were counted in it, and
 * the warning they wait for was the old image's timer (a new one comes
 * with the next drop).  The files reopen by name in the new image. */
int logline_save(struct state_out *o)
{
	state_rec(o, "logline_drops");
	state_u64(o, "total", dropped.total);
	return 0;
}

int logline_restore(const struct state_in *in)
{
	const struct state_rec *r = state_first(in, "logline_drops");

	if (r)
		dropped.total += rec_u64(r, "total", 0);
	return 0;
}
