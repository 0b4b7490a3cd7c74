/* SPDX-License-Identifier: MIT */
/*
 * harness.c - the test harness behind harness.h: counters and output of
 * t_run()/t_done(), failure reports, the seed and the per-thread PRNG, the
 * private runtime directory, and the process, hugepage and timing helpers.
 *
 * Checks may fail on any thread: the failure count and the run counters are
 * kept under one mutex, and each report is written with a single fprintf so
 * lines from different threads never interleave. The runtime directory
 * belongs to the process that called t_init(); forked children share it and
 * never remove it.
 */
#include "harness.h"

#include <dirent.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RAND_NONZERO 0x2545f4914f6cdd1dull /* xorshift's state must never be 0 */
#define PREFIX_MAX   24 /* characters of t_prefix(), leaving room for suffixes in HM_NAME_MAX */

/* All the harness's state; the counters are guarded by lock. */
static struct {
	pthread_mutex_t lock;
	unsigned long failures;      /* failed checks so far, on any thread */
	unsigned tests;              /* t_run() calls begun */
	unsigned failed;             /* of those, tests with a failed check */
	const char *current;         /* the test t_run() is in, or NULL */
	unsigned long rand_streams;  /* PRNG streams handed to threads so far */
	uint64_t seed;               /* of this run, printed by t_init() */
	pid_t init_pid;              /* the process that called t_init() */
	char name[64];               /* basename of argv[0] */
	char prefix[PREFIX_MAX + 1]; /* "<name>-<init_pid>" */
	char dir[128];               /* the runtime directory, "" if none */
} h = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.name = "test",
};

/* This thread's xorshift64* state; 0 until the thread first draws. */
static _Thread_local uint64_t rand_state;

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static unsigned long failures_now(void)
{
	unsigned long n;

	pthread_mutex_lock(&h.lock);
	n = h.failures;
	pthread_mutex_unlock(&h.lock);
	return n;
}

static void print_summary(void)
{
	unsigned tests, failed;

	pthread_mutex_lock(&h.lock);
	tests = h.tests;
	failed = h.failed;
	pthread_mutex_unlock(&h.lock);
	printf("%u tests, %u passed, %u failed\n", tests, tests - failed, failed);
	fflush(stdout);
}

