/* SPDX-License-Identifier: MIT */
/*
 * test_malloc_threads.c - the heap API from several threads at once: blocks
 * allocated and freed concurrently (each thread's pattern intact, alignment
 * honoured, no block handed out twice), blocks allocated in one thread and
 * freed in another, realloc under contention, a type limit shared by all
 * threads (and an allocation within it never refused because another
 * thread's, which would pass it, is being refused), and a double free of one pointer from two threads at once (one
 * free succeeds, the other is refused, logged and counted; the heap stays
 * consistent, also for a third thread allocating meanwhile). Per-type live
 * bytes are back to zero at the end and every heap passes its audit.
 *
 * HUGEMEM_TEST_SCALE (a factor) changes the iteration counts; sanitizer and
 * valgrind runs do fewer.
 */
#include "harness.h"
#include "internal.h"
#include "heap/heap.h"
#include <hugemem.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#define MIB       ((size_t)1 << 20)
#define N_THREADS 4
#define N_SLOTS   256

static void start(void)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = 512 * MIB;
	REQUIRE_EQ(hm_init(&c), 0);
}

static void audit_all(void)
{
	for (unsigned i = 0; i < hm__heap_count(); i++)
		CHECK_EQ(hm__heap_audit(hm__heap_get(i)), 0);
}

static double scale(void)
{
	return t_scale(0.2, 0.05);
}

static unsigned scaled(unsigned n)
{
	double v = n * scale();

	return v < 10 ? 10 : (unsigned)v;
}

static pthread_barrier_t barrier;
static atomic_uint errors;
static pthread_mutex_t first_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_error[256];

/* Count a failure seen in a thread; keep the first message. */
static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...)
{
	if (atomic_fetch_add(&errors, 1) == 0) {
		va_list ap;

		pthread_mutex_lock(&first_lock);
		va_start(ap, fmt);
		vsnprintf(first_error, sizeof(first_error), fmt, ap);
		va_end(ap);
		pthread_mutex_unlock(&first_lock);
	}
}

static void no_errors(void)
{
	unsigned n = atomic_load(&errors);

	if (n) {
		pthread_mutex_lock(&first_lock);
		t_fail(__FILE__, __LINE__, false, "%u failures in threads; the first: %s", n,
		       first_error);
		pthread_mutex_unlock(&first_lock);
	}
	atomic_store(&errors, 0);
}

static void run(unsigned n, void *(*fn)(void *))
{
	pthread_t t[N_THREADS + 1];

	REQUIRE(n <= N_THREADS + 1);
	REQUIRE_EQ(pthread_barrier_init(&barrier, NULL, n), 0);
	for (unsigned i = 0; i < n; i++)
		REQUIRE_EQ(pthread_create(&t[i], NULL, fn, (void *)(uintptr_t)i), 0);
	for (unsigned i = 0; i < n; i++)
		REQUIRE_EQ(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&barrier);
}

/* A block's bytes: a word made of the owner's tag, then its index. */
static void fill(uint64_t *p, size_t len, uint64_t tag)
{
	for (size_t i = 0; i < len / 8; i++)
		p[i] = tag ^ i;
}

static bool intact(const uint64_t *p, size_t len, uint64_t tag)
{
	for (size_t i = 0; i < len / 8; i++)
		if (p[i] != (tag ^ i))
			return false;
	return true;
}

/* The same, from word from on (the words before hold something else). */
static bool intact_from(const uint64_t *p, size_t len, uint64_t tag, size_t from)
{
	for (size_t i = from; i < len / 8; i++)
		if (p[i] != (tag ^ i))
			return false;
	return true;
}

static const char *const types[N_THREADS] = {"mt-0", "mt-1", "mt-2", "mt-3"};

static size_t rand_size(unsigned max_log)
{
	unsigned bits = 3 + (unsigned)t_rand_below(max_log - 3);

	return ((size_t)1 << bits) + (size_t)t_rand_below((uint64_t)1 << bits);
}

/* --- every thread its own blocks --- */

static unsigned n_iter;

