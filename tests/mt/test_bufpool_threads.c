/* SPDX-License-Identifier: MIT */
/*
 * test_bufpool_threads.c - buffer pools with real threads, each with its own
 * cache of indices:
 *
 *   - bulk stress: two and four threads take alloc_bulk of a random n in
 *     1..64, hold a few such bulks, write their id and the index over every
 *     word of each buffer, check it before giving it back (in bulks or one by
 *     one), so that an index handed to two threads at once is seen; with the
 *     caches, without (HM_BUFPOOL_F_NO_CACHE: every call a CAS on the
 *     bitmap), and checked; at the end free_count == count - 2, the pool's
 *     allocs and frees are what the threads did, nothing was refused, and
 *     every index comes out once;
 *   - producer and consumer: one thread allocates, stamps and sends indices
 *     over an SP/SC hm_ring of 4-byte elements, the other checks and frees
 *     them, so indices go from one thread's cache to the other's, through
 *     the bitmap and back;
 *   - thread churn: 30 short-lived threads (in batches of 6) allocate, free
 *     and exit (or unregister) with indices in their caches; after each batch
 *     free_count == count - 2 and the main thread's drain gets every index
 *     once: the exit flush gave them back;
 *   - destroy while a live, idle thread's cache holds indices: 0 (that cache
 *     is given back too), and the thread's later exit touches nothing of the
 *     gone pool.
 *
 * HUGEMEM_TEST_SCALE (a factor) changes the iteration counts; sanitizer and
 * valgrind runs do fewer, and every run also stops at a time budget.
 */
#include "harness.h"
#include "internal.h"
#include "heap/heap.h"
#include <hugemem.h>
#include <hugemem/bufpool.h>
#include <hugemem/ring.h>

#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define MIB       ((size_t)1 << 20)
#define N_THREADS 4
#define BUDGET_S  5.0 /* seconds of one stress or producer run, at most */

static void start(void)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = 256 * MIB;
	REQUIRE_EQ(hm_init(&c), 0);
}

static double scale(void)
{
	return t_scale(0.1, 0.05);
}

static unsigned scaled(unsigned n)
{
	double v = n * scale();

	return v < 50 ? 50 : (unsigned)v;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whether a thread on iteration it is past deadline (the clock is read every 64). */
static bool past(unsigned it, double deadline)
{
	return (it & 63) == 0 && it && now() > deadline;
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

static void no_errors(int line)
{
	unsigned n = atomic_load(&errors);

	if (n) {
		pthread_mutex_lock(&first_lock);
		t_fail(__FILE__, line, false, "%u failures in threads; the first: %s", n,
		       first_error);
		pthread_mutex_unlock(&first_lock);
	}
	atomic_store(&errors, 0);
}
#define NO_ERRORS() no_errors(__LINE__)

/* The heaps are sound: nothing smashed, every heap's audit passes. */
static void heap_ok(int line)
{
	struct hm_malloc_stats st;

	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st), 0);
	if (st.errors != 0)
		t_fail(__FILE__, line, false, "the heaps report %llu errors (corruption)",
		       (unsigned long long)st.errors);
	for (unsigned i = 0; i < hm__heap_count(); i++)
		if (hm__heap_audit(hm__heap_get(i)) != 0)
			t_fail(__FILE__, line, false, "heap %u fails its audit", i);
}
#define HEAP_OK() heap_ok(__LINE__)

static struct hm_bufpool_info info_of(const struct hm_bufpool *bp)
{
	struct hm_bufpool_info in;

	REQUIRE_EQ(hm_bufpool_info(bp, &in), 0);
	return in;
}

/*
 * Every index of bp but the reserved ones is free: the calling thread's
 * alloc hands each of [2, count) out exactly once, then 0; all given back.
 */
