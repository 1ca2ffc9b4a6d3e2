/*
 * top.c - cluster-ctl top: the cluster live in a terminal, a frame a
 * second, from the master's status --json (the frame itself:
 * top_view.c).  Plain ANSI escapes, no curses: the alternate screen,
 * cursor home, clear to end of line.  Keys in raw mode: r reload, + and -
 * one worker more or less (scale), q quit.  The terminal is put back as
 * it was on every way out: q, ^C, TERM, HUP, and ^Z (restored while
 * stopped, raw again on SIGCONT).  Signal handlers only set flags.
 *
 * For a pipe: --once prints one plain frame, --json the status document
 * with the computed rates; both take two samples --interval apart (1 s,
 * 0 for a single sample and no rates) because a rate needs two.
 *
 * Each sample is one connection to the control socket, as cluster-ctl
 * status --json makes; nothing is held open between frames.
 */
#include "surface/top.h"
#include "surface/top_view.h"
#include "base/buf.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_TIMEOUT_MS 5000
#define MESSAGE_SHOWN_S 5.0

struct top {
	const char *path;
	int once, json;
	double interval;
	struct termios saved;   /* the terminal as we found it */
	int raw;                /* saved is to be put back */
	char message[160];      /* the last key's outcome, shown a while */
	double message_at;
};

static volatile sig_atomic_t got_quit, got_stop, got_cont, got_winch;

static void on_signal(int sig)
{
	if (sig == SIGTSTP)
		got_stop = 1;
	else if (sig == SIGCONT)
		got_cont = 1;
	else if (sig == SIGWINCH)
		got_winch = 1;
	else
		got_quit = sig;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int top_check_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		char *end;
		double s;

		if (!strcmp(argv[i], "--once") || !strcmp(argv[i], "--json"))
			continue;
		if (strcmp(argv[i], "--interval") || i + 1 == argc) {
			fprintf(stderr, "cluster-ctl: top takes --once, --json and --interval SECONDS, "
				"not '%s'\n", argv[i]);
			return 2;
		}
		s = strtod(argv[++i], &end);
		if (*end || end == argv[i] || !(s >= 0) || s > 3600) {
			fprintf(stderr, "cluster-ctl: --interval takes seconds from 0 to 3600, "
				"not '%s'\n", argv[i]);
			return 2;
		}
	}
	return 0;
}

/* One command to the master, its whole answer into *out (malloc'd,
 * NUL-ended): 0 when it said ok (*out is the body), 1 when it said
 * error (*out is its line), -1 when it cannot be reached or did not
 * answer in time (errno). */
static int request(const char *path, const char *line, char **out)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct buf b = { 0 };
	double deadline = mono_s() + REQUEST_TIMEOUT_MS / 1000.0;
	int fd, r = -1;
	char chunk[4096];

	*out = NULL;
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0 ||
	    send(fd, line, strlen(line), MSG_NOSIGNAL) < 0)
		goto out;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)((deadline - mono_s()) * 1000);
		ssize_t n;

		if (left <= 0) {
			errno = ETIMEDOUT;
			goto out;
		}
		if (poll(&p, 1, left) < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		if ((n = read(fd, chunk, sizeof(chunk))) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			goto out;
		}
		if (n == 0)
			break;
		buf_printf(&b, "%.*s", (int)n, chunk);
	}
	if (!b.data || (strncmp(b.data, "ok\n", 3) && strncmp(b.data, "error", 5))) {
		errno = EPROTO;
		goto out;
	}
	r = strncmp(b.data, "ok\n", 3) ? 1 : 0;
	if (r == 0)
		memmove(b.data, b.data + 3, b.len - 2);
	*out = b.data;
	b.data = NULL;
out:
	free(b.data);
	close(fd);
	return r;
}

