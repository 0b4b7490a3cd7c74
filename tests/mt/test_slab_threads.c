/* SPDX-License-Identifier: MIT */
/*
 * test_slab_threads.c - slab caches and kmalloc with real threads, each with
 * its own magazines:
 *
 *   - producer and consumer: one thread allocates objects (one by one and in
 *     bulks), stamps them and passes them over an hm_ring to another, which
 *     checks and frees every one of them (each object freed by the thread
 *     that did not allocate it); with and without magazines, in a debug
 *     cache, and for hm_kmalloc/hm_kfree of random sizes; at the end no
 *     object is stranded in the gone threads' magazines: active_objs is 0,
 *     the counts add up, and every object of the slabs can be allocated
 *     again without a new slab;
 *   - thread churn: 50 short-lived threads, a few at a time, allocate and
 *     free, hand a few objects to the main thread, and exit (or unregister
 *     first) with their magazines loaded; after each batch active_objs is
 *     exactly what the main thread was handed, the thread slots are back,
 *     and at the end every object is allocatable;
 *   - bulks at once: two threads alloc_bulk and free_bulk random counts on
 *     one cache, each object stamped by its holder, so that one handed to
 *     both at once is seen; the counts are conserved;
 *   - stress: four threads allocate from two caches and kmalloc, and pass
 *     objects to each other through a shared mailbox to free, while a fifth
 *     shrinks the caches and reads their statistics and the reap interval is
 *     short; everything is conserved and the audits pass;
 *   - more threads than thread slots: those without one allocate and free
 *     without magazines, alongside those with, and the counts add up;
 *   - destroy while another thread is idle with loaded magazines: refused
 *     with an object out (every magazine emptied, the other thread's too, the
 *     cache still usable by it), done once it is back, and the thread goes on
 *     with a new cache of the same name and exits cleanly.
 *
 * HUGEMEM_TEST_SCALE (a factor) changes the counts; sanitizer and valgrind
 * runs do fewer.
 */
#include "harness.h"
#include "internal.h"
#include <hugemem.h>
#include <hugemem/ring.h>
#include <hugemem/slab.h>

#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>

#define MIB ((size_t)1 << 20)

#define DEFAULT_INTERVAL 1000u
#define LONG_INTERVAL    600000u

#define HELD       UINT64_C(0x4e1d000000000000) /* stamp of an object a thread holds */
#define HELD_MASK  UINT64_C(0xffff000000000000)
#define SENT       UINT64_C(0x5e47000000000000) /* stamp of an object in the ring */
#define FREE_STAMP UINT64_C(0xf4eef4eef4eef4ee)

static void start(void)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = 256 * MIB;
	REQUIRE_EQ(hm_init(&c), 0);
	hm_slab_set_reap_interval(LONG_INTERVAL);
}

static void stop(void)
{
	hm_slab_set_reap_interval(DEFAULT_INTERVAL);
	hm_cleanup();
}

static double scale(void)
{
	return t_scale(0.2, 0.05);
}

static unsigned scaled(unsigned n)
{
	double v = n * scale();

	return v < 100 ? 100 : (unsigned)v;
}

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

static struct hm_slab_stats stats(const struct hm_slab_cache *c)
{
	struct hm_slab_stats st;

	memset(&st, 0xee, sizeof(st));
	REQUIRE_EQ(hm_slab_get_stats(c, &st), 0);
	return st;
}

static int cmp_ptr(const void *a, const void *b)
{
	void *const *pa = a, *const *pb = b;
	uintptr_t x = (uintptr_t)pa[0], y = (uintptr_t)pb[0];

	return x < y ? -1 : x > y;
}

/*
 * Nothing is out and no thread but this one uses c: every object of its slabs
 * comes out once, without a new slab, and goes back.
 */
static void all_allocatable(struct hm_slab_cache *c)
{
	struct hm_slab_stats st = stats(c);
	uint64_t n = st.total_objs, grown = st.slabs_grown;
	void **objs;
	unsigned dup = 0;

	CHECK_EQ(st.active_objs, 0);
	CHECK_EQ(hm_slab_audit(c), 0);
	REQUIRE(n < (1u << 24));
	objs = calloc(n + 1, sizeof(void *));
	REQUIRE_NOT_NULL(objs);
	for (uint64_t i = 0; i < n; i++) {
		objs[i] = hm_slab_alloc(c);
		REQUIRE_NOT_NULL(objs[i]);
	}
	st = stats(c);
	CHECK_EQ(st.slabs_grown, grown);
	CHECK_EQ(st.active_objs, n);
	CHECK_EQ(st.total_objs, n);
	qsort(objs, n, sizeof(void *), cmp_ptr);
	for (uint64_t i = 1; i < n; i++)
		dup += objs[i] == objs[i - 1];
	CHECK_EQ(dup, 0);
	hm_slab_free_bulk(c, objs, (unsigned)n);
	CHECK_EQ(stats(c).active_objs, 0);
	free(objs);
}

