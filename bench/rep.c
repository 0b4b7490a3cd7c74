/* SPDX-License-Identifier: MIT */
/*
 * rep.c - one repetition of one implementation, in the process its flags
 * ask for: here; in one forked child that runs setup, every repetition and
 * teardown, driven over a pipe (BENCH_F_FORK); or in a fresh child per
 * repetition (BENCH_F_FORK_REP, for rte_eal_init(), which works once per
 * process).
 *
 * A child sends back one struct child_msg per reply, writes nothing on our
 * stdout (its stdout goes to stderr, so --json stays parseable), is killed
 * by SIGALRM if it hangs, and leaves with _exit(), so it flushes no stdio
 * buffer of ours and runs no atexit handler. A child that dies without
 * replying fails the row with its exit status or signal.
 *
 * An implementation with run() instead of measure() is calibrated here:
 * the iteration count doubles until a run takes an eighth of the target,
 * then is scaled to the target; those runs are the warm-up.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "driver.h"

/* One reply of a child: the return code, the values and the message. */
struct child_msg {
	int rc;
	double v[BENCH_METRICS_MAX];
	char msg[BENCH_MSG_MAX];
};

/* A request to a BENCH_F_FORK child. */
struct child_req {
	int op;       /* 'm': measure repetition rep; 'q': tear down and exit */
	unsigned rep; /* ctx->rep for the repetition, as in process */
};

/* ---- in this process ---- */

/* Time run(iters) and return ns per iteration; negative: the run's error. */
static int timed_run(struct bench_ctx *ctx, uint64_t iters, double *ns_per_op, uint64_t *elapsed)
{
	uint64_t t0, t1;
	int rc;

	t0 = bench_now_ns();
	rc = ctx->impl->run(ctx, iters);
	t1 = bench_now_ns();
	if (rc != 0)
		return rc;
	*elapsed = t1 - t0;
	*ns_per_op = (double)(t1 - t0) / (double)iters;
	return 0;
}

/*
 * Find an iteration count that takes about ctx->target_ns, doubling from 1;
 * the calibration runs double as the warm-up.
 */
static int calibrate(struct bench_ctx *ctx, uint64_t *iters)
{
	uint64_t n = 1, elapsed = 0;
	double per_op;
	int rc;

	for (;;) {
		rc = timed_run(ctx, n, &per_op, &elapsed);
		if (rc != 0)
			return rc;
		if (elapsed >= ctx->target_ns / 8 || n >= (UINT64_C(1) << 40))
			break;
		n *= elapsed < ctx->target_ns / 1024 ? 16 : 2;
	}
	n = (uint64_t)((double)n * (double)ctx->target_ns / (double)(elapsed ? elapsed : 1));
	*iters = n ? n : 1;
	return 0;
}

/* One repetition in this process: out[] gets one value per metric. */
static int measure_once(struct bench_ctx *ctx, uint64_t *iters, double *out)
{
	uint64_t elapsed;

	if (ctx->impl->measure)
		return ctx->impl->measure(ctx, out);
	if (*iters == 0) {
		int rc = calibrate(ctx, iters);

		if (rc != 0)
			return rc;
	}
	return timed_run(ctx, *iters, &out[0], &elapsed);
}

/* ---- children ---- */

static bool read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t k = read(fd, p, len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		len -= (size_t)k;
	}
	return true;
}

static bool write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t k = write(fd, p, len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		len -= (size_t)k;
	}
	return true;
}

static void child_reply(int fd, int rc, const double *v, const struct bench_ctx *ctx)
{
	struct child_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.rc = rc;
	if (v)
		memcpy(msg.v, v, sizeof(msg.v));
	memcpy(msg.msg, ctx->msg, sizeof(msg.msg));
	msg.msg[sizeof(msg.msg) - 1] = '\0';
	write_full(fd, &msg, sizeof(msg));
}

/* In a fresh child: our stdout is the parent's data channel, so send it to stderr. */
static void child_enter(const struct bench_ctx *ctx)
{
	dup2(STDERR_FILENO, STDOUT_FILENO);
	alarm(ctx->opts->smoke ? BENCH_SMOKE_CHILD_TIMEOUT_S : BENCH_CHILD_TIMEOUT_S);
}

/* Why a child stopped answering: its exit status or signal. */
static void child_reap(pid_t pid, struct bench_ctx *ctx, bool expected)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return;
	if (expected)
		return;
	if (WIFSIGNALED(status))
		bench_msg(ctx, 0, "child killed by signal %d (%s)", WTERMSIG(status),
			  strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status))
		bench_msg(ctx, 0, "child exited with status %d without replying",
			  WEXITSTATUS(status));
}

