/*
 * http_boundary.h - where an HTTP/1.x response ends, from the bytes a
 * server reads and writes on one connection (http_boundary.c).
 *
 * Pure: no system call, no allocation, no global; a struct of a few dozen
 * bytes per connection, fed with byte ranges split anywhere.  The shim
 * (hooks_io.c) uses it only while a worker retires; the unit suite
 * (tests/test_http_boundary.c) feeds it byte streams split at every
 * position.
 */
#ifndef SHIM_HTTP_BOUNDARY_H
#define SHIM_HTTP_BOUNDARY_H

#include <stddef.h>
#include <stdint.h>

enum hb_state {
	HB_UNKNOWN = 0,         /* not known to be at a boundary: wait for a request */
	HB_IDLE,                /* between responses, no request read yet */
	HB_REQUEST,             /* a request read; its response not begun */
	HB_STATUS,              /* in the status line */
	HB_HEADERS,             /* in the header block */
	HB_BODY,                /* Content-Length body: remain bytes left */
	HB_CHUNK_SIZE,          /* a chunk-size line */
	HB_CHUNK_DATA,          /* remain bytes of chunk data */
	HB_CHUNK_END,           /* the CRLF after chunk data */
	HB_TRAILERS,            /* after the last chunk, up to an empty line */
	HB_UNTRACKED,           /* gave up: never at a known boundary again */
};

#define HB_NAME_MAX 20          /* longest header name worth reading */
#define HB_HEAD_MAX 65536       /* a response head longer than this: give up */

struct http_boundary {
	uint8_t state;          /* enum hb_state */
	uint8_t sub;            /* position inside the current line's grammar */
	uint8_t head;           /* the request being answered is HEAD */
	uint8_t next_req;       /* another request was read during this response */
	uint8_t chunked;        /* Transfer-Encoding ends in chunked */
	uint8_t has_len;        /* a Content-Length was seen */
	uint8_t other_te;       /* a Transfer-Encoding that is not chunked */
	uint8_t nlen;           /* bytes in name[] */
	uint16_t status;        /* the status code being read */
	uint8_t next_kind;      /* what next_req is (GET, HEAD, CONNECT) */
	uint8_t pad;
	uint32_t head_bytes;    /* bytes of this response's head so far */
	uint64_t remain;        /* body or chunk bytes left; header value */
	char name[HB_NAME_MAX]; /* header name (lower case), method token */
};

/* A fresh connection: at a boundary (HB_IDLE).  A zeroed struct is
 * HB_UNKNOWN: a connection that was open before tracking began. */
void hb_init_idle(struct http_boundary *hb);

/* The server read these bytes from the connection. */
void hb_read(struct http_boundary *hb, const void *buf, size_t n);

/* The server wrote these bytes.  Returns 1 when they end exactly at the
 * end of a complete response and no further request was read meanwhile
 * (the state is then HB_IDLE), else 0. */
int hb_write(struct http_boundary *hb, const void *buf, size_t n);

/* The server sent n bytes it did not show us (sendfile): body bytes.
 * Same result as hb_write. */
int hb_write_opaque(struct http_boundary *hb, uint64_t n);

#endif
