/*
 * test_http_boundary.c - the shim's HTTP/1.x response boundary tracker
 * (shim/http_boundary.c), in process: request and response byte streams
 * fed whole, split in two at every position, and a byte at a time; a
 * boundary must be reported exactly at the end of a complete response,
 * never before, and anything not understood must leave the connection
 * untracked.
 */
#include "http_boundary.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

/* A fresh connection that read req. */
static void fresh(struct http_boundary *hb, const char *req)
{
	hb_init_idle(hb);
	hb_read(hb, req, strlen(req));
}

/* resp written after req, whole, split at every position, and bytewise:
 * no boundary before the last byte, `end` (0 or 1) at it, state `final`
 * after it. */
static void check_response(const char *req, const char *resp, int end, int final)
{
	size_t n = strlen(resp), i;
	struct http_boundary hb;

	fresh(&hb, req);
	cr_assert_eq(hb.state, HB_REQUEST, "request %s not seen", req);
	cr_assert_eq(hb_write(&hb, resp, n), end, "whole: %s", resp);
	cr_assert_eq(hb.state, final, "whole: state %d, not %d", hb.state, final);
	for (i = 1; i < n; i++) {
		fresh(&hb, req);
		cr_assert_eq(hb_write(&hb, resp, i), 0, "split at %zu: early end", i);
		cr_assert_eq(hb_write(&hb, resp + i, n - i), end, "split at %zu", i);
		cr_assert_eq(hb.state, final, "split at %zu: state %d", i, hb.state);
	}
	fresh(&hb, req);
	for (i = 0; i < n; i++)
		cr_assert_eq(hb_write(&hb, resp + i, 1), i + 1 == n ? end : 0,
			     "byte %zu of %zu", i, n);
	cr_assert_eq(hb.state, final);
}

#define GET "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
#define HEAD "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"