static void all_once(struct hm_bufpool *bp, int line)
{
	unsigned count = hm_bufpool_count(bp), got = 0, dup = 0;
	uint32_t *idx = calloc(count + 1, sizeof(uint32_t)), i;
	uint8_t *seen = calloc(count, 1);

	REQUIRE_NOT_NULL(idx);
	REQUIRE_NOT_NULL(seen);
	if (hm_bufpool_free_count(bp) != count - HM_BUFPOOL_RESERVED)
		t_fail(__FILE__, line, false, "free_count %u, want %u", hm_bufpool_free_count(bp),
		       count - HM_BUFPOOL_RESERVED);
	while (got <= count && (i = hm_bufpool_alloc(bp)) != 0) {
		if (i < HM_BUFPOOL_RESERVED || i >= count || seen[i]++)
			dup++;
		idx[got++] = i;
	}
	if (got != count - HM_BUFPOOL_RESERVED || dup)
		t_fail(__FILE__, line, false,
		       "drain: %u indices of %u, %u reserved, out of range or twice", got,
		       count - HM_BUFPOOL_RESERVED, dup);
	for (unsigned k = 0; k < got;) {
		unsigned n = HM_MIN(got - k, 64u);

		hm_bufpool_free_bulk(bp, idx + k, n);
		k += n;
	}
	free(idx);
	free(seen);
}
#define ALL_ONCE(bp) all_once(bp, __LINE__)

/* The calling thread's cache of bp: how many indices it holds (0 if none). */
static unsigned my_cache_len(struct hm_bufpool *bp)
{
	struct hm__bufpool_cache *c = hm__bufpool_local(bp);

	return c ? hm__load_relaxed(&c->len) : 0;
}

/* --- bulk stress --- */

#define HOLD_BULKS 4
#define BULK_MAX   64

struct worker {
	pthread_t tid;
	struct hm_bufpool *bp;
	unsigned me;
	unsigned iters;
	double deadline;
	/* results */
	uint64_t allocs, frees, fails; /* indices, indices, calls */
	unsigned done;
};

static uint64_t stamp_word(unsigned me, uint32_t idx, size_t w)
{
	return ((uint64_t)(me + 1) << 48 | (uint64_t)idx << 16 | w) * 0x9e3779b97f4a7c15ull;
}

static void stamp(struct worker *w, const uint32_t *idx, unsigned n)
{
	size_t words = w->bp->buf_size / 8;
	unsigned len = my_cache_len(w->bp);

	/* A cache never holds more than its capacity (2 * HM_BUFPOOL_CACHE_SIZE). */
	if (len > 2 * HM_BUFPOOL_CACHE_SIZE)
		bad("thread %u: its cache holds %u indices, past its capacity (an overrun)", w->me,
		    len);

	for (unsigned i = 0; i < n; i++) {
		uint64_t *b = hm_bufpool_addr(w->bp, idx[i]);

		if (idx[i] < HM_BUFPOOL_RESERVED || idx[i] >= w->bp->count)
			bad("thread %u: index %u handed out (count %u)", w->me, idx[i],
			    w->bp->count);
		for (size_t k = 0; k < words; k++)
			b[k] = stamp_word(w->me, idx[i], k);
	}
}

static void check_stamps(struct worker *w, const uint32_t *idx, unsigned n)
{
	size_t words = w->bp->buf_size / 8;

	for (unsigned i = 0; i < n; i++) {
		uint64_t *b = hm_bufpool_addr(w->bp, idx[i]);

		for (size_t k = 0; k < words; k++) {
			if (b[k] != stamp_word(w->me, idx[i], k)) {
				bad("thread %u: buffer %u changed at word %zu while held (%#llx)",
				    w->me, idx[i], k, (unsigned long long)b[k]);
				break;
			}
		}
		b[0] = 0;
	}
}

