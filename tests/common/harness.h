/*
 * harness.h - what every test needs to drive cluster-run from outside, as a
 * user would: start it, learn its port from the line it prints, talk to it
 * as a client, signal it, and make sure nothing it started outlives the
 * test (harness_cleanup runs as every suite's .fini, even after a failed
 * assertion).
 */
#ifndef TESTS_HARNESS_H
#define TESTS_HARNESS_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#define LOG_CAP 65536

struct cr {
	pid_t pid;
	int err_fd;             /* read end of cluster-run's stderr */
	char log[LOG_CAP];      /* everything it wrote to stderr so far */
	size_t loglen;
	int status;             /* wait status once it exited, else -1 */
};

/* Paths from the environment meson sets (CLUSTER_RUN, HELPERS_DIR). */
const char *cluster_run_path(void);
const char *helper(const char *name);
/* cluster-ctl: $CLUSTER_CTL, else next to cluster-run. */
const char *cluster_ctl_path(void);

/* When >= 0, cr_start runs cluster-run as this uid (and gid), from root. */
extern int harness_run_as_uid;

/* Start "cluster-run ARGS..." (NULL-terminated); stdout goes to /dev/null
 * unless out_path is given.  Aborts the test on failure. */
struct cr *cr_start(const char *out_path, const char *arg, ...);
struct cr *cr_startv(const char *out_path, const char *const *argv);
/* The same, run as "BEFORE... cluster-run ARGV..." (NULL-terminated
 * BEFORE: a program that execs cluster-run, like systemd-socket-activate;
 * cr->pid is then cluster-run's once it has exec'd). */
struct cr *cr_start_under(const char *const *before, const char *out_path,
			  const char *const *argv);
/* Wait until stderr contains needle (or the process exits, or timeout).
 * Returns a pointer into cr->log, or NULL. */
const char *cr_wait_line(struct cr *cr, const char *needle, int timeout_ms);
/* Wait until needle occurs at least n times in its stderr (or it exits,
 * or timeout).  Whether it did. */
int cr_wait_count(struct cr *cr, const char *needle, int n, int timeout_ms);
/* For wait_until(cr_have_workers, &w, ms): exactly `want` live children
 * of cr, one in each slot 0..want-1 (their CLUSTER_WORKER_ID), none of
 * them among old[0..nold) when old is set.  slot_pid gets each slot's. */
struct cr_workers {
	struct cr *cr;
	int want;
	const pid_t *old;
	int nold;
	pid_t slot_pid[16];     /* out */
};
int cr_have_workers(void *arg);
/* Wait for the n-th (from 0) "ADDR:PORT (tcp)" announcement; its port. */
int cr_port(struct cr *cr, int n, int timeout_ms);
/* cr_port(cr, n, ...) and then the "N workers listening" line: from then
 * on every worker takes connections.  Returns the port or -1. */
int cr_ready_port(struct cr *cr, int n, int timeout_ms);
/* Wait for the exit; the wait status, or -1 on timeout. */
int cr_wait_exit(struct cr *cr, int timeout_ms);
/* Send sig, wait; wait status or -1 on timeout (then SIGKILL). */
int cr_stop(struct cr *cr, int sig, int timeout_ms);
/* Pids of cluster-run's live children (its workers), up to max. */
int cr_children(struct cr *cr, pid_t *pids, int max);
/* Kill everything started by this test process. */
void harness_cleanup(void);

/* host:port (IPv4, or IPv6 when host has a ':') into ss; its length. */
socklen_t sockaddr_of(const char *host, int port, struct sockaddr_storage *ss);
/* A connected TCP socket (non-blocking), or -1 with errno. */
int tcp_connect(const char *host, int port, int timeout_ms);
/* Whether anything still accepts connections on 127.0.0.1:port.  (Not
 * port_free: the TIME_WAIT left by requests keeps a program's port from
 * being bound again without SO_REUSEADDR.) */
int port_accepts(int port);
/* Send req on a fresh connection; read the answer into buf (NUL-ended)
 * until EOF, or until `until` appears when it is not NULL (then an EOF or
 * a full buffer first is EPROTO).  Its length, or -1 with errno. */
/* Read fd's answer into buf (NUL-ended) until `until` is in it, or, when
 * until is NULL, until EOF or a full buf; stop at deadline (now_ms()).
 * Its length, or -1 with errno (ETIMEDOUT; EPROTO: ended before until). */