static void *own_thread(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	struct {
		uint64_t *p;
		size_t len;
		uint64_t tag;
	} slot[N_SLOTS] = {{0}};

	pthread_barrier_wait(&barrier);
	for (unsigned k = 0; k < n_iter; k++) {
		unsigned i = (unsigned)t_rand_below(N_SLOTS);

		if (slot[i].p) {
			size_t n = 0;

			if (!intact(slot[i].p, slot[i].len, slot[i].tag))
				bad("thread %u: block %p changed", me, (void *)slot[i].p);
			if (hm_malloc_validate(slot[i].p, &n) != 0 || n < slot[i].len)
				bad("thread %u: block %p not valid", me, (void *)slot[i].p);
			if (t_rand_below(8) == 0) {
				/* realloc: the prefix stays, the rest is filled again */
				size_t len = rand_size(16) & ~(size_t)7;
				uint64_t *q = hm_realloc(slot[i].p, len ? len : 8, 0);

				if (!q) {
					bad("thread %u: realloc: %s", me, strerror(errno));
					continue;
				}
				len = len ? len : 8;
				if (!intact(q, len < slot[i].len ? len : slot[i].len, slot[i].tag))
					bad("thread %u: realloc lost the contents", me);
				slot[i].p = q;
				slot[i].len = len;
				fill(q, len, slot[i].tag);
				continue;
			}
			hm_free(slot[i].p);
			slot[i].p = NULL;
		} else {
			size_t len = rand_size(k % 64 == 0 ? 20 : 15) & ~(size_t)7;
			size_t align = t_rand_below(3) ? 0 : (size_t)1 << t_rand_below(13);
			const char *type = t_rand_below(2) ? types[me] : "mt-shared";

			len = len ? len : 8;
			slot[i].p = t_rand_below(4) ? hm_malloc(type, len, align)
						    : hm_zmalloc(type, len, align);
			if (!slot[i].p) {
				bad("thread %u: malloc(%zu, %zu): %s", me, len, align,
				    strerror(errno));
				continue;
			}
			if ((uintptr_t)slot[i].p % (align ? align : HM_CACHE_LINE))
				bad("thread %u: %p not aligned to %zu", me, (void *)slot[i].p,
				    align);
			slot[i].len = len;
			slot[i].tag = ((uint64_t)me << 56) ^ ((uint64_t)k << 20) ^ i;
			fill(slot[i].p, len, slot[i].tag);
		}
	}
	for (unsigned i = 0; i < N_SLOTS; i++) {
		if (!slot[i].p)
			continue;
		if (!intact(slot[i].p, slot[i].len, slot[i].tag))
			bad("thread %u: block %p changed", me, (void *)slot[i].p);
		hm_free(slot[i].p);
	}
	return NULL;
}

static void check_types_empty(void)
{
	static const char *const all[] = {"mt-0", "mt-1", "mt-2", "mt-3", "mt-shared"};
	struct hm_malloc_type_stats ts;

	for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (hm_malloc_get_type_stats(all[i], &ts) != 0)
			continue;
		CHECK_EQ(ts.live_bytes, 0);
		CHECK_EQ(ts.live_blocks, 0);
		CHECK_EQ(ts.allocs, ts.frees);
	}
}

static void test_own_blocks(void)
{
	struct hm_malloc_stats st;

	start();
	n_iter = scaled(100000);
	run(N_THREADS, own_thread);
	no_errors();
	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st), 0);
	CHECK_EQ(st.live_blocks, 0);
	CHECK_EQ(st.errors, 0);
	CHECK_EQ(st.allocs, st.frees);
	check_types_empty();
	audit_all();
	hm_cleanup();
}

/* --- allocated here, freed there: each thread hands blocks to the next --- */

#define RING 64

struct ring {
	_Atomic(uint64_t *) item[RING];
	atomic_uint head, tail; /* one producer, one consumer */
};

static struct ring rings[N_THREADS];

static bool ring_put(struct ring *r, uint64_t *p)
{
	unsigned h = atomic_load_explicit(&r->head, memory_order_relaxed);

	if (h - atomic_load_explicit(&r->tail, memory_order_acquire) == RING)
		return false;
	atomic_store_explicit(&r->item[h % RING], p, memory_order_relaxed);
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return true;
}

static uint64_t *ring_get(struct ring *r)
{
	unsigned t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t *p;

	if (t == atomic_load_explicit(&r->head, memory_order_acquire))
		return NULL;
	p = atomic_load_explicit(&r->item[t % RING], memory_order_relaxed);
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
	return p;
}