static void *stress_thread(void *arg)
{
	struct worker *w = arg;
	uint32_t held[HOLD_BULKS][BULK_MAX];
	unsigned n[HOLD_BULKS] = {0}, slots = 0;

	pthread_barrier_wait(&barrier);
	for (w->done = 0; w->done < w->iters && !past(w->done, w->deadline); w->done++) {
		if (slots < HOLD_BULKS && (slots == 0 || t_rand_below(2))) {
			unsigned k = 1 + (unsigned)t_rand_below(BULK_MAX);

			if (hm_bufpool_alloc_bulk(w->bp, held[slots], k) != k) {
				w->fails++;
				sched_yield();
				continue;
			}
			stamp(w, held[slots], k);
			n[slots++] = k;
			w->allocs += k;
		} else {
			unsigned s = (unsigned)t_rand_below(slots);

			check_stamps(w, held[s], n[s]);
			if (n[s] == 1 || t_rand_below(4) == 0) {
				for (unsigned i = 0; i < n[s]; i++)
					hm_bufpool_free(w->bp, held[s][i]);
			} else {
				hm_bufpool_free_bulk(w->bp, held[s], n[s]);
			}
			w->frees += n[s];
			/* The last held bulk takes the freed one's place. */
			if (s != --slots) {
				n[s] = n[slots];
				memcpy(held[s], held[slots], n[s] * sizeof(uint32_t));
			}
		}
	}
	while (slots > 0) {
		slots--;
		check_stamps(w, held[slots], n[slots]);
		hm_bufpool_free_bulk(w->bp, held[slots], n[slots]);
		w->frees += n[slots];
	}
	return NULL;
}

static void run(struct worker *w, unsigned n, void *(*fn)(void *))
{
	REQUIRE_EQ(pthread_barrier_init(&barrier, NULL, n), 0);
	for (unsigned i = 0; i < n; i++)
		REQUIRE_EQ(pthread_create(&w[i].tid, NULL, fn, &w[i]), 0);
	for (unsigned i = 0; i < n; i++)
		REQUIRE_EQ(pthread_join(w[i].tid, NULL), 0);
	pthread_barrier_destroy(&barrier);
}

static void stress(unsigned threads, unsigned count, size_t size, unsigned flags)
{
	struct worker w[N_THREADS];
	struct hm_bufpool *bp;
	struct hm_bufpool_info in;
	uint64_t allocs = 0, frees = 0, fails = 0;
	double deadline = now() + BUDGET_S;

	bp = hm_bufpool_create("stress", count, size, HM_SOCKET_ANY, flags);
	REQUIRE_NOT_NULL(bp);
	memset(w, 0, sizeof(w));
	for (unsigned i = 0; i < threads; i++) {
		w[i].bp = bp;
		w[i].me = i;
		w[i].iters = scaled(40000);
		w[i].deadline = deadline;
	}
	run(w, threads, stress_thread);
	NO_ERRORS();
	for (unsigned i = 0; i < threads; i++) {
		if (w[i].done < w[i].iters)
			printf("note: stress (%u threads, %u x %zu, flags %#x): thread %u stopped "
			       "at the time budget, %u of %u iterations done\n",
			       threads, count, size, flags, i, w[i].done, w[i].iters);
		CHECK_GE(w[i].done, 64);
		CHECK_EQ(w[i].allocs, w[i].frees);
		CHECK_GT(w[i].allocs, 0);
		allocs += w[i].allocs;
		frees += w[i].frees;
		fails += w[i].fails;
	}
	/* The threads are gone and their caches flushed: all free, each index once. */
	CHECK_EQ(hm_bufpool_free_count(bp), hm_bufpool_count(bp) - HM_BUFPOOL_RESERVED);
	in = info_of(bp);
	CHECK_EQ(in.allocs, allocs);
	CHECK_EQ(in.frees, frees);
	CHECK_EQ(in.refused, 0);
	CHECK_EQ(in.free, in.count - HM_BUFPOOL_RESERVED);
	printf("stress: %u threads, %u x %zu, flags %#x: %llu indices each way, %llu failed "
	       "allocs\n",
	       threads, hm_bufpool_count(bp), size, flags, (unsigned long long)allocs,
	       (unsigned long long)fails);
	ALL_ONCE(bp);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
}

static void test_stress_two(void)
{
	start();
	stress(2, 1024, 256, 0);
	stress(2, 1024, 256, HM_BUFPOOL_F_NO_CACHE);
	stress(2, 1024, 256, HM_BUFPOOL_F_CHECKED);
	/* Small: the caches hold most of it, allocs fail and flushes are frequent. */
	stress(2, 300, 64, 0);
	HEAP_OK();
	hm_cleanup();
}

static void test_stress_four(void)
{
	start();
	stress(4, 4096, 128, 0);
	stress(4, 600, 128, HM_BUFPOOL_F_NO_CACHE);
	stress(4, 2048, 64, HM_BUFPOOL_F_CHECKED);
	HEAP_OK();
	hm_cleanup();
}

