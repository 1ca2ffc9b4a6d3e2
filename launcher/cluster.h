/*
 * cluster.h - the master's state, in a few named structs passed explicitly.
 *
 *   struct cluster   everything: options, the loop, listeners, workers, slots
 *   struct listener  one address the master bound, kept for its whole life
 *   struct worker    one running copy of PROGRAM (a process group)
 *   struct route     what one worker is to one listener: bound? listening?
 *                    its channel (rr, leastconn) and connection counts
 *   struct slot      a stable worker position (CLUSTER_WORKER_ID): restart
 *                    history survives the workers that fill it
 *
 * Modules, one job each:
 *   listener.c   the registry: find or bind an address, announce it
 *   sockets.c    open a listening socket as the program would have
 *   policy_*.c   one file per policy behind struct policy_ops (policy.h)
 *   socket_file.c  a unix socket's file: chown under --user, remove at exit
 *   balancer.c   the channel policies' machinery: hand accepted
 *                connections to workers, back-pressure, taking back what
 *                a worker did not accept
 *   fd_short.c   a worker out of fds gets no connections until it has some
 *   board.c      the page each worker shares with the master: counts, drain
 *   census.c     which accepted connections a worker's processes still hold
 *   worker.c     a worker's process and its messages to the master
 *   spawn.c      fork/exec of one worker process
 *   slots.c      the slot state machine: restarts, replacing a slot's
 *                worker, stop
 *   slots_scale.c  scaling up and down
 *   slots_recycle.c  replacing a worker health.c gives up on (recycled, hung)
 *   slots_state.c  the slots' part of an in-place upgrade
 *   rollout.c    reloads: which slots are replaced when (batches, a
 *                canary's pause, going back), and their progress
 *   release.c    what a worker runs: command line and environment
 *   retire.c     drain a worker, then stop it
 *   supervisor.c signals, reaping, the loop's before-sleep pass
 *   follow.c     orphans adopted as subreaper: following a worker that
 *                daemonizes, killing what a worker left behind
 *   output.c     workers' output through the master: whole lines (logline.c
 *                formats them: prefix, time, JSON, --log-dir files)
 *   health.c     recycling (memory, requests), hung workers, restart reasons
 *   accept_rate.c  accepts per second per worker, sampled once a second
 */
#ifndef LAUNCHER_CLUSTER_H
#define LAUNCHER_CLUSTER_H

#include "base/options.h"
#include "base/program.h"
#include "base/spawn.h"
#include "wire/protocol.h"

#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

struct loop;
struct output;
struct control;
struct lifecycle;
struct health;
struct sd_listen;
struct release;
struct rollout;
struct accept_rates;

/* A connection-scheduling policy: one table of operations, one file per
 * policy (policy/policy_*.c, listed in policy/policy.c).  Each listener
 * carries the table of its policy after fallbacks; the rest of the master
 * calls the table and never tests which policy it has. */
struct cluster;
struct worker;
struct listener;
struct conn;
struct policy_ops {
	const char *name;       /* -p NAME, and every line that names it */
	const char *help;       /* its line under Policies in --help */
	/* Capabilities: the rest of the master asks these, never the name. */
	int channel;            /* the master hands out connections (so not
				 * through seccomp, which never sees accept) */
	int pick_needs_peer;    /* pick() must see the connection (sticky) */
	int per_slot_sockets;   /* a socket per slot in l->slot_fds, the
				 * slot's index in a reuseport group */
	int takes_weights;      /* --weights steers its picks (weights.c) */
	int in_kernel;          /* a channel policy's variant steered by the
				 * reuseport group's BPF program (--steer
				 * kernel, and through seccomp): per-slot
				 * sockets, the master off the data path */
	const char *served_as;  /* said after "via M" in the start-up line
				 * when the policy is served by another's
				 * means (shared through seccomp), or NULL */

