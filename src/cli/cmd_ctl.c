/*
 * cmd_ctl.c - "postbote reload|stop|status [-c FILE]" and "newaliases"
 * (cmd_ctl.h).  Loads the config to find state_dir, then asks the
 * parent on state_dir/master with the blocking ipc helpers: a reload is
 * answered once every process applied the new config, or with the reason
 * one refused it (the server then keeps the old one); a stop is waited
 * for until the parent's pid is gone.  The queue's size comes from the
 * queue's own socket (cmd_queue.c).
 *
 * Runs as the admin (root or the user who started the server).  Trust:
 * the answers come from our parent, but their strings are printed through
 * the same escaping as the queue's.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cmd_ctl.h"
#include "cli/cmd_queue.h"
#include "common/conf.h"
#include "common/control.h"
#include "lib/buf.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "lib/util.h"
#include "parent/parent.h"

#define REQ_TIMEOUT_MS		10000
#define RELOAD_TIMEOUT_MS	40000	/* parent.c waits 30 s for children */
#define STOP_WAIT_S		40	/* its STOP_GRACE is 15 s */
#define EXIT_NOT_RUNNING	3

struct ctl {
	int		 fd;
	char		*path;		/* state_dir/master */
	char		*state_dir;
	struct buf	 store;
	struct ipc_msg	 im;
};

static int	 usage(const char *);
static int	 run_reload(struct ctl *);
static int	 run_stop(struct ctl *);
static int	 run_status(struct ctl *);

static const struct {
	const char	*name;
	int		(*run)(struct ctl *);
} verbs[] = {
	{ "reload",	run_reload },
	{ "stop",	run_stop },
	{ "status",	run_status },
};

static int
usage(const char *verb)
{
	fprintf(stderr, "usage: postbote %s [-c FILE]\n", verb);
	return 2;
}

/* ask - send a request without fields, read the answer of type want. */
static int
ask(struct ctl *c, uint16_t type, uint16_t want, int timeout_ms)
{
	struct buf	b;
	int		rc;

	buf_init(&b, 0);
	IPC_ENCODE(&b, type, &(struct ipc_empty){ 0 });
	rc = ipc_sync_send(c->fd, type, 1, &b);
	buf_free(&b);
	if (rc == -1 || ipc_sync_recv(c->fd, &c->im, &c->store,
	    timeout_ms) == -1) {
		fprintf(stderr, "postbote: no answer from the server on %s\n",
		    c->path);
		return -1;
	}
	if (c->im.type != want) {
		fprintf(stderr, "postbote: unexpected answer (%s) on %s\n",
		    ipc_type_str(c->im.type), c->path);
		return -1;
	}
	return 0;
}

/* ask_status - the parent's status into *r (decoded from c->store). */
static int
ask_status(struct ctl *c, struct ipc_ctl_status_reply *r)
{
	if (ask(c, IPC_CTL_STATUS, IPC_CTL_STATUS_REPLY, REQ_TIMEOUT_MS) == -1)
		return -1;
	if (IPC_DECODE(&c->im, r, NULL) == -1) {
		fprintf(stderr, "postbote: malformed answer on %s\n", c->path);
		return -1;
	}
	return 0;
}

/* reply_of - an IPC_CTL_REPLY: 0 ok (text printed), 1 with the reason. */
static int
reply_of(struct ctl *c, const char *what)
{
	struct ipc_reply	r;

	if (IPC_DECODE(&c->im, &r, NULL) == -1) {
		fprintf(stderr, "postbote: malformed answer on %s\n", c->path);
		return 1;
	}
	if (!r.ok) {
		fprintf(stderr, "postbote: %s failed: %s\n", what, r.text);
		return 1;
	}
	printf("postbote: %s\n", r.text);
	return 0;
}

static int
run_reload(struct ctl *c)
{
	if (ask(c, IPC_CTL_RELOAD, IPC_CTL_REPLY, RELOAD_TIMEOUT_MS) == -1)
		return 1;
	return reply_of(c, "reload");
}

/* wait_closed - until the parent closes our connection, which it does
 * as it exits (a pid could be a zombie nobody reaped yet); -1 after
 * timeout_s. */
static int
wait_closed(int fd, int timeout_s)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };
	time_t		end = time(NULL) + timeout_s;
	char		b[512];

	while (time(NULL) < end) {
		int	n = poll(&pfd, 1, 1000);

		if (n == -1 && errno != EINTR)
			return 0;
		if (n > 0 && read(fd, b, sizeof(b)) <= 0)
			return 0;
	}
	return -1;
}

static int
run_stop(struct ctl *c)
{
	struct ipc_ctl_status_reply	 st;
	long				 pid;

	if (ask_status(c, &st) == -1)
		return 1;
	pid = (long)st.pid;
	if (ask(c, IPC_CTL_STOP, IPC_CTL_REPLY, REQ_TIMEOUT_MS) == -1 ||
	    reply_of(c, "stop") != 0)
		return 1;
	if (wait_closed(c->fd, STOP_WAIT_S) == -1) {
		fprintf(stderr, "postbote: pid %ld still runs after %d "
		    "seconds\n", pid, STOP_WAIT_S);
		return 1;
	}
	printf("postbote: stopped (pid %ld)\n", pid);
	return 0;
}

/* fmt_utc - µs since the epoch as "YYYY-MM-DD HH:MM:SS UTC". */
static const char *
fmt_utc(uint64_t usec, char *out, size_t len)
{
	time_t		t = (time_t)(usec / 1000000);
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return out;
}

