/* SPDX-License-Identifier: MIT */
/*
 * pipeline.c - `make demo`: a two-stage packet pipeline on hugemem.
 *
 * An rx thread takes packet-sized buffers from a mempool in bursts of 32,
 * stamps each with a sequence number and a pattern, and passes them over a
 * single-producer single-consumer ring to a worker thread, which checks
 * every stamp (the pattern whole, the sequence with no gap: the ring is FIFO)
 * and puts the buffer back in the pool. It runs for a few seconds (the first
 * argument, default 3), prints a line a second (million packets a second,
 * the pool's free buffers, the pool caches' hit rate) and a summary, and
 * exits 0 only if no buffer was lost or corrupted: every buffer stamped was
 * checked, and all of them are back in the pool at the end.
 *
 * hm_init(NULL) takes hugepages when the system has free ones, else 4 KiB
 * pages (with a warning saying so). Build it against an installed hugemem
 * with: cc -pthread pipeline.c $(pkg-config --cflags --libs hugemem)
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep under -std=c11 */

#include <hugemem.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_BUFS      8191 /* a ring of 8192 slots holds them all */
#define BUF_SIZE    2048
#define CACHE_SIZE  256
#define BURST       32
#define RING_SLOTS  1024
#define STAMP_WORDS 8 /* the stamp: the sequence, then a pattern made from it */

static struct hm_mempool *pool;
static struct hm_ring *ring;
static atomic_bool stop_rx, rx_done;
static atomic_uint_fast64_t stamped, checked, corrupt, gaps, pool_empty;

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void stamp(void *buf, uint64_t seq)
{
	uint64_t *w = buf;

	w[0] = seq;
	for (unsigned i = 1; i < STAMP_WORDS; i++)
		w[i] = seq * UINT64_C(0x9e3779b97f4a7c15) + i;
}

static bool stamp_ok(const void *buf, uint64_t *seq)
{
	const uint64_t *w = buf;

	*seq = w[0];
	for (unsigned i = 1; i < STAMP_WORDS; i++)
		if (w[i] != w[0] * UINT64_C(0x9e3779b97f4a7c15) + i)
			return false;
	return true;
}

static void *rx_thread(void *arg)
{
	void *bufs[BURST];
	uint64_t seq = 0;

	(void)arg;
	while (!atomic_load_explicit(&stop_rx, memory_order_relaxed)) {
		unsigned sent = 0;

		if (hm_mempool_get_bulk(pool, bufs, BURST) != 0) {
			atomic_fetch_add_explicit(&pool_empty, 1, memory_order_relaxed);
			continue;
		}
		for (unsigned i = 0; i < BURST; i++)
			stamp(bufs[i], seq + i);
		/* The ring may be full for a moment: offer the rest until it is taken. */
		while (sent < BURST)
			sent += hm_ring_enqueue_burst(ring, bufs + sent, BURST - sent, NULL);
		seq += BURST;
		atomic_fetch_add_explicit(&stamped, BURST, memory_order_relaxed);
	}
	atomic_store_explicit(&rx_done, true, memory_order_release);
	return NULL;
}

static void *worker_thread(void *arg)
{
	void *bufs[BURST];
	uint64_t expect = 0;

	(void)arg;
	for (;;) {
		unsigned n = hm_ring_dequeue_burst(ring, bufs, BURST, NULL);

		if (n == 0) {
			/* Done once rx has stopped and the ring is drained. */
			if (atomic_load_explicit(&rx_done, memory_order_acquire) &&
			    hm_ring_empty(ring))
				break;
			continue;
		}
		for (unsigned i = 0; i < n; i++) {
			uint64_t seq;

			if (!stamp_ok(bufs[i], &seq))
				atomic_fetch_add_explicit(&corrupt, 1, memory_order_relaxed);
			else if (seq != expect)
				atomic_fetch_add_explicit(&gaps, 1, memory_order_relaxed);
			expect = seq + 1;
		}
		hm_mempool_put_bulk(pool, bufs, n);
		atomic_fetch_add_explicit(&checked, n, memory_order_relaxed);
	}
	return NULL;
}

