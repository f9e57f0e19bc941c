/*
 * greylist_db.c - the greylisting store (greylist_db.h) on LMDB: one
 * B-tree of key -> record (mail/greylist.h encoding) in one file under
 * state_dir.  Runs in the lookup process only, the single writer.
 *
 * Writes are not synced (MDB_NOSYNC): the records live in the file, so a
 * restart of the process or of postbote keeps them; a power loss may
 * lose the last ones, which only means a sender is greylisted again.
 * No fsync ever runs on the loop.  Trust: keys come from smtpd, built by
 * greylist_key(); records are decoded strictly and a bad one is replaced.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <lmdb.h>

#include "lib/log.h"
#include "lib/util.h"
#include "lookup/greylist_db.h"

#define MAP_SIZE	(256u * 1024 * 1024)	/* about a million triplets */
#define KEY_KEEP	400	/* longer keys: this much and a hash */

static MDB_env	*env;
static MDB_dbi	 dbi;

int
greylist_db_open(const char *path, char *err, size_t errlen)
{
	MDB_txn	*txn = NULL;
	int	 rc, dead;

	if (env != NULL)
		return 0;
	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_mapsize(env, MAP_SIZE)) != 0 ||
	    (rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOSYNC |
	    MDB_NOMETASYNC | MDB_NOTLS, 0600)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0 ||
	    (rc = mdb_txn_commit(txn)) != 0) {
		snprintf(err, errlen, "%s: %s", path, mdb_strerror(rc));
		if (txn != NULL && rc != 0)
			mdb_txn_abort(txn);
		if (env != NULL)
			mdb_env_close(env);
		env = NULL;
		return -1;
	}
	/* A lookup process that died (the parent restarts it) may have left
	 * its reader slot taken in the lock file. */
	(void)mdb_reader_check(env, &dead);
	return 0;
}

void
greylist_db_close(void)
{
	if (env == NULL)
		return;
	mdb_env_sync(env, 1);
	mdb_env_close(env);
	env = NULL;
}

/* db_key - the key as stored: LMDB keys are at most 511 bytes. */
static void
db_key(const char *key, char *out, size_t outlen, MDB_val *k)
{
	size_t	 n = strlen(key);

	if (n <= KEY_KEEP) {
		k->mv_data = (void *)key;
		k->mv_size = n;
		return;
	}
	snprintf(out, outlen, "%.*s#%016llx", KEY_KEEP, key,
	    (unsigned long long)str_hash_bytes(key, n));
	k->mv_data = out;
	k->mv_size = strlen(out);
}

int
greylist_db_check(const char *key, uint64_t now,
    const struct greylist_times *t, enum greylist_verdict *v,
    uint32_t *wait)
{
	MDB_txn			*txn;
	MDB_val			 k, d;
	struct greylist_rec	 r;
	unsigned char		 enc[GREYLIST_REC_LEN];
	char			 kb[KEY_KEEP + 32];
	bool			 found = false;
	int			 rc;

	*wait = 0;
	if (env == NULL)
		return -1;
	db_key(key, kb, sizeof(kb), &k);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		goto fail;
	rc = mdb_get(txn, dbi, &k, &d);
	if (rc == 0)
		found = greylist_rec_decode(d.mv_data, d.mv_size, &r) == 0;
	else if (rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		goto fail;
	}
	*v = greylist_decide(&r, found, now, t);
	if (*v != GREYLIST_PASS && now - r.first < t->delay)
		*wait = (uint32_t)MIN(t->delay - (now - r.first), UINT32_MAX);
	greylist_rec_encode(&r, enc);
	d.mv_data = enc;
	d.mv_size = sizeof(enc);
	if ((rc = mdb_put(txn, dbi, &k, &d, 0)) != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	return 0;
fail:
	log_warn("event=greylist-error reason=\"%s\"", mdb_strerror(rc));
	return -1;
}

long
greylist_db_sweep(uint64_t now, const struct greylist_times *t)
{
	MDB_txn			*txn;
	MDB_cursor		*cur;
	MDB_val			 k, d;
	struct greylist_rec	 r;
	long			 n = 0;
	int			 rc;

	if (env == NULL)
		return 0;
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		goto fail;
	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT))
		if (greylist_rec_decode(d.mv_data, d.mv_size, &r) == -1 ||
		    greylist_expired(&r, now, t)) {
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				break;
			n++;
		}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	return n;
fail:
	log_warn("event=greylist-error reason=\"%s\"", mdb_strerror(rc));
	return -1;
}