/* Parse HUGEMEM_TEST_SEED: decimal, or hexadecimal after 0x; nothing else, no overflow. */
static bool parse_seed(const char *s, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return false;
		if (d >= base || v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (remove(path) != 0)
		fprintf(stderr, "%s: cannot remove %s: %s\n", h.name, path, strerror(errno));
	return 0;
}

/* atexit: remove the runtime directory and everything in it, in its creator only. */
static void remove_runtime_dir(void)
{
	if (h.dir[0] == '\0' || getpid() != h.init_pid)
		return;
	nftw(h.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	h.dir[0] = '\0';
}

/* Hold the lock across fork(), so a child never inherits it held by a thread it lacks. */
static void fork_prepare(void)
{
	pthread_mutex_lock(&h.lock);
}

static void fork_done(void)
{
	pthread_mutex_unlock(&h.lock);
}

void t_init(int argc, char **argv)
{
	const char *base = argc > 0 && argv[0] ? argv[0] : "test";
	const char *env = getenv("HUGEMEM_TEST_SEED");
	const char *slash = strrchr(base, '/');
	char pid[24];
	int pid_len;

	if (slash && slash[1])
		base = slash + 1;
	snprintf(h.name, sizeof(h.name), "%s", base);
	h.init_pid = getpid();

	/* Line-buffered even into a pipe: output keeps its order relative to stderr,
	 * and nothing is left in a buffer for fork() to copy. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (env && *env) {
		if (!parse_seed(env, &h.seed)) {
			fprintf(stderr,
				"HUGEMEM_TEST_SEED=\"%s\": want a decimal or 0x-hex number\n", env);
			exit(1);
		}
	} else {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		h.seed = splitmix64((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
			 (uint64_t)h.init_pid;
	}
	/* This thread draws stream 0, so its numbers replay exactly from the seed. */
	rand_state = splitmix64(h.seed);
	if (rand_state == 0)
		rand_state = RAND_NONZERO;
	h.rand_streams = 1;
	printf("seed: %" PRIu64 " (replay with HUGEMEM_TEST_SEED=%" PRIu64 ")\n", h.seed, h.seed);

	/* Keep the pid whole, so prefixes of concurrent runs differ; shorten the name. */
	pid_len = snprintf(pid, sizeof(pid), "-%ld", (long)h.init_pid);
	snprintf(h.prefix, sizeof(h.prefix), "%.*s%s", PREFIX_MAX - pid_len, h.name, pid);
	for (char *c = h.prefix; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.'))
			*c = '_';
	}

	snprintf(h.dir, sizeof(h.dir), "/tmp/hm-%.48s-XXXXXX", h.name);
	if (!mkdtemp(h.dir)) {
		fprintf(stderr, "%s: mkdtemp(%s): %s\n", h.name, h.dir, strerror(errno));
		exit(1);
	}
	if (pthread_atfork(fork_prepare, fork_done, fork_done) != 0 ||
	    atexit(remove_runtime_dir) != 0 || setenv("HUGEMEM_RUNTIME_DIR", h.dir, 1) != 0) {
		fprintf(stderr, "%s: cannot set up the runtime directory\n", h.name);
		remove_runtime_dir();
		exit(1);
	}
}

int t_done(void)
{
	unsigned failed;
	unsigned long failures;

	print_summary();
	pthread_mutex_lock(&h.lock);
	failed = h.failed;
	failures = h.failures;
	pthread_mutex_unlock(&h.lock);
	return failed || failures ? 1 : 0;
}

void t_run(const char *name, void (*fn)(void))
{
	unsigned long before;
	bool ok;

	printf("[ RUN  ] %s\n", name);
	fflush(stdout);
	pthread_mutex_lock(&h.lock);
	h.tests++;
	h.current = name;
	before = h.failures;
	pthread_mutex_unlock(&h.lock);

	fn();

	pthread_mutex_lock(&h.lock);
	ok = h.failures == before;
	if (!ok)
		h.failed++;
	h.current = NULL;
	pthread_mutex_unlock(&h.lock);
	printf("[ %s ] %s\n", ok ? " OK " : "FAIL", name);
	fflush(stdout);
}

void t_fail(const char *file, int line, bool fatal, const char *fmt, ...)
{
	char text[1024];
	const char *current;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	fflush(stdout);
	fprintf(stderr, "%s:%d: FAIL: %s\n", file, line, text);

	pthread_mutex_lock(&h.lock);
	h.failures++;
	current = h.current;
	if (fatal && current) {
		h.failed++;
		h.current = NULL;
	}
	pthread_mutex_unlock(&h.lock);
	if (!fatal)
		return;

	/* A forked child reports through its exit code; only the t_init() process
	 * prints the summary and runs the atexit cleanup. */
	if (getpid() != h.init_pid) {
		fflush(NULL);
		_exit(1);
	}
	if (current)
		printf("[ FAIL ] %s\n", current);
	print_summary();
	exit(1);
}

void t_skip(const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	printf("SKIP: %s\n", text);
	if (getpid() != h.init_pid) {
		fflush(NULL);
		_exit(T_SKIP_CODE);
	}
	exit(T_SKIP_CODE);
}

uint64_t t_seed(void)
{
	return h.seed;
}

uint64_t t_rand(void)
{
	uint64_t x = rand_state;

	if (x == 0) {
		unsigned long stream;

		pthread_mutex_lock(&h.lock);
		stream = h.rand_streams++;
		pthread_mutex_unlock(&h.lock);
		x = splitmix64(h.seed + stream * 0x632be59bd9b4e019ull);
		if (x == 0)
			x = RAND_NONZERO;
	}
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rand_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

uint64_t t_rand_below(uint64_t n)
{
	return (uint64_t)(((unsigned __int128)t_rand() * n) >> 64);
}

const char *t_name(void)
{
	return h.name;
}

const char *t_prefix(void)
{
	return h.prefix;
}

const char *t_runtime_dir(void)
{
	return h.dir;
}

pid_t t_fork(int (*fn)(void *arg), void *arg)
{
	pid_t pid;

	/* Whatever is buffered now would otherwise be written twice. */
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		t_fail(__FILE__, __LINE__, true, "fork: %s", strerror(errno));
	if (pid == 0) {
		unsigned long before = failures_now();
		int rc = fn(arg);

		if (rc == 0 && failures_now() != before)
			rc = 1;
		fflush(NULL);
		_exit(rc);
	}
	return pid;
}

/* waitpid() for pid, retried on EINTR; false (and a failed check) if it cannot. */
static bool wait_for(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR) {
			t_fail(__FILE__, __LINE__, false, "waitpid(%ld): %s", (long)pid,
			       strerror(errno));
			return false;
		}
	}
	return true;
}

int t_wait_exit(pid_t pid)
{
	int status;

	if (!wait_for(pid, &status))
		return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "note: pid %ld died of signal %d (%s)\n", (long)pid, WTERMSIG(status),
		strsignal(WTERMSIG(status)));
	return -1;
}

bool t_wait_signal(pid_t pid, int sig)
{
	int status;

	if (!wait_for(pid, &status))
		return false;
	if (WIFSIGNALED(status) && WTERMSIG(status) == sig)
		return true;
	if (WIFSIGNALED(status))
		fprintf(stderr, "note: pid %ld died of signal %d, not %d\n", (long)pid,
			WTERMSIG(status), sig);
	else
		fprintf(stderr, "note: pid %ld exited with code %d, not signal %d\n", (long)pid,
			WEXITSTATUS(status), sig);
	return false;
}

/* A pidfd for pid, or -1 where the kernel or the headers have none. */
static int pidfd_for(pid_t pid)
{
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_send_signal)
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

static void pidfd_kill(int pidfd)
{
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_send_signal)
	syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
#else
	(void)pidfd;
#endif
}

struct kill_after {
	pid_t pid;
	int pidfd; /* a pidfd for pid, or -1: then plain kill() */
	unsigned ms;
};