	/* The fd worker w's bind() of l gets (a channel end or a socket), or
	 * -1 with errno. */
	int (*attach)(struct cluster *c, struct worker *w, struct listener *l);
	/* Channel policies: who takes conn now, or NULL when nobody can (then
	 * the master stops accepting until a worker has room).  conn is NULL
	 * when the peer is not known yet (pick_needs_peer == 0 only).  *at is
	 * the worker's index in c->workers, for the rotation cursor. */
	struct worker *(*pick)(struct cluster *c, struct listener *l,
			       const struct conn *conn, unsigned *at);
	/* Stop giving w new connections from l.  give_back: hand what is
	 * already queued for w to other workers (a retirement); 0: leave it
	 * for w to finish (a stop, where nobody else will take it). */
	void (*drain)(struct cluster *c, struct worker *w, struct listener *l, int give_back);
	/* Connections of l still on their way to w (queued on its channel or
	 * its slot's socket, or being accepted right now).  A drained worker
	 * is stopped only once this is 0 everywhere. */
	unsigned (*pending)(struct cluster *c, struct worker *w, struct listener *l);
	/* The number of slots changed (c->target); may be NULL. */
	void (*slots_changed)(struct cluster *c, struct listener *l);
	/* w let go of l (closed it) or is gone; may be NULL. */
	void (*release)(struct cluster *c, struct worker *w, struct listener *l);
	/* Channel policies: the connection pick() chose w for was handed to
	 * w (a pick may go unused when no connection was waiting); may be
	 * NULL.  For state that must move only per real hand-over, like the
	 * rotation cursor (weights.c). */
	void (*handed)(struct cluster *c, struct listener *l, struct worker *w);
	/* Load-aware kernel variants: each slot's share of new connections
	 * (0: none) from each slot's load (open + queued; UINT64_MAX: no
	 * worker listens there), for slots 0..n-1.  Called on every refresh
	 * (policy_steer.c); may be NULL. */
	void (*reweigh)(struct cluster *c, struct listener *l, const uint64_t *load,
			unsigned *shares, int n);
};
struct census;

struct conn {                   /* an accepted connection not yet handed out */
	int fd;
	socklen_t peerlen;
	struct sockaddr_storage peer;
};

struct listener {
	struct cluster *c;
	uint32_t id;
	int fd;                         /* reuseport: slot 0's socket */
	int family;
	int type;                       /* SOCK_STREAM, SOCK_DGRAM */
	int protocol;
	int *slot_fds;                  /* reuseport: one socket per slot */
	int nslot_fds;
	uint32_t opts;                  /* BIND_OPT_* of the first binder */
	socklen_t reqlen;
	struct sockaddr_storage req;    /* as asked for: the registry key */
	socklen_t addrlen;
	struct sockaddr_storage addr;   /* as bound: the real port */
	const struct policy_ops *ops;   /* its policy, after fallbacks */
	int announced;                  /* its line was printed (first listen) */
	int registered;                 /* fd is in the loop (channel policies) */
	int kick;                       /* a worker started listening: dispatch */
	uint64_t again_timer;           /* dispatch more on the next turn */
	int watching;                   /* ... with EPOLLIN: accepting */
	unsigned cursor;                /* rotation position among workers */
	void *policy_data;              /* the policy's own, freed with the listener */
	struct conn *pending;           /* taken back or not yet handed: a ring */
	size_t npending, cappending, headpending;
	uint64_t accepted;
	int64_t emfile_until;           /* accept paused after EMFILE/ENFILE */
	int64_t emfile_logged;
	int syns_stopped;               /* a stop: its TCP sockets drop new SYNs
					 * and keep their queues (listener.c) */
	int inherited;                  /* l->fd is systemd's (LISTEN_FDS): it
					 * outlives us, filter and all */
	uint64_t *cut_reqs;             /* handshakes half done at the last cut */
	int ncut;                       /* (net/handshakes.c) */
	int64_t cut_deadline_ms, cut_settle_ms;
	char name[128];                 /* "127.0.0.1:8000", "/run/x.sock" */
};

struct route {
	struct worker *w;       /* back pointers, for channel events */
	uint32_t lid;
	int bound;              /* the worker holds this listener */
	int listening;          /* ... and called listen(): it may get conns */
	int given;              /* was ever given: port-0 binds match in order */
	int released;           /* ... to a client, which gave it back (connect) */
	int chan;               /* master end of the channel, or -1 */
	int chan_peer;          /* worker end, kept: see balancer.c */
	int full;               /* window full: waiting for EPOLLOUT */
	unsigned queued_hint;   /* upper bound of conns still queued on chan */
	uint64_t sent;          /* MSG_CONNs ever sent on this channel */
	uint64_t back;          /* ... and read back by the master */
	uint64_t handed;        /* connections sent over the channel */
	uint64_t closed;        /* ... reported closed one by one (no board) */
	int draining;           /* told to take no more (policy drain) */
	int drain_deferred;     /* take no more once the queue it accepts
				 * from is empty (reuseport scale-down, a
				 * stop: policy_shared.c) */
};

#define WORKER_SESSIONS 8

