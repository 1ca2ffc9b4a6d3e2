/*
 * logring.c - each slot's recent output in memory (see logring.h).
 *
 * One ring per slot (and one for the master's own lines), made on the
 * slot's first line, so a cluster of quiet workers costs nothing.  A ring
 * keeps at most `lines` lines and LOGRING_SLOT_BYTES of their text: the
 * oldest go first, so memory stays bounded whatever a program prints
 * (at most lines * sizeof(struct logring_line) + LOGRING_SLOT_BYTES per
 * slot; output.c cuts lines at 4 KiB).  The ring belongs to the slot,
 * not to a worker: a restarted worker's lines follow its predecessor's,
 * each tagged with the pid that wrote it.
 *
 * Not here: formatting for cluster-ctl (surface/logs.c), writing lines
 * out (logline.c).
 */
#include "base/logring.h"
#include "base/state.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ring {
	struct logring_line *line;      /* `cap` entries, a circle */
	size_t cap, head, count;        /* head: the oldest */
	size_t bytes;
};

static struct {
	unsigned lines;
	uint64_t seq;
	struct ring **rings;            /* index slot + 1; NULL until used */
	int nrings;
	void (*listener)(const struct logring_line *, void *);
	void *listener_data;
} lr;

void logring_configure(unsigned lines)
{
	lr.lines = lines > LOGRING_MAX_LINES ? LOGRING_MAX_LINES : lines;
}

unsigned logring_lines(void)
{
	return lr.lines;
}

void logring_on_line(void (*fn)(const struct logring_line *, void *), void *data)
{
	lr.listener = fn;
	lr.listener_data = data;
}

static struct ring *ring_of(int slot, int make)
{
	int i = slot + 1;

	if (i < 0)
		return NULL;
	if (i >= lr.nrings) {
		struct ring **grown;

		if (!make)
			return NULL;
		grown = realloc(lr.rings, (size_t)(i + 1) * sizeof(*grown));
		if (!grown)
			return NULL;
		memset(grown + lr.nrings, 0, (size_t)(i + 1 - lr.nrings) * sizeof(*grown));
		lr.rings = grown;
		lr.nrings = i + 1;
	}
	if (!lr.rings[i] && make) {
		struct ring *r = calloc(1, sizeof(*r));

		if (!r || !(r->line = calloc(lr.lines, sizeof(*r->line)))) {
			free(r);
			return NULL;
		}
		r->cap = lr.lines;
		lr.rings[i] = r;
	}
	return lr.rings[i];
}

