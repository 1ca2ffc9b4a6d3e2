/*
 * http_boundary.c - follows one HTTP/1.x connection from the server's side
 * far enough to know when the bytes written so far end a complete
 * response: the one moment a keep-alive connection can be closed without
 * losing a request (hooks_io.c closes it there while a worker retires).
 *
 * Reads: a read that begins with a method token and a space ("GET ",
 * "HEAD ") starts a request; the rest of the request (headers, body) is
 * not parsed.  Writes: the response, parsed as a stream with no buffer
 * (the header names it needs are matched a byte at a time): status line,
 * 1xx interim responses skipped, headers up to the empty line, then no
 * body (HEAD, 204, 304), Content-Length bytes, or chunked framing up to
 * the last chunk and its trailers.
 *
 * It never guesses: whatever it does not understand (a write before any
 * request, a response that does not begin "HTTP/1.", no length, 101
 * Switching Protocols, a CONNECT tunnel, two Content-Lengths, a head
 * longer than HB_HEAD_MAX) makes the connection HB_UNTRACKED for good,
 * because a wrong boundary would cut a response short.  A connection
 * tracked from the middle (HB_UNKNOWN) waits for a read that begins a
 * request; only there, at the start of one read, is a method token looked
 * for, so a body that happens to end in capitals is not taken for one.
 *
 * Known limit: pipelined requests that arrive in one read are one request
 * here; the server then writes more responses than requests were seen,
 * and the surplus makes the connection untracked (never closed early).
 *
 * Owns nothing but the struct it is handed.  Must not make system calls:
 * it is called from the shim's data-path hooks and from unit tests.
 */
#include "http_boundary.h"

#include <string.h>

#define HB_METHOD_MAX 16         /* no method is longer (HB_NAME_MAX) */

enum {                          /* sub, in HB_HEADERS */
	H_LINE = 0,             /* at the start of a header line */
	H_NAME,                 /* in a header name */
	H_SKIP,                 /* in a value we do not need */
	H_CL_OWS,               /* Content-Length: before the digits */
	H_CL_DIGITS,
	H_CL_TAIL,              /* after the digits */
	H_TE,                   /* Transfer-Encoding's value */
	H_END_CR,               /* a CR at the start of a line */
};

enum {                          /* sub, in HB_IDLE and HB_UNKNOWN */
	M_START = 0,            /* skipping CR LF before a request line */
	M_TOKEN,                /* in the method token */
};

enum {                          /* request kinds, in head */
	REQ_PLAIN = 0,
	REQ_HEAD,
	REQ_CONNECT,
};

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int name_is(const struct http_boundary *hb, const char *s)
{
	size_t n = strlen(s);

	return hb->nlen == n && memcmp(hb->name, s, n) == 0;
}

void hb_init_idle(struct http_boundary *hb)
{
	memset(hb, 0, sizeof(*hb));
	hb->state = HB_IDLE;
}

static void untrack(struct http_boundary *hb)
{
	hb->state = HB_UNTRACKED;
}

/* The method token in name[] (nlen bytes) as a request kind. */
static uint8_t request_kind(const struct http_boundary *hb)
{
	if (name_is(hb, "HEAD"))
		return REQ_HEAD;
	if (name_is(hb, "CONNECT"))
		return REQ_CONNECT;
	return REQ_PLAIN;
}

/* Look for "TOKEN " at the start of p[0..n): 1 and the token in name[],
 * 0 when p is not a request line's start, -1 when p ends before that is
 * known (name[] then holds nlen bytes of a token, 0 after CR LF only, for
 * carry to continue).  carry: name[] holds a token's start from the
 * previous read. */
