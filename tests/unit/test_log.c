/*
 * test_log.c - log.c's batching, seen from the descriptor: stderr is a
 * SOCK_SEQPACKET socket here, so each write(2) arrives as one record and
 * the test counts them.  The lines of one loop turn arrive in one write,
 * after the callbacks already active; a full batch, a line longer than a
 * batch, a warning, another thread, fork, fatalx() and exit() each write
 * at once what waits, in order; held lines wait for a new one.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "lib/log.h"
#include "lib/util.h"

#define REC_MAX		16384		/* more than any one write */

struct env {
	struct event_base	*base;
	int			 sv[2];		/* [0] is fd 2 */
	int			 saved_stderr;
	char			 rec[REC_MAX];
	size_t			 reclen;
};

static struct env	 env;

static int	 setup(void **);
static int	 teardown(void **);
static bool	 next_write(void);
static void	 assert_write(const char *const *, size_t);
static void	 log_in_turn(evutil_socket_t, short, void *);
static void	*log_from_thread(void *);
static pid_t	 run_child(void (*)(void));

static int
setup(void **state)
{
	(void)state;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, env.sv) == -1 ||
	    (env.saved_stderr = dup(2)) == -1 || dup2(env.sv[0], 2) == -1)
		return -1;
	if (log_init("test", "stderr", false) == -1 ||
	    (env.base = event_base_new()) == NULL)
		return -1;
	log_set_base(env.base);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	log_set_base(NULL);
	event_base_free(env.base);
	dup2(env.saved_stderr, 2);
	close(env.saved_stderr);
	close(env.sv[0]);
	close(env.sv[1]);
	return 0;
}

/* next_write - the next write(2) made to the log, if there is one. */
static bool
next_write(void)
{
	ssize_t	n = recv(env.sv[1], env.rec, sizeof(env.rec), MSG_DONTWAIT);

	env.reclen = n > 0 ? (size_t)n : 0;
	return n > 0;
}

/* assert_write - the next write holds exactly the lines whose messages
 * are want[0..n), in this order, each whole. */
static void
assert_write(const char *const *want, size_t n)
{
	const char	*p = env.rec, *end;
	size_t		 i = 0;

	assert_true(next_write());
	end = env.rec + env.reclen;
	for (; p < end; i++) {
		const char	*nl = memchr(p, '\n', (size_t)(end - p));
		size_t		 wl;

		assert_non_null(nl);
		assert_true(i < n);
		wl = strlen(want[i]);
		assert_true((size_t)(nl - p) > wl + 2);
		assert_memory_equal(nl - wl - 2, ": ", 2);
		assert_memory_equal(nl - wl, want[i], wl);
		assert_non_null(strstr(p, " postbote/test["));
		p = nl + 1;
	}
	assert_int_equal(i, n);
}

static void
log_in_turn(evutil_socket_t fd, short ev, void *arg)
{
	log_info("%s", (const char *)arg);
}

static void
test_turn_is_one_write(void **state)
{
	static const char *const	 want[] = { "n=1", "n=2", "n=3" };
	struct event			*ev;

	(void)state;
	/* Active before the first line: it runs before the flush does. */
	ev = event_new(env.base, -1, 0, log_in_turn, (void *)"n=3");
	event_active(ev, EV_TIMEOUT, 0);
	log_info("n=1");
	log_info("n=%d", 2);
	assert_false(next_write());		/* waiting for the turn's end */
	event_base_loop(env.base, EVLOOP_NONBLOCK);
	assert_write(want, NELEM(want));
	assert_false(next_write());
	event_free(ev);
}

static void
test_full_batch_and_long_line(void **state)
{
	static char	 msg[20][1100], longer[5000 + 1];
	const char	*want[24];
	size_t		 nwant = 0, got = 0, writes = 0;

	(void)state;
	for (size_t i = 0; i < 20; i++) {
		memset(msg[i], 'a' + (int)i, sizeof(msg[i]) - 1);
		log_info("%s", msg[i]);
		want[nwant++] = msg[i];
	}
	memset(longer, 'L', sizeof(longer) - 1);
	log_info("%s", longer);
	want[nwant++] = longer;
	log_info("tail");
	want[nwant++] = "tail";
	event_base_loop(env.base, EVLOOP_NONBLOCK);
	/* Whole lines, oldest first, no write over PIPE_BUF but the long
	 * line's, which is alone. */
	while (got < nwant) {
		const char	*p = env.rec;
		size_t		 lines = 0;

		assert_true(next_write());
		for (size_t i = 0; i < env.reclen; i++)
			lines += env.rec[i] == '\n';
		assert_true(lines > 0 && got + lines <= nwant);
		assert_true(env.reclen <= PIPE_BUF || lines == 1);
		if (want[got] == longer)
			assert_int_equal(lines, 1);
		for (size_t k = 0; k < lines; k++, got++) {
			const char	*nl = memchr(p, '\n', env.reclen -
			    (size_t)(p - env.rec));
			size_t		 wl = strlen(want[got]);

			assert_memory_equal(nl - wl, want[got], wl);
			p = nl + 1;
		}
		writes++;
	}
	assert_false(next_write());
	assert_true(writes < nwant);		/* they were batched */
}

