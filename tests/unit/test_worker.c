/*
 * test_worker.c - worker.c with a real event loop and its real thread:
 * every item is run on the worker's thread and given back on the loop's,
 * in the order pushed; what arrives while a batch runs is the next batch;
 * worker_free runs what is left and stops the thread.  Waits are bounded
 * (a loop timer, a timed condition wait), never sleeps.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/event.h>

#include "lib/worker.h"

#define WAIT_MS		5000		/* a bound; reached only on failure */
#define MANY		10000
#define MAX_BATCHES	(MANY + 1)

struct item {
	struct worker_item	 w;		/* first: the worker's link */
	size_t			 seq;
	bool			 ran_on_worker;
	bool			 done_on_loop;
};

/* The run callback sees only the worker, so the state is one global. */
struct env {
	struct event_base	*base;
	struct worker		*wk;
	pthread_t		 loop_thread;
	/* written by the thread under mtx, read by the test under mtx */
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	size_t			 nran;
	size_t			 batch_len[MAX_BATCHES];
	size_t			 nbatches;
	bool			 gate_closed;	/* run waits while set */
	bool			 in_run;
	/* the loop's side */
	size_t			 ndone;
	size_t			 next_seq;	/* seq the next done expects */
	bool			 out_of_order;
	bool			 timed_out;
	size_t			 chain_left;	/* done pushes the next one */
	struct item		*items;
};

static struct env	 env;

static void	 run_batch(struct worker_item *);
static void	 done_item(struct worker_item *);

static void
run_batch(struct worker_item *b)
{
	struct env	*e = &env;
	size_t		 n = 0;

	pthread_mutex_lock(&e->mtx);
	e->in_run = true;
	pthread_cond_broadcast(&e->cond);
	while (e->gate_closed)
		pthread_cond_wait(&e->cond, &e->mtx);
	pthread_mutex_unlock(&e->mtx);
	for (struct worker_item *it = b; it != NULL; it = it->next) {
		struct item *i = (struct item *)it;

		i->ran_on_worker = !pthread_equal(pthread_self(),
		    e->loop_thread);
		n++;
	}
	pthread_mutex_lock(&e->mtx);
	if (e->nbatches < MAX_BATCHES)
		e->batch_len[e->nbatches++] = n;
	e->nran += n;
	e->in_run = false;
	pthread_mutex_unlock(&e->mtx);
}

static void
done_item(struct worker_item *it)
{
	struct env	*e = &env;
	struct item	*i = (struct item *)it;

	i->done_on_loop = pthread_equal(pthread_self(), e->loop_thread);
	if (i->seq != e->next_seq || it->next != NULL)
		e->out_of_order = true;
	e->next_seq++;
	e->ndone++;
	if (e->chain_left > 0) {
		e->chain_left--;
		worker_push(e->wk, &e->items[e->next_seq].w);
	}
}

static int
setup(void **state)
{
	memset(&env, 0, sizeof(env));
	env.loop_thread = pthread_self();
	pthread_mutex_init(&env.mtx, NULL);
	pthread_cond_init(&env.cond, NULL);
	env.base = event_base_new();
	assert_non_null(env.base);
	env.wk = worker_new(env.base, run_batch, done_item);
	env.items = calloc(MANY, sizeof(*env.items));
	assert_non_null(env.items);
	for (size_t i = 0; i < MANY; i++)
		env.items[i].seq = i;
	return 0;
}

static int
teardown(void **state)
{
	worker_free(env.wk);
	event_base_free(env.base);
	pthread_cond_destroy(&env.cond);
	pthread_mutex_destroy(&env.mtx);
	free(env.items);
	return 0;
}

static void
on_timeout(evutil_socket_t fd, short ev, void *arg)
{
	env.timed_out = true;
	event_base_loopbreak(env.base);
}

/* run_until_done - run the loop until n done callbacks, or fail. */
static void
run_until_done(size_t n)
{
	struct timeval	 tv = { WAIT_MS / 1000, (WAIT_MS % 1000) * 1000 };
	struct event	*t = evtimer_new(env.base, on_timeout, NULL);

	assert_non_null(t);
	evtimer_add(t, &tv);
	env.timed_out = false;
	while (env.ndone < n && !env.timed_out)
		event_base_loop(env.base, EVLOOP_ONCE);
	event_free(t);
	if (env.ndone < n)
		fail_msg("%zu of %zu items done after %d ms", env.ndone, n,
		    WAIT_MS);
}

/* wait_in_run - block (bounded) until the thread is inside run. */
static void
wait_in_run(void)
{
	struct timespec	 until;
	int		 rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&env.mtx);
	while (!env.in_run && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&env.cond, &env.mtx, &until);
	pthread_mutex_unlock(&env.mtx);
	assert_true(env.in_run);
}

