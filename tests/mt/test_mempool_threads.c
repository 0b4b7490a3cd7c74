/* SPDX-License-Identifier: MIT */
/*
 * test_mempool_threads.c - object pools with real threads, each with its own
 * cache:
 *
 *   - stress: two and four threads get and put in random bulks (some larger
 *     than the cache, some failing when the others hold the pool), each
 *     object stamped by the thread that holds it, so that one handed to two
 *     threads at once is seen; for the ring, the stack and no cache; at the
 *     end every object is back (avail == n), the audit passes, every object
 *     comes out once, and the statistics add up to what the threads did;
 *   - producers and consumers: producers get objects and pass them over an
 *     hm_ring to consumers who check their stamps and put them back, so
 *     objects cross threads and caches;
 *   - thread churn: batches of short-lived threads (more in all than there
 *     are thread slots) get and put, hand some objects to the main thread,
 *     and exit or unregister with objects in their caches; after each batch
 *     is joined, no object is stranded (avail + objects the test holds == n);
 *   - a double put raced by two threads on one object: exactly one is
 *     accepted, the other refused, logged once and counted.
 *
 * HUGEMEM_TEST_SCALE (a factor) changes the iteration counts; sanitizer and
 * valgrind runs do fewer. The ring backend spins while a preempted thread
 * finishes its move (as DPDK's does), so with more threads than CPUs a run
 * can crawl: each stress and producer run also stops at a time budget
 * (a note says so), having done what it could.
 */
#include "harness.h"
#include "internal.h"
#include <hugemem.h>
#include <hugemem/ring.h>

#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define MIB        ((size_t)1 << 20)
#define N_THREADS  4
#define HELD       UINT64_C(0x4e1d000000000000) /* stamp of an object a thread holds */
#define HELD_MASK  UINT64_C(0xffff000000000000)
#define FREE_STAMP UINT64_C(0xf4eef4eef4eef4ee) /* stamp of an object given back */
#define SENT       UINT64_C(0x5e47000000000000) /* stamp of an object in the ring */

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
	return t_scale(0.2, 0.05);
}

static unsigned scaled(unsigned n)
{
	double v = n * scale();

	return v < 10 ? 10 : (unsigned)v;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define BUDGET_S 5.0 /* seconds of one stress or producer run, at most */

/* Whether a thread on iteration it is past deadline (the clock is read every 128). */
static bool past(unsigned it, double deadline)
{
	return (it & 127) == 0 && it && now() > deadline;
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

struct worker {
	pthread_t tid;
	struct hm_mempool *mp;
	unsigned me;
	unsigned iters;
	double deadline;
	/* results */
	uint64_t gets, get_objs, fails, puts, put_objs;
	unsigned done; /* iterations done: iters, or fewer at the deadline */
};

static void run(struct worker *w, unsigned n, void *(*fn)(void *))
{
	REQUIRE_EQ(pthread_barrier_init(&barrier, NULL, n), 0);
	for (unsigned i = 0; i < n; i++)
		REQUIRE_EQ(pthread_create(&w[i].tid, NULL, fn, &w[i]), 0);
	for (unsigned i = 0; i < n; i++)
		REQUIRE_EQ(pthread_join(w[i].tid, NULL), 0);
	pthread_barrier_destroy(&barrier);
}

static int cmp_ptr(const void *a, const void *b)
{
	void *const *pa = a, *const *pb = b;
	uintptr_t x = (uintptr_t)pa[0], y = (uintptr_t)pb[0];

	return x < y ? -1 : x > y;
}

/* Every object of mp is free: take them all (each once), check, and give them back. */
static void all_back(struct hm_mempool *mp, unsigned n)
{
	void **objs = calloc(n + 1, sizeof(void *));
	unsigned dup = 0;

	REQUIRE_NOT_NULL(objs);
	CHECK_EQ(hm_mempool_avail_count(mp), n);
	CHECK_EQ(hm_mempool_in_use_count(mp), 0);
	CHECK_EQ(hm_mempool_audit(mp), 0);
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, n), 0);
	CHECK_EQ(hm_mempool_get(mp, &objs[n]), -ENOENT);
	qsort(objs, n, sizeof(void *), cmp_ptr);
	for (unsigned i = 1; i < n; i++)
		dup += objs[i] == objs[i - 1];
	CHECK_EQ(dup, 0);
	hm_mempool_put_bulk(mp, objs, n);
	CHECK_EQ(hm_mempool_avail_count(mp), n);
	free(objs);
}

