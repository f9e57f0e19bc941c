/*
 * worker.c - a batching background thread for blocking work (fsync,
 * syncfs, file writes) so that no event loop ever waits on the disk.
 * Hand-off is a mutex-protected list; completion is signalled through a
 * pipe that the loop watches.  Items are owned by the worker from push
 * until their done callback.
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
	struct worker_item	*pending, **pending_tail;
	struct worker_item	*batch;		/* handed to the thread */
	struct worker_item	*finished;	/* handed back */
	bool			 busy;
	int			 pipe[2];
	struct event		*ev;
	worker_run_fn		 run;
	worker_done_fn		 done;
};

static void
start_locked(struct worker *w)
{
	if (w->busy || w->pending == NULL)
		return;
	w->batch = w->pending;
	w->pending = NULL;
	w->pending_tail = &w->pending;
	w->busy = true;
	pthread_cond_signal(&w->cond);
}

static void *
thread_main(void *arg)
{
	struct worker	*w = arg;

	for (;;) {
		struct worker_item	*b;
		char			 one = 1;

		pthread_mutex_lock(&w->mtx);
		while (w->batch == NULL)
			pthread_cond_wait(&w->cond, &w->mtx);
		b = w->batch;
		w->batch = NULL;
		pthread_mutex_unlock(&w->mtx);
		w->run(b);
		pthread_mutex_lock(&w->mtx);
		w->finished = b;
		pthread_mutex_unlock(&w->mtx);
		while (write(w->pipe[1], &one, 1) == -1 && errno == EINTR)
			;
	}
	return NULL;
}

static void
on_notify(evutil_socket_t fd, short ev, void *arg)
{
	struct worker		*w = arg;
	struct worker_item	*b, *next;
	char			 tmp[64];

	while (read(fd, tmp, sizeof(tmp)) > 0)
		;
	pthread_mutex_lock(&w->mtx);
	b = w->finished;
	w->finished = NULL;
	if (b != NULL)
		w->busy = false;
	start_locked(w);
	pthread_mutex_unlock(&w->mtx);
	for (; b != NULL; b = next) {
		next = b->next;
		b->next = NULL;
		w->done(b);
	}
}

/* worker_new - start the thread; fatal if it cannot. */
struct worker *
worker_new(struct event_base *base, worker_run_fn run, worker_done_fn done)
{
	struct worker	*w = xcalloc(1, sizeof(*w));
	pthread_t	 t;

	pthread_mutex_init(&w->mtx, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->pending_tail = &w->pending;
	w->run = run;
	w->done = done;
	if (pipe2(w->pipe, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("pipe2");
	w->ev = event_new(base, w->pipe[0], EV_READ | EV_PERSIST, on_notify, w);
	event_add(w->ev, NULL);
	if (pthread_create(&t, NULL, thread_main, w) != 0)
		fatalx("cannot start a worker thread");
	pthread_detach(t);
	return w;
}

void
worker_push(struct worker *w, struct worker_item *it)
{
	it->next = NULL;
	pthread_mutex_lock(&w->mtx);
	*w->pending_tail = it;
	w->pending_tail = &it->next;
	start_locked(w);
	pthread_mutex_unlock(&w->mtx);
}