/* --- producer and consumer --- */

struct message {
	uint64_t stamp; /* SENT | seq */
	uint64_t size;  /* kmalloc: bytes asked */
	uint64_t check;
	uint64_t body[5];
};

static uint64_t message_check(const struct message *m)
{
	uint64_t c = m->stamp * 31 + m->size;

	for (unsigned i = 0; i < 5; i++)
		c = c * 131 + m->body[i];
	return c ^ (uintptr_t)m;
}

struct pc {
	struct hm_slab_cache *c; /* NULL: hm_kmalloc */
	struct hm_ring *ring;
	unsigned n;
	atomic_uint sent;
	atomic_bool done;
	/* results */
	uint64_t allocs, frees, kfrees_big;
};

static void *producer(void *arg)
{
	struct pc *pc = arg;
	uint64_t seq = 0;

	while (seq < pc->n) {
		void *objs[32];
		unsigned k = 1 + (unsigned)t_rand_below(32);

		if (k > pc->n - seq)
			k = (unsigned)(pc->n - seq);
		if (pc->c && t_rand_below(2)) {
			if (hm_slab_alloc_bulk(pc->c, objs, k) != k) {
				bad("producer: alloc_bulk of %u failed", k);
				break;
			}
		} else {
			for (unsigned i = 0; i < k; i++) {
				size_t size = sizeof(struct message);

				if (!pc->c) {
					size += (size_t)t_rand_below(t_rand_below(16) ? 2000
										      : 200000);
					objs[i] = hm_kmalloc(size);
				} else {
					objs[i] = hm_slab_alloc(pc->c);
				}
				if (!objs[i]) {
					bad("producer: alloc failed: %s", strerror(errno));
					k = i;
					break;
				}
				((struct message *)objs[i])->size = size;
			}
		}
		for (unsigned i = 0; i < k; i++) {
			struct message *m = objs[i];

			if (pc->c)
				m->size = sizeof(*m);
			m->stamp = SENT | seq++;
			for (unsigned b = 0; b < 5; b++)
				m->body[b] = t_rand();
			m->check = message_check(m);
		}
		pc->allocs += k;
		while (hm_ring_enqueue_bulk(pc->ring, objs, k, NULL) == 0)
			sched_yield();
		atomic_fetch_add(&pc->sent, k);
		if (atomic_load(&errors))
			break;
	}
	atomic_store(&pc->done, true);
	return NULL;
}

static void *consumer(void *arg)
{
	struct pc *pc = arg;
	uint64_t next = 0;
	unsigned idle = 0;

	for (;;) {
		void *objs[32];
		unsigned k =
			hm_ring_dequeue_burst(pc->ring, objs, 1 + (unsigned)t_rand_below(32), NULL);

		if (k == 0) {
			/* done first: once it is set, sent is final. */
			if (atomic_load(&pc->done) && pc->frees == atomic_load(&pc->sent))
				break;
			if (++idle % 64 == 0)
				sched_yield();
			continue;
		}
		for (unsigned i = 0; i < k; i++) {
			struct message *m = objs[i];

			if ((m->stamp & HELD_MASK) != SENT || m->check != message_check(m) ||
			    (m->stamp & ~HELD_MASK) != next)
				bad("consumer: object %p damaged or out of order (stamp %#llx, "
				    "want seq %llu)",
				    objs[i], (unsigned long long)m->stamp,
				    (unsigned long long)next);
			if (pc->c && !hm__slab_mine(pc->c, m))
				bad("consumer: %p is not the cache's", objs[i]);
			if (!pc->c && hm_ksize(m) < m->size)
				bad("consumer: ksize %zu < %llu", hm_ksize(m),
				    (unsigned long long)m->size);
			next++;
			m->stamp = FREE_STAMP;
		}
		if (!pc->c) {
			for (unsigned i = 0; i < k; i++)
				hm_kfree(objs[i]);
		} else if (t_rand_below(2)) {
			hm_slab_free_bulk(pc->c, objs, k);
		} else {
			for (unsigned i = 0; i < k; i++)
				hm_slab_free(pc->c, objs[i]);
		}
		pc->frees += k;
	}
	return NULL;
}