/* A sample of status --json: 0, or -1 with why in err (one line). */
static int take_sample(struct top *t, struct top_sample *s, char *err, size_t cap)
{
	char *text;
	int r = request(t->path, "status --json\n", &text);

	if (r < 0) {
		snprintf(err, cap, "cannot read status from cluster-run at %s: %s", t->path,
			 strerror(errno));
		return -1;
	}
	if (r > 0) {
		snprintf(err, cap, "%.*s", (int)strcspn(text, "\n"), text);
		free(text);
		return -1;
	}
	if (top_sample_set(s, text, mono_s()) < 0) {
		top_sample_free(s);
		snprintf(err, cap, "cluster-run's status is not the JSON expected");
		return -1;
	}
	return 0;
}

/* --once, --json: one frame to stdout. */
static int plain(struct top *t)
{
	struct top_sample a, b;
	struct buf out = { 0 };
	int have_prev = 0;
	char err[256];

	if (take_sample(t, &a, err, sizeof(err)) < 0) {
		fprintf(stderr, "cluster-ctl: %s\n", err);
		return 1;
	}
	if (t->interval > 0) {
		struct timespec ts = { (time_t)t->interval,
				       (long)((t->interval - (double)(time_t)t->interval) * 1e9) };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		if (take_sample(t, &b, err, sizeof(err)) < 0) {
			fprintf(stderr, "cluster-ctl: %s\n", err);
			top_sample_free(&a);
			return 1;
		}
		have_prev = 1;
	}
	if (t->json)
		top_view_json(&out, have_prev ? &b : &a, have_prev ? &a : NULL);
	else
		top_view_text(&out, have_prev ? &b : &a, have_prev ? &a : NULL);
	top_sample_free(&a);
	if (have_prev)
		top_sample_free(&b);
	if (!out.data) {
		fprintf(stderr, "cluster-ctl: out of memory\n");
		return 1;
	}
	fwrite(out.data, 1, out.len, stdout);
	free(out.data);
	return fflush(stdout) == 0 ? 0 : 1;
}

static void put(const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t w = write(STDOUT_FILENO, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void terminal_raw(struct top *t)
{
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
		struct termios raw = t->saved;

		/* keys one at a time, unechoed; ISIG stays: ^C and ^Z still signal */
		raw.c_lflag &= (tcflag_t)~(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0)
			t->raw = 1;
	}
	put("\033[?1049h\033[?25l");    /* alternate screen, cursor hidden */
}

static void terminal_restore(struct top *t)
{
	put("\033[?25h\033[?1049l");
	if (t->raw)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &t->saved);
	t->raw = 0;
}

/* The frame, each line cut to the terminal's width (a wrapped line
 * would scroll the screen), then the keys and the last message. */
static void draw(struct top *t, const struct buf *frame)
{
	struct winsize ws = { 0 };
	struct buf out = { 0 };
	const char *p = frame->data ? frame->data : "";
	int cols = 80, rows = 24, row = 0;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col)
		cols = ws.ws_col, rows = ws.ws_row;
	buf_printf(&out, "\033[H");
	while (*p && row < rows - 2) {
		size_t n = strcspn(p, "\n");

		buf_printf(&out, "%.*s\033[K\r\n", (int)(n < (size_t)cols ? n : (size_t)cols), p);
		p += n + (p[n] == '\n');
		row++;
	}
	buf_printf(&out, "\033[K\r\n\033[7m r reload  + one more  - one less  q quit \033[0m %.*s\033[K\033[J",
		   cols > 44 ? cols - 44 : 0,
		   mono_s() - t->message_at < MESSAGE_SHOWN_S ? t->message : "");
	if (out.data)
		put(out.data);
	free(out.data);
}

/* A key's command: its answer (first line) becomes the message. */
static void command(struct top *t, const char *line)
{
	char *ans;
	int r = request(t->path, line, &ans);

	if (r < 0)
		snprintf(t->message, sizeof(t->message), "%.*s: %s", (int)strcspn(line, "\n"),
			 line, strerror(errno));
	else
		snprintf(t->message, sizeof(t->message), "%.*s", (int)strcspn(ans, "\n"), ans);
	t->message_at = mono_s();
	free(ans);
}

static int target_of(const struct top_sample *s)
{
	return (int)json_number(&s->doc, json_get(&s->doc, 0, "target"), 0);
}

