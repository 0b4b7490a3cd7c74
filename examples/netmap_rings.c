/* SPDX-License-Identifier: MIT */
/*
 * netmap_rings.c - netmap's memory trio on hugemem buffer pools: an
 * interface pool, a ring pool and a buffer pool, every object named by a
 * 32-bit index. One interface gets a TX ring and an RX ring; the program
 * fills the TX ring with buffers carrying numbered payloads, then "moves"
 * them to the RX ring the netmap way, by swapping buffer indices between
 * slots (no byte is copied), checks every payload on the RX side, and
 * gives everything back. Exits 0 only if every buffer arrived intact and
 * every pool is whole again.
 */
#include <hugemem.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define RING_SLOTS 512
#define BUF_SIZE   2048
#define ROUNDS     64

/* A slot of a ring: which buffer, how many bytes of it. */
struct slot {
	uint32_t buf_idx;
	uint16_t len;
	uint16_t flags;
};

/* A ring, an object of the ring pool. */
struct ring {
	uint32_t head, tail; /* the user's and the "kernel's" positions */
	uint32_t num_slots;
	uint32_t pad;
	struct slot slot[RING_SLOTS];
};

/* An interface, an object of the interface pool: its rings, by index. */
struct nif {
	char name[16];
	uint32_t tx_ring, rx_ring;
};

static struct hm_bufpool *if_pool, *ring_pool, *buf_pool;

static struct ring *ring_at(uint32_t idx)
{
	return hm_bufpool_addr(ring_pool, idx);
}

/* Fill every slot of r with a fresh buffer; false if the buffer pool runs dry. */
static bool ring_fill(struct ring *r)
{
	uint32_t idx[RING_SLOTS];

	if (hm_bufpool_alloc_bulk(buf_pool, idx, RING_SLOTS) != RING_SLOTS)
		return false;
	for (unsigned i = 0; i < RING_SLOTS; i++)
		r->slot[i] = (struct slot){.buf_idx = idx[i], .len = 0};
	r->num_slots = RING_SLOTS;
	r->head = r->tail = 0;
	return true;
}

static void ring_release(struct ring *r)
{
	uint32_t idx[RING_SLOTS];

	for (unsigned i = 0; i < r->num_slots; i++)
		idx[i] = r->slot[i].buf_idx;
	hm_bufpool_free_bulk(buf_pool, idx, r->num_slots);
	r->num_slots = 0;
}

/* Write packet number seq into the buffer of tx slot i. */
static void stamp(struct ring *tx, unsigned i, uint64_t seq)
{
	char *buf = hm_bufpool_addr(buf_pool, tx->slot[i].buf_idx);
	int n = snprintf(buf, BUF_SIZE, "packet %" PRIu64 " in buffer %u", seq,
			 tx->slot[i].buf_idx);

	tx->slot[i].len = (uint16_t)n;
}

/* Whether rx slot i holds packet seq, whatever buffer it arrived in. */
static bool check(const struct ring *rx, unsigned i, uint64_t seq, uint32_t sent_in)
{
	const char *buf = hm_bufpool_addr(buf_pool, rx->slot[i].buf_idx);
	char want[64];

	snprintf(want, sizeof(want), "packet %" PRIu64 " in buffer %u", seq, sent_in);
	return rx->slot[i].buf_idx == sent_in && rx->slot[i].len == strlen(want) &&
	       memcmp(buf, want, rx->slot[i].len) == 0;
}

int main(void)
{
	struct hm_config cfg;
	struct hm_bufpool_info bi;
	uint64_t moved = 0, bad = 0;
	uint32_t if_idx;
	struct nif *nif;
	struct ring *tx, *rx;

	hm_config_defaults(&cfg);
	cfg.memory_limit = (size_t)256 << 20;
	if (hm_init(&cfg) != 0) {
		fprintf(stderr, "hm_init failed\n");
		return 1;
	}
	/* netmap's three pools: interfaces, rings, buffers. */
	if_pool = hm_bufpool_create("netmap_if", 16, sizeof(struct nif), HM_SOCKET_ANY, 0);
	ring_pool = hm_bufpool_create("netmap_ring", 16, sizeof(struct ring), HM_SOCKET_ANY, 0);
	buf_pool = hm_bufpool_create("netmap_buf", 4 * RING_SLOTS, BUF_SIZE, HM_SOCKET_ANY, 0);
	if (!if_pool || !ring_pool || !buf_pool) {
		fprintf(stderr, "bufpool create failed\n");
		return 1;
	}
	hm_bufpool_dump(stdout, buf_pool);

	if_idx = hm_bufpool_alloc(if_pool);
	nif = hm_bufpool_addr(if_pool, if_idx);
	snprintf(nif->name, sizeof(nif->name), "hm0");
	nif->tx_ring = hm_bufpool_alloc(ring_pool);
	nif->rx_ring = hm_bufpool_alloc(ring_pool);
	if (!if_idx || !nif->tx_ring || !nif->rx_ring) {
		fprintf(stderr, "no interface or ring objects\n");
		return 1;
	}
	tx = ring_at(nif->tx_ring);
	rx = ring_at(nif->rx_ring);
	if (!ring_fill(tx) || !ring_fill(rx)) {
		fprintf(stderr, "no buffers for the rings\n");
		return 1;
	}
	printf("interface %s (index %u): tx ring %u, rx ring %u, %u slots each\n", nif->name,
	       if_idx, nif->tx_ring, nif->rx_ring, RING_SLOTS);

	for (unsigned round = 0; round < ROUNDS; round++) {
		uint32_t sent_in[RING_SLOTS];

		for (unsigned i = 0; i < RING_SLOTS; i++) {
			stamp(tx, i, moved + i);
			sent_in[i] = tx->slot[i].buf_idx;
		}
		/* "Transmit": swap each TX slot's buffer with the RX slot's (netmap's
		 * zero-copy forwarding); the RX side now owns the filled buffer and the
		 * TX slot gets an empty one for the next round. */
		for (unsigned i = 0; i < RING_SLOTS; i++) {
			struct slot t = tx->slot[i];

			tx->slot[i].buf_idx = rx->slot[i].buf_idx;
			tx->slot[i].len = 0;
			rx->slot[i] = t;
		}
		for (unsigned i = 0; i < RING_SLOTS; i++)
			bad += !check(rx, i, moved + i, sent_in[i]);
		moved += RING_SLOTS;
	}

	ring_release(tx);
	ring_release(rx);
	hm_bufpool_free(ring_pool, nif->tx_ring);
	hm_bufpool_free(ring_pool, nif->rx_ring);
	hm_bufpool_free(if_pool, if_idx);
	hm_bufpool_info(buf_pool, &bi);
	printf("moved %" PRIu64 " buffers between the rings by index, %" PRIu64
	       " corrupted; buffer pool: %" PRIu64 " of %" PRIu64 " free\n",
	       moved, bad, bi.free, bi.count);
	if (bad || bi.free != bi.count - HM_BUFPOOL_RESERVED || hm_bufpool_destroy(buf_pool) ||
	    hm_bufpool_destroy(ring_pool) || hm_bufpool_destroy(if_pool)) {
		fprintf(stderr, "FAILED\n");
		return 1;
	}
	hm_cleanup();
	printf("OK\n");
	return 0;
}