static void
open_gate(void)
{
	pthread_mutex_lock(&env.mtx);
	env.gate_closed = false;
	pthread_cond_broadcast(&env.cond);
	pthread_mutex_unlock(&env.mtx);
}

static void
assert_all_done(size_t n)
{
	assert_int_equal(env.ndone, n);
	assert_false(env.out_of_order);
	pthread_mutex_lock(&env.mtx);
	assert_int_equal(env.nran, n);
	pthread_mutex_unlock(&env.mtx);
	for (size_t i = 0; i < n; i++) {
		assert_true(env.items[i].ran_on_worker);
		assert_true(env.items[i].done_on_loop);
	}
}

/* Every item runs on the thread, and its done comes back on the loop,
 * once, in the order pushed. */
static void
test_all_run_in_order(void **state)
{
	for (size_t i = 0; i < 100; i++)
		worker_push(env.wk, &env.items[i].w);
	assert_int_equal(env.ndone, 0);		/* never inside push */
	run_until_done(100);
	assert_all_done(100);
}

/* Items pushed while a batch runs wait for it, then go as one batch. */
static void
test_busy_makes_next_batch(void **state)
{
	env.gate_closed = true;
	worker_push(env.wk, &env.items[0].w);
	wait_in_run();
	for (size_t i = 1; i < 5; i++)
		worker_push(env.wk, &env.items[i].w);
	open_gate();
	run_until_done(5);
	assert_all_done(5);
	pthread_mutex_lock(&env.mtx);
	assert_int_equal(env.nbatches, 2);
	assert_int_equal(env.batch_len[0], 1);
	assert_int_equal(env.batch_len[1], 4);
	pthread_mutex_unlock(&env.mtx);
}

static void
push_many(evutil_socket_t fd, short ev, void *arg)
{
	for (size_t i = 0; i < MANY; i++)
		worker_push(env.wk, &env.items[i].w);
}

/* 10,000 items from a loop callback: all come back, in order, and in
 * few batches (the first, then everything that arrived meanwhile). */
static void
test_many_from_loop(void **state)
{
	struct event	*ev = event_new(env.base, -1, 0, push_many, NULL);

	assert_non_null(ev);
	event_active(ev, EV_TIMEOUT, 0);
	run_until_done(MANY);
	event_free(ev);
	assert_all_done(MANY);
	pthread_mutex_lock(&env.mtx);
	assert_int_equal(env.nbatches, 2);
	assert_int_equal(env.batch_len[0], 1);
	assert_int_equal(env.batch_len[1], MANY - 1);
	pthread_mutex_unlock(&env.mtx);
}

/* A done callback may push again: the worker is idle by then, so the
 * next item starts at once and the chain goes on. */
static void
test_push_from_done(void **state)
{
	env.chain_left = 999;
	worker_push(env.wk, &env.items[0].w);
	run_until_done(1000);
	assert_all_done(1000);
	pthread_mutex_lock(&env.mtx);
	assert_int_equal(env.nbatches, 1000);
	pthread_mutex_unlock(&env.mtx);
}

/* worker_free with a batch running and more pending: the thread finishes
 * both, every done runs before it returns, and the thread is gone (ASan
 * and LeakSanitizer would see a leak or a use after free). */
static void
test_free_drains(void **state)
{
	env.gate_closed = true;
	worker_push(env.wk, &env.items[0].w);
	wait_in_run();
	for (size_t i = 1; i < 50; i++)
		worker_push(env.wk, &env.items[i].w);
	open_gate();
	worker_free(env.wk);
	env.wk = NULL;
	assert_int_equal(env.ndone, 50);
	assert_false(env.out_of_order);
	for (size_t i = 0; i < 50; i++) {
		assert_true(env.items[i].ran_on_worker);
		assert_true(env.items[i].done_on_loop);	/* the caller's */
	}
}

/* Freed after work, and freed without ever working: both stop cleanly,
 * and the loop has no event of the worker's left. */
static void
test_free_idle(void **state)
{
	struct worker	*w2 = worker_new(env.base, run_batch, done_item);

	worker_free(w2);
	worker_push(env.wk, &env.items[0].w);
	run_until_done(1);
	worker_free(env.wk);
	env.wk = NULL;
	assert_int_equal(env.ndone, 1);
	assert_int_equal(event_base_get_num_events(env.base,
	    EVENT_BASE_COUNT_ADDED), 0);
	worker_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_all_run_in_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_busy_makes_next_batch,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_from_loop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_push_from_done, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_drains, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_idle, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
