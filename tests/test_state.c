/*
 * test_state.c - the upgrade's state file (launcher/base/state.c): what
 * one build writes another reads, fds named once, a newer format refused.
 */
#include "base/state.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

static struct state_in *round_trip(struct state_out *o)
{
	char why[256] = "";
	struct state_in *in;
	int fd = state_out_finish(o);

	cr_assert_geq(fd, 0);
	in = state_in_read(fd, why, sizeof(why));
	cr_assert_not_null(in, "%s", why);
	close(fd);
	return in;
}

Test(state, values_and_strings_round_trip)
{
	struct state_out *o = state_out_new("9.9.9", 5);
	const unsigned char bytes[] = { 0, ' ', '=', '%', '\n', 0xff, 'a' };
	const struct state_rec *r;
	unsigned char back[16];
	struct state_in *in;

	state_rec(o, "worker");
	state_i64(o, "slot", -3);
	state_u64(o, "sent", UINT64_MAX);
	state_str(o, "name", "a b=c%d\nnext");
	state_str(o, "empty", "");
	state_bytes(o, "raw", bytes, sizeof(bytes));
	state_rec(o, "worker");
	state_i64(o, "slot", 4);
	state_rec(o, "other");
	in = round_trip(o);
	cr_expect_str_eq(state_in_version(in), "9.9.9");
	cr_expect_eq(state_in_protocol(in), 5);
	r = state_first(in, "worker");
	cr_assert_not_null(r);
	cr_expect_eq(rec_i64(r, "slot", 0), -3);
	cr_expect_eq(rec_u64(r, "sent", 0), UINT64_MAX);
	cr_expect_str_eq(rec_str(r, "name", "?"), "a b=c%d\nnext");
	cr_expect_str_eq(rec_str(r, "empty", "?"), "");
	cr_expect_eq(rec_bytes(r, "raw", back, sizeof(back)), (long)sizeof(bytes));
	cr_expect_arr_eq(back, bytes, sizeof(bytes));
	/* a key the writer did not write keeps the reader's default */
	cr_expect_eq(rec_i64(r, "added_later", 42), 42);
	cr_expect_str_eq(rec_str(r, "added_later", "dflt"), "dflt");
	r = state_next(r);
	cr_assert_not_null(r);
	cr_expect_eq(rec_i64(r, "slot", 0), 4);
	cr_expect_null(state_next(r));
	cr_expect_not_null(state_first(in, "other"));
	cr_expect_null(state_first(in, "unknown_kind"));
	state_in_free(in);
	state_out_free(o);
}

Test(state, fds_are_marked_once_and_taken_back_close_on_exec)
{
	struct state_out *o = state_out_new("1", 5);
	const struct state_rec *r;
	struct state_in *in;
	const int *fds;
	size_t n;
	int p[2];

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	state_rec(o, "x");
	state_fd(o, "a", p[0]);
	state_fd(o, "b", p[1]);
	state_fd(o, "again", p[0]);
	state_fd(o, "none", -1);
	fds = state_out_fds(o, &n);
	cr_expect_eq(n, 2);
	cr_expect_eq(fds[0], p[0]);
	cr_expect_eq(fds[1], p[1]);
	in = round_trip(o);
	r = state_first(in, "x");
	fcntl(p[0], F_SETFD, 0);
	cr_expect_eq(rec_fd(r, "a"), p[0]);
	cr_expect(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
	cr_expect_eq(rec_fd(r, "none"), -1);
	state_in_free(in);
	state_out_free(o);
	close(p[0]);
	close(p[1]);
}

static struct state_in *read_text(const char *text, char *why, size_t len)
{
	struct state_in *in;
	int fd = memfd_create("t", 0);

	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	in = state_in_read(fd, why, len);
	close(fd);
	return in;
}

Test(state, a_newer_format_a_cut_file_or_no_header_is_refused)
{
	char why[256] = "", text[128];

	snprintf(text, sizeof(text), "cluster-run-state %d version=x protocol=5\n", STATE_FORMAT + 1);
	cr_expect_null(read_text(text, why, sizeof(why)));
	cr_expect(strstr(why, "newer"), "%s", why);
	cr_expect_null(read_text("cluster-run-state 1 version=x protocol=5\nworker slot=1", why,
				 sizeof(why)));
	cr_expect(strstr(why, "cut short"), "%s", why);
	cr_expect_null(read_text("something else\n", why, sizeof(why)));
	cr_expect(strstr(why, "header"), "%s", why);
}