static double hit_rate(void)
{
	struct hm_mempool_stats st;

	if (hm_mempool_get_stats(pool, &st) != 0 || st.cache_hits + st.cache_misses == 0)
		return 0;
	return 100.0 * (double)st.cache_hits / (double)(st.cache_hits + st.cache_misses);
}

int main(int argc, char **argv)
{
	unsigned seconds = argc > 1 ? (unsigned)atoi(argv[1]) : 3;
	struct hm_mem_info mi;
	pthread_t rx, worker;
	uint64_t t0, last = 0;
	int rc;

	if (seconds == 0 || seconds > 3600)
		seconds = 3;
	rc = hm_init(NULL);
	if (rc) {
		fprintf(stderr, "hm_init: %s\n", hm_strerror(rc));
		return 1;
	}
	hm_mem_get_info(&mi);
	/* A stack backend: buffers flushed by the worker go back to rx first,
	 * still warm in the CPU caches (a ring would cycle all 16 MiB of them). */
	pool = hm_mempool_create("pkts", N_BUFS, BUF_SIZE, CACHE_SIZE, 0, NULL, NULL, HM_SOCKET_ANY,
				 HM_MEMPOOL_F_STACK);
	ring = hm_ring_create("rx->worker", RING_SLOTS, HM_SOCKET_ANY,
			      HM_RING_SP_ENQ | HM_RING_SC_DEQ);
	if (!pool || !ring) {
		fprintf(stderr, "pipeline: %s\n", hm_strerror(errno));
		return 1;
	}
	printf("pipeline: %u buffers of %u bytes on %zu KiB pages (%s), a cache of %u per "
	       "thread, bursts of %u, for %u s\n",
	       N_BUFS, BUF_SIZE, mi.page_size >> 10, mi.hugepages ? "hugepages" : "no hugepages",
	       CACHE_SIZE, BURST, seconds);
	if (pthread_create(&worker, NULL, worker_thread, NULL) ||
	    pthread_create(&rx, NULL, rx_thread, NULL)) {
		fprintf(stderr, "pipeline: cannot start the threads\n");
		return 1;
	}
	t0 = now_ns();
	for (unsigned s = 1; s <= seconds; s++) {
		struct timespec one = {1, 0};
		uint64_t done;

		nanosleep(&one, NULL);
		done = atomic_load(&checked);
		printf("  %2u s: %6.2f Mpps, %5u buffers free in the pool, cache hit rate %.1f%%\n",
		       s, (double)(done - last) / 1e6, hm_mempool_avail_count(pool), hit_rate());
		last = done;
	}
	atomic_store(&stop_rx, true);
	pthread_join(rx, NULL);
	pthread_join(worker, NULL);

	double secs = (double)(now_ns() - t0) / 1e9;
	uint64_t n_stamped = atomic_load(&stamped), n_checked = atomic_load(&checked);
	uint64_t n_corrupt = atomic_load(&corrupt), n_gaps = atomic_load(&gaps);
	unsigned free_now = hm_mempool_avail_count(pool);
	bool ok = n_stamped == n_checked && n_corrupt == 0 && n_gaps == 0 && free_now == N_BUFS &&
		  hm_mempool_audit(pool) == 0;

	printf("summary: %" PRIu64 " packets in %.2f s (%.2f Mpps), cache hit rate %.1f%%; "
	       "%" PRIu64 " lost, %" PRIu64 " corrupted, %" PRIu64 " out of order; %u of %u "
	       "buffers back in the pool: %s\n",
	       n_checked, secs, (double)n_checked / secs / 1e6, hit_rate(), n_stamped - n_checked,
	       n_corrupt, n_gaps, free_now, N_BUFS, ok ? "OK" : "FAILED");
	hm_ring_destroy(ring);
	hm_mempool_destroy(pool);
	hm_cleanup();
	return ok ? 0 : 1;
}
