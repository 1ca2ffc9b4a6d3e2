/*
 * state.c - the upgrade's state file: records of "key=value" words
 * (state.h says why text).
 */
#include "base/state.h"
#include "base/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#define STATE_MAGIC "cluster-run-state"

struct state_out {
	FILE *f;
	char *text;
	size_t len;
	int *fds;
	size_t nfds, capfds;
	unsigned char *seen;            /* a bit per fd number: named already */
	size_t capseen;
	int failed;
	int open;               /* a record was started: end it with '\n' */
};

struct kv {
	char *key;
	char *val;              /* unescaped in place */
	size_t vlen;
};

struct state_rec {
	const struct state_in *in;
	size_t index;
	char *kind;
	struct kv *kv;
	size_t nkv;
};

struct state_in {
	char *text;
	struct state_rec *recs;
	size_t nrecs;
	char version[64];
	unsigned protocol;
};

struct state_out *state_out_new(const char *version, unsigned protocol)
{
	struct state_out *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->f = open_memstream(&o->text, &o->len);
	if (!o->f) {
		free(o);
		return NULL;
	}
	fprintf(o->f, "%s %d", STATE_MAGIC, STATE_FORMAT);
	o->open = 1;
	state_str(o, "version", version);
	state_u64(o, "protocol", protocol);
	return o;
}

void state_out_free(struct state_out *o)
{
	if (!o)
		return;
	if (o->f)
		fclose(o->f);
	free(o->text);
	free(o->fds);
	free(o->seen);
	free(o);
}

void state_rec(struct state_out *o, const char *kind)
{
	if (o->open)
		fputc('\n', o->f);
	fputs(kind, o->f);
	o->open = 1;
}

void state_i64(struct state_out *o, const char *key, int64_t v)
{
	fprintf(o->f, " %s=%" PRId64, key, v);
}

void state_u64(struct state_out *o, const char *key, uint64_t v)
{
	fprintf(o->f, " %s=%" PRIu64, key, v);
}

static void escaped(FILE *f, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] <= ' ' || p[i] == '=' || p[i] == '%' || p[i] >= 0x7f)
			fprintf(f, "%%%02X", p[i]);
		else
			fputc(p[i], f);
	}
}

void state_str(struct state_out *o, const char *key, const char *s)
{
	if (!s)
		return;
	state_bytes(o, key, s, strlen(s));
}

void state_bytes(struct state_out *o, const char *key, const void *p, size_t n)
{
	fprintf(o->f, " %s=", key);
	escaped(o->f, p, n);
	if (n == 0)
		fputs("%", o->f);       /* an empty value: "%" alone */
}

void state_fd(struct state_out *o, const char *key, int fd)
{
	int *grown;

	if (fd < 0)
		return;
	state_i64(o, key, fd);
	/* a bitmap, not a search: a master with tens of thousands of fds
	 * names them all inside the upgrade's pause */
	if ((size_t)fd / 8 >= o->capseen) {
		size_t cap = (size_t)fd / 8 * 2 + 64;
		unsigned char *more = realloc(o->seen, cap);

		if (!more) {
			o->failed = 1;
			return;
		}
		memset(more + o->capseen, 0, cap - o->capseen);
		o->seen = more;
		o->capseen = cap;
	}
	if (o->seen[fd / 8] & (1u << (fd % 8)))
		return;
	o->seen[fd / 8] |= (unsigned char)(1u << (fd % 8));
	if (o->nfds == o->capfds) {
		grown = realloc(o->fds, (o->capfds ? o->capfds * 2 : 64) * sizeof(*grown));
		if (!grown) {
			o->failed = 1;
			return;
		}
		o->fds = grown;
		o->capfds = o->capfds ? o->capfds * 2 : 64;
	}
	o->fds[o->nfds++] = fd;
}

const int *state_out_fds(const struct state_out *o, size_t *n)
{
	*n = o->nfds;
	return o->fds;
}

