/*
 * test_spool.c - when the spool writes envelope files (only when one is
 * needed), and its journal across a checkpoint made in the middle of a
 * batch: every commit answered durable must be in the epoch that a
 * replay reads, or in files the checkpoint wrote and synced.  Commits go
 * through the real worker thread and a real event loop, in one fresh
 * mkdtemp directory for the process (the spool is set up once).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/util.h"
#include "queue/journal.h"
#include "queue/spool.h"

#define MSG_SIZE	(200 * 1024)	/* inline in the journal */
#define NMSG		(JOURNAL_MAX / MSG_SIZE + 40)	/* past one epoch */

static unsigned	 ndone, nfailed;
static char	 last_id[QUEUE_ID_LEN + 1];
static char	 top[] = "/tmp/test_spool.XXXXXX";
static struct event_base *base;

static void
accepted(const char *id, struct envelope *env)
{
	(void)id;
	(void)env;
}

static void
done(const struct spool_commit *c, void *arg)
{
	(void)arg;
	ndone++;
	if (c->error != 0)
		nfailed++;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
make_dirs(const char *root)
{
	static const char *const sub[] = { "spool", "spool/data",
	    "spool/queue", "spool/hold", "spool/corrupt", "spool/free" };
	char	 p[512];

	for (size_t i = 0; i < NELEM(sub); i++) {
		snprintf(p, sizeof(p), "%s/%s", root, sub[i]);
		assert_int_equal(mkdir(p, 0700), 0);
	}
}

static void
inject_len(const char *text, size_t len)
{
	struct spool_commit	*c = xcalloc(1, sizeof(*c));
	struct env_rcpt		*r = xcalloc(1, sizeof(*r));

	r->addr = xstrdup("rcpt@example.org");
	r->orig = xstrdup("rcpt@example.org");
	c->parsed.sender = xstrdup("sender@example.org");
	c->parsed.rcpts = r;
	c->parsed.nrcpt = 1;
	c->done = done;
	assert_int_equal(spool_inject(c, text, len), 0);
	memcpy(last_id, c->id, sizeof(last_id));
}

static void
inject(const char *text)
{
	inject_len(text, MSG_SIZE);
}

/* wait_done - run the loop until n more commits are answered. */
static void
wait_done(unsigned n)
{
	unsigned	want = ndone + n;

	while (ndone < want)
		event_base_loop(base, EVLOOP_ONCE);
}

static int
no_load(const char *id, bool held, const char *data, size_t len)
{
	(void)id;
	(void)held;
	(void)data;
	(void)len;
	return 0;
}

struct seen {
	unsigned	 commits;
	bool		 last;
};

static void
count(const struct jrec *r, void *arg)
{
	struct seen	*s = arg;

	if (r->type != JREC_COMMIT)
		return;
	s->commits++;
	s->last |= strcmp(r->id, last_id) == 0;
}

static unsigned
count_files(const char *root, const char *dir)
{
	char		 p[512];
	DIR		*d;
	struct dirent	*de;
	unsigned	 n = 0;

	snprintf(p, sizeof(p), "%s/spool/%s", root, dir);
	assert_non_null(d = opendir(p));
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The commit that does not fit in the journal any more comes after a
 * checkpoint; its record must carry the new epoch, or a replay stops at
 * it and every later commit of that epoch exists only in unsynced
 * files (lost in a power failure). */
static void
test_commit_after_a_checkpoint_in_a_batch(void **state)
{
	char			 p[512];
	char			*text = xmalloc(MSG_SIZE);
	struct journal		*j;
	struct seen		 seen = { 0, false };
	int			 dfd;

	(void)state;
	memset(text, 'x', MSG_SIZE);
	for (size_t i = 99; i < MSG_SIZE; i += 100)
		memcpy(text + i - 1, "\r\n", 2);
	for (unsigned i = 0; i < NMSG; i++)
		inject(text);
	wait_done(NMSG);
	assert_int_equal(nfailed, 0);
	snprintf(p, sizeof(p), "%s/spool", top);
	dfd = open(p, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	j = journal_open(dfd, "journal");
	assert_non_null(j);
	assert_int_equal(journal_replay(j, count, &seen), 0);
	print_message("commits in the last epoch: %u of %u\n", seen.commits,
	    (unsigned)NMSG);
	assert_true(seen.commits > 0);
	assert_true(seen.last);
	/* The checkpoint wrote the envelopes of the epoch before; those of
	 * the last one are in the journal only, until the next. */
	assert_int_equal(count_files(top, "queue"), NMSG - seen.commits);
	journal_close(j);
	close(dfd);
	free(text);
}

static bool
exists(const char *root, const char *dir, const char *id)
{
	char		p[512];
	struct stat	st;

	snprintf(p, sizeof(p), "%s/spool/%s/%s", root, dir, id);
	return stat(p, &st) == 0;
}

static char *
slurp(const char *root, const char *dir, const char *id)
{
	char	 p[512], *b = xcalloc(1, 65536);
	int	 fd;

	snprintf(p, sizeof(p), "%s/spool/%s/%s", root, dir, id);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_true(read(fd, b, 65535) > 0);
	close(fd);
	return b;
}

/* An envelope is written to queue/ only when something needs the file:
 * a status record or a hold; a message removed before never has one,
 * and a checkpoint writes all the others (the first test). */
static void
test_envelopes_written_when_needed(void **state)
{
	const char		*text = "Subject: t\r\n\r\nbody\r\n";
	char			 ids[3][QUEUE_ID_LEN + 1], *env;
	struct buf		 rec;

	(void)state;
	for (int i = 0; i < 3; i++) {
		inject_len(text, strlen(text));
		memcpy(ids[i], last_id, sizeof(ids[i]));
	}
	wait_done(3);
	for (int i = 0; i < 3; i++) {
		assert_false(exists(top, "queue", ids[i]));
		assert_true(exists(top, "data", ids[i]));
	}
	/* a status record: the envelope first, then the record */
	buf_init(&rec, 0);
	buf_append(&rec, "Zrecord\n", 8);
	assert_int_equal(spool_append(ids[0], false, &rec), 0);
	env = slurp(top, "queue", ids[0]);
	assert_non_null(strstr(env, "sender@example.org"));
	assert_non_null(strstr(env, ids[0]));
	assert_string_equal(env + strlen(env) - 8, "Zrecord\n");
	free(env);
	buf_free(&rec);
	/* a hold */
	assert_int_equal(spool_hold(ids[1]), 0);
	assert_true(exists(top, "hold", ids[1]));
	assert_false(exists(top, "queue", ids[1]));
	/* a removal, in order before the next commit's answer */
	spool_remove(ids[2], false);
	inject_len(text, strlen(text));
	wait_done(1);
	assert_false(exists(top, "queue", ids[2]));
	assert_false(exists(top, "data", ids[2]));
	assert_false(exists(top, "queue", last_id));
	/* the others go too, for the next test: nothing is left */
	spool_remove(ids[0], false);
	spool_remove(ids[1], true);
	spool_remove(last_id, false);
	while (exists(top, "data", last_id))
		event_base_loop(base, EVLOOP_NONBLOCK);
	assert_false(exists(top, "queue", last_id));
	assert_false(exists(top, "queue", ids[0]));
	assert_false(exists(top, "hold", ids[1]));
}

/* A small message's content stays in memory for its first delivery; an
 * empty one does not (it would read as none: the file is sent). */
static void
test_content_kept_for_delivery(void **state)
{
	const char	*text = "Subject: c\r\n\r\nbody\r\n";
	const void	*p;
	size_t		 len;
	char		 full[QUEUE_ID_LEN + 1];

	(void)state;
	inject_len(text, strlen(text));
	memcpy(full, last_id, sizeof(full));
	inject_len("", 0);
	wait_done(2);
	assert_true(spool_cached(full, &p, &len));
	assert_int_equal(len, strlen(text));
	assert_memory_equal(p, text, len);
	assert_false(spool_cached(last_id, &p, &len));
	spool_remove(full, false);
	assert_false(spool_cached(full, &p, &len));
	spool_remove(last_id, false);
	while (exists(top, "data", last_id) || exists(top, "data", full))
		event_base_loop(base, EVLOOP_NONBLOCK);
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(top) == NULL)
		return -1;
	make_dirs(top);
	base = event_base_new();
	spool_init(base, top, accepted);
	spool_scan(no_load);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelopes_written_when_needed),
		cmocka_unit_test(test_content_kept_for_delivery),
		cmocka_unit_test(test_commit_after_a_checkpoint_in_a_batch),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