static void producer_consumer(struct hm_slab_cache *c, unsigned n)
{
	struct pc pc = {.c = c, .n = n};
	pthread_t p, q;

	pc.ring = hm_ring_create("pc", 512, HM_SOCKET_ANY, HM_RING_SP_ENQ | HM_RING_SC_DEQ);
	REQUIRE_NOT_NULL(pc.ring);
	REQUIRE_EQ(pthread_create(&p, NULL, producer, &pc), 0);
	REQUIRE_EQ(pthread_create(&q, NULL, consumer, &pc), 0);
	REQUIRE_EQ(pthread_join(p, NULL), 0);
	REQUIRE_EQ(pthread_join(q, NULL), 0);
	no_errors();
	CHECK_EQ(pc.allocs, n);
	CHECK_EQ(pc.frees, n);
	CHECK_EQ(hm_ring_count(pc.ring), 0);
	CHECK_EQ(hm_ring_destroy(pc.ring), 0);
	if (c) {
		struct hm_slab_stats st = stats(c);

		/* Both threads are gone, their magazines back in the cache. */
		CHECK_EQ(st.active_objs, 0);
		CHECK_EQ(st.allocs, n);
		CHECK_EQ(st.frees, n);
		CHECK_EQ(st.errors, 0);
		CHECK_GE(st.high_mark, 1);
		all_allocatable(c);
	}
}

static void test_producer_consumer(void)
{
	static const struct {
		size_t size;
		unsigned flags;
	} s[] = {
		{sizeof(struct message), 0},
		{sizeof(struct message), HM_SLAB_F_NO_MAGAZINES},
		{100, HM_SLAB_F_DEBUG},
		{256, HM_SLAB_F_HWCACHE_ALIGN},
	};
	unsigned n = scaled(200000);

	start();
	for (unsigned i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		struct hm_slab_cache *c =
			hm_slab_create("pc", s[i].size, 0, s[i].flags, NULL, NULL, NULL);

		REQUIRE_NOT_NULL(c);
		producer_consumer(c, n);
		CHECK_EQ(hm_slab_destroy(c), 0);
	}
	/* The general caches, and heap blocks, freed by the other thread. */
	producer_consumer(NULL, n / 4);
	{
		struct hm_malloc_type_stats ts;

		if (hm_malloc_get_type_stats("kmalloc", &ts) == 0)
			CHECK_EQ(ts.live_blocks, 0);
	}
	for (size_t size = sizeof(struct message); size <= 2000 + sizeof(struct message);
	     size += 8) {
		char name[32];
		struct hm_slab_cache *c;

		snprintf(name, sizeof(name), "kmalloc-%zu", size);
		c = hm_slab_lookup(name);
		if (c) {
			CHECK_EQ(stats(c).active_objs, 0);
			CHECK_EQ(stats(c).allocs, stats(c).frees);
			CHECK_EQ(stats(c).errors, 0);
			CHECK_EQ(hm_slab_audit(c), 0);
		}
	}
	stop();
}

/* --- thread churn --- */

#define CHURN_THREADS 50
#define CHURN_BATCH   5
#define HANDED_MAX    4096

struct churn {
	struct hm_slab_cache *c; /* NULL: hm_kmalloc(CHURN_KSIZE) */
	unsigned me;
	unsigned mag; /* the cache's magazine size */
};
#define CHURN_KSIZE 96

static pthread_mutex_t handed_lock = PTHREAD_MUTEX_INITIALIZER;
static void *handed[HANDED_MAX];
static unsigned n_handed;

static void *churn_thread(void *arg)
{
	struct churn *w = arg;
	void *objs[256];
	unsigned rounds = 1 + (unsigned)t_rand_below(6);

	unsigned lim = w->mag * 3 + 8 < 256 ? w->mag * 3 + 8 : 256;

	for (unsigned r = 0; r < rounds; r++) {
		unsigned k = 1 + (unsigned)t_rand_below(lim), give;

		for (unsigned i = 0; i < k; i++) {
			objs[i] = w->c ? hm_slab_alloc(w->c) : hm_kmalloc(CHURN_KSIZE);
			if (!objs[i]) {
				bad("thread %u: alloc failed", w->me);
				k = i;
				break;
			}
			memset(objs[i], (int)(w->me & 0xff), 32);
		}
		/* A few for the main thread; the rest back, one by one or in a bulk. */
		give = t_rand_below(3) ? 0 : 1 + (unsigned)t_rand_below(k < 3 ? k : 3);
		if (give > k)
			give = k;
		pthread_mutex_lock(&handed_lock);
		if (n_handed + give > HANDED_MAX)
			give = 0;
		for (unsigned i = 0; i < give; i++)
			handed[n_handed++] = objs[k - 1 - i];
		pthread_mutex_unlock(&handed_lock);
		k -= give;
		if (!w->c) {
			for (unsigned i = 0; i < k; i++)
				hm_kfree(objs[i]);
		} else if (t_rand_below(2)) {
			hm_slab_free_bulk(w->c, objs, k);
		} else {
			for (unsigned i = 0; i < k; i++)
				hm_slab_free(w->c, objs[i]);
		}
	}
	/* Exit with loaded magazines, or unregister first: either gives them back. */
	if (w->me % 2 && hm_thread_unregister() != 0)
		bad("thread %u: hm_thread_unregister failed", w->me);
	return NULL;
}

