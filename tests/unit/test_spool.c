/*
 * test_spool.c - the spool's journal across a checkpoint made in the
 * middle of a batch: every commit answered durable must be in the epoch
 * that a replay reads, or in files the checkpoint synced.  Commits go
 * through the real worker thread and a real event loop, in a fresh
 * mkdtemp directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

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
inject(const char *text)
{
	struct spool_commit	*c = xcalloc(1, sizeof(*c));
	struct env_rcpt		*r = xcalloc(1, sizeof(*r));

	r->addr = xstrdup("rcpt@example.org");
	r->orig = xstrdup("rcpt@example.org");
	c->parsed.sender = xstrdup("sender@example.org");
	c->parsed.rcpts = r;
	c->parsed.nrcpt = 1;
	c->done = done;
	assert_int_equal(spool_inject(c, text, MSG_SIZE), 0);
	memcpy(last_id, c->id, sizeof(last_id));
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

/* The commit that does not fit in the journal any more comes after a
 * checkpoint; its record must carry the new epoch, or a replay stops at
 * it and every later commit of that epoch exists only in unsynced
 * files (lost in a power failure). */
static void
test_commit_after_a_checkpoint_in_a_batch(void **state)
{
	char			 root[] = "/tmp/test_spool.XXXXXX", p[512];
	char			*text = xmalloc(MSG_SIZE);
	struct event_base	*base = event_base_new();
	struct journal		*j;
	struct seen		 seen = { 0, false };
	int			 dfd;

	(void)state;
	assert_non_null(mkdtemp(root));
	make_dirs(root);
	memset(text, 'x', MSG_SIZE);
	for (size_t i = 99; i < MSG_SIZE; i += 100)
		memcpy(text + i - 1, "\r\n", 2);
	spool_init(base, root, accepted);
	spool_scan(no_load);
	for (unsigned i = 0; i < NMSG; i++)
		inject(text);
	while (ndone < NMSG)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(nfailed, 0);
	snprintf(p, sizeof(p), "%s/spool", root);
	dfd = open(p, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	j = journal_open(dfd, "journal");
	assert_non_null(j);
	assert_int_equal(journal_replay(j, count, &seen), 0);
	print_message("commits in the last epoch: %u of %u\n", seen.commits,
	    (unsigned)NMSG);
	assert_true(seen.commits > 0);
	assert_true(seen.last);
	journal_close(j);
	close(dfd);
	free(text);
	assert_int_equal(nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commit_after_a_checkpoint_in_a_batch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