/* One key; whether to quit. */
static int key(struct top *t, char k, const struct top_sample *now)
{
	char line[64];
	int n = now->text ? target_of(now) : 0;

	switch (k) {
	case 'q':
	case 'Q':
		return 1;
	case 'r':
	case 'R':
		command(t, "reload\n");
		break;
	case '+':
	case '-':
		if (n < 1 || (k == '-' && n == 1)) {
			snprintf(t->message, sizeof(t->message), "scale: %s",
				 n < 1 ? "no status yet" : "one worker is the least");
			t->message_at = mono_s();
			break;
		}
		snprintf(line, sizeof(line), "scale %d\n", k == '+' ? n + 1 : n - 1);
		command(t, line);
		break;
	}
	return 0;
}

static void handle(int sig, void (*fn)(int))
{
	struct sigaction sa = { .sa_handler = fn };

	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* ^Z: the terminal back as it was while we are stopped. */
static void suspend(struct top *t)
{
	got_stop = 0;
	terminal_restore(t);
	handle(SIGTSTP, SIG_DFL);
	raise(SIGTSTP);
	/* here again after SIGCONT */
	handle(SIGTSTP, on_signal);
	terminal_raw(t);
}

static int interactive(struct top *t)
{
	struct top_sample now = { 0 }, prev = { 0 };
	int status = 0, quit = 0, keys = 1;
	char err[256] = "";

	handle(SIGINT, on_signal);
	handle(SIGTERM, on_signal);
	handle(SIGHUP, on_signal);
	handle(SIGQUIT, on_signal);
	handle(SIGTSTP, on_signal);
	handle(SIGCONT, on_signal);
	handle(SIGWINCH, on_signal);
	terminal_raw(t);
	while (!quit && !got_quit) {
		struct buf frame = { 0 };
		double next = mono_s() + t->interval;

		top_sample_free(&prev);
		prev = now;
		memset(&now, 0, sizeof(now));
		if (take_sample(t, &now, err, sizeof(err)) < 0) {
			status = 1;
			break;
		}
		top_view_text(&frame, &now, prev.text ? &prev : NULL);
		draw(t, &frame);
		free(frame.data);
		while (!quit && !got_quit && mono_s() < next) {
			/* fd -1: poll only waits (stdin at its end) */
			struct pollfd p = { .fd = keys ? STDIN_FILENO : -1, .events = POLLIN };
			char k;

			if (got_stop)
				suspend(t);
			if (got_cont || got_winch) {
				got_cont = got_winch = 0;
				break;          /* redraw now */
			}
			if (poll(&p, 1, (int)((next - mono_s()) * 1000) + 1) <= 0)
				continue;
			if (read(STDIN_FILENO, &k, 1) != 1) {
				keys = isatty(STDIN_FILENO);    /* not a terminal: no more keys */
				continue;
			}
			quit = key(t, k, &now);
			if (!quit && strchr("rR+-", k))
				break;          /* show what the key did at once */
		}
	}
	terminal_restore(t);
	if (status)
		fprintf(stderr, "cluster-ctl: %s\n", err);
	top_sample_free(&prev);
	top_sample_free(&now);
	if (got_quit && got_quit != SIGINT) {
		/* die of it, as without us, now the terminal is back */
		handle(got_quit, SIG_DFL);
		raise(got_quit);
	}
	return status;
}

int top_main(const char *path, int argc, char **argv)
{
	struct top t = { .path = path, .interval = 1.0 };
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--once"))
			t.once = 1;
		else if (!strcmp(argv[i], "--json"))
			t.json = 1;
		else if (!strcmp(argv[i], "--interval"))
			t.interval = strtod(argv[++i], NULL);   /* top_check_args checked it */
	}
	if (t.once || t.json)
		return plain(&t);
	if (!isatty(STDOUT_FILENO)) {
		fprintf(stderr, "cluster-ctl: top needs a terminal; use top --once or top --json "
			"in a pipe\n");
		return 2;
	}
	if (t.interval < 0.1)
		t.interval = 0.1;
	return interactive(&t);
}
