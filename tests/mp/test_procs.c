/* SPDX-License-Identifier: MIT */
/*
 * test_procs.c - primary and secondary processes (real fork): attaching
 * before and after the parent's init, shared zones both ways, no primary,
 * a primary killed with kill -9 and its stale files, a second primary, AUTO,
 * a layout version mismatch, addresses taken in the secondary, cleanup of
 * the instance files, thread slots across processes, the slots of a killed
 * secondary, and fault injection during attach.
 */
#include "harness.h"
#include "internal.h"
#include "mem/mem.h"
#include "mem/os.h"
#include "heap/heap.h"
#include <hugemem.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB         ((size_t)1 << 20)
#define MAX_THREADS 32

/* ThreadSanitizer keeps the high addresses, so the primary's range is wherever the kernel
 * puts it, and a child that forked before it may have used those addresses since. */
#if defined(__SANITIZE_THREAD__)
#define ADDRESS_MAY_BE_TAKEN 1
#else
#define ADDRESS_MAY_BE_TAKEN 0
#endif
#define CHILD_SKIPPED 77

/* --- plumbing: two pipes between parent and child --- */

static int to_child[2], to_parent[2];

static void pipes_open(void)
{
	REQUIRE_EQ(pipe(to_child), 0);
	REQUIRE_EQ(pipe(to_parent), 0);
}

static void pipes_close(void)
{
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
}