static void churn(struct hm_slab_cache *c)
{
	struct hm_slab_cache *sc = c ? c : NULL;
	struct churn w[CHURN_BATCH];
	pthread_t tid[CHURN_BATCH];
	unsigned threads0, mag;

	if (!sc) {
		void *p = hm_kmalloc(CHURN_KSIZE);

		REQUIRE_NOT_NULL(p);
		hm_kfree(p);
		sc = hm_slab_lookup("kmalloc-96");
		REQUIRE_NOT_NULL(sc);
	}
	mag = stats(sc).magazine_size;
	n_handed = 0;
	REQUIRE_GE(hm_thread_id(), 0);
	threads0 = hm_thread_count();
	for (unsigned b = 0; b < CHURN_THREADS / CHURN_BATCH; b++) {
		struct hm_slab_stats st;

		for (unsigned i = 0; i < CHURN_BATCH; i++) {
			w[i].c = c;
			w[i].me = b * CHURN_BATCH + i;
			w[i].mag = mag;
			REQUIRE_EQ(pthread_create(&tid[i], NULL, churn_thread, &w[i]), 0);
		}
		for (unsigned i = 0; i < CHURN_BATCH; i++)
			REQUIRE_EQ(pthread_join(tid[i], NULL), 0);
		/* Gone threads hold nothing: what is out is the main thread's. */
		st = stats(sc);
		if (st.active_objs != n_handed) {
			t_fail(__FILE__, __LINE__, false, "batch %u: %llu active, %u handed over",
			       b, (unsigned long long)st.active_objs, n_handed);
			break;
		}
		CHECK_EQ(hm_thread_count(), threads0);
		CHECK_EQ(hm_slab_audit(sc), 0);
		/* The main thread frees some (through its own magazines). */
		for (unsigned k = (unsigned)t_rand_below(n_handed + 1); k; k--) {
			void *p = handed[--n_handed];

			if (c)
				hm_slab_free(c, p);
			else
				hm_kfree(p);
		}
		CHECK_EQ(stats(sc).active_objs, n_handed);
	}
	no_errors();
	while (n_handed) {
		void *p = handed[--n_handed];

		if (c)
			hm_slab_free(c, p);
		else
			hm_kfree(p);
	}
	CHECK_EQ(stats(sc).errors, 0);
	CHECK_EQ(stats(sc).allocs, stats(sc).frees);
	all_allocatable(sc);
}

static void test_churn(void)
{
	struct hm_slab_cache *c;

	start();
	c = hm_slab_create("churn", 64, 0, 0, NULL, NULL, NULL);
	REQUIRE_NOT_NULL(c);
	churn(c);
	CHECK_EQ(hm_slab_destroy(c), 0);
	c = hm_slab_create("churn", 200, 0, HM_SLAB_F_DEBUG, NULL, NULL, NULL);
	REQUIRE_NOT_NULL(c);
	churn(c);
	CHECK_EQ(hm_slab_destroy(c), 0);
	churn(NULL);
	stop();
}

/* --- bulks at once --- */

#define HOLD_MAX 600

struct bulker {
	pthread_t tid;
	struct hm_slab_cache *c;
	unsigned me, iters, mag, per_slab;
	uint64_t allocs, frees;
};

static pthread_barrier_t barrier;

static void take(struct bulker *w, void **objs, unsigned k)
{
	for (unsigned i = 0; i < k; i++) {
		uint64_t *o = objs[i];

		if (!hm__slab_mine(w->c, o))
			bad("thread %u: %p is not the cache's", w->me, (void *)o);
		/* A fresh object's first word may never have been written: read on purpose. */
		hm_track_defined(o, sizeof(uint64_t));
		if ((o[0] & HELD_MASK) == HELD)
			bad("thread %u: %p handed out while thread %u holds it", w->me, (void *)o,
			    (unsigned)(o[0] & 0xffff));
		o[0] = HELD | w->me;
		o[1] = (uint64_t)(uintptr_t)o ^ w->me;
	}
}