/* --- stress: threads getting and putting at once --- */

#define HOLD_MAX 160

static void take(struct worker *w, void **objs, unsigned k)
{
	for (unsigned i = 0; i < k; i++) {
		uint64_t *o = objs[i];

		if (hm_mempool_from_obj(o) != w->mp)
			bad("thread %u: object %p is not the pool's", w->me, (void *)o);
		if ((o[0] & HELD_MASK) == HELD)
			bad("thread %u: object %p handed out while thread %u holds it", w->me,
			    (void *)o, (unsigned)(o[0] & 0xffff));
		o[0] = HELD | w->me;
		o[1] = (uint64_t)(uintptr_t)o ^ w->me;
	}
}

static void give(struct worker *w, void **objs, unsigned k)
{
	for (unsigned i = 0; i < k; i++) {
		uint64_t *o = objs[i];

		if (o[0] != (HELD | w->me) || o[1] != ((uint64_t)(uintptr_t)o ^ w->me))
			bad("thread %u: object %p changed while held (%#llx)", w->me, (void *)o,
			    (unsigned long long)o[0]);
		o[0] = FREE_STAMP;
	}
}

static void *stress_thread(void *arg)
{
	struct worker *w = arg;
	void *held[HOLD_MAX];
	unsigned n = 0;

	pthread_barrier_wait(&barrier);
	for (w->done = 0; w->done < w->iters && !past(w->done, w->deadline); w->done++) {
		if (n == 0 || (n < HOLD_MAX && t_rand_below(2))) {
			unsigned k = 1 + (unsigned)t_rand_below(t_rand_below(8) ? 16 : 100);

			if (k > HOLD_MAX - n)
				k = HOLD_MAX - n;
			if (hm_mempool_get_bulk(w->mp, held + n, k) == 0) {
				take(w, held + n, k);
				n += k;
				w->gets++;
				w->get_objs += k;
			} else {
				w->fails++;
			}
		} else {
			unsigned k = 1 + (unsigned)t_rand_below(n < 70 ? n : 70);

			give(w, held + n - k, k);
			if (k == 1)
				hm_mempool_put(w->mp, held[n - 1]);
			else
				hm_mempool_put_bulk(w->mp, held + n - k, k);
			n -= k;
			w->puts++;
			w->put_objs += k;
		}
	}
	give(w, held, n);
	if (n) {
		hm_mempool_put_bulk(w->mp, held, n);
		w->puts++;
		w->put_objs += n;
	}
	return NULL;
}