static void send_u64(int fd, uint64_t v)
{
	REQUIRE_EQ(write(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
}

/* Receive one value within 10 s; fatal if none comes. */
static uint64_t recv_u64(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t v = 0;

	REQUIRE_EQ(poll(&p, 1, 10000), 1);
	REQUIRE_EQ(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	return v;
}

static struct hm_config config(enum hm_proc_type type)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = 128 * MIB;
	c.max_threads = MAX_THREADS;
	c.prefix = t_prefix();
	c.proc_type = type;
	return c;
}

static int init_as(enum hm_proc_type type)
{
	struct hm_config c = config(type);

	return hm_init(&c);
}

static char *instance_path(const char *file, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s%s%s", t_runtime_dir(), t_prefix(), file ? "/" : "",
		 file ? file : "");
	return buf;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static bool all_bytes(const void *p, size_t len, uint8_t v)
{
	for (size_t i = 0; i < len; i++)
		if (((const uint8_t *)p)[i] != v)
			return false;
	return true;
}

static void audit_all(void)
{
	for (unsigned i = 0; i < hm__heap_count(); i++)
		CHECK_EQ(hm__heap_audit(hm__heap_get(i)), 0);
}

static char last_log[512];

/* Counts like t_count_sink and keeps the last line. */
static void sink(enum hm_log_level level, const char *line, void *arg)
{
	t_count_sink(level, line, arg);
	snprintf(last_log, sizeof(last_log), "%s", line);
}

/* --- the secondary's side of a zone exchange --- */

static int secondary_exchange(void *arg)
{
	uint64_t addr = arg ? (uint64_t)(uintptr_t)arg : recv_u64(to_child[0]);
	const struct hm_memzone *mz, *mine;
	struct hm_mem_info mi;

	int rc = init_as(HM_PROC_SECONDARY);

	if (ADDRESS_MAY_BE_TAKEN && rc == -EADDRINUSE) {
		printf("note: the primary's addresses are taken in this child (ThreadSanitizer)\n");
		return CHILD_SKIPPED;
	}
	REQUIRE_EQ(rc, 0);
	CHECK_EQ(hm_proc_type(), HM_PROC_SECONDARY);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK(mi.shared);
	CHECK_EQ(mi.proc_type, HM_PROC_SECONDARY);
	CHECK_UEQ(mi.memory_limit, 128 * MIB);
	mz = hm_memzone_lookup("from-parent");
	REQUIRE_NOT_NULL(mz);
	CHECK_UEQ((uintptr_t)mz->addr, addr);
	CHECK_EQ(mz->len, MIB);
	CHECK_UEQ(hm_virt2iova(mz->addr), mz->iova);
	CHECK(hm_socket_valid(hm_socket_of(mz->addr)));
	CHECK(all_bytes(mz->addr, MIB, 0xa5));
	memset(mz->addr, 0x5a, MIB / 2);
	/* A zone of our own, which needs the heap to grow from this process. */
	mine = hm_memzone_reserve("from-child", 3 * MIB, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(mine);
	memset(mine->addr, 0xc3, mine->len);
	CHECK_NULL_ERRNO(hm_memzone_reserve("from-parent", 64, -1, 0, 0, 0), EEXIST);
	/* The secondary frees a zone of the primary. */
	CHECK_EQ(hm_memzone_free(hm_memzone_lookup("child-frees")), 0);
	CHECK_GE(hm_thread_id(), 0);
	audit_all();
	hm_cleanup();
	CHECK(!hm_initialized());
	return 0;
}

static void parent_checks_exchange(void)
{
	const struct hm_memzone *mz = hm_memzone_lookup("from-parent");
	const struct hm_memzone *theirs = hm_memzone_lookup("from-child");

	REQUIRE_NOT_NULL(mz);
	CHECK(all_bytes(mz->addr, MIB / 2, 0x5a));
	CHECK(all_bytes((char *)mz->addr + MIB / 2, MIB / 2, 0xa5));
	REQUIRE_NOT_NULL(theirs);
	CHECK_EQ(theirs->len, 3 * MIB);
	CHECK(all_bytes(theirs->addr, theirs->len, 0xc3));
	CHECK_UEQ(hm_virt2iova(theirs->addr), theirs->iova);
	CHECK_NULL_ERRNO(hm_memzone_lookup("child-frees"), ENOENT);
	CHECK_EQ(hm_memzone_count(), 2);
	/* The secondary's thread slot went with its cleanup. */
	CHECK_EQ(hm_thread_count(), 0);
	audit_all();
	/* The primary frees the secondary's zone. */
	CHECK_EQ(hm_memzone_free(theirs), 0);
	audit_all();
}

static const struct hm_memzone *parent_zone(void)
{
	const struct hm_memzone *mz = hm_memzone_reserve("from-parent", MIB, -1, 0, 0, 0);

	REQUIRE_NOT_NULL(mz);
	memset(mz->addr, 0xa5, MIB);
	REQUIRE_NOT_NULL(hm_memzone_reserve("child-frees", 5000, -1, 0, 0, 0));
	return mz;
}

static void test_fork_before_init(void)
{
	char dir[512];
	pid_t pid;
	int rc;

	pipes_open();
	pid = t_fork(secondary_exchange, NULL);
	REQUIRE_EQ(init_as(HM_PROC_PRIMARY), 0);
	send_u64(to_child[1], (uintptr_t)parent_zone()->addr);
	rc = t_wait_exit(pid);
	if (rc != CHILD_SKIPPED) {
		CHECK_EQ(rc, 0);
		parent_checks_exchange();
	}
	hm_cleanup();
	/* The primary's cleanup removes the instance directory. */
	CHECK(!exists(instance_path(NULL, dir, sizeof(dir))));
	CHECK(exists(t_runtime_dir()));
	pipes_close();
}

static int child_after_init(void *arg)
{
	const struct hm_memzone *parents = arg;
	void *addr = parents->addr; /* the inherited view goes at our first hm_init */
	int x;

	/* Nothing of the parent's instance is usable before our own init. */
	CHECK(!hm_initialized());
	CHECK_NULL_ERRNO(hm_memzone_lookup("from-parent"), ENXIO);
	CHECK_UEQ(hm_virt2iova(addr), HM_BAD_IOVA);
	CHECK_EQ(hm_thread_id(), -ENXIO);
	CHECK_EQ(hm_memzone_free(parents), -ENXIO);
	CHECK_EQ(hm_socket_of(&x), -ENXIO);
	/* A live primary holds the prefix: no second primary. */
	CHECK_EQ(init_as(HM_PROC_PRIMARY), -EEXIST);
	return secondary_exchange(addr);
}

static void test_fork_after_init(void)
{
	const struct hm_memzone *mz;

	REQUIRE_EQ(init_as(HM_PROC_PRIMARY), 0);
	mz = parent_zone();
	CHECK_EQ(t_wait_exit(t_fork(child_after_init, (void *)mz)), 0);
	parent_checks_exchange();
	hm_cleanup();
}

static int child_cleanup_first(void *arg)
{
	unsigned maps = t_count_mappings();

	(void)arg;
	/* hm_cleanup in a child drops the inherited mapping (and nothing of the parent's). */
	hm_cleanup();
	if (t_exact_maps())
		CHECK_LT(t_count_mappings(), maps);
	REQUIRE_EQ(init_as(HM_PROC_AUTO), 0);
	CHECK_EQ(hm_proc_type(), HM_PROC_SECONDARY);
	CHECK(hm_memzone_lookup("from-parent") != NULL);
	hm_cleanup();
	return 0;
}

static void test_child_cleanup_then_auto(void)
{
	char path[512];

	REQUIRE_EQ(init_as(HM_PROC_PRIMARY), 0);
	parent_zone();
	CHECK_EQ(t_wait_exit(t_fork(child_cleanup_first, NULL)), 0);
	/* The parent's instance is intact, and a secondary's cleanup removed no file. */
	CHECK(all_bytes(hm_memzone_lookup("from-parent")->addr, MIB, 0xa5));
	CHECK(exists(instance_path("config", path, sizeof(path))));
	CHECK(exists(instance_path("lock", path, sizeof(path))));
	/* The lock is still ours: another primary is refused. */
	CHECK_EQ(t_wait_exit(t_fork(child_after_init, (void *)hm_memzone_lookup("from-parent"))),
		 0);
	hm_cleanup();
	CHECK(!exists(instance_path(NULL, path, sizeof(path))));
}

static void test_no_primary(void)
{
	struct hm_config c = config(HM_PROC_SECONDARY);

	CHECK_EQ(hm_init(&c), -ENOENT);
	c.prefix = "nobody-here";
	CHECK_EQ(hm_init(&c), -ENOENT);
	CHECK(!hm_initialized());
	/* AUTO without a primary: becomes the primary. */
	c.proc_type = HM_PROC_AUTO;
	REQUIRE_EQ(hm_init(&c), 0);
	CHECK_EQ(hm_proc_type(), HM_PROC_PRIMARY);
	hm_cleanup();
}

static int doomed_primary(void *arg)
{
	(void)arg;
	REQUIRE_EQ(init_as(HM_PROC_PRIMARY), 0);
	REQUIRE_NOT_NULL(hm_memzone_reserve("doomed", MIB, -1, 0, 0, 0));
	send_u64(to_parent[1], 1);
	for (;;)
		pause();
	return 0;
}

static void test_kill9_primary(void)
{
	char path[512];
	pid_t pid;
	int old;

	pipes_open();
	pid = t_fork(doomed_primary, NULL);
	CHECK_EQ(recv_u64(to_parent[0]), 1);
	REQUIRE_EQ(kill(pid, SIGKILL), 0);
	CHECK(t_wait_signal(pid, SIGKILL));
	/* The dead primary's files are still there... */
	CHECK(exists(instance_path("config", path, sizeof(path))));
	CHECK(exists(instance_path("lock", path, sizeof(path))));
	/* ...but nobody holds the lock: no secondary can attach. */
	hm_log_set_sink(sink, NULL);
	t_log_lines_reset();
	CHECK_EQ(init_as(HM_PROC_SECONDARY), -ENOENT);
	CHECK_EQ(t_log_lines(), 1);
	CHECK(strstr(last_log, "stale") != NULL);
	/* The next primary takes the prefix over and says so. */
	old = hm_log_set_level(HM_LOG_NOTICE);
	t_log_lines_reset();
	REQUIRE_EQ(init_as(HM_PROC_PRIMARY), 0);
	hm_log_set_level(old);
	hm_log_set_sink(NULL, NULL);
	CHECK_GE(t_log_lines(), 1);
	CHECK(strstr(last_log, "stale") != NULL || t_log_lines() > 1);
	CHECK_NULL_ERRNO(hm_memzone_lookup("doomed"), ENOENT);
	CHECK_EQ(hm_memzone_count(), 0);
	CHECK(hm_memzone_reserve("reborn", MIB, -1, 0, 0, 0) != NULL);
	hm_cleanup();
	CHECK(!exists(instance_path(NULL, path, sizeof(path))));
	/* AUTO over stale files: a primary. */
	pid = t_fork(doomed_primary, NULL);
	CHECK_EQ(recv_u64(to_parent[0]), 1);
	kill(pid, SIGKILL);
	CHECK(t_wait_signal(pid, SIGKILL));
	REQUIRE_EQ(init_as(HM_PROC_AUTO), 0);
	CHECK_EQ(hm_proc_type(), HM_PROC_PRIMARY);
	hm_cleanup();
	pipes_close();
}

static int attach_expect(void *arg)
{
	int want = (int)(intptr_t)arg;
	unsigned maps, fds;
	int rc;

	hm_cleanup(); /* drop the inherited view, so that maps compare */
	maps = t_mappings();
	fds = t_count_fds();
	rc = init_as(HM_PROC_SECONDARY);
	CHECK_EQ(rc, want);
	if (rc == 0) {
		CHECK(hm_memzone_lookup("from-parent") != NULL);
		hm_cleanup();
	}
	CHECK_EQ(t_mappings(), maps);
	CHECK_EQ(t_count_fds(), fds);
	return 0;
}

static void test_layout_version(void)
{
	char path[512];
	uint32_t version, bad = 0xdead;
	uint64_t magic;
	int fd;

	REQUIRE_EQ(init_as(HM_PROC_PRIMARY), 0);
	parent_zone();
	fd = open(instance_path("config", path, sizeof(path)), O_RDWR);
	REQUIRE(fd >= 0);
	REQUIRE_EQ(pread(fd, &magic, sizeof(magic), 0), (ssize_t)sizeof(magic));
	CHECK_UEQ(magic, HM_SHARED_MAGIC);
	REQUIRE_EQ(pread(fd, &version, sizeof(version), 8), (ssize_t)sizeof(version));
	CHECK_EQ(version, HM_LAYOUT_VERSION);
	REQUIRE_EQ(pwrite(fd, &bad, sizeof(bad), 8), (ssize_t)sizeof(bad));
	CHECK_EQ(t_wait_exit(t_fork(attach_expect, (void *)(intptr_t)-EPROTO)), 0);
	REQUIRE_EQ(pwrite(fd, &version, sizeof(version), 8), (ssize_t)sizeof(version));
	close(fd);
	CHECK_EQ(t_wait_exit(t_fork(attach_expect, (void *)(intptr_t)0)), 0);
	hm_cleanup();
}

static int taken_address(void *arg)
{
	void *base = arg;
	void *p;

	hm_cleanup();
	p = mmap((char *)base + 4096, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		 0);
	REQUIRE(p != MAP_FAILED);
	CHECK_EQ(init_as(HM_PROC_SECONDARY), -EADDRINUSE);
	CHECK(!hm_initialized());
	munmap(p, 4096);
	REQUIRE_EQ(init_as(HM_PROC_SECONDARY), 0);
	hm_cleanup();
	return 0;
}

static void test_address_taken(void)
{
	struct hm_mem_info mi;

	REQUIRE_EQ(init_as(HM_PROC_PRIMARY), 0);
	parent_zone();
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_EQ(t_wait_exit(t_fork(taken_address, mi.va_base)), 0);
	hm_cleanup();
}

/* --- thread slots across processes --- */

#define PER_PROC 8
static pthread_barrier_t hold;

static void *slot_thread(void *arg)
{
	int *id = arg;

	*id = hm_thread_id();
	pthread_barrier_wait(&hold); /* all of this process's threads hold a slot */
	pthread_barrier_wait(&hold); /* released */
	return NULL;
}

/* Start n threads that each take a slot (written to ids[i]) and hold it. */
static void spawn_holders(pthread_t *t, int *ids, unsigned n)
{
	REQUIRE_EQ(pthread_barrier_init(&hold, NULL, n + 1), 0);
	for (unsigned i = 0; i < n; i++)
		REQUIRE_EQ(pthread_create(&t[i], NULL, slot_thread, &ids[i]), 0);
	pthread_barrier_wait(&hold);
}

static void release_holders(pthread_t *t, unsigned n)
{
	pthread_barrier_wait(&hold);
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&hold);
}

/* What a child does with slots: hold n of them (their ids go to zone "ids"), then exit or die. */
struct slots_job {
	unsigned n, parent_holds;
	bool die;
};

static int child_slots(void *arg)
{
	const struct slots_job *job = arg;
	pthread_t t[MAX_THREADS];
	int *out;

	/* Forked while the parent had no threads; go when the parent says so. */
	CHECK_EQ(recv_u64(to_child[0]), 2);
	REQUIRE_EQ(init_as(HM_PROC_SECONDARY), 0);
	out = hm_memzone_lookup("ids")->addr;
	spawn_holders(t, out, job->n);
	CHECK_EQ(hm_thread_count(), job->parent_holds + job->n);
	for (unsigned i = 0; i < job->n; i++)
		CHECK_GE(out[i], 0);
	if (!job->die) {
		release_holders(t, job->n);
		CHECK_EQ(hm_thread_count(), job->parent_holds);
		hm_cleanup();
		return 0;
	}
	/* Die holding the slots. */
	send_u64(to_parent[1], 1);
	for (;;)
		pause();
}

static void test_slots_across_processes(void)
{
	struct slots_job job = {.n = PER_PROC, .parent_holds = PER_PROC};
	pthread_t t[PER_PROC];
	int mine[PER_PROC];
	const struct hm_memzone *ids;
	pid_t pid;

	pipes_open();
	REQUIRE_EQ(init_as(HM_PROC_PRIMARY), 0);
	ids = hm_memzone_reserve("ids", sizeof(int) * MAX_THREADS, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(ids);
	pid = t_fork(child_slots, &job);
	spawn_holders(t, mine, PER_PROC);
	send_u64(to_child[1], 2);
	CHECK_EQ(t_wait_exit(pid), 0);
	for (unsigned i = 0; i < PER_PROC; i++) {
		int theirs = ((int *)ids->addr)[i];
		CHECK_GE(mine[i], 0);
		for (unsigned j = 0; j < PER_PROC; j++) {
			if (theirs == mine[j])
				t_fail(__FILE__, __LINE__, false,
				       "slot %d held by a parent and a child thread", theirs);
			if (j < i && theirs == ((int *)ids->addr)[j])
				t_fail(__FILE__, __LINE__, false, "slot %d twice in the child",
				       theirs);
		}
	}
	CHECK_EQ(hm_thread_count(), PER_PROC);
	release_holders(t, PER_PROC);
	CHECK_EQ(hm_thread_count(), 0);
	hm_cleanup();
	pipes_close();
}

/*
 * A secondary killed while its threads hold 24 of the 32 slots: then 32
 * threads at once must all get one, which needs the dead child's slots
 * reclaimed while many threads find the table full together.
 */
static void test_killed_secondary_slots(void)
{
	struct slots_job job = {.n = 8, .parent_holds = 0, .die = true};
	pthread_t t[MAX_THREADS];
	int ids[MAX_THREADS];

	pipes_open();
	REQUIRE_EQ(init_as(HM_PROC_PRIMARY), 0);
	REQUIRE_NOT_NULL(hm_memzone_reserve("ids", sizeof(int) * MAX_THREADS, -1, 0, 0, 0));
	hm_log_set_sink(sink, NULL);
	for (unsigned round = 0; round < 20; round++) {
		pid_t pid = t_fork(child_slots, &job);
		unsigned failed = 0;

		send_u64(to_child[1], 2);
		CHECK_EQ(recv_u64(to_parent[0]), 1);
		kill(pid, SIGKILL);
		CHECK(t_wait_signal(pid, SIGKILL));
		CHECK_EQ(hm_thread_count(), job.n);
		spawn_holders(t, ids, MAX_THREADS);
		for (unsigned i = 0; i < MAX_THREADS; i++) {
			failed += ids[i] < 0;
			for (unsigned j = 0; j < i; j++)
				if (ids[i] >= 0 && ids[i] == ids[j])
					t_fail(__FILE__, __LINE__, false, "slot %d twice", ids[i]);
		}
		if (failed)
			t_fail(__FILE__, __LINE__, false,
			       "round %u: %u of %u threads got no slot though %u are a dead "
			       "process's",
			       round, failed, MAX_THREADS, job.n);
		CHECK_EQ(hm_thread_count(), MAX_THREADS - failed);
		release_holders(t, MAX_THREADS);
		CHECK_EQ(hm_thread_count(), 0);
	}
	hm_log_set_sink(NULL, NULL);
	hm_cleanup();
	pipes_close();
}

/* Fault injection on the secondary's attach: every failure is clean, then it works. */
static int attach_faults(void *arg)
{
	unsigned maps, fds, n;

	(void)arg;
	hm_cleanup();
	hm_log_set_sink(sink, NULL);
	maps = t_mappings();
	fds = t_count_fds();
	for (n = 0; n < 100; n++) {
		unsigned before = hm__os_calls(HM_OS_ALL);
		int rc;

		hm__os_fail_nth(HM_OS_ALL, n, EIO);
		rc = init_as(HM_PROC_SECONDARY);
		hm__os_fail_nth(0, UINT_MAX, 0);
		if (hm__os_calls(HM_OS_ALL) - before <= n) {
			CHECK_EQ(rc, 0);
			hm_cleanup();
			break;
		}
		if (rc == 0) {
			/* Retried: the open of the config file waits for a starting primary. */
			CHECK(hm_memzone_lookup("from-parent") != NULL);
			hm_cleanup();
		} else {
			CHECK_EQ(rc, -EIO);
		}
		CHECK(!hm_initialized());
		CHECK_EQ(t_mappings(), maps);
		CHECK_EQ(t_count_fds(), fds);
	}
	CHECK_GE(n, 3);
	CHECK_LT(n, 100);
	CHECK_EQ(t_mappings(), maps);
	hm_log_set_sink(NULL, NULL);
	return 0;
}

static void test_attach_faults(void)
{
	char path[512];

	REQUIRE_EQ(init_as(HM_PROC_PRIMARY), 0);
	parent_zone();
	CHECK_EQ(t_wait_exit(t_fork(attach_faults, NULL)), 0);
	CHECK(exists(instance_path("config", path, sizeof(path))));
	CHECK(all_bytes(hm_memzone_lookup("from-parent")->addr, MIB, 0xa5));
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_fork_before_init);
	T_RUN(test_fork_after_init);
	T_RUN(test_child_cleanup_then_auto);
	T_RUN(test_no_primary);
	T_RUN(test_kill9_primary);
	T_RUN(test_layout_version);
	T_RUN(test_address_taken);
	T_RUN(test_slots_across_processes);
	T_RUN(test_killed_secondary_slots);
	T_RUN(test_attach_faults);
	return t_done();
}