/* The block's first word says its length and owner; the rest is the pattern. */
static void *pass_thread(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	struct ring *out = &rings[(me + 1) % N_THREADS], *in = &rings[me];
	unsigned sent = 0, got = 0;
	uint64_t *pending = NULL;

	pthread_barrier_wait(&barrier);
	while (sent < n_iter || got < n_iter) {
		uint64_t *p;

		if (sent < n_iter && !pending) {
			size_t len = 16 + (rand_size(14) & ~(size_t)7);
			size_t align = t_rand_below(4) ? 0 : (size_t)1 << t_rand_below(12);

			pending = hm_malloc(t_rand_below(2) ? types[me] : "mt-shared", len, align);
			if (!pending) {
				bad("thread %u: malloc: %s", me, strerror(errno));
				sent++;
				continue;
			}
			if ((uintptr_t)pending % (align ? align : HM_CACHE_LINE))
				bad("thread %u: %p not aligned to %zu", me, (void *)pending, align);
			fill(pending, len, (uintptr_t)pending);
			pending[0] = len;
		}
		bool progress = false;

		if (pending && ring_put(out, pending)) {
			pending = NULL;
			sent++;
			progress = true;
		}
		while ((p = ring_get(in)) != NULL) {
			progress = true;
			size_t len = p[0], n = 0;

			if (hm_malloc_validate(p, &n) != 0 || n < len)
				bad("thread %u: received %p is not a block of %zu", me, (void *)p,
				    len);
			else if (!intact_from(p, len, (uintptr_t)p, 1))
				bad("thread %u: received %p changed", me, (void *)p);
			hm_free(p);
			got++;
		}
		if (!progress)
			sched_yield(); /* a neighbour is behind: let it run */
	}
	return NULL;
}

static void test_cross_thread_free(void)
{
	struct hm_malloc_stats st;

	start();
	memset(rings, 0, sizeof(rings));
	n_iter = scaled(50000);
	run(N_THREADS, pass_thread);
	no_errors();
	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st), 0);
	CHECK_EQ(st.live_blocks, 0);
	CHECK_EQ(st.errors, 0);
	check_types_empty();
	audit_all();
	hm_cleanup();
}

/* --- a limit shared by every thread --- */

#define LIMIT_BYTES MIB /* one thread alone passes it */

static void *limit_thread(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	void *mine[64] = {0};

	pthread_barrier_wait(&barrier);
	for (unsigned k = 0; k < n_iter; k++) {
		unsigned i = (unsigned)t_rand_below(64);
		struct hm_malloc_type_stats ts;

		if (mine[i]) {
			hm_free(mine[i]);
			mine[i] = NULL;
			continue;
		}
		mine[i] = hm_malloc("mt-limited", 1000 + t_rand_below(120000), 0);
		if (!mine[i] && errno != ENOMEM)
			bad("thread %u: malloc: %s", me, strerror(errno));
		if (hm_malloc_get_type_stats("mt-limited", &ts) != 0)
			bad("thread %u: no type stats", me);
		else if (ts.high_water > LIMIT_BYTES)
			bad("thread %u: high water %llu, the limit is %zu", me,
			    (unsigned long long)ts.high_water, LIMIT_BYTES);
	}
	for (unsigned i = 0; i < 64; i++)
		hm_free(mine[i]);
	return NULL;
}

static void test_shared_limit(void)
{
	struct hm_malloc_type_stats ts;

	start();
	REQUIRE_EQ(hm_malloc_set_limit("mt-limited", LIMIT_BYTES), 0);
	n_iter = scaled(20000);
	run(N_THREADS, limit_thread);
	no_errors();
	REQUIRE_EQ(hm_malloc_get_type_stats("mt-limited", &ts), 0);
	CHECK_EQ(ts.live_bytes, 0);
	CHECK_EQ(ts.live_blocks, 0);
	CHECK_LE(ts.high_water, LIMIT_BYTES);
	CHECK_GT(ts.refused, 0); /* ~32 blocks of ~60 KB a thread: the limit was met */
	CHECK_EQ(ts.allocs, ts.frees);
	audit_all();
	hm_cleanup();
}

/*
 * --- an allocation within the limit is not refused because another one,
 * which would pass it, is being refused at the same time ---
 */

#define SMALL_LIMIT (64 * 1024)

static atomic_bool small_done;

static void *big_thread(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&barrier);
	while (!atomic_load(&small_done)) {
		void *p = hm_malloc("mt-spurious", 2 * SMALL_LIMIT, 0);

		if (p) {
			bad("an allocation of twice the limit succeeded");
			hm_free(p);
		}
	}
	return NULL;
}