static void give(struct bulker *w, void **objs, unsigned k)
{
	for (unsigned i = 0; i < k; i++) {
		uint64_t *o = objs[i];

		if (o[0] != (HELD | w->me) || o[1] != ((uint64_t)(uintptr_t)o ^ w->me))
			bad("thread %u: %p changed while held (%#llx)", w->me, (void *)o,
			    (unsigned long long)o[0]);
		o[0] = FREE_STAMP;
	}
}

static void *bulk_thread(void *arg)
{
	struct bulker *w = arg;
	void *held[HOLD_MAX];
	unsigned n = 0;

	pthread_barrier_wait(&barrier);
	for (unsigned it = 0; it < w->iters; it++) {
		if (n == 0 || (n < HOLD_MAX && t_rand_below(2))) {
			unsigned lim = t_rand_below(4) ? w->mag + 4 : 2 * w->per_slab + 4;
			unsigned k = 1 + (unsigned)t_rand_below(lim);

			if (k > HOLD_MAX - n)
				k = HOLD_MAX - n;
			if (hm_slab_alloc_bulk(w->c, held + n, k) != k) {
				bad("thread %u: alloc_bulk of %u failed", w->me, k);
				break;
			}
			take(w, held + n, k);
			n += k;
			w->allocs += k;
		} else {
			unsigned k = 1 + (unsigned)t_rand_below(n);

			give(w, held + n - k, k);
			hm_slab_free_bulk(w->c, held + n - k, k);
			n -= k;
			w->frees += k;
		}
	}
	give(w, held, n);
	hm_slab_free_bulk(w->c, held, n);
	w->frees += n;
	return NULL;
}

static void bulks(unsigned flags)
{
	struct hm_slab_cache *c = hm_slab_create("bulks", 48, 0, flags, NULL, NULL, NULL);
	struct bulker w[2];
	struct hm_slab_stats st;

	REQUIRE_NOT_NULL(c);
	st = stats(c);
	memset(w, 0, sizeof(w));
	REQUIRE_EQ(pthread_barrier_init(&barrier, NULL, 2), 0);
	for (unsigned i = 0; i < 2; i++) {
		w[i].c = c;
		w[i].me = i;
		w[i].iters = scaled(20000);
		w[i].mag = st.magazine_size;
		w[i].per_slab = st.objs_per_slab;
		REQUIRE_EQ(pthread_create(&w[i].tid, NULL, bulk_thread, &w[i]), 0);
	}
	for (unsigned i = 0; i < 2; i++)
		REQUIRE_EQ(pthread_join(w[i].tid, NULL), 0);
	pthread_barrier_destroy(&barrier);
	no_errors();
	st = stats(c);
	CHECK_EQ(st.allocs, w[0].allocs + w[1].allocs);
	CHECK_EQ(st.frees, w[0].frees + w[1].frees);
	CHECK_EQ(st.allocs, st.frees);
	CHECK_EQ(st.active_objs, 0);
	CHECK_EQ(st.errors, 0);
	CHECK_GE(st.high_mark, HOLD_MAX / 2);
	all_allocatable(c);
	CHECK_EQ(hm_slab_destroy(c), 0);
}

static void test_bulks(void)
{
	start();
	bulks(0);
	bulks(HM_SLAB_F_NO_MAGAZINES);
	bulks(HM_SLAB_F_DEBUG);
	stop();
}

/* --- stress, with a mailbox between threads and a shrinker --- */

#define STRESS_THREADS 4
#define MAILBOX        256
#define STRESS_HOLD    200

struct held {
	void *p;
	int src; /* 0, 1: caches; 2: kmalloc */
	unsigned size;
};

static struct hm_slab_cache *stress_caches[2];
static const size_t stress_sizes[2] = {40, 700};
static pthread_mutex_t mail_lock = PTHREAD_MUTEX_INITIALIZER;
static struct held mailbox[MAILBOX];
static unsigned n_mail;
static atomic_bool stress_over;
static atomic_uint shrinker_rounds;
static atomic_ullong stress_allocs[3], stress_frees[3];

static void stamp_held(const struct held *h)
{
	uint64_t *w = h->p;

	w[0] = (uint64_t)(uintptr_t)h->p * 0x9e3779b97f4a7c15ull + (uint64_t)h->src;
	w[h->size / 8 - 1] = ~w[0];
}

