/*
 * test_json.c - cluster-ctl's JSON reader (launcher/base/json_read.c) and
 * top's frame (launcher/surface/top_view.c), in process: the grammar
 * (what is JSON and what is not, nesting, escapes), lookups, and a frame
 * that shows the fields a master has and "-" for those it lacks (the
 * per-worker generation, accepts_per_s and duration, the rollout).
 */
#include "base/buf.h"
#include "base/json_read.h"
#include "surface/top_view.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(json, .timeout = 30);

static int parses(const char *s)
{
	struct json_doc d;
	int r = json_parse(&d, s, strlen(s));

	json_free(&d);
	return r == 0;
}

Test(json, grammar)
{
	static const char *const good[] = {
		"{}", "[]", " 1 ", "-0.5e+3", "\"\"", "true", "false", "null",
		"{\"a\":[1,{\"b\":null},\"c\"],\"d\":{}}", "[[],[[]]]", "\"\\u00e9\\n\\\"\"",
	};
	static const char *const bad[] = {
		"", "{", "[1,]", "{\"a\"}", "{\"a\":}", "{a:1}", "01", "1.", ".5", "-", "1e",
		"tru", "nul", "\"abc", "\"\\x\"", "\"\\u12\"", "[1 2]", "{} {}", "\"a\nb\"",
		"{\"a\":1,}", "+1",
	};
	char deep[200];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_expect(parses(good[i]), "rejected: %s", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect(!parses(bad[i]), "accepted: %s", bad[i]);
	/* nesting: 64 is fine, 65 is not (no stack overflow on hostile input) */
	memset(deep, '[', 64);
	memset(deep + 64, ']', 64);
	deep[128] = '\0';
	cr_expect(parses(deep));
	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	deep[130] = '\0';
	cr_expect(!parses(deep));
	cr_expect(!parses("[1]x"));
	{
		struct json_doc d;

		cr_assert_eq(json_parse(&d, "[", 1), -1);
		cr_assert_eq(errno, EINVAL);
	}
}

Test(json, lookups)
{
	static const char s[] = "{\"pid\":12,\"name\":\"a\\\"b\\u00e9\\ud83d\\ude00\","
				"\"list\":[{\"x\":1},{\"x\":2.5},[3]],\"none\":null,\"t\":true}";
	struct json_doc d;
	char out[64];
	int list;

	cr_assert_eq(json_parse(&d, s, strlen(s)), 0);
	cr_assert_eq(json_number(&d, json_get(&d, 0, "pid"), -1), 12);
	cr_assert_eq(json_number(&d, json_get(&d, 0, "missing"), -1), -1);
	cr_assert_eq(json_number(&d, json_get(&d, 0, "none"), -1), -1);
	cr_assert_eq(json_type_of(&d, json_get(&d, 0, "none")), JSON_NULL);
	cr_assert_eq(json_type_of(&d, json_get(&d, 0, "t")), JSON_TRUE);
	cr_assert_eq(json_type_of(&d, -1), JSON_NULL);
	cr_assert_str_eq(json_string(&d, json_get(&d, 0, "name"), out, sizeof(out)),
			 "a\"b\xc3\xa9\xf0\x9f\x98\x80");
	cr_assert_null(json_string(&d, json_get(&d, 0, "pid"), out, sizeof(out)));
	/* cut to the buffer, still NUL-ended */
	cr_assert_str_eq(json_string(&d, json_get(&d, 0, "name"), out, 3), "a\"");
	list = json_get(&d, 0, "list");
	cr_assert_eq(d.toks[list].size, 3);
	cr_assert_eq(json_number(&d, json_get(&d, json_at(&d, list, 1), "x"), 0), 2.5);
	cr_assert_eq(json_number(&d, json_at(&d, json_at(&d, list, 2), 0), 0), 3);
	cr_assert_eq(json_at(&d, list, 3), -1);
	cr_assert_eq(json_get(&d, list, "x"), -1);      /* not an object */
	/* a key found only at its own level, not inside a value */
	cr_assert_eq(json_get(&d, 0, "x"), -1);
	json_free(&d);
}

static void sample(struct top_sample *s, const char *text, double when)
{
	char *copy = strdup(text);

	cr_assert(copy);
	cr_assert_eq(top_sample_set(s, copy, when), 0, "%s", text);
}

/* Today's master: no generation, accepts_per_s, duration, rollout. */
static const char old_status[] =
	"{\"pid\":100,\"program\":\"./server\",\"policy\":\"rr\",\"target\":2,\"uptime\":%d,"
	"\"last_reload\":{\"outcome\":\"none\"},\"restarts\":1,"
	"\"listeners\":[{\"address\":\"127.0.0.1:8080\",\"kind\":\"tcp\",\"policy\":\"rr\","
	"\"accepted\":%d,\"pending\":0}],"
	"\"workers\":[{\"slot\":1,\"pid\":202,\"state\":\"ready\",\"restarts\":1,\"handed\":%d,"
	"\"open\":3,\"cpu_seconds\":%d.50,\"rss_bytes\":2097152,\"last_exit\":\"signal 9\"},"
	"{\"slot\":0,\"pid\":201,\"state\":\"ready\",\"restarts\":0,\"handed\":10,\"open\":0,"
	"\"cpu_seconds\":1.00,\"rss_bytes\":1048576,\"last_exit\":null}],"
	"\"restart_reasons\":{\"crash\":1,\"memory\":0}}";

/* The worker row of pid in frame (its line), or NULL. */
static const char *row(const char *frame, const char *pid, char *line, size_t cap)
{
	const char *p = strstr(frame, pid);
	const char *start, *end;

	if (!p)
		return NULL;
	for (start = p; start > frame && start[-1] != '\n'; start--)
		;
	end = strchr(p, '\n');
	snprintf(line, cap, "%.*s", (int)(end - start), start);
	return line;
}

Test(json, frame_of_an_older_master_shows_dashes)
{
	struct top_sample a, b;
	struct buf out = { 0 };
	char text[2048], line[256];
	int n = 0;

	snprintf(text, sizeof(text), old_status, 10, 100, 50, 2);
	sample(&a, text, 1.0);
	snprintf(text, sizeof(text), old_status, 12, 300, 150, 3);
	sample(&b, text, 3.0);
	top_view_text(&out, &b, &a);
	cr_assert(out.data);
	cr_assert(strstr(out.data, "2/2 workers"), "%s", out.data);
	cr_assert(strstr(out.data, "restarts: 1 (crash 1, memory 0)"), "%s", out.data);
	cr_assert(!strstr(out.data, "rollout"), "%s", out.data);
	/* slot 0 first, whatever the master's order */
	cr_assert_lt(strstr(out.data, " 201 ") - out.data, strstr(out.data, " 202 ") - out.data);
	/* slot 1: 100 handed in 2 s = 50.0/s; 1.0 s of CPU in 2 s = 50.0 %; no
	 * generation, p50, p99 */
	cr_assert(row(out.data, " 202 ", line, sizeof(line)), "%s", out.data);
	cr_assert_eq(sscanf(line, "%*d %*d %*s - 50.0 3 - - 50.0 2.0Mi 1 signal 9%n", &n), 0, "%s",
		     line);
	cr_assert_gt(n, 0, "%s", line);
	cr_assert(row(out.data, " 201 ", line, sizeof(line)));
	cr_assert(strstr(line, " 0.0 ") && line[strlen(line) - 1] == '-', "%s", line);
	/* the listener: 200 accepted in 2 s */
	cr_assert(strstr(out.data, "100.0\n"), "%s", out.data);
	free(out.data);
	/* the first frame: no rates */
	out = (struct buf){ 0 };
	top_view_text(&out, &a, NULL);
	cr_assert(row(out.data, " 202 ", line, sizeof(line)));
	n = 0;
	cr_assert_eq(sscanf(line, "%*d %*d %*s - - 3 - - - 2.0Mi 1 signal 9%n", &n), 0, "%s", line);
	cr_assert_gt(n, 0, "%s", line);
	free(out.data);
	top_sample_free(&a);
	top_sample_free(&b);
}

Test(json, frame_shows_the_newer_fields)
{
	static const char s[] =
		"{\"pid\":100,\"program\":\"./server\",\"policy\":\"rr\",\"target\":1,\"uptime\":5,"
		"\"rollout\":{\"generation\":3,\"replaced\":1,\"total\":4,\"draining\":2,"
		"\"oldest_drain_s\":1.25,\"batch\":1,\"paused\":true},"
		"\"listeners\":[],\"workers\":[{\"slot\":0,\"pid\":300,\"state\":\"ready\","
		"\"generation\":3,\"accepts_per_s\":12.5,\"open\":1,\"restarts\":0,"
		"\"duration\":{\"count\":10,\"sum_s\":0.1,\"p50_ms\":4.5,\"p99_ms\":80,"
		"\"le_ms\":[1,10,100],\"buckets\":[1,5,10]},\"cpu_seconds\":0,\"rss_bytes\":4096}]}";
	struct top_sample a;
	struct buf out = { 0 };
	char line[256];
	int n = 0;

	sample(&a, s, 1.0);
	top_view_text(&out, &a, NULL);
	cr_assert(strstr(out.data, "rollout: generation 3, 1/4 replaced, 2 draining (oldest 1.2s), "
			 "batch 1, paused\n") || strstr(out.data, "(oldest 1.3s)"), "%s", out.data);
	cr_assert(row(out.data, " 300 ", line, sizeof(line)));
	sscanf(line, "%*d %*d %*s 3 12.5 1 4.5 80.0 - 4Ki 0 -%n", &n);
	cr_assert_gt(n, 0, "%s", line);
	free(out.data);
	/* --json: the document plus "top", still JSON */
	out = (struct buf){ 0 };
	top_view_json(&out, &a, NULL);
	{
		struct json_doc d;
		int top, w;

		cr_assert_eq(json_parse(&d, out.data, out.len), 0, "%s", out.data);
		top = json_get(&d, 0, "top");
		w = json_at(&d, json_get(&d, top, "workers"), 0);
		cr_assert_eq(json_number(&d, json_get(&d, w, "conns_per_s"), 0), 12.5);
		cr_assert_eq(json_type_of(&d, json_get(&d, w, "cpu_percent")), JSON_NULL);
		cr_assert_eq(json_type_of(&d, json_get(&d, 0, "rollout")), JSON_OBJECT);
		json_free(&d);
	}
	free(out.data);
	top_sample_free(&a);
}

Test(json, a_sample_must_be_an_object)
{
	struct top_sample s;

	cr_assert_eq(top_sample_set(&s, strdup("[1,2]"), 0), -1);
	top_sample_free(&s);
	cr_assert_eq(top_sample_set(&s, strdup("{\"a\":"), 0), -1);
	top_sample_free(&s);
}