/* BENCH_F_FORK: start the child, which runs setup() and waits for requests. */
static int child_start(struct bench_ctx *ctx, struct bench_child *ch)
{
	int cmd[2], res[2];
	struct child_msg msg;

	if (pipe(cmd) != 0)
		return bench_msg(ctx, -errno, "pipe: %s", strerror(errno));
	if (pipe(res) != 0) {
		int err = errno;

		close(cmd[0]);
		close(cmd[1]);
		return bench_msg(ctx, -err, "pipe: %s", strerror(err));
	}
	fflush(NULL);
	ch->pid = fork();
	if (ch->pid < 0) {
		int err = errno;

		close(cmd[0]);
		close(cmd[1]);
		close(res[0]);
		close(res[1]);
		return bench_msg(ctx, -err, "fork: %s", strerror(err));
	}
	if (ch->pid == 0) {
		double out[BENCH_METRICS_MAX];
		struct child_req req;
		uint64_t iters = 0;
		int rc = 0;

		close(cmd[1]);
		close(res[0]);
		child_enter(ctx);
		if (ctx->impl->setup)
			rc = ctx->impl->setup(ctx);
		child_reply(res[1], rc, NULL, ctx);
		if (rc != 0)
			_exit(0);
		while (read_full(cmd[0], &req, sizeof(req)) && req.op == 'm') {
			memset(out, 0, sizeof(out));
			ctx->msg[0] = '\0';
			ctx->rep = req.rep;
			rc = measure_once(ctx, &iters, out);
			child_reply(res[1], rc, out, ctx);
		}
		if (ctx->impl->teardown)
			ctx->impl->teardown(ctx);
		_exit(0);
	}
	close(cmd[0]);
	close(res[1]);
	ch->cmd_fd = cmd[1];
	ch->res_fd = res[0];
	if (!read_full(ch->res_fd, &msg, sizeof(msg))) {
		close(ch->cmd_fd);
		close(ch->res_fd);
		ctx->msg[0] = '\0';
		child_reap(ch->pid, ctx, false);
		return -ECHILD;
	}
	memcpy(ctx->msg, msg.msg, sizeof(ctx->msg));
	if (msg.rc != 0) {
		close(ch->cmd_fd);
		close(ch->res_fd);
		child_reap(ch->pid, ctx, true);
	}
	return msg.rc;
}

static int child_measure(struct bench_ctx *ctx, struct bench_child *ch, double *out)
{
	struct child_req req = {.op = 'm', .rep = ctx->rep};
	struct child_msg msg;

	if (!write_full(ch->cmd_fd, &req, sizeof(req)) ||
	    !read_full(ch->res_fd, &msg, sizeof(msg))) {
		close(ch->cmd_fd);
		close(ch->res_fd);
		child_reap(ch->pid, ctx, false);
		ch->pid = -1;
		return -ECHILD;
	}
	memcpy(out, msg.v, sizeof(msg.v));
	memcpy(ctx->msg, msg.msg, sizeof(ctx->msg));
	return msg.rc;
}

static void child_stop(struct bench_ctx *ctx, struct bench_child *ch)
{
	struct child_req req = {.op = 'q'};

	if (ch->pid <= 0)
		return;
	write_full(ch->cmd_fd, &req, sizeof(req));
	close(ch->cmd_fd);
	close(ch->res_fd);
	child_reap(ch->pid, ctx, true);
	ch->pid = -1;
}

/* BENCH_F_FORK_REP: one fresh child for setup, one measure() and teardown. */
static int child_once(struct bench_ctx *ctx, double *out)
{
	struct child_msg msg;
	int res[2];
	pid_t pid;

	if (pipe(res) != 0)
		return bench_msg(ctx, -errno, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int err = errno;

		close(res[0]);
		close(res[1]);
		return bench_msg(ctx, -err, "fork: %s", strerror(err));
	}
	if (pid == 0) {
		uint64_t iters = 0;
		int rc = 0;

		close(res[0]);
		child_enter(ctx);
		memset(out, 0, BENCH_METRICS_MAX * sizeof(*out));
		if (ctx->impl->setup)
			rc = ctx->impl->setup(ctx);
		if (rc == 0) {
			rc = measure_once(ctx, &iters, out);
			if (ctx->impl->teardown)
				ctx->impl->teardown(ctx);
		}
		child_reply(res[1], rc, out, ctx);
		_exit(0);
	}
	close(res[1]);
	if (!read_full(res[0], &msg, sizeof(msg))) {
		close(res[0]);
		ctx->msg[0] = '\0';
		child_reap(pid, ctx, false);
		return -ECHILD;
	}
	close(res[0]);
	child_reap(pid, ctx, true);
	memcpy(out, msg.v, sizeof(msg.v));
	memcpy(ctx->msg, msg.msg, sizeof(ctx->msg));
	return msg.rc;
}

/* ---- the three entry points ---- */

int bench_rep_start(struct bench_ctx *ctx, struct bench_child *ch)
{
	ch->pid = -1;
	if (ctx->impl->flags & BENCH_F_FORK)
		return child_start(ctx, ch);
	if (!(ctx->impl->flags & BENCH_F_FORK_REP) && ctx->impl->setup)
		return ctx->impl->setup(ctx);
	return 0;
}

int bench_rep_run(struct bench_ctx *ctx, struct bench_child *ch, uint64_t *iters, double *out)
{
	ctx->msg[0] = '\0';
	memset(out, 0, BENCH_METRICS_MAX * sizeof(*out));
	if (ctx->impl->flags & BENCH_F_FORK)
		return child_measure(ctx, ch, out);
	if (ctx->impl->flags & BENCH_F_FORK_REP)
		return child_once(ctx, out);
	return measure_once(ctx, iters, out);
}

void bench_rep_stop(struct bench_ctx *ctx, struct bench_child *ch)
{
	if (ctx->impl->flags & BENCH_F_FORK)
		child_stop(ctx, ch);
	else if (!(ctx->impl->flags & BENCH_F_FORK_REP) && ctx->impl->teardown)
		ctx->impl->teardown(ctx);
}