int recv_answer(int fd, char *buf, size_t cap, const char *until, long deadline);
int tcp_request(const char *host, int port, const char *req, char *buf, size_t cap,
		const char *until, int timeout_ms);
/* One HTTP/1.0 request; the whole response into buf (NUL-terminated).
 * Returns its length, or -1 (errno) on connect/reset/timeout. */
int http_get(const char *host, int port, char *buf, size_t cap, int timeout_ms);
/* Value of "key=value" in a helper's response body (or NULL). */
const char *body_value(const char *resp, const char *key, char *out, size_t cap);
/* The worker id a response names (X-Worker header), or -1. */
int response_worker(const char *resp);
/* A TCP port on 127.0.0.1 that is free now (for programs that cannot
 * bind 0, or tests that must know the port before anything listens). */
int free_port(void);
/* Whether 127.0.0.1:port (or ::1 when v6) can be bound now. */
int port_free(int port, int v6);
/* Poll f() every 20 ms until it returns non-zero or timeout_ms passes. */
int wait_until(int (*f)(void *), void *arg, int timeout_ms);
int pid_alive(pid_t pid);
/* The state letter of /proc/PID/stat ('R', 'S', 'Z'...), 0 when gone. */
char proc_state(pid_t pid);

/* A program run to its end, its output captured. */
struct run {
	int status;             /* wait status, or -1: killed at the deadline */
	long ms;                /* how long it ran */
	char out[16384];
	char err[16384];
};
/* Run argv (argv[0] a path) for at most timeout_ms, then SIGKILL.  setup,
 * when given, runs in the child just before exec (set an env variable,
 * drop privileges...); it returns -1 to give up. */
void run_capture(struct run *r, const char *const *argv, int timeout_ms,
		 int (*setup)(void *), void *arg);
/* cluster-ctl -s sock WORDS... (NULL-terminated, at most 12), at most 60 s. */
void ctl_run(struct run *r, const char *sock, ...);
/* A run's exit status, or -1 (killed, or by a signal). */
int run_code(const struct run *r);
/* The integer value of "key": in json (the first one), or -1. */
long json_num(const char *json, const char *key);
/* Whether a program of that name is on PATH. */
int have_program(const char *name);
void sleep_ms(int ms);
long now_ms(void);
/* How many times needle occurs in hay. */
int count_of(const char *hay, const char *needle);
/* Whether pid is among the n in pids. */
int pid_in(const pid_t *pids, int n, pid_t pid);
/* CLUSTER_WORKER_ID in a process's initial environment, or -1. */
int proc_worker_id(pid_t pid);
/* How many fds pid has open (only those numbered below `below` when it is
 * above 0); *highest, when asked, gets the highest number.  -1 when
 * /proc/PID/fd cannot be read. */
int proc_fds(pid_t pid, int below, int *highest);
/* Up to cap-1 bytes of the file at path into buf, NUL-ended; the bytes
 * read, or -1 (buf "") when it cannot be opened. */
long read_file(const char *path, char *buf, size_t cap);
/* Whether pid's environment (as it is now, /proc/PID/environ read into
 * buf) has NAME=: 1 (and *value, when asked, points at the value in
 * buf), 0 when it has not, -1 when it cannot be read. */
int proc_env(pid_t pid, const char *name, char *buf, size_t cap, const char **value);
/* One GET; the slot (X-Worker) and pid= of the answer.  0, or -1. */
int request_worker(int port, int *slot, pid_t *pid, int timeout_ms);

/* A bounded background load: `clients` threads doing connection-per-request
 * GETs until load_stop().  Counts successes, failures, and per worker. */
struct load;
struct load *load_start(int port, int clients);
/* The same, each request given timeout_ms (load_start: 5000) before it
 * counts as failed. */
struct load *load_start_timeout(int port, int clients, int timeout_ms);
void load_stop(struct load *l, long *ok, long *failed, long per_worker[16]);
long load_ok_so_far(struct load *l);
/* Until l has answered `more` requests beyond what it had, or timeout_ms. */
void load_wait_more(struct load *l, long more, int timeout_ms);
/* Answers that named worker (X-Worker) so far. */
long load_worker_so_far(struct load *l, int worker);
long load_failed_so_far(struct load *l);

#endif