static void
test_warning_writes_at_once(void **state)
{
	static const char *const	 want[] = { "before", "warned" };

	(void)state;
	log_info("before");
	log_warn("warned");
	assert_write(want, NELEM(want));	/* no loop turn needed */
	event_base_loop(env.base, EVLOOP_NONBLOCK);
	assert_false(next_write());
}

static void *
log_from_thread(void *arg)
{
	log_info("from=thread");
	return NULL;
}

static void
test_other_thread_writes_at_once(void **state)
{
	static const char *const	 want[] = { "from=loop", "from=thread" };
	pthread_t			 t;

	(void)state;
	log_info("from=loop");
	assert_int_equal(pthread_create(&t, NULL, log_from_thread, NULL), 0);
	pthread_join(t, NULL);
	assert_write(want, NELEM(want));
	event_base_loop(env.base, EVLOOP_NONBLOCK);
	assert_false(next_write());
}

/* run_child - fork, run fn in the child (which must not return); its
 * exit status. */
static pid_t
run_child(void (*fn)(void))
{
	pid_t	pid = fork();
	int	status;

	if (pid == 0) {
		fn();
		_exit(99);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* The child of a fork starts without a batch: it sets its own base. */
static void
child_fatal(void)
{
	struct event_base	*b = event_base_new();

	log_set_base(b);
	log_info("child=before");
	fatalx("child=%s", "fatal");
}

static void
child_exit(void)
{
	struct event_base	*b = event_base_new();

	log_set_base(b);
	log_info("child=exiting");
	exit(3);
}

static void
child_unbatched(void)
{
	log_info("child=at-once");	/* lost if it waited: no exit() */
	_exit(4);
}

static void
test_fatal_and_exit_flush(void **state)
{
	static const char *const	 fatal_want[] = { "child=before",
	    "child=fatal" };
	static const char *const	 exit_want[] = { "child=exiting" };

	(void)state;
	assert_int_equal(run_child(child_fatal), 1);
	assert_write(fatal_want, NELEM(fatal_want));
	assert_int_equal(run_child(child_exit), 3);
	assert_write(exit_want, NELEM(exit_want));
	assert_false(next_write());
}

static void
test_fork_writes_batch_first(void **state)
{
	static const char *const	 parent_want[] = { "parent=batched" };
	static const char *const	 child_want[] = { "child=at-once" };

	(void)state;
	log_info("parent=batched");
	assert_int_equal(run_child(child_unbatched), 4);
	assert_write(parent_want, NELEM(parent_want));
	assert_write(child_want, NELEM(child_want));
	event_base_loop(env.base, EVLOOP_NONBLOCK);
	assert_false(next_write());
}

static void
test_held_lines_wait_for_news(void **state)
{
	static const char *const	 want[] = { "held=1", "new=1" };

	(void)state;
	log_info("held=1");
	log_hold();
	log_flush_unheld();			/* only held lines: they wait */
	assert_false(next_write());
	log_info("new=1");
	log_flush_unheld();			/* a new one: all go */
	assert_write(want, NELEM(want));
	log_info("held=2");
	log_hold();
	event_base_loop(env.base, EVLOOP_NONBLOCK);	/* the turn's end */
	assert_true(next_write());
	assert_false(next_write());
}

static void
test_without_base_each_line_at_once(void **state)
{
	static const char *const	 want1[] = { "one" };
	static const char *const	 want2[] = { "two" };

	(void)state;
	log_info("one");
	log_set_base(NULL);			/* writes "one" */
	log_info("two");
	assert_write(want1, NELEM(want1));
	assert_write(want2, NELEM(want2));
	assert_false(next_write());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_turn_is_one_write, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_full_batch_and_long_line,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_warning_writes_at_once,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_other_thread_writes_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fatal_and_exit_flush,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork_writes_batch_first,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_lines_wait_for_news,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_without_base_each_line_at_once, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
