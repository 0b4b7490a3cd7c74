/* SPDX-License-Identifier: MIT */
/* lock.c - the robust process-shared mutex of lock.h. */
#include "util/lock.h"

int hm__mutex_init(struct hm_mutex *mx)
{
	pthread_mutexattr_t a;
	int rc;

	rc = pthread_mutexattr_init(&a);
	if (rc)
		return -rc;
	rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!rc)
		rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (!rc)
		rc = pthread_mutex_init(&mx->m, &a);
	pthread_mutexattr_destroy(&a);
	return -rc;
}

void hm__mutex_lock(struct hm_mutex *mx)
{
	int rc = pthread_mutex_lock(&mx->m);

	if (rc == EOWNERDEAD) {
		/* The holder died inside its critical section. The structures this
		 * lock guards are kept consistent at every unlock point, and their
		 * audits run on the next use; take the lock over. */
		hm__warn("a process died holding a shared lock (%p); recovering it", (void *)mx);
		pthread_mutex_consistent(&mx->m);
	} else if (rc != 0) {
		hm__err("shared lock %p: %s", (void *)mx, hm_strerror(rc));
		HM_ASSERT(rc == 0);
	}
}

void hm__mutex_lock_spin(struct hm_mutex *mx)
{
	for (unsigned i = 0; i < HM_MUTEX_SPINS; i++) {
		int rc = pthread_mutex_trylock(&mx->m);

		if (rc == 0)
			return;
		if (rc == EOWNERDEAD) {
			hm__warn("a process died holding a shared lock (%p); recovering it",
				 (void *)mx);
			pthread_mutex_consistent(&mx->m);
			return;
		}
		if (rc != EBUSY)
			break;
		for (unsigned k = 0; k < 8; k++)
			hm__cpu_relax();
	}
	hm__mutex_lock(mx);
}

void hm__mutex_unlock(struct hm_mutex *mx)
{
	pthread_mutex_unlock(&mx->m);
}