static int match_method(struct http_boundary *hb, const char *p, size_t n, int carry)
{
	size_t i = 0;

	if (!carry) {
		hb->nlen = 0;
		while (i < n && (p[i] == '\r' || p[i] == '\n'))
			i++;
	}
	for (; i < n; i++) {
		char c = p[i];
		if (c == ' ' && hb->nlen >= 3)         /* GET, PUT: the shortest */
			return 1;
		if (c < 'A' || c > 'Z' || hb->nlen >= HB_METHOD_MAX)
			return 0;
		hb->name[hb->nlen++] = c;
	}
	return -1;
}

static void begin_request(struct http_boundary *hb)
{
	hb->head = request_kind(hb);
	hb->state = HB_REQUEST;
	hb->sub = 0;
	hb->nlen = 0;
}

void hb_read(struct http_boundary *hb, const void *buf, size_t n)
{
	const char *p = buf;
	int r;

	if (n == 0)
		return;
	switch (hb->state) {
	case HB_IDLE:
		/* at a known boundary: a method split over reads is fine */
		r = match_method(hb, p, n, hb->sub == M_TOKEN);
		if (r > 0)
			begin_request(hb);
		else if (r < 0)
			hb->sub = hb->nlen ? M_TOKEN : M_START;
		else
			untrack(hb);    /* the first bytes are not HTTP */
		return;
	case HB_UNKNOWN:
		/* only a whole token at the start of one read counts */
		if (match_method(hb, p, n, 0) > 0)
			begin_request(hb);
		else
			hb->nlen = 0;
		return;
	case HB_STATUS:
	case HB_HEADERS:
	case HB_BODY:
	case HB_CHUNK_SIZE:
	case HB_CHUNK_DATA:
	case HB_CHUNK_END:
	case HB_TRAILERS:
		/* the next request, read while this response is written: the
		 * connection is not at rest when this response ends.  The
		 * method token is kept in name[] only after the head, which
		 * needs it no more. */
		if (!hb->next_req) {
			struct http_boundary probe = *hb;
			if (match_method(&probe, p, n, 0) > 0) {
				hb->next_req = 1;
				hb->next_kind = request_kind(&probe);
			}
		}
		return;
	default:                /* HB_REQUEST: its head or body; HB_UNTRACKED */
		return;
	}
}

static void begin_response(struct http_boundary *hb)
{
	hb->state = HB_STATUS;
	hb->sub = 0;
	hb->status = 0;
	hb->chunked = 0;
	hb->has_len = 0;
	hb->other_te = 0;
	hb->nlen = 0;
	hb->head_bytes = 0;
	hb->remain = 0;
}

/* A response ended: at rest, or on to the request read meanwhile. */
static void end_response(struct http_boundary *hb)
{
	if (hb->next_req) {
		hb->next_req = 0;
		hb->head = hb->next_kind;
		hb->state = HB_REQUEST;
	} else {
		hb->state = HB_IDLE;
	}
	hb->sub = 0;
	hb->nlen = 0;
}

/* The empty line after the headers: where the body's framing is chosen
 * (RFC 9112 section 6.3, in its order). */
static void end_head(struct http_boundary *hb)
{
	unsigned s = hb->status;

	if (s == 101 || (hb->head == REQ_CONNECT && s >= 200 && s < 300)) {
		untrack(hb);    /* another protocol from here on */
		return;
	}
	if (s < 200) {          /* interim: the real response follows */
		begin_response(hb);     /* keeps next_req, next_kind */
		return;
	}
	if (hb->head == REQ_HEAD || s == 204 || s == 304) {
		end_response(hb);
		return;
	}
	if (hb->chunked) {
		hb->state = HB_CHUNK_SIZE;
		hb->sub = 0;
		hb->remain = 0;
		return;
	}
	if (hb->other_te || !hb->has_len) {
		untrack(hb);    /* delimited by the close: nothing to do */
		return;
	}
	if (hb->remain == 0)
		end_response(hb);
	else
		hb->state = HB_BODY;
}