enum worker_state {
	W_STARTING,             /* spawned, not listening yet */
	W_READY,                /* listening */
	W_DRAINING,             /* retired: no new conns, waiting for its own */
	W_STOPPING,             /* stop signal sent, waiting for exit */
};

struct peer {                   /* one process of a worker talking to us */
	int fd;
	pid_t pid;
	struct worker *w;
};

struct worker {
	struct cluster *c;
	int slot;
	pid_t pid;                      /* its process: the one spawned, or the
					 * daemon it left and we follow (follow.c) */
	pid_t pgid;                     /* the process group its signals go to */
	pid_t spawned_pid;              /* the process we started */
	uint64_t serial;                /* names it for the whole run (follow.c) */
	unsigned long doorbell_ino;     /* inode of the doorbell's worker end: its
					 * processes hold it; 0 through seccomp */
	pid_t sessions[WORKER_SESSIONS]; /* through seccomp: sessions its processes
					 * made (setsid), a ring; follow.c */
	unsigned nsessions;
	int daemon_failed;              /* daemonized, left nothing that serves:
					 * its exit is a failed start (follow.c) */
	uint64_t follow_timer;          /* a followed daemon must listen by then */
	enum worker_state state;
	unsigned generation;            /* c->generation when it started */
	struct release *rel;            /* what it runs (release.c), held */
	int doorbell;                   /* master end */
	int notify_fd;                  /* --via seccomp: its filter's notify fd, or -1 */
	int64_t started_ms;
	int64_t drain_started;
	int ever_ready;
	int attached;                   /* some process talked to us */
	int misbehaved;                 /* killed for it: its messages are ignored */
	int heard_listen;               /* a listen() to act on before sleep */
	int stop_sig;                   /* what stops it once drained */
	unsigned long drain_quiet_seq;  /* retire.c: census good from this one */
	int idle_close_warned;          /* idle_close.c could not reach its fds */
	int64_t idle_swept_ms;          /* ... looked at its connections then */
	struct worker_board *board;     /* shared with its shim (board.c) */
	int board_fd;
	/* board.c: the kernel's TCP passive opens when the board was made,
	 * and what waited in the TCP listeners' queues then (UINT64_MAX:
	 * unknown): what bounds the accepts the board may claim */
	uint64_t accept_opens;
	uint64_t accept_queued;
	uint64_t drain_timer;
	uint64_t kill_timer;
	pid_t fds_short;                /* its process out of fds (fd_short.c), or 0 */
	uint64_t fds_short_timer;       /* ... looks again whether it has some */
	struct peer **peers;
	int npeers;
	struct peer doorbell_peer;      /* reports arriving on the doorbell */
	struct output *out;             /* --log-prefix */
	struct route routes[CLUSTER_MAX_LISTENERS];
};

enum slot_state {               /* see slots.c */
	SLOT_EMPTY,
	SLOT_BACKOFF,
	SLOT_STARTING,
	SLOT_ACTIVE,
	SLOT_REPLACING,
	SLOT_DRAINING,
	SLOT_STOPPING,
};

struct slot {
	struct cluster *c;
	int index;
	enum slot_state state;
	struct worker *active;          /* the worker serving (or starting in) it */
	struct worker *next;            /* REPLACING: its replacement, starting */
	struct release *rel;            /* what its restarts run (release.c), held */
	struct release *next_rel;       /* REPLACING: what its replacement runs */
	uint64_t timer;                 /* BACKOFF: restart; REPLACING: retry */
	uint64_t ready_timer;           /* REPLACING: --ready-timeout */
	int failures;                   /* consecutive exits before listening */
	int listen_failures;            /* ... as they were when its worker listened
					 * (a daemon left nothing to follow:
					 * no start after all, follow.c) */
	int backoff_step;
	int last_status;                /* wait status of the last exit */
	unsigned restarts;              /* workers started after the first */
	int ever_filled;
	/* --user: until when (loop ms) its workers may have the master bind
	 * a new address with the master's rights, once it listened (+
	 * SLOT_BINDS_SETTLE_MS) or took a connection (then); 0 before, when
	 * each worker has --ready-timeout from its start.  See attach.c. */
	int64_t binds_until;
};
/* A program that listens on several addresses binds the next one right
 * after listening on the first (nginx: bind, listen, bind, listen). */
#define SLOT_BINDS_SETTLE_MS 1000

/* News that travels up a layer at run time.  The lower layer calls the
 * hook when it is set; the layer that wants the news sets it once at start
 * (README, "Design: layers").  A hook is NULL when nobody listens. */