static void stress(unsigned threads, unsigned n, unsigned cache_size, unsigned flags)
{
	struct worker w[N_THREADS];
	struct hm_mempool *mp;
	struct hm_mempool_stats st;
	uint64_t gets = 0, get_objs = 0, fails = 0, puts = 0, put_objs = 0;
	double deadline = now() + BUDGET_S;

	mp = hm_mempool_create("stress", n, 64, cache_size, 0, NULL, NULL, HM_SOCKET_ANY, flags);
	REQUIRE_NOT_NULL(mp);
	memset(w, 0, sizeof(w));
	for (unsigned i = 0; i < threads; i++) {
		w[i].mp = mp;
		w[i].me = i;
		w[i].iters = scaled(40000);
		w[i].deadline = deadline;
	}
	run(w, threads, stress_thread);
	no_errors();
	for (unsigned i = 0; i < threads; i++) {
		if (w[i].done < w[i].iters)
			printf("note: stress (%u threads, n %u, cache %u, flags %#x): thread %u "
			       "stopped at the time budget, %u of %u iterations done\n",
			       threads, n, cache_size, flags, i, w[i].done, w[i].iters);
		CHECK_GE(w[i].done, 128);
		gets += w[i].gets;
		get_objs += w[i].get_objs;
		fails += w[i].fails;
		puts += w[i].puts;
		put_objs += w[i].put_objs;
	}
	CHECK_EQ(get_objs, put_objs);
	CHECK_GT(gets, 0);
	/* The threads are gone, their caches flushed: every object is back. */
	CHECK_EQ(hm_mempool_avail_count(mp), n);
	CHECK_EQ(hm_mempool_audit(mp), 0);
	REQUIRE_EQ(hm_mempool_get_stats(mp, &st), 0);
	CHECK_EQ(st.get_calls, gets);
	CHECK_EQ(st.get_objs, get_objs);
	CHECK_EQ(st.get_fail_calls, fails);
	CHECK_EQ(st.put_calls, puts);
	CHECK_EQ(st.put_objs, put_objs);
	CHECK_EQ(st.cache_hits + st.cache_misses, gets);
	CHECK_EQ(st.refused_puts, 0);
	all_back(mp, n);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
}

static void test_stress_two(void)
{
	start();
	stress(2, 400, 32, 0);
	stress(2, 400, 32, HM_MEMPOOL_F_STACK);
	stress(2, 300, 0, 0);
	hm_cleanup();
}

static void test_stress_four(void)
{
	start();
	stress(4, 1000, 32, 0);
	stress(4, 700, 64, HM_MEMPOOL_F_STACK);
	stress(4, 600, 0, HM_MEMPOOL_F_STACK);
	stress(4, 2048, 512, 0);
	hm_cleanup();
}

/* --- producers and consumers over a ring --- */

#define N_PRODUCERS 2
#define N_CONSUMERS 2

static struct hm_ring *pc_ring;
static atomic_uint consumed;
static atomic_uint produced;       /* objects in the ring or past it */
static atomic_uint producers_done; /* producers that sent all they will */

/* A sent object: its stamp says who sent it, in what order, and checks itself. */
struct message {
	uint64_t stamp; /* SENT | producer */
	uint64_t seq;
	uint64_t check;
	uint64_t body[5];
};

static uint64_t message_check(const struct message *m)
{
	uint64_t c = m->stamp * 31 + m->seq;

	for (unsigned i = 0; i < 5; i++)
		c = c * 131 + m->body[i];
	return c;
}

static void *producer(void *arg)
{
	struct worker *w = arg;
	uint64_t seq = 0;

	pthread_barrier_wait(&barrier);
	while (seq < w->iters && !past(++w->done, w->deadline)) {
		void *objs[16];
		unsigned k = 1 + (unsigned)t_rand_below(16);

		if (k > w->iters - seq)
			k = (unsigned)(w->iters - seq);
		if (hm_mempool_get_bulk(w->mp, objs, k) != 0) {
			w->fails++;
			sched_yield(); /* all in flight: let the consumers catch up */
			continue;
		}
		w->gets++;
		for (unsigned i = 0; i < k; i++) {
			struct message *m = objs[i];

			if (m->stamp >> 48 == SENT >> 48)
				bad("producer %u: got %p, which is in the ring", w->me, objs[i]);
			m->stamp = SENT | w->me;
			m->seq = seq++;
			for (unsigned b = 0; b < 5; b++)
				m->body[b] = t_rand();
			m->check = message_check(m);
		}
		while (hm_ring_enqueue_bulk(pc_ring, objs, k, NULL) == 0)
			sched_yield();
		w->put_objs += k;
		atomic_fetch_add(&produced, k);
	}
	atomic_fetch_add(&producers_done, 1);
	return NULL;
}

/* Whether every object has been sent and received. */
static bool pc_over(void)
{
	/* producers_done first: once all are done, produced is final. */
	return atomic_load(&producers_done) == N_PRODUCERS &&
	       atomic_load(&consumed) == atomic_load(&produced);
}