static bool stamped_held(const struct held *h)
{
	const uint64_t *w = h->p;

	return w[0] == (uint64_t)(uintptr_t)h->p * 0x9e3779b97f4a7c15ull + (uint64_t)h->src &&
	       w[h->size / 8 - 1] == ~w[0];
}

static void release(struct held *h)
{
	if (!stamped_held(h))
		bad("object %p (source %d) damaged", h->p, h->src);
	if (h->src == 2)
		hm_kfree(h->p);
	else
		hm_slab_free(stress_caches[h->src], h->p);
	atomic_fetch_add(&stress_frees[h->src], 1);
}

static void *stress_thread(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg, iters = scaled(50000), n = 0;
	struct held held[STRESS_HOLD];

	(void)me;
	/* Start once the shrinker is at work (a slow scheduler may run it late). */
	while (atomic_load(&shrinker_rounds) == 0)
		sched_yield();
	for (unsigned it = 0; it < iters; it++) {
		unsigned r = (unsigned)t_rand_below(100);

		if (r < 45 && n < STRESS_HOLD) {
			struct held h;

			h.src = (int)t_rand_below(3);
			if (h.src == 2) {
				h.size = 16 +
					 8 * (unsigned)t_rand_below(t_rand_below(8) ? 64 : 2000);
				h.p = hm_kmalloc(h.size);
			} else {
				h.size = (unsigned)stress_sizes[h.src];
				h.p = hm_slab_alloc(stress_caches[h.src]);
			}
			if (!h.p) {
				bad("alloc from source %d failed", h.src);
				break;
			}
			atomic_fetch_add(&stress_allocs[h.src], 1);
			stamp_held(&h);
			held[n++] = h;
		} else if (r < 75 && n) {
			unsigned i = (unsigned)t_rand_below(n);

			release(&held[i]);
			held[i] = held[--n];
		} else if (r < 90 && n) {
			/* Post one for another thread. */
			pthread_mutex_lock(&mail_lock);
			if (n_mail < MAILBOX) {
				mailbox[n_mail++] = held[--n];
			}
			pthread_mutex_unlock(&mail_lock);
		} else {
			/* Free what others posted. */
			struct held got[16];
			unsigned k = 0;

			pthread_mutex_lock(&mail_lock);
			while (k < 16 && n_mail)
				got[k++] = mailbox[--n_mail];
			pthread_mutex_unlock(&mail_lock);
			for (unsigned i = 0; i < k; i++)
				release(&got[i]);
		}
	}
	while (n)
		release(&held[--n]);
	return NULL;
}

static void *shrinker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stress_over)) {
		struct hm_slab_stats st;

		for (unsigned i = 0; i < 2; i++) {
			hm_slab_shrink(stress_caches[i]);
			/* A snapshot, while the others allocate and free. */
			if (hm_slab_get_stats(stress_caches[i], &st) != 0)
				bad("get_stats failed");
		}
		atomic_fetch_add(&shrinker_rounds, 1);
		t_sleep_ms(1);
	}
	return NULL;
}

static void test_stress(void)
{
	pthread_t tid[STRESS_THREADS], sh;

	start();
	hm_slab_set_reap_interval(5);
	stress_caches[0] = hm_slab_create("st0", stress_sizes[0], 0, 0, NULL, NULL, NULL);
	stress_caches[1] =
		hm_slab_create("st1", stress_sizes[1], 0, HM_SLAB_F_NO_MAGAZINES, NULL, NULL, NULL);
	REQUIRE_NOT_NULL(stress_caches[0]);
	REQUIRE_NOT_NULL(stress_caches[1]);
	atomic_store(&stress_over, false);
	atomic_store(&shrinker_rounds, 0);
	for (unsigned i = 0; i < 3; i++) {
		atomic_store(&stress_allocs[i], 0);
		atomic_store(&stress_frees[i], 0);
	}
	n_mail = 0;
	REQUIRE_EQ(pthread_create(&sh, NULL, shrinker, NULL), 0);
	for (unsigned i = 0; i < STRESS_THREADS; i++)
		REQUIRE_EQ(pthread_create(&tid[i], NULL, stress_thread, (void *)(uintptr_t)i), 0);
	for (unsigned i = 0; i < STRESS_THREADS; i++)
		REQUIRE_EQ(pthread_join(tid[i], NULL), 0);
	/* What is left in the mailbox, freed here. */
	while (n_mail)
		release(&mailbox[--n_mail]);
	atomic_store(&stress_over, true);
	REQUIRE_EQ(pthread_join(sh, NULL), 0);
	no_errors();
	CHECK_GT(atomic_load(&shrinker_rounds), 0);
	hm_slab_set_reap_interval(LONG_INTERVAL);
	for (unsigned i = 0; i < 2; i++) {
		struct hm_slab_stats st = stats(stress_caches[i]);

		CHECK_EQ(st.allocs, atomic_load(&stress_allocs[i]));
		CHECK_EQ(st.frees, atomic_load(&stress_frees[i]));
		CHECK_EQ(st.active_objs, 0);
		CHECK_EQ(st.errors, 0);
		all_allocatable(stress_caches[i]);
		CHECK_EQ(hm_slab_destroy(stress_caches[i]), 0);
	}
	CHECK_EQ(atomic_load(&stress_allocs[2]), atomic_load(&stress_frees[2]));
	{
		struct hm_malloc_type_stats ts;

		if (hm_malloc_get_type_stats("kmalloc", &ts) == 0)
			CHECK_EQ(ts.live_blocks, 0);
	}
	stop();
}