/* One byte of the status line "HTTP/1.x NNN reason". */
static void status_byte(struct http_boundary *hb, char c)
{
	static const char prefix[] = "HTTP/1.";

	if (hb->sub < 7) {
		if (c != prefix[hb->sub])
			untrack(hb);
	} else if (hb->sub == 7) {
		if (c < '0' || c > '9')
			untrack(hb);
	} else if (hb->sub == 8) {
		if (c != ' ')
			untrack(hb);
	} else if (hb->sub <= 11) {
		if (c < '0' || c > '9')
			untrack(hb);
		else
			hb->status = (uint16_t)(hb->status * 10 + (unsigned)(c - '0'));
	} else {
		if (c == '\n') {
			if (hb->status < 100 || hb->status > 599) {
				untrack(hb);
				return;
			}
			hb->state = HB_HEADERS;
			hb->sub = H_LINE;
		}
		return;
	}
	if (hb->state == HB_STATUS)
		hb->sub++;      /* after the third digit: 12, the reason phrase */
}

/* The end of a header name: which value follows. */
static void name_done(struct http_boundary *hb)
{
	if (name_is(hb, "content-length")) {
		if (hb->has_len) {
			untrack(hb);    /* two of them: not worth the risk */
			return;
		}
		hb->has_len = 1;
		hb->remain = 0;
		hb->sub = H_CL_OWS;
	} else if (name_is(hb, "transfer-encoding")) {
		hb->nlen = 0;
		hb->sub = H_TE;
	} else {
		hb->sub = H_SKIP;
	}
}