static void *consumer(void *arg)
{
	struct worker *w = arg;
	uint64_t next[N_PRODUCERS] = {0}; /* the least seq each producer may send us next */
	unsigned idle = 0;

	pthread_barrier_wait(&barrier);
	while (!pc_over()) {
		void *objs[32];
		unsigned k =
			hm_ring_dequeue_burst(pc_ring, objs, 1 + (unsigned)t_rand_below(32), NULL);

		if (k == 0) {
			if (++idle % 64 == 0)
				sched_yield();
			continue;
		}
		for (unsigned i = 0; i < k; i++) {
			struct message *m = objs[i];
			unsigned p = (unsigned)(m->stamp & 0xffff);

			if (m->stamp >> 48 != SENT >> 48 || p >= N_PRODUCERS ||
			    m->check != message_check(m) || hm_mempool_from_obj(m) != w->mp) {
				bad("consumer %u: object %p is damaged (stamp %#llx)", w->me,
				    objs[i], (unsigned long long)m->stamp);
				continue;
			}
			/* One producer's objects come out of the ring in its order. */
			if (m->seq < next[p])
				bad("consumer %u: producer %u's seq %llu after %llu", w->me, p,
				    (unsigned long long)m->seq, (unsigned long long)next[p]);
			next[p] = m->seq + 1;
			m->stamp = FREE_STAMP;
		}
		if (t_rand_below(2)) {
			hm_mempool_put_bulk(w->mp, objs, k);
		} else {
			for (unsigned i = 0; i < k; i++)
				hm_mempool_put(w->mp, objs[i]);
		}
		w->put_objs += k;
		atomic_fetch_add(&consumed, k);
	}
	return NULL;
}

static void *pc_thread(void *arg)
{
	struct worker *w = arg;

	return w->me < N_PRODUCERS ? producer(arg) : consumer(arg);
}

