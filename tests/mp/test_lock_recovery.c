/* SPDX-License-Identifier: MIT */
/*
 * test_lock_recovery.c - a process killed with kill -9 while it holds a
 * shared lock (a heap's lock, the memory layer's lock) does not hang the
 * others: the robust mutex hands the lock to the next locker, with a warning,
 * and the structures it guards still pass their audits.
 */
#include "harness.h"
#include "heap/heap.h"
#include "mem/mem.h"
#include <hugemem.h>

#include <signal.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)

static int ready[2];

static struct hm_config config(enum hm_proc_type type)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = 128 * MIB;
	c.prefix = t_prefix();
	c.proc_type = type;
	return c;
}

/* The lock a child takes before it is killed. */
enum which { HEAP_LOCK, MEM_LOCK };

static int lock_and_wait(void *arg)
{
	struct hm_config c = config(HM_PROC_SECONDARY);
	enum which w = (enum which)(uintptr_t)arg;
	char byte = 1;

	if (hm_init(&c) != 0)
		return 2;
	if (w == HEAP_LOCK)
		hm__mutex_lock(&hm__heap_get(0)->lock);
	else
		hm__mutex_lock(&hm__shared()->mem_lock);
	if (write(ready[1], &byte, 1) != 1)
		return 3;
	for (;;)
		pause(); /* killed here, lock held */
}

static void audit_all(void)
{
	for (unsigned i = 0; i < hm__heap_count(); i++)
		CHECK_EQ(hm__heap_audit(hm__heap_get(i)), 0);
}

static void holder_dies(enum which w)
{
	struct hm_config c = config(HM_PROC_PRIMARY);
	const struct hm_memzone *before, *after;
	char byte;
	pid_t pid;

	REQUIRE_EQ(hm_init(&c), 0);
	before = hm_memzone_reserve("before", 4096, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(before);
	REQUIRE_EQ(pipe(ready), 0);
	pid = t_fork(lock_and_wait, (void *)(uintptr_t)w);
	REQUIRE_EQ(read(ready[0], &byte, 1), 1);
	REQUIRE_EQ(kill(pid, SIGKILL), 0);
	CHECK(t_wait_signal(pid, SIGKILL));
	close(ready[0]);
	close(ready[1]);

	/* Both the heap lock and the memory lock are on this path: a zone big
	 * enough to grow the heap. */
	t_log_lines_reset();
	hm_log_set_sink(t_count_sink, NULL);
	after = hm_memzone_reserve("after", 8 * MIB, -1, 0, 0, 0);
	hm_log_set_sink(NULL, NULL);
	REQUIRE_NOT_NULL(after);
	CHECK_EQ(t_log_lines(), 1); /* "a process died holding a shared lock" */
	memset(after->addr, 7, after->len);
	CHECK_EQ(hm_memzone_free(before), 0);
	CHECK_EQ(hm_memzone_free(after), 0);
	audit_all();
	/* The lock works normally again: no second warning. */
	t_log_lines_reset();
	hm_log_set_sink(t_count_sink, NULL);
	CHECK(hm_memzone_reserve("again", 8 * MIB, -1, 0, 0, 0) != NULL);
	hm_log_set_sink(NULL, NULL);
	CHECK_EQ(t_log_lines(), 0);
	audit_all();
	hm_cleanup();
}

static void test_heap_lock_holder_killed(void)
{
	holder_dies(HEAP_LOCK);
}

static void test_mem_lock_holder_killed(void)
{
	holder_dies(MEM_LOCK);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_heap_lock_holder_killed);
	T_RUN(test_mem_lock_holder_killed);
	return t_done();
}