static void drop_oldest(struct ring *r)
{
	struct logring_line *l = &r->line[r->head];

	r->bytes -= l->len;
	free(l->text);
	l->text = NULL;
	r->head = (r->head + 1) % r->cap;
	r->count--;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A line into slot's ring, the oldest going to make room; NULL when it
 * cannot be stored (out of memory). */
static struct logring_line *store(int slot, pid_t pid, int stream, const char *text, size_t len,
				  uint64_t seq, int64_t time_ms)
{
	struct logring_line *l;
	struct ring *r;
	char *copy;

	if (len > LOGRING_SLOT_BYTES)
		len = LOGRING_SLOT_BYTES;
	r = ring_of(slot, 1);
	if (!r || !(copy = malloc(len ? len : 1)))
		return NULL;
	memcpy(copy, text, len);
	while (r->count && (r->count == r->cap || r->bytes + len > LOGRING_SLOT_BYTES))
		drop_oldest(r);
	l = &r->line[(r->head + r->count) % r->cap];
	l->seq = seq;
	l->time_ms = time_ms;
	l->slot = slot;
	l->pid = pid;
	l->stream = stream;
	l->len = len;
	l->text = copy;
	r->count++;
	r->bytes += len;
	return l;
}

void logring_add(int slot, pid_t pid, int stream, const char *text, size_t len)
{
	struct logring_line *l;

	if (!lr.lines)
		return;
	l = store(slot, pid, stream, text, len, lr.seq + 1, wall_ms());
	if (!l)
		return;
	lr.seq++;
	/* last: the listener may write to clients, never back into us (it
	 * must not log: that would add a line while this one is added) */
	if (lr.listener)
		lr.listener(l, lr.listener_data);
}

/* The k-th line from the newest (0: the newest) of r. */
static const struct logring_line *nth_newest(const struct ring *r, size_t k)
{
	return &r->line[(r->head + r->count - 1 - k) % r->cap];
}

size_t logring_last(int slot, size_t n, void (*fn)(const struct logring_line *, void *),
		    void *data)
{
	size_t *taken, total = 0, i, k;
	const struct logring_line **pick;

	if (slot != LOGRING_ALL) {
		struct ring *r = ring_of(slot, 0);

		if (!r)
			return 0;
		if (n > r->count)
			n = r->count;
		for (k = n; k > 0; k--)
			fn(nth_newest(r, k - 1), data);
		return n;
	}
	/* every ring: walk back from the newest ends, the newest first each
	 * time, n times (O(n * rings): n is bounded by the caller) */
	taken = calloc((size_t)lr.nrings + 1, sizeof(*taken));
	pick = calloc(n + 1, sizeof(*pick));
	if (!taken || !pick)
		goto out;
	while (total < n) {
		const struct logring_line *best = NULL;
		int bi = -1, ri;

		for (ri = 0; ri < lr.nrings; ri++) {
			const struct ring *r = lr.rings[ri];
			const struct logring_line *l;

			if (!r || taken[ri] >= r->count)
				continue;
			l = nth_newest(r, taken[ri]);
			if (!best || l->seq > best->seq) {
				best = l;
				bi = ri;
			}
		}
		if (!best)
			break;
		taken[bi]++;
		pick[total++] = best;
	}
	for (i = total; i > 0; i--)
		fn(pick[i - 1], data);
out:
	free(taken);
	free(pick);
	return total;
}

/* The rings as records, one "logline" per line, each ring oldest first
 * (so restoring them in the order read rebuilds each ring as it was).
 * Up to LOGRING_SLOT_BYTES of text per slot, escaped: a few MiB for a
 * large chatty cluster, once per upgrade. */
int logring_save(struct cluster *c, struct state_out *o)
{
	int ri;
	size_t k;

	(void)c;
	state_rec(o, "logring");
	state_u64(o, "seq", lr.seq);
	for (ri = 0; ri < lr.nrings; ri++) {
		const struct ring *r = lr.rings[ri];

		for (k = 0; r && k < r->count; k++) {
			const struct logring_line *l = &r->line[(r->head + k) % r->cap];

			state_rec(o, "logline");
			state_i64(o, "slot", l->slot);
			state_i64(o, "pid", l->pid);
			state_i64(o, "stream", l->stream);
			state_u64(o, "seq", l->seq);
			state_i64(o, "time", l->time_ms);
			state_bytes(o, "text", l->text, l->len);
		}
	}
	return 0;
}

/* The old image's lines go first; the lines this image has kept since it
 * started (its own messages while adopting) go after them, renumbered
 * past the old counter, so logs shows one history in its order.  Nothing
 * here fails the upgrade: a line that cannot be stored (out of memory,
 * a ring smaller under --log-lines of another build) is left out, as
 * logring_add leaves one out. */
int logring_restore(struct cluster *c, const struct state_in *in)
{
	struct ring **mine = lr.rings;
	int nmine = lr.nrings, ri;
	const struct state_rec *rec = state_first(in, "logring");
	uint64_t base = rec ? rec_u64(rec, "seq", 0) : 0, top = base;
	char *text = NULL;

	(void)c;
	lr.rings = NULL;
	lr.nrings = 0;
	if (lr.lines && (text = malloc(LOGRING_SLOT_BYTES)))
		for (rec = state_first(in, "logline"); rec; rec = state_next(rec)) {
			long n = rec_bytes(rec, "text", text, LOGRING_SLOT_BYTES);
			uint64_t seq = rec_u64(rec, "seq", 0);
			int64_t slot = rec_i64(rec, "slot", LOGRING_MASTER - 1);

			if (n < 0 || slot < LOGRING_MASTER || slot > 1 << 20)
				continue;
			store((int)slot, (pid_t)rec_i64(rec, "pid", 0),
			      (int)rec_i64(rec, "stream", 0), text, (size_t)n, seq,
			      rec_i64(rec, "time", 0));
			if (seq > top)
				top = seq;
		}
	free(text);
	/* then this image's own, in their order (seq: the rings are merged
	 * by it) */
	for (;;) {
		struct logring_line *next = NULL;
		struct ring *from = NULL;

		for (ri = 0; ri < nmine; ri++) {
			struct ring *r = mine[ri];

			if (r && r->count && (!next || r->line[r->head].seq < next->seq)) {
				next = &r->line[r->head];
				from = r;
			}
		}
		if (!next)
			break;
		store(next->slot, next->pid, next->stream, next->text, next->len,
		      top + next->seq, next->time_ms);
		drop_oldest(from);
	}
	lr.seq += top;
	for (ri = 0; ri < nmine; ri++) {
		if (!mine[ri])
			continue;
		free(mine[ri]->line);   /* emptied above */
		free(mine[ri]);
	}
	free(mine);
	return 0;
}

uint64_t logring_seq(void)
{
	return lr.seq;
}

void logring_clear(void)
{
	int ri;

	for (ri = 0; ri < lr.nrings; ri++) {
		struct ring *r = lr.rings[ri];

		while (r && r->count)
			drop_oldest(r);
		if (r)
			free(r->line);
		free(r);
	}
	free(lr.rings);
	lr.rings = NULL;
	lr.nrings = 0;
	lr.seq = 0;
}
