/*
 * probes.c - the HTTP answers of the --metrics address: /ready and /live
 * for Kubernetes probes and load balancer health checks, the status page
 * and its JSON, and the Prometheus metrics (report.c) for every other
 * path, as before.
 *
 *   /ready   200 when every slot has a listening worker; 503 before the
 *            first generation listens, while a slot is empty (a crashed
 *            worker waiting for its restart) and from the stop signal on,
 *            so a balancer stops sending before the workers go.
 *   /live    200 as long as the master's loop answers at all.
 *   /status  the status page (status_page.html): top in a browser; also
 *            "/" when the request accepts text/html (a browser).
 *   /status.json  status --json (report.c) less the program's arguments;
 *            the page reads it.
 *
 * HTTP/1.0, one answer, then close (control.c writes and closes).  HEAD
 * gets the headers only.
 *
 * Not here: the sockets and clients (control.c), the state (lifecycle.c).
 */
#include "surface/probes.h"
#include "cluster.h"
#include "base/buf.h"
#include "supervise/lifecycle.h"
#include "surface/report.h"
#include "surface/status_page.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* "GET /ready?x HTTP/1.1" -> path "/ready" into out; whether it was HEAD. */
static int request_path(const char *req, char *out, size_t cap)
{
	const char *sp = strchr(req, ' '), *p;
	size_t n;

	out[0] = '\0';
	if (!sp)
		return 0;
	p = sp + 1;
	n = strcspn(p, " ?\r\n");
	if (n < cap) {
		memcpy(out, p, n);
		out[n] = '\0';
	}
	return !strncasecmp(req, "HEAD ", 5);
}

/*
 * Why wait for the blank line: closing a socket with unread bytes in its
 * receive queue sends RST, not FIN, and a client that gets the RST before
 * it has read the answer loses it (curl: "recv failure"; a browser's
 * XMLHttpRequest: a network error).  Prometheus' requests fit in one read;
 * a browser's, with its user agent and client hints, often do not.
 */
static const char html_line[] = "Accept: text/html\r\n";

/* Whether the request's Accept header names text/html: a browser's does,
 * Prometheus' and curl's do not.  "/" is the page for the one and the
 * metrics, as it always was, for the others. */
static int wants_html(const char *req)
{
	const char *a = strcasestr(req, "\nAccept:");

	if (!a)
		return 0;
	a += 8;
	return strcasestr(a, "text/html") && strcasestr(a, "text/html") < a + strcspn(a, "\n");
}

int probes_request_in(char *buf, size_t *len, size_t cap)
{
	char *nl;
	size_t keep, html;

	if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
		return 1;
	if (*len < cap - 1)
		return 0;
	/* full: keep the request line, whether it asked for HTML (see
	 * wants_html), an 'x' so that what is kept cannot end the headers
	 * itself, and the last 3 bytes (a "\r\n\r" cut short) */
	nl = memchr(buf, '\n', *len);
	html = wants_html(buf) ? sizeof(html_line) - 1 : 0;
	if (!nl || (size_t)(nl - buf) + 1 + html + 4 >= *len)
		return 1;       /* no room to keep reading: answer what we have */
	keep = (size_t)(nl - buf) + 1;
	memmove(buf + keep + html + 1, buf + *len - 3, 3);
	memcpy(buf + keep, html_line, html);
	buf[keep + html] = 'x';
	*len = keep + html + 4;
	buf[*len] = '\0';
	return 0;
}

static void plain(struct buf *b, int code, const char *reason, const char *body, int head)
{
	buf_printf(b, "HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		      "Cache-Control: no-store\r\nConnection: close\r\n\r\n%s",
		   code, reason, strlen(body), head ? "" : body);
}

/*
 * status --json less the program's arguments: the --metrics address may be
 * reachable by more people than the control socket (its owner only), and
 * a command line can hold a secret.  report.c writes "args" as an array of
 * strings (escaped by its json_string); cut it out, quotes respected.
 */
static void status_json_public(struct cluster *c, struct buf *b)
{
	static const char key[] = ",\"args\":[";
	size_t from = b->len, end;
	char *p;
	int in_string = 0;

	report_json(c, b);
	if (!b->data || !(p = strstr(b->data + from, key)))
		return;
	for (end = (size_t)(p - b->data) + sizeof(key) - 1; end < b->len; end++) {
		char ch = b->data[end];

		if (in_string && ch == '\\')
			end++;
		else if (ch == '"')
			in_string = !in_string;
		else if (!in_string && ch == ']')
			break;
	}
	if (end >= b->len)
		return;
	end++;                  /* past the ']' */
	memmove(p, b->data + end, b->len - end + 1);
	b->len -= end - (size_t)(p - b->data);
}

void probes_answer(struct cluster *c, const char *request, struct buf *b)
{
	char path[64], body[128];
	int head = request_path(request, path, sizeof(path));

	if (!strcmp(path, "/live") || !strcmp(path, "/livez")) {
		plain(b, 200, "OK", "live\n", head);
	} else if (!strcmp(path, "/ready") || !strcmp(path, "/readyz")) {
		int ready = 0, i;

		for (i = 0; i < c->target; i++)
			ready += c->slots[i].active && c->slots[i].active->state == W_READY;
		if (lifecycle_all_ready(c)) {
			snprintf(body, sizeof(body), "ready: %d/%d workers listening\n", ready,
				 c->target);
			plain(b, 200, "OK", body, head);
		} else {
			snprintf(body, sizeof(body), "not ready: %s%d/%d workers listening\n",
				 c->stopping ? "stopping, " : "", c->stopping ? 0 : ready, c->target);
			plain(b, 503, "Service Unavailable", body, head);
		}
	} else if (!strcmp(path, "/status") || (!strcmp(path, "/") && wants_html(request))) {
		buf_printf(b, "HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
			      "Content-Length: %lu\r\nCache-Control: no-store\r\n"
			      "Connection: close\r\n\r\n%s", status_page_html_len,
			   head ? "" : status_page_html);
	} else if (!strcmp(path, "/status.json")) {
		buf_printf(b, "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
			      "Cache-Control: no-store\r\nConnection: close\r\n\r\n");
		if (!head)
			status_json_public(c, b);
	} else {
		buf_printf(b, "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
			      "Connection: close\r\n\r\n");
		if (!head)
			report_metrics(c, b);
	}
}
