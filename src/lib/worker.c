/*
 * worker.c - a batching background thread for blocking work (fsync,
 * syncfs, file writes) so that no event loop ever waits on the disk.
 * Hand-off is a mutex-protected list; completion is signalled through a
 * pipe that the loop watches.  Items are owned by the worker from push
 * until their done callback.  The thread lives until worker_free, which
 * lets it finish what was pushed and joins it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/log.h"
#include "lib/util.h"
#include "lib/worker.h"

struct worker {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	pthread_t		 thread;
	struct worker_item	*pending, **pending_tail;
	struct worker_item	*batch;		/* handed to the thread */
	struct worker_item	*finished;	/* handed back */
	struct worker_item	**finished_tail;
	bool			 busy;
	bool			 stopping;	/* in worker_free */
	int			 pipe[2];
	struct event		*ev;
	worker_run_fn		 run;
	worker_done_fn		 done;
};

static bool	 start_locked(struct worker *);
static struct worker_item *next_batch_locked(struct worker *);
static void	*thread_main(void *);
static void	 on_notify(evutil_socket_t, short, void *);
static void	 give_back(struct worker *, struct worker_item *);

/*
 * start_locked - hand what is pending to an idle thread; true when the
 * thread must be woken.  The caller signals after unlocking, so that the
 * thread does not wake only to wait for the mutex the caller still holds.
 */
static bool
start_locked(struct worker *w)
{
	if (w->busy || w->pending == NULL)
		return false;
	w->batch = w->pending;
	w->pending = NULL;
	w->pending_tail = &w->pending;
	w->busy = true;
	return true;
}

/*
 * next_batch_locked - wait for the batch the loop hands over, or NULL once
 * worker_free has asked the thread to stop.  Stopping, the loop hands out
 * nothing more, so what is still pending becomes the last batch here.
 */
static struct worker_item *
next_batch_locked(struct worker *w)
{
	struct worker_item	*b;

	while (w->batch == NULL && !w->stopping)
		pthread_cond_wait(&w->cond, &w->mtx);
	if (w->batch == NULL && w->pending != NULL) {
		w->batch = w->pending;
		w->pending = NULL;
		w->pending_tail = &w->pending;
	}
	b = w->batch;
	w->batch = NULL;
	return b;
}

static void *
thread_main(void *arg)
{
	struct worker		*w = arg;
	struct worker_item	*b;
	char			 one = 1;

	pthread_mutex_lock(&w->mtx);
	while ((b = next_batch_locked(w)) != NULL) {
		pthread_mutex_unlock(&w->mtx);
		w->run(b);
		pthread_mutex_lock(&w->mtx);
		/* Appended: stopping, two batches may wait for the loop. */
		*w->finished_tail = b;
		while (b->next != NULL)
			b = b->next;
		w->finished_tail = &b->next;
		pthread_mutex_unlock(&w->mtx);
		/* Outside the mutex: the loop woken by it takes it at once. */
		while (write(w->pipe[1], &one, 1) == -1 && errno == EINTR)
			;
		pthread_mutex_lock(&w->mtx);
	}
	pthread_mutex_unlock(&w->mtx);
	return NULL;
}

/* give_back - each item of a finished list to done, in order. */
static void
give_back(struct worker *w, struct worker_item *b)
{
	struct worker_item	*next;

	for (; b != NULL; b = next) {
		next = b->next;
		b->next = NULL;
		w->done(b);
	}
}

static void
on_notify(evutil_socket_t fd, short ev, void *arg)
{
	struct worker		*w = arg;
	struct worker_item	*b;
	char			 tmp[64];
	bool			 wake;

	/* The thread writes one byte per batch, so a read shorter than
	 * tmp has emptied the pipe: no second read to see EAGAIN. */
	while (read(fd, tmp, sizeof(tmp)) == (ssize_t)sizeof(tmp))
		;
	pthread_mutex_lock(&w->mtx);
	b = w->finished;
	w->finished = NULL;
	w->finished_tail = &w->finished;
	if (b != NULL)
		w->busy = false;
	wake = start_locked(w);
	pthread_mutex_unlock(&w->mtx);
	if (wake)
		pthread_cond_signal(&w->cond);
	give_back(w, b);
}

/* worker_new - start the thread; fatal if it cannot. */
struct worker *
worker_new(struct event_base *base, worker_run_fn run, worker_done_fn done)
{
	struct worker	*w = xcalloc(1, sizeof(*w));

	pthread_mutex_init(&w->mtx, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->pending_tail = &w->pending;
	w->finished_tail = &w->finished;
	w->run = run;
	w->done = done;
	if (pipe2(w->pipe, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("pipe2");
	w->ev = event_new(base, w->pipe[0], EV_READ | EV_PERSIST, on_notify, w);
	event_add(w->ev, NULL);
	if (pthread_create(&w->thread, NULL, thread_main, w) != 0)
		fatalx("cannot start a worker thread");
	return w;
}

/* worker_push - see worker.h. */
void
worker_push(struct worker *w, struct worker_item *it)
{
	bool	wake;

	ASSERT(!w->stopping);		/* pushed from a done in worker_free */
	it->next = NULL;
	pthread_mutex_lock(&w->mtx);
	*w->pending_tail = it;
	w->pending_tail = &it->next;
	wake = start_locked(w);
	pthread_mutex_unlock(&w->mtx);
	if (wake)
		pthread_cond_signal(&w->cond);
}

/*
 * worker_free - see worker.h.  The thread runs what is left (the batch in
 * hand, then everything pending) and ends; its results are given back
 * here, so every item still reaches its done callback exactly once.
 */
void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mtx);
	w->stopping = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mtx);
	if (pthread_join(w->thread, NULL) != 0)
		log_panic("worker: cannot join the thread");
	event_free(w->ev);
	close(w->pipe[0]);
	close(w->pipe[1]);
	give_back(w, w->finished);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->mtx);
	free(w);
}