static void *kill_thread(void *arg)
{
	struct kill_after ka = *(struct kill_after *)arg;

	free(arg);
	t_sleep_ms(ka.ms);
	/* Through the pidfd, a pid that was reaped meanwhile and reused is not hit. */
	if (ka.pidfd >= 0) {
		pidfd_kill(ka.pidfd);
		close(ka.pidfd);
	} else {
		kill(ka.pid, SIGKILL);
	}
	return NULL;
}

void t_kill9_after(pid_t pid, unsigned ms)
{
	struct kill_after *ka = malloc(sizeof(*ka));
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	REQUIRE_NOT_NULL(ka);
	ka->pid = pid;
	ka->pidfd = pidfd_for(pid);
	ka->ms = ms;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&tid, &attr, kill_thread, ka);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		if (ka->pidfd >= 0)
			close(ka->pidfd);
		free(ka);
		t_fail(__FILE__, __LINE__, true, "pthread_create: %s", strerror(rc));
	}
}

unsigned t_hugepages_free(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	unsigned n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "HugePages_Free: %u", &n) == 1)
			break;
	}
	fclose(f);
	return n;
}

void t_need_hugepages(unsigned n)
{
	unsigned have = t_hugepages_free();

	if (have < n)
		t_skip("needs %u free hugepages, %u free", n, have);
}

unsigned t_count_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned lines = 0;
	int c;

	REQUIRE_NOT_NULL(f);
	while ((c = getc(f)) != EOF) {
		if (c == '\n')
			lines++;
	}
	fclose(f);
	return lines;
}

double t_scale(double sanitized, double valgrind)
{
	const char *s = getenv("HUGEMEM_TEST_SCALE");

	if (s && *s) {
		char *end;
		double v = strtod(s, &end);

		if (v > 0 && !*end)
			return v;
	}
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	(void)valgrind;
	return sanitized;
#else
	(void)sanitized;
	return t_exact_maps() ? 1.0 : valgrind;
#endif
}

void t_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- a primary and its secondary ---- */

/* ThreadSanitizer keeps the high addresses, so the primary's range may be taken in a child. */
#if defined(__SANITIZE_THREAD__)
#define ADDRESS_MAY_BE_TAKEN 1
#else
#define ADDRESS_MAY_BE_TAKEN 0
#endif

int t_to_child[2], t_to_parent[2];

void t_mp_pipes_open(void)
{
	REQUIRE_EQ(pipe(t_to_child), 0);
	REQUIRE_EQ(pipe(t_to_parent), 0);
}

void t_mp_pipes_close(void)
{
	close(t_to_child[0]);
	close(t_to_child[1]);
	close(t_to_parent[0]);
	close(t_to_parent[1]);
}

void t_mp_send(int fd, uint64_t v)
{
	REQUIRE_EQ(write(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
}

uint64_t t_mp_recv(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t v = 0;

	REQUIRE_EQ(poll(&p, 1, 30000), 1);
	REQUIRE_EQ(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	return v;
}

int t_mp_init_as(enum hm_proc_type type)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = (size_t)256 << 20;
	c.prefix = t_prefix();
	c.proc_type = type;
	return hm_init(&c);
}

bool t_mp_child_attach(int (*init)(enum hm_proc_type type))
{
	int rc = (init ? init : t_mp_init_as)(HM_PROC_SECONDARY);

	if (ADDRESS_MAY_BE_TAKEN && rc == -EADDRINUSE) {
		printf("note: the primary's addresses are taken in this child (ThreadSanitizer)\n");
		t_mp_send(t_to_parent[1], 0);
		return false;
	}
	REQUIRE_EQ(rc, 0);
	CHECK_EQ(hm_proc_type(), HM_PROC_SECONDARY);
	t_mp_send(t_to_parent[1], 1);
	return true;
}

bool t_mp_child_attached(pid_t pid)
{
	if (t_mp_recv(t_to_parent[0]) == 0) {
		CHECK_EQ(t_wait_exit(pid), T_SKIP_CODE);
		return false;
	}
	return true;
}

bool t_exact_maps(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return false;
#else
	const char *pre = getenv("LD_PRELOAD");

	return !(pre && strstr(pre, "vgpreload"));
#endif
}

unsigned t_mappings(void)
{
	return t_exact_maps() ? t_count_mappings() : 0;
}

static atomic_uint log_lines;

void t_count_sink(enum hm_log_level level, const char *line, void *arg)
{
	(void)level;
	(void)line;
	(void)arg;
	atomic_fetch_add(&log_lines, 1);
}

unsigned t_log_lines(void)
{
	return atomic_load(&log_lines);
}

void t_log_lines_reset(void)
{
	atomic_store(&log_lines, 0);
}

unsigned t_hugepages_free_settled(unsigned want)
{
	unsigned n = t_hugepages_free();

	for (unsigned i = 0; i < 200 && n != want; i++) {
		t_sleep_ms(10);
		n = t_hugepages_free();
	}
	return n;
}

unsigned t_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	if (!d)
		return 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}