int state_out_finish(struct state_out *o)
{
	size_t off = 0;
	ssize_t k;
	int fd;

	fputc('\n', o->f);
	o->open = 0;
	if (fflush(o->f) != 0 || ferror(o->f) || o->failed) {
		errno = ENOMEM;
		return -1;
	}
	fd = memfd_create("cluster-run-state", 0);
	if (fd < 0)
		return -1;
	while (off < o->len) {
		k = write(fd, o->text + off, o->len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)k;
	}
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* --- reading --- */

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Unescape s in place; its length, or -1. */
static long unescape(char *s)
{
	char *r = s, *w = s;
	int hi, lo;

	if (strcmp(s, "%") == 0) {
		*s = '\0';
		return 0;
	}
	while (*r) {
		if (*r == '%') {
			hi = hexval((unsigned char)r[1]);
			lo = hi < 0 ? -1 : hexval((unsigned char)r[2]);
			if (lo < 0)
				return -1;
			*w++ = (char)(hi * 16 + lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return w - s;
}

static int parse_line(struct state_in *in, char *line, struct state_rec *rec)
{
	char *save = NULL, *word, *eq;
	struct kv *grown;
	size_t cap = 0;
	long n;

	memset(rec, 0, sizeof(*rec));
	rec->in = in;
	rec->kind = strtok_r(line, " ", &save);
	if (!rec->kind)
		return 0;
	while ((word = strtok_r(NULL, " ", &save))) {
		eq = strchr(word, '=');
		if (!eq)
			continue;
		*eq = '\0';
		n = unescape(eq + 1);
		if (n < 0)
			continue;
		if (rec->nkv == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(rec->kv, cap * sizeof(*grown));
			if (!grown)
				return -1;
			rec->kv = grown;
		}
		rec->kv[rec->nkv].key = word;
		rec->kv[rec->nkv].val = eq + 1;
		rec->kv[rec->nkv].vlen = (size_t)n;
		rec->nkv++;
	}
	return 1;
}

struct state_in *state_in_read(int fd, char *why, size_t len)
{
	struct state_in *in = calloc(1, sizeof(*in));
	size_t cap = 0, used = 0, nlines = 0, i;
	char *grown, *line, *next, magic[32];
	ssize_t k;
	int format = 0, r;

	if (!in)
		goto nomem;
	lseek(fd, 0, SEEK_SET);
	for (;;) {
		if (cap - used < 65536) {
			grown = realloc(in->text, cap + 65536 + 1);
			if (!grown)
				goto nomem;
			in->text = grown;
			cap += 65536;
		}
		k = read(fd, in->text + used, cap - used);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			snprintf(why, len, "reading the state: %s", strerror(errno));
			goto fail;
		}
		if (k == 0)
			break;
		used += (size_t)k;
	}
	in->text[used] = '\0';
	for (i = 0; i < used; i++)
		nlines += in->text[i] == '\n';
	in->recs = calloc(nlines + 1, sizeof(*in->recs));
	if (!in->recs)
		goto nomem;
	if (sscanf(in->text, "%31s %d", magic, &format) != 2 || strcmp(magic, STATE_MAGIC) != 0) {
		snprintf(why, len, "the state has no %s header", STATE_MAGIC);
		goto fail;
	}
	if (format > STATE_FORMAT) {
		snprintf(why, len, "the state is format %d, newer than this build's %d", format,
			 STATE_FORMAT);
		goto fail;
	}
	if (used == 0 || in->text[used - 1] != '\n') {
		snprintf(why, len, "the state is cut short");
		goto fail;
	}
	for (line = in->text; *line; line = next) {
		next = strchr(line, '\n');
		*next++ = '\0';
		r = parse_line(in, line, &in->recs[in->nrecs]);
		if (r < 0)
			goto nomem;
		if (r > 0) {
			in->recs[in->nrecs].index = in->nrecs;
			in->nrecs++;
		}
	}
	if (in->nrecs == 0)
		goto nomem;
	snprintf(in->version, sizeof(in->version), "%s", rec_str(&in->recs[0], "version", "?"));
	in->protocol = (unsigned)rec_u64(&in->recs[0], "protocol", 0);
	return in;
nomem:
	snprintf(why, len, "reading the state: out of memory");
fail:
	state_in_free(in);
	return NULL;
}

void state_in_free(struct state_in *in)
{
	size_t i;

	if (!in)
		return;
	for (i = 0; in->recs && i < in->nrecs; i++)
		free(in->recs[i].kv);
	free(in->recs);
	free(in->text);
	free(in);
}

const char *state_in_version(const struct state_in *in)
{
	return in->version;
}

unsigned state_in_protocol(const struct state_in *in)
{
	return in->protocol;
}

static const struct state_rec *from(const struct state_in *in, size_t i, const char *kind)
{
	for (; i < in->nrecs; i++)
		if (strcmp(in->recs[i].kind, kind) == 0)
			return &in->recs[i];
	return NULL;
}

const struct state_rec *state_first(const struct state_in *in, const char *kind)
{
	/* record 0 is the header */
	return from(in, 1, kind);
}

const struct state_rec *state_next(const struct state_rec *r)
{
	return from(r->in, r->index + 1, r->kind);
}

static const struct kv *find(const struct state_rec *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->nkv; i++)
		if (strcmp(r->kv[i].key, key) == 0)
			return &r->kv[i];
	return NULL;
}

int rec_has(const struct state_rec *r, const char *key)
{
	return find(r, key) != NULL;
}

int64_t rec_i64(const struct state_rec *r, const char *key, int64_t def)
{
	const struct kv *kv = find(r, key);
	char *end;
	long long v;

	if (!kv || !*kv->val)
		return def;
	errno = 0;
	v = strtoll(kv->val, &end, 10);
	return errno || *end ? def : (int64_t)v;
}

uint64_t rec_u64(const struct state_rec *r, const char *key, uint64_t def)
{
	const struct kv *kv = find(r, key);
	char *end;
	unsigned long long v;

	if (!kv || !*kv->val || kv->val[0] == '-')
		return def;
	errno = 0;
	v = strtoull(kv->val, &end, 10);
	return errno || *end ? def : (uint64_t)v;
}

const char *rec_str(const struct state_rec *r, const char *key, const char *def)
{
	const struct kv *kv = find(r, key);

	return kv ? kv->val : def;
}

long rec_bytes(const struct state_rec *r, const char *key, void *buf, size_t cap)
{
	const struct kv *kv = find(r, key);
	size_t n;

	if (!kv)
		return -1;
	n = kv->vlen < cap ? kv->vlen : cap;
	memcpy(buf, kv->val, n);
	return (long)n;
}

int rec_fd(const struct state_rec *r, const char *key)
{
	int64_t fd = rec_i64(r, key, -1);

	if (fd < 0 || fd > INT32_MAX)
		return -1;
	return state_cloexec((int)fd, 1) < 0 ? -1 : (int)fd;
}

int state_cloexec(int fd, int on)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0)
		return -1;
	return fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC);
}

void rec_buf(const struct state_rec *r, const char *key, struct buf *b, size_t max)
{
	char *shrunk;
	long n;

	if (!rec_has(r, key) || !(b->data = malloc(max + 1)))
		return;
	n = rec_bytes(r, key, b->data, max);
	b->len = n > 0 ? (size_t)n : 0;
	b->cap = b->len + 1;
	if ((shrunk = realloc(b->data, b->cap)))
		b->data = shrunk;
}
