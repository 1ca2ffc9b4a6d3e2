/*
 * test_http_resp.c - the load generator's response parser: framing by
 * Content-Length, chunked and close, interim responses, keep-alive, and
 * the errors it must report instead of guessing.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "http_resp.h"

static struct http_resp r;

static void setup(void)
{
	http_resp_reset(&r);
}

TestSuite(http_resp, .init = setup);

static size_t feed(const char *s)
{
	return http_resp_feed(&r, s, strlen(s));
}

Test(http_resp, content_length_in_one_piece)
{
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Worker:  3 \r\n\r\nhello";
	cr_assert_eq(feed(s), strlen(s));
	cr_assert_eq(r.state, RESP_DONE);
	cr_assert_eq(r.status, 200);
	cr_assert(r.keep_alive);
	cr_assert_str_eq(r.worker, "3");
}

Test(http_resp, byte_by_byte)
{
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-worker: w7\r\n\r\nok";
	for (size_t i = 0; s[i]; i++) {
		cr_assert_neq(r.state, RESP_DONE, "done early at byte %zu", i);
		cr_assert_eq(http_resp_feed(&r, s + i, 1), 1);
	}
	cr_assert_eq(r.state, RESP_DONE);
	cr_assert_str_eq(r.worker, "w7");
}

Test(http_resp, stops_at_the_end_of_the_response)
{
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxEXTRA";
	cr_assert_eq(feed(s), strlen(s) - 5);
	cr_assert_eq(r.state, RESP_DONE);
}

Test(http_resp, chunked_with_extension_and_trailer)
{
	const char *s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
			"5\r\nhello\r\nA;x=1\r\n0123456789\r\n0\r\nT: v\r\n\r\n";
	cr_assert_eq(feed(s), strlen(s));
	cr_assert_eq(r.state, RESP_DONE);
	cr_assert(r.keep_alive);
}

Test(http_resp, body_until_close)
{
	feed("HTTP/1.0 200 OK\r\nX-Worker: 1\r\n\r\nsome body");
	cr_assert_eq(r.state, RESP_BODY_EOF);
	cr_assert_not(r.keep_alive);
	cr_assert(http_resp_eof(&r));
	cr_assert_eq(r.state, RESP_DONE);
}

Test(http_resp, truncated_body_is_not_complete)
{
	feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
	cr_assert_not(http_resp_eof(&r));
}

Test(http_resp, interim_response_is_skipped)
{
	const char *s = "HTTP/1.1 100 Continue\r\n\r\n"
			"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
	cr_assert_eq(feed(s), strlen(s));
	cr_assert_eq(r.state, RESP_DONE);
	cr_assert_eq(r.status, 201);
}

Test(http_resp, no_content_has_no_body)
{
	feed("HTTP/1.1 204 No Content\r\n\r\n");
	cr_assert_eq(r.state, RESP_DONE);
}

Test(http_resp, connection_close_and_http10_keep_alive)
{
	feed("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
	cr_assert_not(r.keep_alive);
	http_resp_reset(&r);
	feed("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n");
	cr_assert(r.keep_alive);
}

Test(http_resp, bare_lf_line_ends)
{
	feed("HTTP/1.1 200 OK\nContent-Length: 2\n\nok");
	cr_assert_eq(r.state, RESP_DONE);
}

Test(http_resp, errors)
{
	static const char *bad[] = {
		"HTTX/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		http_resp_reset(&r);
		feed(bad[i]);
		cr_assert_eq(r.state, RESP_ERROR, "accepted: %s", bad[i]);
		cr_assert_not_null(r.error);
	}
}

Test(http_resp, oversized_header)
{
	char line[1024];
	memset(line, 'a', sizeof(line));
	feed("HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < 9 && r.state == RESP_HEADERS; i++)
		http_resp_feed(&r, line, sizeof(line));
	cr_assert_eq(r.state, RESP_ERROR);
}