static void producer_consumer(unsigned n, unsigned cache_size, unsigned flags)
{
	struct worker w[N_PRODUCERS + N_CONSUMERS];
	struct hm_mempool *mp;
	uint64_t sent = 0, received = 0;
	double deadline = now() + BUDGET_S;

	mp = hm_mempool_create("pc", n, sizeof(struct message), cache_size, 0, NULL, NULL,
			       HM_SOCKET_ANY, flags);
	REQUIRE_NOT_NULL(mp);
	pc_ring = hm_ring_create("pc", 256, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(pc_ring);
	memset(w, 0, sizeof(w));
	atomic_store(&consumed, 0);
	atomic_store(&produced, 0);
	atomic_store(&producers_done, 0);
	for (unsigned i = 0; i < N_PRODUCERS + N_CONSUMERS; i++) {
		w[i].mp = mp;
		w[i].me = i; /* producers first */
		w[i].iters = i < N_PRODUCERS ? scaled(100000) : 0;
		w[i].deadline = deadline;
	}
	run(w, N_PRODUCERS + N_CONSUMERS, pc_thread);
	no_errors();
	for (unsigned i = 0; i < N_PRODUCERS; i++) {
		if (w[i].put_objs < w[i].iters)
			printf("note: producer %u (n %u, cache %u, flags %#x) stopped at the time "
			       "budget, %llu of %u objects sent\n",
			       i, n, cache_size, flags, (unsigned long long)w[i].put_objs,
			       w[i].iters);
		CHECK_GE(w[i].put_objs, 100);
		sent += w[i].put_objs;
	}
	for (unsigned i = N_PRODUCERS; i < N_PRODUCERS + N_CONSUMERS; i++)
		received += w[i].put_objs;
	CHECK_EQ(sent, atomic_load(&produced));
	CHECK_EQ(received, sent);
	CHECK_EQ(atomic_load(&consumed), sent);
	CHECK_EQ(hm_ring_count(pc_ring), 0);
	CHECK_EQ(hm_mempool_avail_count(mp), n);
	CHECK_EQ(hm_mempool_audit(mp), 0);
	all_back(mp, n);
	CHECK_EQ(hm_ring_destroy(pc_ring), 0);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
}

static void test_producer_consumer(void)
{
	start();
	producer_consumer(1024, 32, 0);
	producer_consumer(600, 16, HM_MEMPOOL_F_STACK);
	producer_consumer(512, 0, 0);
	hm_cleanup();
}

/* --- thread churn --- */

#define CHURN_BATCH 8
#define HANDED_MAX  4096

static pthread_mutex_t handed_lock = PTHREAD_MUTEX_INITIALIZER;
static void *handed[HANDED_MAX]; /* objects the threads gave the main thread */
static unsigned n_handed;

static void *churn_thread(void *arg)
{
	struct worker *w = arg;
	void *objs[64];
	unsigned rounds = 1 + (unsigned)t_rand_below(8);

	for (unsigned r = 0; r < rounds; r++) {
		unsigned k = 1 + (unsigned)t_rand_below(40);

		if (hm_mempool_get_bulk(w->mp, objs, k) != 0) {
			w->fails++;
			continue;
		}
		for (unsigned i = 0; i < k; i++)
			memset(objs[i], (int)w->me, 32);
		/* A few for the main thread; the rest back, one by one or in a bulk. */
		unsigned give = t_rand_below(3) ? 0 : 1 + (unsigned)t_rand_below(k < 3 ? k : 3);

		pthread_mutex_lock(&handed_lock);
		if (n_handed + give > HANDED_MAX)
			give = 0;
		for (unsigned i = 0; i < give; i++)
			handed[n_handed++] = objs[k - 1 - i];
		pthread_mutex_unlock(&handed_lock);
		k -= give;
		if (t_rand_below(2)) {
			hm_mempool_put_bulk(w->mp, objs, k);
		} else {
			for (unsigned i = 0; i < k; i++)
				hm_mempool_put(w->mp, objs[i]);
		}
	}
	/* Exit with objects in the cache, or unregister first: either gives them back. */
	if (w->me % 2 && hm_thread_unregister() != 0)
		bad("thread %u: hm_thread_unregister failed", w->me);
	return NULL;
}

static void churn(unsigned n, unsigned cache_size, unsigned flags)
{
	struct worker w[CHURN_BATCH];
	struct hm_mempool *mp;
	unsigned batches = scaled(60), threads0;

	mp = hm_mempool_create("churn", n, 32, cache_size, 0, NULL, NULL, HM_SOCKET_ANY, flags);
	REQUIRE_NOT_NULL(mp);
	n_handed = 0;
	REQUIRE_GE(hm_thread_id(), 0); /* the main thread's slot, counted from here on */
	threads0 = hm_thread_count();
	for (unsigned b = 0; b < batches; b++) {
		memset(w, 0, sizeof(w));
		for (unsigned i = 0; i < CHURN_BATCH; i++) {
			w[i].mp = mp;
			w[i].me = b * CHURN_BATCH + i;
			REQUIRE_EQ(pthread_create(&w[i].tid, NULL, churn_thread, &w[i]), 0);
		}
		for (unsigned i = 0; i < CHURN_BATCH; i++)
			REQUIRE_EQ(pthread_join(w[i].tid, NULL), 0);
		/* Gone threads hold nothing: what is not free is the test's. */
		if (hm_mempool_avail_count(mp) + n_handed != n) {
			t_fail(__FILE__, __LINE__, false,
			       "batch %u: %u free + %u held by the test, of %u", b,
			       hm_mempool_avail_count(mp), n_handed, n);
			break;
		}
		CHECK_EQ(hm_thread_count(), threads0);
		/* The main thread gives some back (through its own cache). */
		for (unsigned k = (unsigned)t_rand_below(n_handed + 1); k; k--)
			hm_mempool_put(mp, handed[--n_handed]);
		CHECK_EQ(hm_mempool_avail_count(mp) + n_handed, n);
	}
	no_errors();
	CHECK_EQ(hm_mempool_audit(mp), 0);
	hm_mempool_put_bulk(mp, handed, n_handed);
	n_handed = 0;
	all_back(mp, n);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
}

static void test_churn(void)
{
	start();
	churn(2000, 32, 0);
	churn(1000, 8, HM_MEMPOOL_F_STACK);
	churn(500, 0, 0);
	hm_cleanup();
}

/* --- a double put raced by two threads --- */

static void *_Atomic victim;
static unsigned race_rounds;

static void *race_thread(void *arg)
{
	struct worker *w = arg;

	for (unsigned r = 0; r < race_rounds; r++) {
		void *obj;

		pthread_barrier_wait(&barrier); /* the main thread has set the victim */
		obj = atomic_load(&victim);
		if ((r + w->me) % 2)
			hm_mempool_put(w->mp, obj);
		else
			hm_mempool_put_bulk(w->mp, &obj, 1);
		pthread_barrier_wait(&barrier); /* both have put it */
		pthread_barrier_wait(&barrier); /* the main thread has looked */
	}
	return NULL;
}

static void double_put_race(unsigned n, unsigned cache_size, unsigned flags)
{
	struct worker w[2];
	struct hm_mempool *mp;
	struct hm_mempool_stats st;
	unsigned wrong = 0;

	mp = hm_mempool_create("race", n, 64, cache_size, 0, NULL, NULL, HM_SOCKET_ANY,
			       flags | HM_MEMPOOL_F_CHECKED);
	REQUIRE_NOT_NULL(mp);
	race_rounds = scaled(1000);
	memset(w, 0, sizeof(w));
	hm_log_set_sink(t_count_sink, NULL);
	t_log_lines_reset();
	REQUIRE_EQ(pthread_barrier_init(&barrier, NULL, 3), 0);
	for (unsigned i = 0; i < 2; i++) {
		w[i].mp = mp;
		w[i].me = i;
		REQUIRE_EQ(pthread_create(&w[i].tid, NULL, race_thread, &w[i]), 0);
	}
	for (unsigned r = 0; r < race_rounds; r++) {
		void *obj;

		if (hm_mempool_get(mp, &obj) != 0) {
			t_fail(__FILE__, __LINE__, true, "round %u: no object to get", r);
			break;
		}
		atomic_store(&victim, obj);
		pthread_barrier_wait(&barrier);
		pthread_barrier_wait(&barrier);
		/* One put accepted, one refused: every object free, one refusal more. */
		REQUIRE_EQ(hm_mempool_get_stats(mp, &st), 0);
		if (st.refused_puts != r + 1 || t_log_lines() != r + 1 ||
		    hm_mempool_avail_count(mp) != n) {
			if (wrong++ == 0)
				t_fail(__FILE__, __LINE__, false,
				       "round %u: refused %llu, log lines %u, avail %u of %u", r,
				       (unsigned long long)st.refused_puts, t_log_lines(),
				       hm_mempool_avail_count(mp), n);
		}
		pthread_barrier_wait(&barrier);
	}
	for (unsigned i = 0; i < 2; i++)
		REQUIRE_EQ(pthread_join(w[i].tid, NULL), 0);
	pthread_barrier_destroy(&barrier);
	hm_log_set_sink(NULL, NULL);
	CHECK_EQ(wrong, 0);
	REQUIRE_EQ(hm_mempool_get_stats(mp, &st), 0);
	CHECK_EQ(st.refused_puts, race_rounds);
	all_back(mp, n);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
}

static void test_double_put_race(void)
{
	start();
	double_put_race(64, 8, 0);
	double_put_race(64, 0, 0);
	double_put_race(32, 4, HM_MEMPOOL_F_STACK);
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_stress_two);
	T_RUN(test_stress_four);
	T_RUN(test_producer_consumer);
	T_RUN(test_churn);
	T_RUN(test_double_put_race);
	return t_done();
}
