/*
 * http_resp.c - incremental HTTP/1.x response parser (see http_resp.h).
 *
 * The header block is copied into the parser until its blank line shows
 * up, then parsed in one go: a response header is small and arrives in one
 * read almost always, so scanning it twice costs nothing and keeps the
 * header code free of partial-token states.  Bodies are only counted.
 *
 * Bare LF line ends are accepted (as most clients do); anything else
 * malformed puts the parser in RESP_ERROR with a short reason.
 */
#include "http_resp.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

void http_resp_reset(struct http_resp *r)
{
	r->state = RESP_HEADERS;
	r->status = 0;
	r->minor = 1;
	r->keep_alive = 1;
	r->body_left = 0;
	r->header_len = 0;
	r->line_len = 0;
	r->in_ext = 0;
	r->worker[0] = '\0';
	r->error = NULL;
}

static size_t fail(struct http_resp *r, const char *why, size_t consumed)
{
	r->state = RESP_ERROR;
	r->error = why;
	return consumed;
}

/* Case-insensitive search for token in a comma separated header value. */
static int has_token(const char *value, const char *token)
{
	size_t tl = strlen(token);
	for (const char *p = value; *p; ) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *end = p;
		while (*end && *end != ',')
			end++;
		const char *last = end;
		while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
			last--;
		if ((size_t)(last - p) == tl && strncasecmp(p, token, tl) == 0)
			return 1;
		p = end;
	}
	return 0;
}

static int parse_status_line(struct http_resp *r, char *line)
{
	/* HTTP/1.x SSS reason */
	if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]))
		return -1;
	r->minor = line[7] - '0';
	if (line[8] != ' ')
		return -1;
	const char *s = line + 9;
	if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    !isdigit((unsigned char)s[2]) || (s[3] != ' ' && s[3] != '\0'))
		return -1;
	r->status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	return 0;
}

struct framing {
	int64_t content_length;    /* -1: none */
	int chunked;
	int conn_close;
	int conn_keep_alive;
};

static int parse_header_line(struct http_resp *r, char *line, struct framing *f)
{
	char *colon = strchr(line, ':');
	if (!colon || colon == line)
		return -1;
	*colon = '\0';
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	char *end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';

	if (strcasecmp(line, "Content-Length") == 0) {
		if (*v == '\0')
			return -1;
		int64_t n = 0;
		for (const char *p = v; *p; p++) {
			if (!isdigit((unsigned char)*p) || n > INT64_MAX / 10 - 10)
				return -1;
			n = n * 10 + (*p - '0');
		}
		if (f->content_length >= 0 && f->content_length != n)
			return -1;
		f->content_length = n;
	} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
		f->chunked = has_token(v, "chunked");
	} else if (strcasecmp(line, "Connection") == 0) {
		f->conn_close |= has_token(v, "close");
		f->conn_keep_alive |= has_token(v, "keep-alive");
	} else if (strcasecmp(line, "X-Worker") == 0) {
		size_t n = strlen(v);
		if (n >= sizeof(r->worker))
			n = sizeof(r->worker) - 1;
		memcpy(r->worker, v, n);
		r->worker[n] = '\0';
	}
	return 0;
}

/* Parses r->header (NUL-terminated, blank line excluded) and picks the body
 * framing.  Returns 0 or -1 with r->error set. */
static int parse_headers(struct http_resp *r)
{
	struct framing f = { .content_length = -1 };
	char *save = NULL;
	char *line = strtok_r(r->header, "\n", &save);
	int first = 1;
	for (; line; line = strtok_r(NULL, "\n", &save)) {
		size_t n = strlen(line);
		if (n && line[n - 1] == '\r')
			line[n - 1] = '\0';
		if (first) {
			first = 0;
			if (parse_status_line(r, line) < 0) {
				r->error = "bad status line";
				return -1;
			}
		} else if (parse_header_line(r, line, &f) < 0) {
			r->error = "bad header line";
			return -1;
		}
	}
	if (first) {
		r->error = "empty response";
		return -1;
	}
	r->keep_alive = r->minor >= 1 ? !f.conn_close : f.conn_keep_alive;

	if (r->status == 204 || r->status == 304) {
		r->state = RESP_DONE;
	} else if (f.chunked) {
		r->state = RESP_CHUNK_SIZE;
	} else if (f.content_length >= 0) {
		r->body_left = f.content_length;
		r->state = f.content_length ? RESP_BODY_LENGTH : RESP_DONE;
	} else {
		r->state = RESP_BODY_EOF;
		r->keep_alive = 0;
	}
	return 0;
}