/* --- threads without a slot --- */

#define NS_SLOTS   3 /* the main thread's and two more */
#define NS_THREADS 6

struct noslot {
	pthread_t tid;
	struct hm_slab_cache *c;
	unsigned me, iters;
	int slot;
	uint64_t allocs, frees, kallocs, kfrees;
};

static void *noslot_thread(void *arg)
{
	struct noslot *w = arg;
	void *objs[64];
	bool k[64];

	pthread_barrier_wait(&barrier); /* all alive at once: not enough slots */
	w->slot = hm_thread_id();
	for (unsigned it = 0; it < w->iters; it++) {
		unsigned n = 1 + (unsigned)t_rand_below(64);

		for (unsigned i = 0; i < n; i++) {
			k[i] = t_rand_below(3) == 0;
			objs[i] = k[i] ? hm_kmalloc(48) : hm_slab_alloc(w->c);
			if (!objs[i]) {
				bad("thread %u (slot %d): alloc failed", w->me, w->slot);
				return NULL;
			}
			((uint64_t *)objs[i])[0] = (uintptr_t)objs[i] ^ w->me;
			w->allocs += !k[i];
			w->kallocs += k[i];
		}
		for (unsigned i = 0; i < n; i++) {
			if (((uint64_t *)objs[i])[0] != ((uintptr_t)objs[i] ^ w->me))
				bad("thread %u: %p changed while held", w->me, objs[i]);
			if (k[i])
				hm_kfree(objs[i]);
			else
				hm_slab_free(w->c, objs[i]);
			w->frees += !k[i];
			w->kfrees += k[i];
		}
	}
	pthread_barrier_wait(&barrier); /* keep the slots until all are done */
	return NULL;
}

static void test_no_slot(void)
{
	struct hm_config cfg;
	struct noslot w[NS_THREADS];
	struct hm_slab_cache *c, *k;
	uint64_t allocs = 0, frees = 0, kallocs = 0, kfrees = 0;
	unsigned without = 0;

	hm_config_defaults(&cfg);
	cfg.no_huge = true;
	cfg.memory_limit = 128 * MIB;
	cfg.max_threads = NS_SLOTS;
	REQUIRE_EQ(hm_init(&cfg), 0);
	REQUIRE_GE(hm_thread_id(), 0);
	c = hm_slab_create("noslot", 40, 0, 0, NULL, NULL, NULL);
	REQUIRE_NOT_NULL(c);
	hm_log_set_sink(t_count_sink, NULL); /* the threads without a slot are logged */
	memset(w, 0, sizeof(w));
	REQUIRE_EQ(pthread_barrier_init(&barrier, NULL, NS_THREADS), 0);
	for (unsigned i = 0; i < NS_THREADS; i++) {
		w[i].c = c;
		w[i].me = i;
		w[i].iters = scaled(2000);
		REQUIRE_EQ(pthread_create(&w[i].tid, NULL, noslot_thread, &w[i]), 0);
	}
	for (unsigned i = 0; i < NS_THREADS; i++)
		REQUIRE_EQ(pthread_join(w[i].tid, NULL), 0);
	pthread_barrier_destroy(&barrier);
	hm_log_set_sink(NULL, NULL);
	no_errors();
	for (unsigned i = 0; i < NS_THREADS; i++) {
		without += w[i].slot < 0;
		allocs += w[i].allocs;
		frees += w[i].frees;
		kallocs += w[i].kallocs;
		kfrees += w[i].kfrees;
	}
	CHECK_GE(without, NS_THREADS - (NS_SLOTS - 1));
	CHECK_EQ(allocs, frees);
	CHECK_EQ(kallocs, kfrees);
	{
		struct hm_slab_stats st = stats(c);

		CHECK_EQ(st.allocs, allocs);
		CHECK_EQ(st.frees, frees);
		CHECK_EQ(st.active_objs, 0);
		CHECK_EQ(st.errors, 0);
	}
	all_allocatable(c);
	k = hm_slab_lookup("kmalloc-48");
	REQUIRE_NOT_NULL(k);
	CHECK_EQ(stats(k).allocs, kallocs);
	CHECK_EQ(stats(k).frees, kfrees);
	CHECK_EQ(stats(k).active_objs, 0);
	CHECK_EQ(hm_slab_audit(k), 0);
	CHECK_EQ(hm_slab_destroy(c), 0);
	hm_cleanup();
}

