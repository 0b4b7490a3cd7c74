/* SPDX-License-Identifier: MIT */
/*
 * harness.h - the zero-dependency test harness: one executable per test
 * file, exit 0 (all passed), 1 (a check failed) or 77 (skipped).
 *
 *   static void test_something(void) { CHECK_EQ(f(1), 2); }
 *   int main(int argc, char **argv) {
 *           t_init(argc, argv);          // prints the seed, makes the runtime dir
 *           T_RUN(test_something);
 *           return t_done();             // "N tests, N passed, N failed"
 *   }
 *
 * CHECK_* record a failure and go on; REQUIRE_* end the test file at once.
 * Comparisons print both values. A randomised test takes t_seed(), which
 * comes from HUGEMEM_TEST_SEED or the clock and is printed by t_init().
 */
#ifndef HM_TESTS_HARNESS_H
#define HM_TESTS_HARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <sys/types.h>
#include <hugemem/common.h>
#include <hugemem/core.h>

#define T_SKIP_CODE 77

void t_init(int argc, char **argv);
int t_done(void);
void t_run(const char *name, void (*fn)(void));
#define T_RUN(fn) t_run(#fn, fn)

/* Record a failed check (file, line, text); fatal ones exit(1) after printing. */
void t_fail(const char *file, int line, bool fatal, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Skip the whole file: print the reason and exit 77. */
void t_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
#define SKIP(...) t_skip(__VA_ARGS__)

#define T_CHECK_(fatal, cond)                                           \
	do {                                                            \
		if (!(cond))                                            \
			t_fail(__FILE__, __LINE__, fatal, "%s", #cond); \
	} while (0)
#define T_CMP_(fatal, a, op, b)                                                                   \
	do {                                                                                      \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);                           \
		if (!(t_a_ op t_b_))                                                              \
			t_fail(__FILE__, __LINE__, fatal, "%s %s %s (%lld vs %lld)", #a, #op, #b, \
			       t_a_, t_b_);                                                       \
	} while (0)
#define T_UCMP_(fatal, a, op, b)                                                                   \
	do {                                                                                       \
		unsigned long long t_a_ = (unsigned long long)(a), t_b_ = (unsigned long long)(b); \
		if (!(t_a_ op t_b_))                                                               \
			t_fail(__FILE__, __LINE__, fatal, "%s %s %s (%#llx vs %#llx)", #a, #op,    \
			       #b, t_a_, t_b_);                                                    \
	} while (0)

#define CHECK(cond)      T_CHECK_(false, cond)
#define REQUIRE(cond)    T_CHECK_(true, cond)
#define CHECK_EQ(a, b)   T_CMP_(false, a, ==, b)
#define CHECK_NE(a, b)   T_CMP_(false, a, !=, b)
#define CHECK_LT(a, b)   T_CMP_(false, a, <, b)
#define CHECK_LE(a, b)   T_CMP_(false, a, <=, b)
#define CHECK_GT(a, b)   T_CMP_(false, a, >, b)
#define CHECK_GE(a, b)   T_CMP_(false, a, >=, b)
#define REQUIRE_EQ(a, b) T_CMP_(true, a, ==, b)
#define REQUIRE_NE(a, b) T_CMP_(true, a, !=, b)
#define REQUIRE_GE(a, b) T_CMP_(true, a, >=, b)
/* Unsigned or pointer comparisons, printed in hex. */
#define CHECK_UEQ(a, b)     T_UCMP_(false, a, ==, b)
#define CHECK_PTR_EQ(a, b)  T_UCMP_(false, (uintptr_t)(a), ==, (uintptr_t)(b))
#define CHECK_NULL(p)       T_UCMP_(false, (uintptr_t)(p), ==, 0)
#define REQUIRE_NOT_NULL(p) T_UCMP_(true, (uintptr_t)(p), !=, 0)
#define CHECK_STR_EQ(a, b)                                                                       \
	do {                                                                                     \
		const char *t_a_ = (a), *t_b_ = (b);                                             \
		if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0)                                   \
			t_fail(__FILE__, __LINE__, false, "%s == %s (\"%s\" vs \"%s\")", #a, #b, \
			       t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");                  \
	} while (0)
/* A pointer-returning call failed with errno e. */
#define CHECK_NULL_ERRNO(call, e)                                                               \
	do {                                                                                    \
		errno = 0;                                                                      \
		const void *t_p_ = (call);                                                      \
		int t_e_ = errno;                                                               \
		if (t_p_ != NULL || t_e_ != (e))                                                \
			t_fail(__FILE__, __LINE__, false, "%s: want NULL/%s, got %p/%s", #call, \
			       #e, t_p_, strerror(t_e_));                                       \
	} while (0)

/*
 * The seed of this run (HUGEMEM_TEST_SEED, decimal or 0x-hex, or the clock),
 * printed by t_init(). A bad HUGEMEM_TEST_SEED ends the test with exit 1.
 */
uint64_t t_seed(void);
/*
 * A small fast PRNG (xorshift64*) seeded from t_seed(); t_rand_below(n) is in
 * [0, n) (multiply-high, bias below 2^-40 for n < 2^24), and 0 for n 0. Each
 * thread draws its own stream; the thread that called t_init() draws the same
 * numbers for the same seed, other threads' streams depend on the order in
 * which they first draw. A forked child continues its parent thread's stream.
 */
uint64_t t_rand(void);
uint64_t t_rand_below(uint64_t n);

/* The test's name (basename of argv[0]). */
const char *t_name(void);
/*
 * A shared-memory prefix unique to this test and process ("<name>-<pid>", pid
 * of the t_init() process, so forked children get the same one; at most 24
 * characters: a long name is shortened, the pid kept whole; characters other
 * than letters, digits, '-', '_' and '.' become '_'), and a private runtime
 * directory (mode 0700) made by t_init() as /tmp/hm-<name>-XXXXXX and removed
 * with everything in it when the t_init() process exits normally (not when it
 * dies of a signal; never by a forked child). t_init() also exports
 * HUGEMEM_RUNTIME_DIR to it.
 */
const char *t_prefix(void);
const char *t_runtime_dir(void);

/*
 * Processes: run fn(arg) in a child whose exit code is fn's return, or 1 if fn
 * returned 0 but a check failed in the child (a child cannot add to the
 * parent's failure count). A REQUIRE_* failing in a child exits it with 1, and
 * SKIP with 77. Stdio is flushed before the fork and before the child exits.
 */
pid_t t_fork(int (*fn)(void *arg), void *arg);
/*
 * Wait for pid: its exit code, or -1 if it did not exit normally (a signal;
 * a note on stderr says which) or cannot be waited for (a failed check).
 */
int t_wait_exit(pid_t pid);
/*
 * Wait for pid and report whether it died of signal sig; if not, a note on
 * stderr says how it ended.
 */
bool t_wait_signal(pid_t pid, int sig);
/*
 * Send SIGKILL to pid after ms milliseconds, from a detached helper thread.
 * The signal goes through a pidfd, so if pid has been reaped by then, no
 * process that reused the pid is hit (plain kill() on kernels before 5.3).
 */
void t_kill9_after(pid_t pid, unsigned ms);

/* Hugepages: free 2 MiB (or default-size) pages now; SKIP unless at least n are free. */
unsigned t_hugepages_free(void);
/* The free count once it equals want, waiting up to 2 s: the kernel frees an
 * exited process's hugepages a little later, from a workqueue. */
unsigned t_hugepages_free_settled(unsigned want);
void t_need_hugepages(unsigned n);

/* Leak checks: the number of lines (mappings) in /proc/self/maps. */
unsigned t_count_mappings(void);
/* Open file descriptors of this process. */
unsigned t_count_fds(void);
/* Whether mapping counts compare exactly: no sanitizer or valgrind maps memory meanwhile. */
bool t_exact_maps(void);
/* t_count_mappings() where t_exact_maps(), else 0, so that comparisons of it hold trivially. */
unsigned t_mappings(void);

/*
 * A hugemem log sink (hm_log_sink) that only counts the lines it gets, from
 * any thread: install it with hm_log_set_sink(t_count_sink, NULL) to keep
 * expected errors quiet and check how many were logged.
 */
void t_count_sink(enum hm_log_level level, const char *line, void *arg);
unsigned t_log_lines(void);
void t_log_lines_reset(void);
/*
 * How much of its full work a stress test should do: HUGEMEM_TEST_SCALE if
 * it is set (a positive number), else 1 in a plain build, sanitized under
 * ASan or TSan, valgrind under Valgrind.
 */
double t_scale(double sanitized, double valgrind);
/* Sleep ms milliseconds. */
void t_sleep_ms(unsigned ms);

/*
 * A primary and its forked secondary (tests/mp). t_mp_pipes_open(), before
 * the fork, makes two pipes, t_to_child and t_to_parent ([0] reads, [1]
 * writes); t_mp_pipes_close() closes all four ends. t_mp_send() writes one
 * uint64_t; t_mp_recv() reads one, fatal if none comes within 30 s.
 * t_mp_init_as() starts hugemem as type on 4 KiB pages with a 256 MiB limit
 * and the test's prefix. In the child, t_mp_child_attach(init) attaches as
 * a secondary with init (NULL: t_mp_init_as) and tells the parent whether it
 * could: under ThreadSanitizer the primary's addresses may be taken in the
 * child (-EADDRINUSE), which then returns false and should exit with
 * T_SKIP_CODE. The parent's t_mp_child_attached(pid) reads the answer and
 * returns false, having waited for the child, if it could not attach.
 */
extern int t_to_child[2], t_to_parent[2];
void t_mp_pipes_open(void);
void t_mp_pipes_close(void);
void t_mp_send(int fd, uint64_t v);
uint64_t t_mp_recv(int fd);
int t_mp_init_as(enum hm_proc_type type);
bool t_mp_child_attach(int (*init)(enum hm_proc_type type));
bool t_mp_child_attached(pid_t pid);

#endif /* HM_TESTS_HARNESS_H */
