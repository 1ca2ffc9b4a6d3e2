/*
 * state.h - the master's state as it crosses an in-place upgrade
 * (surface/upgrade.c): a versioned text file in a memfd, one record per
 * line, "KIND key=value key=value ...", read back by the new image.
 *
 * Why text with names, as systemd's daemon-reexec serialization: the new
 * binary is another build.  A record kind or key it does not know is
 * skipped; a key it knows that the old binary did not write keeps the
 * reader's default.  So a field is added by writing one more key, and
 * nothing is renumbered.  STATE_FORMAT changes only when a key changes
 * its meaning; a reader refuses a format newer than its own.
 *
 * Fds travel as numbers: the writer marks every fd it names (state_fd)
 * and the upgrade clears FD_CLOEXEC on exactly those before execve, so
 * the new image finds them at the same numbers.  Every fd not named is
 * closed by the exec.
 *
 * Values: integers in decimal, strings and byte strings %XX-escaped (no
 * space, '=', '%' or newline stays raw), fds as numbers.
 */
#ifndef LAUNCHER_BASE_STATE_H
#define LAUNCHER_BASE_STATE_H

#include <stddef.h>
#include <stdint.h>

#define STATE_FORMAT 1

struct state_out;
struct state_in;

/* --- writing --- */
/* The header line carries the format, version (the writer's
 * CLUSTER_RUN_VERSION) and the shim protocol its workers speak. */
struct state_out *state_out_new(const char *version, unsigned protocol);
void state_out_free(struct state_out *o);
/* Start a record of kind (a word: "worker", "listener"); every value
 * call until the next state_rec or state_out_finish goes into it. */
void state_rec(struct state_out *o, const char *kind);
void state_i64(struct state_out *o, const char *key, int64_t v);
void state_u64(struct state_out *o, const char *key, uint64_t v);
void state_str(struct state_out *o, const char *key, const char *s);   /* NULL: not written */
void state_bytes(struct state_out *o, const char *key, const void *p, size_t n);
/* An fd the new image keeps (-1: not written).  It is marked to cross the
 * exec; the same fd named twice is kept once. */
void state_fd(struct state_out *o, const char *key, int fd);
/* The fds marked so far, for the upgrade to clear FD_CLOEXEC on. */
const int *state_out_fds(const struct state_out *o, size_t *n);
/* The whole text, in a memfd (not close-on-exec), or -1 with errno;
 * -1 with ENOMEM too when some write above ran out of memory. */
int state_out_finish(struct state_out *o);

/* --- reading --- */
/* Read the whole state from fd (from its start; fd stays open); NULL with a reason in
 * why on a short read, a bad header or a format newer than ours. */
struct state_in *state_in_read(int fd, char *why, size_t len);
void state_in_free(struct state_in *in);
/* The header's values: the writer's version string and shim protocol. */
const char *state_in_version(const struct state_in *in);
unsigned state_in_protocol(const struct state_in *in);

/* Records of one kind, in the order written: for (r = state_first(in,
 * "worker"); r; r = state_next(r)). */
struct state_rec;
const struct state_rec *state_first(const struct state_in *in, const char *kind);
const struct state_rec *state_next(const struct state_rec *r);
/* A key's value, or def when the record has no such key (or it does not
 * parse).  rec_str returns the unescaped string (owned by the record) or
 * def; rec_bytes copies at most cap bytes and returns how many, or -1. */
int64_t rec_i64(const struct state_rec *r, const char *key, int64_t def);
uint64_t rec_u64(const struct state_rec *r, const char *key, uint64_t def);
const char *rec_str(const struct state_rec *r, const char *key, const char *def);
long rec_bytes(const struct state_rec *r, const char *key, void *buf, size_t cap);
/* An fd the old image kept: -1 when not written.  The reader takes it
 * (sets FD_CLOEXEC again: a later spawn must not leak it). */
int rec_fd(const struct state_rec *r, const char *key);
int rec_has(const struct state_rec *r, const char *key);
/* FD_CLOEXEC on (1) or off (0): off for the fds that cross the exec, on
 * again once taken (or when the exec failed).  0, or -1 with errno. */
int state_cloexec(int fd, int on);
/* key's bytes (at most max) as the content of b, which must be empty
 * (untouched when the record has no such key). */
struct buf;
void rec_buf(const struct state_rec *r, const char *key, struct buf *b, size_t max);

#endif