static void *small_thread(void *arg)
{
	void *mine[16] = {0};
	unsigned refused = 0;

	(void)arg;
	pthread_barrier_wait(&barrier);
	for (unsigned k = 0; k < n_iter; k++) {
		unsigned i = k % 16;

		/* At most 16 KiB live against a limit of 64 KiB: never refused. */
		hm_free(mine[i]);
		mine[i] = hm_malloc("mt-spurious", 1000, 0);
		if (!mine[i])
			refused++;
	}
	for (unsigned i = 0; i < 16; i++)
		hm_free(mine[i]);
	if (refused)
		bad("%u of %u allocations of 1000 bytes refused, with 16 KiB live against a "
		    "limit of %u",
		    refused, n_iter, SMALL_LIMIT);
	atomic_store(&small_done, true);
	return NULL;
}

static void *spurious_thread(void *arg)
{
	return (uintptr_t)arg == 0 ? small_thread(arg) : big_thread(arg);
}

static void test_limit_no_spurious_refusal(void)
{
	struct hm_malloc_type_stats ts;

	start();
	REQUIRE_EQ(hm_malloc_set_limit("mt-spurious", SMALL_LIMIT), 0);
	atomic_store(&small_done, false);
	n_iter = scaled(200000);
	run(2, spurious_thread);
	no_errors();
	REQUIRE_EQ(hm_malloc_get_type_stats("mt-spurious", &ts), 0);
	CHECK_EQ(ts.live_bytes, 0);
	CHECK_EQ(ts.live_blocks, 0);
	CHECK_LE(ts.high_water, SMALL_LIMIT);
	audit_all();
	hm_cleanup();
}

/*
 * --- one pointer freed by two threads at once ---
 *
 * Each round the main thread allocates a block (its neighbours live, or
 * not), then threads 0 and 1 free it together while thread 2 allocates and
 * fills blocks of the same size (which may get the memory the first free
 * gave back). Exactly one free may succeed: the type's frees and the error
 * count go up by one each, one line is logged, the third thread's blocks
 * are intact, the heap passes its audit.
 *
 * When the third thread is handed the victim's own address (the first free
 * gave it back, and no free of the same pointer can be told from its new
 * owner's), the second free may legally free that new block: no allocator
 * can see that as misuse. That thread then leaves the block alone, and the
 * round checks only the heap's consistency; the main thread frees the
 * block if it is still live. About half the rounds are strict ones; at
 * least a tenth must be.
 */

static void *_Atomic victim;
static atomic_bool reused;
static size_t victim_len;
static unsigned n_rounds, n_reused;

static void *double_free_thread(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;

	for (unsigned r = 0; r < n_rounds; r++) {
		pthread_barrier_wait(&barrier); /* the victim is ready */
		if (me < 2) {
			hm_free(atomic_load(&victim));
		} else {
			uint64_t *q[4];

			for (unsigned i = 0; i < 4; i++) {
				q[i] = hm_malloc("df-other", victim_len, 0);
				if (q[i] == atomic_load(&victim)) {
					/* Another free of this address may come: see above. */
					atomic_store(&reused, true);
					q[i] = NULL;
				} else if (q[i]) {
					fill(q[i], victim_len, (uintptr_t)q[i]);
				} else {
					bad("round %u: malloc: %s", r, strerror(errno));
				}
			}
			for (unsigned i = 0; i < 4; i++) {
				if (q[i] && !intact(q[i], victim_len, (uintptr_t)q[i]))
					bad("round %u: a block allocated during the double free "
					    "changed",
					    r);
				hm_free(q[i]);
			}
		}
		pthread_barrier_wait(&barrier); /* done */
		pthread_barrier_wait(&barrier); /* checked */
	}
	return NULL;
}