/* --- destroy while another thread's magazines are loaded --- */

struct idle {
	struct hm_slab_cache *_Atomic c;
	int slot;
};

static void idle_round(struct hm_slab_cache *c)
{
	void *objs[200];

	for (unsigned i = 0; i < 200; i++)
		if (!(objs[i] = hm_slab_alloc(c))) {
			bad("idle thread: alloc failed");
			return;
		}
	for (unsigned i = 0; i < 200; i++)
		hm_slab_free(c, objs[i]);
}

static void *idle_thread(void *arg)
{
	struct idle *w = arg;

	w->slot = hm_thread_id();
	idle_round(atomic_load(&w->c)); /* magazines loaded */
	pthread_barrier_wait(&barrier); /* A: the main thread's destroy is refused */
	pthread_barrier_wait(&barrier); /* B */
	idle_round(atomic_load(&w->c)); /* still usable */
	pthread_barrier_wait(&barrier); /* C: destroyed; a new cache of the name */
	pthread_barrier_wait(&barrier); /* D */
	idle_round(atomic_load(&w->c));
	return NULL; /* and the exit gives the new cache's magazines back */
}

static void test_destroy_idle(void)
{
	struct idle w = {.slot = -1};
	struct hm_slab_cache *c, *c2;
	pthread_t tid;
	void *mine;

	start();
	c = hm_slab_create("idle", 64, 0, 0, NULL, NULL, NULL);
	REQUIRE_NOT_NULL(c);
	REQUIRE_NOT_NULL(mine = hm_slab_alloc(c));
	atomic_store(&w.c, c);
	REQUIRE_EQ(pthread_barrier_init(&barrier, NULL, 2), 0);
	REQUIRE_EQ(pthread_create(&tid, NULL, idle_thread, &w), 0);
	pthread_barrier_wait(&barrier); /* A */
	REQUIRE_GE(w.slot, 0);
	hm_log_set_sink(t_count_sink, NULL);
	CHECK_EQ(hm_slab_destroy(c), -EBUSY);
	hm_log_set_sink(NULL, NULL);
	/* Refused, it has emptied every magazine, the other thread's too. */
	{
		struct hm__slab_local *l = hm__load_acquire(&c->local[w.slot]);

		CHECK(l == NULL || (l->rounds == 0 && l->prounds == 0));
		CHECK_EQ(stats(c).depot_full, 0);
		CHECK_EQ(stats(c).active_objs, 1);
	}
	pthread_barrier_wait(&barrier); /* B */
	pthread_barrier_wait(&barrier); /* C: the thread is idle, its magazines loaded */
	CHECK_EQ(stats(c).active_objs, 1);
	hm_slab_free(c, mine);
	CHECK_EQ(hm_slab_destroy(c), 0);
	c2 = hm_slab_create("idle", 64, 0, 0, NULL, NULL, NULL);
	REQUIRE_NOT_NULL(c2);
	atomic_store(&w.c, c2);
	pthread_barrier_wait(&barrier); /* D */
	REQUIRE_EQ(pthread_join(tid, NULL), 0);
	pthread_barrier_destroy(&barrier);
	no_errors();
	CHECK_EQ(stats(c2).allocs, 200);
	CHECK_EQ(stats(c2).frees, 200);
	CHECK_EQ(stats(c2).errors, 0);
	all_allocatable(c2);
	CHECK_EQ(hm_slab_destroy(c2), 0);
	stop();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_producer_consumer);
	T_RUN(test_churn);
	T_RUN(test_bulks);
	T_RUN(test_stress);
	T_RUN(test_no_slot);
	T_RUN(test_destroy_idle);
	return t_done();
}