/* --- producer and consumer over a ring --- */

#define PC_RING 1024

static struct hm_ring *pc_ring;
static atomic_uint pc_sent_done; /* the producer sent all it will */
static atomic_uint pc_sent;

struct pc {
	struct hm_bufpool *bp;
	unsigned count; /* indices to send */
	double deadline;
	uint64_t sent, received, fails;
};

static void pc_stamp(struct hm_bufpool *bp, uint32_t idx, uint64_t seq)
{
	uint64_t *b = hm_bufpool_addr(bp, idx);

	b[0] = seq;
	b[1] = seq ^ ((uint64_t)idx << 32) ^ 0x5e475e475e475e47ull;
	b[bp->buf_size / 8 - 1] = ~seq;
}

static bool pc_stamped(struct hm_bufpool *bp, uint32_t idx, uint64_t seq)
{
	uint64_t *b = hm_bufpool_addr(bp, idx);
	bool ok = b[0] == seq && b[1] == (seq ^ ((uint64_t)idx << 32) ^ 0x5e475e475e475e47ull) &&
		  b[bp->buf_size / 8 - 1] == ~seq;

	b[0] = b[1] = 0;
	return ok;
}

static void *producer(void *arg)
{
	struct pc *pc = arg;
	uint32_t idx[32];
	unsigned it = 0;

	pthread_barrier_wait(&barrier);
	while (pc->sent < pc->count && !past(++it, pc->deadline)) {
		unsigned k = 1 + (unsigned)t_rand_below(32);

		if (k > pc->count - pc->sent)
			k = (unsigned)(pc->count - pc->sent);
		if (hm_bufpool_alloc_bulk(pc->bp, idx, k) != k) {
			pc->fails++;
			sched_yield(); /* all in flight: let the consumer catch up */
			continue;
		}
		if (my_cache_len(pc->bp) > 2 * HM_BUFPOOL_CACHE_SIZE)
			bad("producer: its cache holds %u indices, past its capacity (an overrun)",
			    my_cache_len(pc->bp));
		for (unsigned i = 0; i < k; i++)
			pc_stamp(pc->bp, idx[i], pc->sent + i);
		while (hm_ring_enqueue_bulk_elem(pc_ring, idx, sizeof(uint32_t), k, NULL) != k)
			sched_yield();
		pc->sent += k;
		atomic_store(&pc_sent, (unsigned)pc->sent);
	}
	atomic_store(&pc_sent_done, 1);
	return NULL;
}

static void *consumer(void *arg)
{
	struct pc *pc = arg;
	uint32_t idx[32];
	unsigned idle = 0;
	time_t progress = time(NULL);

	pthread_barrier_wait(&barrier);
	for (;;) {
		unsigned k = hm_ring_dequeue_burst_elem(pc_ring, idx, sizeof(uint32_t),
							1 + (unsigned)t_rand_below(32), NULL);

		if (k == 0) {
			/* Done once the producer is, and all it sent has come. */
			if (atomic_load(&pc_sent_done) && pc->received == atomic_load(&pc_sent))
				break;
			if (++idle % 64 == 0) {
				sched_yield();
				if (time(NULL) > progress + 20) {
					bad("consumer: nothing received for 20 s (%llu)",
					    (unsigned long long)pc->received);
					break;
				}
			}
			continue;
		}
		progress = time(NULL);
		for (unsigned i = 0; i < k; i++) {
			/* One producer, one ring: in order. */
			if (idx[i] < HM_BUFPOOL_RESERVED || idx[i] >= pc->bp->count ||
			    !pc_stamped(pc->bp, idx[i], pc->received + i))
				bad("consumer: index %u, message %llu, damaged or out of order",
				    idx[i], (unsigned long long)(pc->received + i));
		}
		if (t_rand_below(2)) {
			hm_bufpool_free_bulk(pc->bp, idx, k);
		} else {
			for (unsigned i = 0; i < k; i++)
				hm_bufpool_free(pc->bp, idx[i]);
		}
		pc->received += k;
	}
	return NULL;
}