static void *double_free_main(void *arg)
{
	pthread_t t[3];
	struct hm_malloc_stats st0, st1;
	struct hm_malloc_type_stats t0, t1;
	void *left = NULL, *right = NULL;

	(void)arg;
	for (unsigned i = 0; i < 3; i++)
		REQUIRE_EQ(pthread_create(&t[i], NULL, double_free_thread, (void *)(uintptr_t)i),
			   0);
	for (unsigned r = 0; r < n_rounds; r++) {
		unsigned lines;
		void *p;

		victim_len = r % 3 == 0 ? 64 : r % 3 == 1 ? 4096 : 65536;
		/* neighbours: both live, or none (the victim merges when freed) */
		if (r % 2) {
			left = hm_malloc("df-other", victim_len, 0);
			if (!left)
				bad("round %u: malloc: %s", r, strerror(errno));
		}
		p = hm_malloc("df", victim_len, 0);
		if (r % 2) {
			right = hm_malloc("df-other", victim_len, 0);
			if (!right)
				bad("round %u: malloc: %s", r, strerror(errno));
		}
		if (!p) {
			bad("round %u: malloc: %s", r, strerror(errno));
			break;
		}
		memset(p, 0x5c, victim_len);
		if (hm_malloc_get_stats(HM_SOCKET_ANY, &st0) != 0 ||
		    hm_malloc_get_type_stats("df", &t0) != 0)
			bad("round %u: no stats", r);
		lines = t_log_lines();
		atomic_store(&reused, false);
		atomic_store(&victim, p);
		pthread_barrier_wait(&barrier);
		pthread_barrier_wait(&barrier);
		if (atomic_load(&reused)) {
			/* The third thread's block at the victim's address, if no free took it. */
			n_reused++;
			if (hm_malloc_validate(p, NULL) == 0)
				hm_free(p);
			for (unsigned i = 0; i < hm__heap_count(); i++)
				if (hm__heap_audit(hm__heap_get(i)) != 0)
					bad("round %u: heap %u fails its audit", r, i);
			hm_free(left);
			hm_free(right);
			left = right = NULL;
			pthread_barrier_wait(&barrier);
			continue;
		}
		if (hm_malloc_get_stats(HM_SOCKET_ANY, &st1) != 0 ||
		    hm_malloc_get_type_stats("df", &t1) != 0)
			bad("round %u: no stats", r);
		if (t1.frees != t0.frees + 1 || t1.live_blocks != 0 || t1.live_bytes != 0)
			bad("round %u: type df: %llu frees (was %llu), %llu blocks and %llu bytes "
			    "live",
			    r, (unsigned long long)t1.frees, (unsigned long long)t0.frees,
			    (unsigned long long)t1.live_blocks, (unsigned long long)t1.live_bytes);
		if (st1.errors != st0.errors + 1)
			bad("round %u: %llu errors counted, want 1", r,
			    (unsigned long long)(st1.errors - st0.errors));
		if (t_log_lines() != lines + 1)
			bad("round %u: %u lines logged, want 1", r, t_log_lines() - lines);
		if (hm_malloc_validate(p, NULL) != -EINVAL)
			bad("round %u: the victim is still valid", r);
		for (unsigned i = 0; i < hm__heap_count(); i++)
			if (hm__heap_audit(hm__heap_get(i)) != 0)
				bad("round %u: heap %u fails its audit", r, i);
		hm_free(left);
		hm_free(right);
		left = right = NULL;
		pthread_barrier_wait(&barrier);
	}
	for (unsigned i = 0; i < 3; i++)
		REQUIRE_EQ(pthread_join(t[i], NULL), 0);
	printf("double free: %u of %u rounds strict, %u with the address reused\n",
	       n_rounds - n_reused, n_rounds, n_reused);
	if (n_reused * 10 > n_rounds * 9)
		bad("only %u of %u rounds were strict ones", n_rounds - n_reused, n_rounds);
	return NULL;
}

static int double_free_child(void *arg)
{
	struct hm_malloc_type_stats ts;
	pthread_t main_thread;

	(void)arg;
	start();
	hm_log_set_sink(t_count_sink, NULL);
	t_log_lines_reset();
	n_rounds = scaled(3000);
	REQUIRE_EQ(pthread_barrier_init(&barrier, NULL, 4), 0);
	REQUIRE_EQ(pthread_create(&main_thread, NULL, double_free_main, NULL), 0);
	REQUIRE_EQ(pthread_join(main_thread, NULL), 0);
	pthread_barrier_destroy(&barrier);
	hm_log_set_sink(NULL, NULL);
	no_errors();
	REQUIRE_EQ(hm_malloc_get_type_stats("df", &ts), 0);
	CHECK_EQ(ts.live_bytes, 0);
	CHECK_EQ(ts.live_blocks, 0);
	REQUIRE_EQ(hm_malloc_get_type_stats("df-other", &ts), 0);
	CHECK_EQ(ts.live_bytes, 0);
	CHECK_EQ(ts.live_blocks, 0);
	audit_all();
	hm_cleanup();
	return 0;
}

/* In a child: a heap broken by the race must not take the other tests with it. */
static void test_concurrent_double_free(void)
{
	CHECK_EQ(t_wait_exit(t_fork(double_free_child, NULL)), 0);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_concurrent_double_free);
	T_RUN(test_own_blocks);
	T_RUN(test_cross_thread_free);
	T_RUN(test_shared_limit);
	T_RUN(test_limit_no_spurious_refusal);
	return t_done();
}