/* print_lines - "label:" then each line of text, indented. */
static void
print_lines(const char *label, const char *text)
{
	const char	*p = text, *nl;
	bool		 first = true;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		printf("%-12s%.*s\n", first ? label : "",
		    (int)(nl != NULL ? nl - p : (ptrdiff_t)strlen(p)), p);
		first = false;
		p = nl != NULL ? nl + 1 : p + strlen(p);
	}
}

static int
run_status(struct ctl *c)
{
	struct ipc_ctl_status_reply	 st;
	unsigned			 n = 0, held = 0;
	long				 up;
	char				 t[40];

	if (ask_status(c, &st) == -1)
		return 1;
	up = (long)(time(NULL) - (time_t)(st.started / 1000000));
	printf("postbote is running (pid %llu), up %ldd %02ld:%02ld:%02ld "
	    "since %s\n", (unsigned long long)st.pid, up / 86400,
	    up / 3600 % 24, up / 60 % 60, up % 60,
	    fmt_utc(st.started, t, sizeof(t)));
	printf("%-12s%s\n", "version:", st.version);
	printf("%-12s%s\n", "config:", st.config[0] != '\0' ? st.config :
	    "(embedded defaults)");
	printf("%-12s%s\n", "state_dir:", st.state_dir);
	print_lines("listeners:", st.listeners);
	print_lines("processes:", st.processes);
	if (cmd_queue_count(st.state_dir, &n, &held) == 0)
		printf("%-12s%u message%s, %u held\n", "queue:", n,
		    n == 1 ? "" : "s", held);
	else
		printf("%-12s(the queue process does not answer)\n",
		    "queue:");
	if (st.reloaded != 0)
		printf("%-12s%s, %s\n", "reloaded:", fmt_utc(st.reloaded, t,
		    sizeof(t)), st.reload_result);
	return 0;
}

/* not_running - say why nobody answers on the socket; with the pid file
 * when one was left behind. */
static void
not_running(const struct ctl *c, int e, FILE *f)
{
	char	*pidf = control_state_file(c->state_dir, CONTROL_PID);

	if (e == EACCES || e == EPERM)
		fprintf(stderr, "postbote: cannot connect to %s: %s (only root "
		    "and the user who started the server may)\n", c->path,
		    strerror(e));
	else if (access(pidf, F_OK) == 0)
		fprintf(f, "postbote is not running (stale pid file %s; "
		    "nothing answers on %s)\n", pidf, c->path);
	else
		fprintf(f, "postbote is not running (no %s)\n", c->path);
	free(pidf);
}

/* ctl_open - the config's state_dir and a connection to the parent;
 * -1 with the reason printed (and *rc the exit status). */
static int
ctl_open(struct ctl *c, const char *confpath, FILE *f, int *rc)
{
	struct conf	 conf;
	char		 err[512];

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	buf_init(&c->store, 0);
	if (conf_load(confpath, &conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "postbote: %s\n", err);
		*rc = 2;
		return -1;
	}
	c->state_dir = xstrdup(conf.state_dir);
	c->path = control_state_file(conf.state_dir, CONTROL_MASTER);
	conf_free(&conf);
	if ((c->fd = control_connect(c->path, REQ_TIMEOUT_MS)) == -1) {
		int	e = errno;

		not_running(c, e, f);
		*rc = e == EACCES || e == EPERM ? 1 : EXIT_NOT_RUNNING;
		return -1;
	}
	return 0;
}

static void
ctl_close(struct ctl *c)
{
	if (c->fd != -1)
		close(c->fd);
	buf_free(&c->store);
	free(c->path);
	free(c->state_dir);
}

/* parse_c - "-c FILE" only; the index after the options or -1. */
static int
parse_c(int argc, char **argv, const char **conf)
{
	int	ch;

	optind = 1;
	while ((ch = getopt(argc, argv, "c:")) != -1) {
		if (ch != 'c')
			return -1;
		*conf = optarg;
	}
	return optind == argc ? 0 : -1;
}

/* cmd_ctl - see cmd_ctl.h. */
int
cmd_ctl(int argc, char **argv)
{
	const char	*confpath = NULL;
	struct ctl	 c;
	int		 rc = 1;

	for (size_t i = 0; i < NELEM(verbs); i++) {
		if (strcmp(argv[0], verbs[i].name) != 0)
			continue;
		if (parse_c(argc, argv, &confpath) == -1)
			return usage(verbs[i].name);
		if (ctl_open(&c, confpath, verbs[i].run == run_status ?
		    stdout : stderr, &rc) == 0) {
			rc = verbs[i].run(&c);
			fflush(stdout);
		} else if (verbs[i].run != run_status && rc == EXIT_NOT_RUNNING)
			rc = 1;
		ctl_close(&c);
		return rc;
	}
	return usage("reload|stop|status");
}

/* cmd_ctl_newaliases - see cmd_ctl.h.  There is no aliases database to
 * build: the tables are read as they are; this checks them and has a
 * running server read them again.  It does not try the listeners'
 * addresses as "postbote check" does: it starts no server, and a running
 * one holds them (a warning per listener at every run). */
int
cmd_ctl_newaliases(int argc, char **argv)
{
	const char	*confpath = NULL;
	struct ctl	 c;
	int		 rc = 1;

	if (parse_c(argc, argv, &confpath) == -1)
		return usage("newaliases");
	log_init("newaliases", "stderr", false);
	if (parent_check_config(confpath) == -1)
		return 2;
	if (ctl_open(&c, confpath, stdout, &rc) == 0)
		rc = run_reload(&c);
	else if (rc == EXIT_NOT_RUNNING) {
		printf("newaliases: the tables are valid; the server is not "
		    "running\n");
		rc = 0;
	}
	ctl_close(&c);
	return rc;
}