/* Collects header bytes; returns bytes consumed from buf. */
static size_t feed_headers(struct http_resp *r, const char *buf, size_t len)
{
	size_t room = HTTP_RESP_HEADER_MAX - 1 - r->header_len;
	size_t take = len < room ? len : room;
	size_t old = r->header_len;
	memcpy(r->header + old, buf, take);
	r->header_len += take;

	/* look for the blank line, starting a little before the new bytes */
	size_t from = old > 3 ? old - 3 : 0;
	for (size_t i = from; i < r->header_len; i++) {
		if (r->header[i] != '\n')
			continue;
		size_t blank = 0;
		if (i >= 1 && r->header[i - 1] == '\n')
			blank = 1;
		else if (i >= 2 && r->header[i - 1] == '\r' && r->header[i - 2] == '\n')
			blank = 2;
		if (!blank)
			continue;
		size_t used = i + 1 - old;      /* bytes of buf that were header */
		r->header[i + 1 - blank] = '\0';
		if (parse_headers(r) < 0)
			return fail(r, r->error, used);
		if (r->status >= 100 && r->status < 200) {
			if (r->status == 101)
				return fail(r, "protocol switch", used);
			/* interim response: the real one follows */
			http_resp_reset(r);
		}
		return used;
	}
	if (r->header_len >= HTTP_RESP_HEADER_MAX - 1)
		return fail(r, "header too large", take);
	return take;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* One byte of chunked framing outside chunk data. */
static void feed_chunk_byte(struct http_resp *r, char c)
{
	switch (r->state) {
	case RESP_CHUNK_SIZE: {
		int d = hex_value(c);
		if (c == '\n') {
			if (r->line_len == 0) {
				fail(r, "bad chunk size", 0);
			} else if (r->body_left == 0) {
				r->state = RESP_TRAILERS;
				r->line_len = 0;
			} else {
				r->state = RESP_CHUNK_DATA;
			}
		} else if (c == '\r' || r->in_ext) {
			/* skip */
		} else if (d >= 0) {
			if (r->body_left > (INT64_MAX >> 4)) {
				fail(r, "chunk too large", 0);
				break;
			}
			r->body_left = r->body_left * 16 + d;
			r->line_len++;
		} else if (c == ';' || c == ' ' || c == '\t') {
			r->in_ext = 1;
		} else {
			fail(r, "bad chunk size", 0);
		}
		break;
	}
	case RESP_CHUNK_DATA_END:
		if (c == '\n') {
			r->state = RESP_CHUNK_SIZE;
			r->body_left = 0;
			r->line_len = 0;
			r->in_ext = 0;
		} else if (c != '\r') {
			fail(r, "missing CRLF after chunk", 0);
		}
		break;
	case RESP_TRAILERS:
		if (c == '\n') {
			if (r->line_len == 0)
				r->state = RESP_DONE;
			r->line_len = 0;
		} else if (c != '\r') {
			r->line_len++;
		}
		break;
	default:
		break;
	}
}

size_t http_resp_feed(struct http_resp *r, const char *buf, size_t len)
{
	size_t used = 0;
	while (used < len) {
		switch (r->state) {
		case RESP_HEADERS:
			used += feed_headers(r, buf + used, len - used);
			break;
		case RESP_BODY_LENGTH:
		case RESP_CHUNK_DATA: {
			size_t n = len - used;
			if ((int64_t)n > r->body_left)
				n = (size_t)r->body_left;
			r->body_left -= (int64_t)n;
			used += n;
			if (r->body_left == 0)
				r->state = r->state == RESP_CHUNK_DATA ?
					RESP_CHUNK_DATA_END : RESP_DONE;
			break;
		}
		case RESP_BODY_EOF:
			used = len;
			break;
		case RESP_CHUNK_SIZE:
		case RESP_CHUNK_DATA_END:
		case RESP_TRAILERS:
			feed_chunk_byte(r, buf[used++]);
			break;
		case RESP_DONE:
		case RESP_ERROR:
			return used;
		}
	}
	return used;
}

int http_resp_eof(struct http_resp *r)
{
	if (r->state == RESP_BODY_EOF) {
		r->state = RESP_DONE;
		return 1;
	}
	return r->state == RESP_DONE;
}