static void producer_consumer(unsigned count, size_t size, unsigned flags)
{
	struct pc pc = {0};
	pthread_t tp, tc;
	struct hm_bufpool_info in;

	pc.bp = hm_bufpool_create("pc", count, size, HM_SOCKET_ANY, flags);
	REQUIRE_NOT_NULL(pc.bp);
	pc_ring = hm_ring_create_elem("pc", sizeof(uint32_t), PC_RING, HM_SOCKET_ANY,
				      HM_RING_SP_ENQ | HM_RING_SC_DEQ);
	REQUIRE_NOT_NULL(pc_ring);
	pc.count = scaled(200000);
	pc.deadline = now() + BUDGET_S;
	atomic_store(&pc_sent_done, 0);
	atomic_store(&pc_sent, 0);
	REQUIRE_EQ(pthread_barrier_init(&barrier, NULL, 2), 0);
	REQUIRE_EQ(pthread_create(&tp, NULL, producer, &pc), 0);
	REQUIRE_EQ(pthread_create(&tc, NULL, consumer, &pc), 0);
	REQUIRE_EQ(pthread_join(tp, NULL), 0);
	REQUIRE_EQ(pthread_join(tc, NULL), 0);
	pthread_barrier_destroy(&barrier);
	NO_ERRORS();
	if (pc.sent < pc.count)
		printf("note: producer (%u x %zu, flags %#x) stopped at the time budget, %llu of "
		       "%u sent\n",
		       count, size, flags, (unsigned long long)pc.sent, pc.count);
	printf("producer/consumer: %u x %zu, flags %#x: %llu indices, %llu failed allocs\n",
	       hm_bufpool_count(pc.bp), size, flags, (unsigned long long)pc.sent,
	       (unsigned long long)pc.fails);
	CHECK_GE(pc.sent, 1000);
	CHECK_EQ(pc.received, pc.sent);
	CHECK_EQ(hm_ring_count(pc_ring), 0);
	CHECK_EQ(hm_bufpool_free_count(pc.bp), hm_bufpool_count(pc.bp) - HM_BUFPOOL_RESERVED);
	in = info_of(pc.bp);
	CHECK_EQ(in.allocs, pc.sent);
	CHECK_EQ(in.frees, pc.sent);
	CHECK_EQ(in.refused, 0);
	ALL_ONCE(pc.bp);
	CHECK_EQ(hm_ring_destroy(pc_ring), 0);
	CHECK_EQ(hm_bufpool_destroy(pc.bp), 0);
}

static void test_producer_consumer(void)
{
	start();
	producer_consumer(2048, 128, 0);
	producer_consumer(1100, 64, HM_BUFPOOL_F_NO_CACHE);
	producer_consumer(2048, 128, HM_BUFPOOL_F_CHECKED);
	HEAP_OK();
	hm_cleanup();
}

/* --- thread churn --- */

#define CHURN_THREADS 30
#define CHURN_BATCH   6

static void *churn_thread(void *arg)
{
	struct worker *w = arg;
	uint32_t idx[40];
	unsigned rounds = 1 + (unsigned)t_rand_below(8);

	for (unsigned r = 0; r < rounds; r++) {
		unsigned k = 1 + (unsigned)t_rand_below(40);

		if (hm_bufpool_alloc_bulk(w->bp, idx, k) != k) {
			w->fails++;
			continue;
		}
		stamp(w, idx, k);
		w->allocs += k;
		check_stamps(w, idx, k);
		if (t_rand_below(2)) {
			hm_bufpool_free_bulk(w->bp, idx, k);
		} else {
			for (unsigned i = 0; i < k; i++)
				hm_bufpool_free(w->bp, idx[i]);
		}
		w->frees += k;
	}
	/* What the exit (or the unregister) must give back. */
	w->done = my_cache_len(w->bp);
	if (w->me % 3 == 1 && hm_thread_unregister() != 0)
		bad("thread %u: hm_thread_unregister failed", w->me);
	return NULL;
}

