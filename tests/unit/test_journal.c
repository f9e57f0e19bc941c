/*
 * test_journal.c - journal records: round trips, torn and corrupt
 * records end the replay, other epochs are ignored; the file API replays
 * what was appended and forgets it after a reset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/journal.h"
#include "lib/util.h"

#define ID1	"0123456789ABCDEF"
#define ID2	"FEDCBA9876543210"

static void
test_commit_round_trip(void **state)
{
	struct buf	b;
	struct jrec	r;
	size_t		n;

	(void)state;
	buf_init(&b, 0);
	journal_rec_commit(&b, 7, ID1, "ENV\n\0x", 6, "data\r\n", 6, true);
	n = journal_rec_decode(b.data, b.len, 7, &r);
	assert_int_equal(n, b.len);
	assert_int_equal(r.type, JREC_COMMIT);
	assert_string_equal(r.id, ID1);
	assert_int_equal(r.envlen, 6);
	assert_memory_equal(r.env, "ENV\n\0x", 6);
	assert_true(r.has_data);
	assert_int_equal(r.datalen, 6);
	assert_memory_equal(r.data, "data\r\n", 6);
	buf_free(&b);
}

static void
test_commit_without_data_and_remove(void **state)
{
	struct buf	b;
	struct jrec	r;
	size_t		n;

	(void)state;
	buf_init(&b, 0);
	journal_rec_commit(&b, 1, ID1, "E", 1, NULL, 123456789, false);
	journal_rec_remove(&b, 1, ID2);
	n = journal_rec_decode(b.data, b.len, 1, &r);
	assert_true(n > 0);
	assert_false(r.has_data);
	assert_int_equal(r.datalen, 123456789);
	assert_null(r.data);
	assert_int_equal(journal_rec_decode(b.data + n, b.len - n, 1, &r),
	    b.len - n);
	assert_int_equal(r.type, JREC_REMOVE);
	assert_string_equal(r.id, ID2);
	buf_free(&b);
}

static void
test_other_epoch_ends(void **state)
{
	struct buf	b;
	struct jrec	r;

	(void)state;
	buf_init(&b, 0);
	journal_rec_remove(&b, 3, ID1);
	assert_int_equal(journal_rec_decode(b.data, b.len, 4, &r), 0);
	assert_int_equal(journal_rec_decode(b.data, b.len, 2, &r), 0);
	assert_true(journal_rec_decode(b.data, b.len, 3, &r) > 0);
	buf_free(&b);
}

/* Every cut and every flipped byte is refused: never a wrong record. */
/* Records moved to another epoch read back in it, and only in it. */
static void
test_set_epoch(void **state)
{
	struct buf	b;
	struct jrec	r;
	size_t		n;

	(void)state;
	buf_init(&b, 0);
	journal_rec_commit(&b, 3, ID1, "ENV", 3, "d", 1, true);
	journal_rec_remove(&b, 3, ID2);
	journal_rec_set_epoch(&b, 4);
	assert_int_equal(journal_rec_decode(b.data, b.len, 3, &r), 0);
	n = journal_rec_decode(b.data, b.len, 4, &r);
	assert_true(n > 0);
	assert_int_equal(r.type, JREC_COMMIT);
	assert_string_equal(r.id, ID1);
	assert_memory_equal(r.env, "ENV", 3);
	assert_int_equal(journal_rec_decode(b.data + n, b.len - n, 4, &r),
	    b.len - n);
	assert_int_equal(r.type, JREC_REMOVE);
	assert_string_equal(r.id, ID2);
	buf_free(&b);
}

static void
test_torn_and_flipped(void **state)
{
	struct buf	b;
	struct jrec	r;

	(void)state;
	buf_init(&b, 0);
	journal_rec_commit(&b, 9, ID1, "envelope", 8, "some data", 9, true);
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(journal_rec_decode(b.data, n, 9, &r), 0);
	for (size_t i = 0; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			b.data[i] ^= (char)(1 << bit);
			assert_int_equal(journal_rec_decode(b.data, b.len, 9,
			    &r), 0);
			b.data[i] ^= (char)(1 << bit);
		}
	}
	assert_int_equal(journal_rec_decode(b.data, b.len, 9, &r), b.len);
	buf_free(&b);
}

static void
test_bad_ids_refused(void **state)
{
	struct buf	b;
	struct jrec	r;

	(void)state;
	buf_init(&b, 0);
	journal_rec_remove(&b, 1, "0123456789abcdef");	/* lower case */
	assert_int_equal(journal_rec_decode(b.data, b.len, 1, &r), 0);
	buf_free(&b);
}

struct seen {
	int	commits, removes;
	char	last[QUEUE_ID_LEN + 1];
};

static void
count(const struct jrec *r, void *arg)
{
	struct seen	*s = arg;

	if (r->type == JREC_COMMIT)
		s->commits++;
	else
		s->removes++;
	memcpy(s->last, r->id, sizeof(s->last));
}

static void
test_file_append_replay_reset(void **state)
{
	char		 dir[] = "/tmp/test_journal.XXXXXX";
	int		 dfd;
	struct journal	*j;
	struct buf	 b;
	struct seen	 s = { 0 };
	uint64_t	 epoch;

	(void)state;
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_non_null(j = journal_open(dfd, "journal"));
	epoch = journal_epoch(j);
	buf_init(&b, 0);
	journal_rec_commit(&b, epoch, ID1, "E", 1, "D", 1, true);
	assert_int_equal(journal_append(j, &b, true), 0);
	buf_reset(&b);
	journal_rec_remove(&b, epoch, ID2);
	assert_int_equal(journal_append(j, &b, false), 0);
	journal_close(j);

	/* A new open replays both, in order. */
	assert_non_null(j = journal_open(dfd, "journal"));
	assert_int_equal(journal_epoch(j), epoch);
	assert_int_equal(journal_replay(j, count, &s), 0);
	assert_int_equal(s.commits, 1);
	assert_int_equal(s.removes, 1);
	assert_string_equal(s.last, ID2);
	/* After a reset nothing is replayed. */
	assert_int_equal(journal_reset(j), 0);
	journal_close(j);
	memset(&s, 0, sizeof(s));
	assert_non_null(j = journal_open(dfd, "journal"));
	assert_int_equal(journal_epoch(j), epoch + 1);
	assert_int_equal(journal_replay(j, count, &s), 0);
	assert_int_equal(s.commits + s.removes, 0);
	assert_true(journal_room(j) > 0);
	journal_close(j);
	buf_free(&b);
	unlinkat(dfd, "journal", 0);
	close(dfd);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commit_round_trip),
		cmocka_unit_test(test_commit_without_data_and_remove),
		cmocka_unit_test(test_other_epoch_ends),
		cmocka_unit_test(test_set_epoch),
		cmocka_unit_test(test_torn_and_flipped),
		cmocka_unit_test(test_bad_ids_refused),
		cmocka_unit_test(test_file_append_replay_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