/* One byte of the header block. */
static void header_byte(struct http_boundary *hb, char c)
{
	switch (hb->sub) {
	case H_LINE:
		if (c == '\r') {
			hb->sub = H_END_CR;
		} else if (c == '\n') {
			end_head(hb);
		} else {
			hb->name[0] = lower(c);
			hb->nlen = 1;
			hb->sub = H_NAME;
		}
		return;
	case H_END_CR:
		if (c == '\n')
			end_head(hb);
		else
			untrack(hb);
		return;
	case H_NAME:
		if (c == ':')
			name_done(hb);
		else if (c == '\n')
			hb->sub = H_LINE;
		else if (hb->nlen < HB_NAME_MAX)
			hb->name[hb->nlen++] = lower(c);
		else
			hb->sub = H_SKIP;       /* longer than any we need */
		return;
	case H_SKIP:
		if (c == '\n')
			hb->sub = H_LINE;
		return;
	case H_CL_OWS:
	case H_CL_DIGITS:
		if (c >= '0' && c <= '9') {
			if (hb->remain > (UINT64_MAX >> 4) / 10) {
				untrack(hb);
				return;
			}
			hb->remain = hb->remain * 10 + (uint64_t)(c - '0');
			hb->sub = H_CL_DIGITS;
			return;
		}
		if (c == ' ' || c == '\t' || c == '\r') {
			if (hb->sub == H_CL_DIGITS)
				hb->sub = H_CL_TAIL;
			return;
		}
		if (c == '\n' && hb->sub == H_CL_DIGITS) {
			hb->sub = H_LINE;
			return;
		}
		untrack(hb);    /* empty, a list, or not a number */
		return;
	case H_CL_TAIL:
		if (c == '\n')
			hb->sub = H_LINE;
		else if (c != ' ' && c != '\t' && c != '\r')
			untrack(hb);
		return;
	case H_TE:
		/* name[] keeps the last coding of the list */
		if (c == '\n') {
			hb->chunked = name_is(hb, "chunked");
			hb->other_te = !hb->chunked;
			hb->sub = H_LINE;
		} else if (c == ',') {
			hb->nlen = 0;
		} else if (c != ' ' && c != '\t' && c != '\r') {
			if (hb->nlen < HB_NAME_MAX)
				hb->name[hb->nlen++] = lower(c);
			else
				hb->name[0] = '!';      /* too long: not "chunked" */
		}
		return;
	default:
		untrack(hb);
	}
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* One byte of a chunk-size line "HEX[;ext] CRLF", sub counts the digits. */
static void chunk_size_byte(struct http_boundary *hb, char c)
{
	int v = hex_value(c);

	if (hb->sub != 0xff && v >= 0) {
		if (hb->remain >> 56) {
			untrack(hb);
			return;
		}
		hb->remain = hb->remain << 4 | (uint64_t)v;
		hb->sub = 1;
		return;
	}
	if (hb->sub == 0) {
		untrack(hb);    /* no digit */
		return;
	}
	hb->sub = 0xff;         /* an extension, OWS or CR: up to LF */
	if (c != '\n')
		return;
	if (hb->remain == 0) {
		hb->state = HB_TRAILERS;
		hb->sub = H_LINE;
	} else {
		hb->state = HB_CHUNK_DATA;
	}
}

/* One byte of the trailer section: lines up to an empty one. */
static void trailer_byte(struct http_boundary *hb, char c)
{
	if (hb->sub == H_LINE) {
		if (c == '\r')
			hb->sub = H_END_CR;
		else if (c == '\n')
			end_response(hb);
		else
			hb->sub = H_SKIP;
	} else if (hb->sub == H_END_CR) {
		if (c == '\n')
			end_response(hb);
		else
			untrack(hb);
	} else if (c == '\n') {
		hb->sub = H_LINE;
	}
}

/* Feed p[0..n) (p NULL: n opaque body bytes).  1 when the last byte ends a
 * response and the connection is at rest. */
static int feed(struct http_boundary *hb, const char *p, uint64_t n)
{
	uint64_t i = 0;
	int ended = 0;

	if (n == 0)
		return 0;
	if (hb->state == HB_UNKNOWN || hb->state == HB_UNTRACKED)
		return 0;
	while (i < n) {
		ended = 0;
		switch (hb->state) {
		case HB_IDLE:
			untrack(hb);    /* bytes with no request to answer */
			return 0;
		case HB_REQUEST:
			begin_response(hb);
			continue;
		case HB_BODY:
		case HB_CHUNK_DATA: {
			uint64_t take = n - i < hb->remain ? n - i : hb->remain;
			i += take;
			hb->remain -= take;
			if (hb->remain == 0) {
				if (hb->state == HB_BODY) {
					end_response(hb);
					ended = 1;
				} else {
					hb->state = HB_CHUNK_END;
					hb->sub = 0;
				}
			}
			continue;
		}
		default:
			break;
		}
		if (!p) {               /* opaque bytes outside a body */
			untrack(hb);
			return 0;
		}
		switch (hb->state) {
		case HB_STATUS:
		case HB_HEADERS:
			if (++hb->head_bytes > HB_HEAD_MAX) {
				untrack(hb);
				return 0;
			}
			if (hb->state == HB_STATUS)
				status_byte(hb, p[i]);
			else
				header_byte(hb, p[i]);
			break;
		case HB_CHUNK_SIZE:
			chunk_size_byte(hb, p[i]);
			break;
		case HB_CHUNK_END:
			if (p[i] == '\n') {
				hb->state = HB_CHUNK_SIZE;
				hb->sub = 0;
				hb->remain = 0;
			} else if (p[i] != '\r' || hb->sub++ > 0) {
				untrack(hb);
			}
			break;
		case HB_TRAILERS:
			trailer_byte(hb, p[i]);
			break;
		default:                /* HB_UNTRACKED */
			return 0;
		}
		i++;
		ended = hb->state == HB_IDLE || hb->state == HB_REQUEST;
		if (hb->state == HB_UNTRACKED)
			return 0;
	}
	return ended && hb->state == HB_IDLE;
}

int hb_write(struct http_boundary *hb, const void *buf, size_t n)
{
	return feed(hb, buf, n);
}

int hb_write_opaque(struct http_boundary *hb, uint64_t n)
{
	return feed(hb, NULL, n);
}