Test(http_boundary, content_length)
{
	check_response(GET, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 1, HB_IDLE);
	check_response(GET, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1, HB_IDLE);
	check_response(GET, "HTTP/1.0 404 Not Found\r\nX-A: b\r\ncontent-LENGTH:  3 \r\n\r\nabc",
		       1, HB_IDLE);
	/* bare LF line ends */
	check_response(GET, "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 1, HB_IDLE);
}

Test(http_boundary, no_body)
{
	check_response(HEAD, "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", 1, HB_IDLE);
	check_response(GET, "HTTP/1.1 204 No Content\r\n\r\n", 1, HB_IDLE);
	check_response(GET, "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", 1, HB_IDLE);
}

Test(http_boundary, chunked)
{
	check_response(GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		       "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n",
		       1, HB_IDLE);
	check_response(GET, "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\n\r\n"
		       "3\r\nabc\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n", 1, HB_IDLE);
	/* Content-Length ignored when chunked */
	check_response(GET, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 1, HB_IDLE);
}

Test(http_boundary, interim_responses_skipped)
{
	check_response(GET, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
		       "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", 1, HB_IDLE);
}

Test(http_boundary, not_understood_is_untracked)
{
	check_response(GET, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close",
		       0, HB_UNTRACKED);
	check_response(GET, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
		       0, HB_UNTRACKED);
	check_response(GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
		       0, HB_UNTRACKED);
	check_response(GET, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		       0, HB_UNTRACKED);
	check_response(GET, "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx", 0, HB_UNTRACKED);
	check_response(GET, "HTTP/2.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 0, HB_UNTRACKED);
	check_response("CONNECT h:443 HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n",
		       0, HB_UNTRACKED);
	check_response(GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		       0, HB_UNTRACKED);
}

Test(http_boundary, head_too_long)
{
	static char resp[HB_HEAD_MAX + 100];
	struct http_boundary hb;

	strcpy(resp, "HTTP/1.1 200 OK\r\nX: ");
	memset(resp + strlen(resp), 'a', HB_HEAD_MAX);
	fresh(&hb, GET);
	cr_assert_eq(hb_write(&hb, resp, strlen(resp)), 0);
	cr_assert_eq(hb.state, HB_UNTRACKED);
}

Test(http_boundary, not_http)
{
	struct http_boundary hb;

	fresh(&hb, "get foo\r\n");          /* memcached */
	cr_assert_eq(hb.state, HB_UNTRACKED);
	fresh(&hb, "PING x\r\n");           /* looks like a method... */
	cr_assert_eq(hb.state, HB_REQUEST);
	cr_assert_eq(hb_write(&hb, "+PONG\r\n", 7), 0);    /* ...but no HTTP answer */
	cr_assert_eq(hb.state, HB_UNTRACKED);
	hb_init_idle(&hb);                  /* a greeting before any request */
	cr_assert_eq(hb_write(&hb, "220 hello\r\n", 11), 0);
	cr_assert_eq(hb.state, HB_UNTRACKED);
}

Test(http_boundary, method_split_across_reads)
{
	struct http_boundary hb;

	hb_init_idle(&hb);
	hb_read(&hb, "\r\nHE", 4);
	cr_assert_eq(hb.state, HB_IDLE);
	hb_read(&hb, "AD", 2);
	hb_read(&hb, " / HTTP/1.1\r\n\r\n", 16);
	cr_assert_eq(hb.state, HB_REQUEST);
	cr_assert_eq(hb_write(&hb, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", 38), 1);
}

/* Open before tracking began: writes are ignored until a read begins a
 * request, and only a whole token at the start of a read counts. */
Test(http_boundary, unknown_waits_for_a_request)
{
	struct http_boundary hb;

	memset(&hb, 0, sizeof(hb));
	cr_assert_eq(hb.state, HB_UNKNOWN);
	cr_assert_eq(hb_write(&hb, "lo\r\n\r\n", 6), 0);   /* the end of some response */
	hb_read(&hb, "body of a POST ABC", 18);
	cr_assert_eq(hb.state, HB_UNKNOWN);
	hb_read(&hb, "GE", 2);                              /* split: not trusted here */
	hb_read(&hb, "T / HTTP/1.1\r\n\r\n", 16);
	cr_assert_eq(hb.state, HB_UNKNOWN);
	hb_read(&hb, GET, strlen(GET));
	cr_assert_eq(hb.state, HB_REQUEST);
	cr_assert_eq(hb_write(&hb, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", 39), 1);
	cr_assert_eq(hb.state, HB_IDLE);
}

/* The next request read while a response is written: that response's end
 * is not a place to close; the following one's is. */
Test(http_boundary, next_request_read_during_response)
{
	struct http_boundary hb;
	const char *r1 = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";

	fresh(&hb, GET);
	cr_assert_eq(hb_write(&hb, r1, strlen(r1)), 0);
	hb_read(&hb, HEAD, strlen(HEAD));
	cr_assert_eq(hb_write(&hb, "abc", 3), 0);
	cr_assert_eq(hb.state, HB_REQUEST);
	/* the HEAD's response: no body despite its length */
	cr_assert_eq(hb_write(&hb, r1, strlen(r1)), 1);
	cr_assert_eq(hb.state, HB_IDLE);
}

/* Two requests in one read (pipelining): one request seen, two responses
 * written; the second makes the connection untracked, never closed early. */
Test(http_boundary, pipelined_in_one_read_is_untracked)
{
	struct http_boundary hb;
	const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";

	fresh(&hb, GET GET);
	cr_assert_eq(hb_write(&hb, r, strlen(r)), 1);
	cr_assert_eq(hb_write(&hb, r, strlen(r)), 0);
	cr_assert_eq(hb.state, HB_UNTRACKED);
	fresh(&hb, GET GET);                /* both responses in one write */
	char two[128];
	snprintf(two, sizeof(two), "%s%s", r, r);
	cr_assert_eq(hb_write(&hb, two, strlen(two)), 0);
	cr_assert_eq(hb.state, HB_UNTRACKED);
}

/* sendfile: body bytes the tracker does not see. */
Test(http_boundary, opaque_body)
{
	struct http_boundary hb;
	const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n";

	fresh(&hb, GET);
	cr_assert_eq(hb_write(&hb, h, strlen(h)), 0);
	cr_assert_eq(hb_write_opaque(&hb, 4000), 0);
	cr_assert_eq(hb_write_opaque(&hb, 6000), 1);
	fresh(&hb, GET);                    /* opaque bytes in a head: give up */
	cr_assert_eq(hb_write_opaque(&hb, 10), 0);
	cr_assert_eq(hb.state, HB_UNTRACKED);
}

/* Keep-alive: many requests and responses in turn on one connection. */
Test(http_boundary, many_in_turn)
{
	struct http_boundary hb;
	const char *r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
	int i;

	hb_init_idle(&hb);
	for (i = 0; i < 100; i++) {
		hb_read(&hb, GET, strlen(GET));
		cr_assert_eq(hb_write(&hb, r, strlen(r)), 1, "response %d", i);
	}
}