static void churn(unsigned count, unsigned flags)
{
	struct worker w[CHURN_BATCH];
	struct hm_bufpool *bp;
	unsigned threads0, left_cached = 0;
	uint64_t allocs = 0;

	bp = hm_bufpool_create("churn", count, 64, HM_SOCKET_ANY, flags);
	REQUIRE_NOT_NULL(bp);
	REQUIRE_GE(hm_thread_id(), 0); /* the main thread's slot, counted from here on */
	threads0 = hm_thread_count();
	for (unsigned b = 0; b < CHURN_THREADS / CHURN_BATCH; b++) {
		memset(w, 0, sizeof(w));
		for (unsigned i = 0; i < CHURN_BATCH; i++) {
			w[i].bp = bp;
			w[i].me = b * CHURN_BATCH + i;
			REQUIRE_EQ(pthread_create(&w[i].tid, NULL, churn_thread, &w[i]), 0);
		}
		for (unsigned i = 0; i < CHURN_BATCH; i++) {
			REQUIRE_EQ(pthread_join(w[i].tid, NULL), 0);
			left_cached += w[i].done;
			allocs += w[i].allocs;
		}
		NO_ERRORS();
		CHECK_EQ(hm_thread_count(), threads0);
		CHECK_EQ(hm_bufpool_free_count(bp), hm_bufpool_count(bp) - HM_BUFPOOL_RESERVED);
		/* The gone threads' caches are in the bitmap: this thread gets every index. */
		ALL_ONCE(bp);
	}
	printf("churn (flags %#x): %u threads left %u indices in their caches at exit\n", flags,
	       CHURN_THREADS, left_cached);
	if (!(flags & HM_BUFPOOL_F_NO_CACHE))
		CHECK_GT(left_cached, 0);
	CHECK_EQ(info_of(bp).refused, 0);
	CHECK_GE(info_of(bp).allocs, allocs);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
}

static void test_churn(void)
{
	start();
	churn(4096, 0);
	churn(1024, HM_BUFPOOL_F_NO_CACHE);
	churn(2048, HM_BUFPOOL_F_CHECKED);
	HEAP_OK();
	hm_cleanup();
}

/* --- destroy while another thread's cache holds indices --- */

static struct hm_bufpool *idle_bp;
static unsigned idle_cached;

static void *idle_thread(void *arg)
{
	uint32_t idx[50];

	(void)arg;
	if (hm_bufpool_alloc_bulk(idle_bp, idx, 50) != 50)
		bad("idle thread: no 50 indices");
	else
		hm_bufpool_free_bulk(idle_bp, idx, 50);
	idle_cached = my_cache_len(idle_bp);
	pthread_barrier_wait(&barrier); /* it holds them in its cache */
	pthread_barrier_wait(&barrier); /* the pool is destroyed: exit */
	return NULL;
}

static void test_destroy_other_cache(void)
{
	pthread_t t;
	struct hm_bufpool *bp;

	start();
	idle_bp = hm_bufpool_create("idle", 1000, 64, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(idle_bp);
	REQUIRE_EQ(pthread_barrier_init(&barrier, NULL, 2), 0);
	REQUIRE_EQ(pthread_create(&t, NULL, idle_thread, NULL), 0);
	pthread_barrier_wait(&barrier);
	NO_ERRORS();
	CHECK_GT(idle_cached, 0);
	CHECK_EQ(hm_bufpool_free_count(idle_bp), hm_bufpool_count(idle_bp) - HM_BUFPOOL_RESERVED);
	CHECK_EQ(hm_bufpool_destroy(idle_bp), 0);
	CHECK_NULL_ERRNO(hm_bufpool_lookup("idle"), ENOENT);
	/* A new pool, maybe where the old one was; the idle thread exits now. */
	bp = hm_bufpool_create("idle", 1000, 64, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(bp);
	pthread_barrier_wait(&barrier);
	REQUIRE_EQ(pthread_join(t, NULL), 0);
	pthread_barrier_destroy(&barrier);
	/* Its exit gave nothing to the new pool. */
	CHECK_EQ(info_of(bp).refused, 0);
	ALL_ONCE(bp);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
	HEAP_OK();
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_stress_two);
	T_RUN(test_stress_four);
	T_RUN(test_producer_consumer);
	T_RUN(test_churn);
	T_RUN(test_destroy_other_cache);
	return t_done();
}