struct cluster_hooks {
	/* policy/balancer.c handed w a connection: health.c counts it for
	 * --max-requests. */
	void (*conn_handed)(struct cluster *c, struct worker *w);
	/* supervise/lifecycle.c: a reload finished (ok or not; text says
	 * how): control_wait.c answers the clients of `reload --wait`. */
	void (*reload_finished)(struct cluster *c, int ok, const char *text);
	/* supervise/rollout.c: a batch finished (text: its progress line),
	 * and a canary paused after its first batch: control_wait.c streams the
	 * line to the clients of `reload --wait`, and answers them at the
	 * pause. */
	void (*reload_progress)(struct cluster *c, const char *text);
	void (*reload_paused)(struct cluster *c);
	/* surface/reread.c: a reload reads its files (--config, --env-file)
	 * again before it starts (rollout.c): -1 refuses the reload (logged,
	 * and why, "FILE:LINE: ...", in why for the caller); 1 when the
	 * command or the environment they give changed since the last read
	 * (the new release starts from them), else 0 (it starts from the
	 * running release, which a `cluster-ctl reload -- PROGRAM` may have
	 * set). */
	int (*reread)(struct cluster *c, char *why, size_t len);
	/* mechanism/shim_peer.c: every process of w closed its doorbell, or
	 * w's main process closed its private channel: supervise/retire.c
	 * kills a stopping w that exec'd itself instead of exiting (uwsgi
	 * on TERM). */
	void (*doorbell_closed)(struct cluster *c, struct worker *w);
	/* supervise/supervisor.c: SIGUSR2 asks for an in-place upgrade:
	 * surface/upgrade.c starts one (to the binary started from). */
	void (*upgrade_requested)(struct cluster *c);
	/* surface/upgrade.c: an upgrade ended (ok or not; text says how),
	 * in whichever image runs then: control_wait.c answers the clients of
	 * `cluster-ctl upgrade` (carried across the exec). */
	void (*upgrade_finished)(struct cluster *c, int ok, const char *text);
};

struct cluster {
	struct options *opt;
	struct program *prog;
	struct loop *loop;
	char shim_path[4096];
	struct creds creds;             /* --user */
	struct rlimit nofile;           /* as we found it: given back to workers */

	struct listener *listeners[CLUSTER_MAX_LISTENERS];
	int nlisteners;

	struct worker **workers;        /* every live worker, any state */
	int nworkers;
	uint64_t spawned;               /* workers ever spawned: their serials */
	struct slot slots[MAX_WORKERS];
	int target;                     /* desired number of workers */

	unsigned generation;            /* bumped by each rolling restart */
	unsigned rolled;                /* ... the one every slot runs now */
	struct release *release;        /* what a rollout's new workers run */
	struct release *previous;       /* ... and what every slot ran when the
					 * unfinished rollout began (a canary's
					 * abort goes back to it), or NULL */
	struct rollout *rollout;        /* batches, canary, progress (rollout.c) */
	int roll_failed;                /* a replacement kept failing: slots.c
					 * marks, rollout.c ends the rollout */
	int roll_paused;                /* a canary waits: rollout continue/abort */
	int started_up;                 /* the first generation all listened */
	int start_failed;               /* ... or found an address held outside the
					 * cluster: stop (attach.c marks, slots.c acts) */
	int slots_dirty;                /* a slot changed: slots_step() */
	int stopping;                   /* stop requested: no restarts */
	int killed;                     /* SIGKILL already sent to all */
	int exit_status;
	int sigfd;
	uint64_t grace_timer;
	uint64_t quiet_timer;           /* warns when no worker ever binds */
	int64_t started_ms;
	struct control *control;        /* control socket and metrics (control.c) */
	struct lifecycle *life;         /* systemd, reload record, waiters (lifecycle.c) */
	struct sd_listen *inherited;    /* systemd's sockets (LISTEN_FDS): lifecycle.c's */
	struct health *health;          /* recycling, hangs, restart reasons (health.c) */
	struct cluster_hooks hooks;
	struct census *census;          /* the last snapshot, shared (census.c) */
	uint64_t idle_closed;           /* idle connections of draining workers
					 * shut (idle_close.c) */
	struct follow *follow;          /* processes adopted as subreaper (follow.c) */
	const struct proc_ops *procs;   /* NULL: the real spawn and kill (spawn.h) */
	struct accept_rates *rates;     /* accepts per second per worker (accept_rate.c) */
};


#endif
