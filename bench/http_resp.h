/*
 * http_resp.h - an incremental HTTP/1.x response parser for the load
 * generator.
 *
 * Bytes are fed as they arrive; the parser keeps the header block (up to
 * HTTP_RESP_HEADER_MAX bytes) and only counts body bytes.  It understands
 * the status line, Content-Length, Transfer-Encoding: chunked, bodies
 * delimited by the end of the connection, Connection: close/keep-alive,
 * bodiless statuses (1xx, 204, 304) and one application header, X-Worker.
 *
 * It is not a general HTTP client: no pipelining (bytes after the end of a
 * response are an error), no trailers kept, no header folding, and it does
 * not decode or keep the body.
 */
#ifndef BENCH_HTTP_RESP_H
#define BENCH_HTTP_RESP_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_RESP_HEADER_MAX 8192
#define HTTP_RESP_WORKER_MAX 32

enum http_resp_state {
	RESP_HEADERS = 0,   /* collecting the status line and headers */
	RESP_BODY_LENGTH,   /* Content-Length body */
	RESP_BODY_EOF,      /* body runs until the peer closes */
	RESP_CHUNK_SIZE,    /* chunked: reading a chunk-size line */
	RESP_CHUNK_DATA,
	RESP_CHUNK_DATA_END,/* chunked: the CRLF after chunk data */
	RESP_TRAILERS,      /* chunked: trailer lines up to an empty one */
	RESP_DONE,
	RESP_ERROR,
};

struct http_resp {
	enum http_resp_state state;
	int status;
	int minor;                 /* HTTP/1.<minor> */
	int keep_alive;            /* connection may be reused after DONE */
	int64_t body_left;         /* Content-Length or chunk bytes to go */
	size_t header_len;
	size_t line_len;           /* trailer line / chunk-size digits so far */
	int in_ext;                /* chunk-size line: past the digits */
	char worker[HTTP_RESP_WORKER_MAX]; /* X-Worker value, "" if absent */
	const char *error;         /* why RESP_ERROR, static string */
	char header[HTTP_RESP_HEADER_MAX];
};

void http_resp_reset(struct http_resp *r);

/* Feeds len bytes.  Returns how many were consumed: fewer than len only when
 * the state became RESP_DONE or RESP_ERROR.  Consuming stops at the end of
 * the response; leftover bytes are the caller's business. */
size_t http_resp_feed(struct http_resp *r, const char *buf, size_t len);

/* The peer closed the connection.  Returns 1 if that completes the response
 * (its body was delimited by the close), 0 if the response is truncated. */
int http_resp_eof(struct http_resp *r);

#endif
