/*
 * test_maildir.c - unit tests for Maildir delivery: template expansion and
 * its refusals, directory creation and modes, unique names, the CRLF to
 * LF copy across 64 KiB block boundaries, commit and abort.  Everything
 * happens under a fresh mkdtemp directory that teardown removes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "deliver/maildir.h"

#define BLOCK	(64 * 1024)

struct fixture {
	char	 root[64];
	char	 mbox[256];
};

static int
setup(void **state)
{
	struct fixture	*f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	umask(022);
	snprintf(f->root, sizeof(f->root), "/tmp/test_maildir.XXXXXX");
	if (mkdtemp(f->root) == NULL)
		return -1;
	snprintf(f->mbox, sizeof(f->mbox), "%s/mail/example.com/alice",
	    f->root);
	*state = f;
	return 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	int		 r = nftw(f->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	free(f);
	return r;
}

/* maildir_path */

struct path_case {
	const char	*tmpl, *local, *domain;
	const char	*want;		/* NULL: must fail */
};

static const struct path_case path_cases[] = {
	{ "/var/mail/%d/%u", "alice", "example.com",
	    "/var/mail/example.com/alice" },
	{ "/m/%u/Maildir", "bob", "x.org", "/m/bob/Maildir" },
	{ "/m/100%%/%u", "a", "b", "/m/100%/a" },
	{ "/m/%d%d", "a", "b", "/m/bb" },
	{ "relative/%u", "a+b", "d", "relative/a+b" },
	{ "/m/%u", "caf\xc3\xa9", "d", "/m/caf\xc3\xa9" },
	{ "/m/%x/%u", "a", "d", NULL },
	{ "/m/%u%", "a", "d", NULL },
	{ "/m/%", "a", "d", NULL },
	{ "/m/%u", "../x", "d", NULL },
	{ "/m/%u", "..", "d", NULL },
	{ "/m/%u", ".", "d", NULL },
	{ "/m/%u", ".hidden", "d", NULL },
	{ "/m/%u", "a/b", "d", NULL },
	{ "/m/%u", "", "d", NULL },
	{ "/m/%u", "a\nb", "d", NULL },
	{ "/m/%u", "a\x7f", "d", NULL },
	{ "/m/%d/%u", "a", "../etc", NULL },
	{ "/m/%d/%u", "a", "", NULL },
	{ "/m/%d/%u", "a", "d/e", NULL },
	/* unsafe parts are refused even if the template does not use them */
	{ "/m/fixed", "a/b", "d", NULL },
};

static void
test_path_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]);
	    i++) {
		const struct path_case *c = &path_cases[i];
		char	 out[256];
		int	 r = maildir_path(c->tmpl, c->local, c->domain, out,
		    sizeof(out));

		if (c->want == NULL) {
			if (r != -1)
				fail_msg("case %zu: accepted \"%s\"", i, out);
		} else {
			assert_int_equal(r, 0);
			assert_string_equal(out, c->want);
		}
	}
}

static void
test_path_size(void **state)
{
	char	 out[8];

	(void)state;
	assert_int_equal(maildir_path("/m/%u", "abcd", "d", out, 8), 0);
	assert_string_equal(out, "/m/abcd");
	errno = 0;
	assert_int_equal(maildir_path("/m/%u", "abcde", "d", out, 8), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	assert_int_equal(maildir_path("/m/ab", "a", "d", out, 6), 0);
	assert_int_equal(maildir_path("/m/ab", "a", "d", out, 5), -1);
	assert_int_equal(maildir_path("", "a", "d", out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(maildir_path("", "a", "d", out, 0), -1);
}

/* maildir_prepare */

static void
assert_dir_mode(const char *path, mode_t mode)
{
	struct stat	 st;

	if (stat(path, &st) == -1)
		fail_msg("stat %s: %s", path, strerror(errno));
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, mode);
}

static void
test_prepare(void **state)
{
	struct fixture	*f = *state;
	char		 p[512];

	assert_int_equal(maildir_prepare(f->mbox), 0);
	snprintf(p, sizeof(p), "%s/mail", f->root);
	assert_dir_mode(p, 0755);
	snprintf(p, sizeof(p), "%s/mail/example.com", f->root);
	assert_dir_mode(p, 0755);
	assert_dir_mode(f->mbox, 0700);
	snprintf(p, sizeof(p), "%s/tmp", f->mbox);
	assert_dir_mode(p, 0700);
	snprintf(p, sizeof(p), "%s/new", f->mbox);
	assert_dir_mode(p, 0700);
	snprintf(p, sizeof(p), "%s/cur", f->mbox);
	assert_dir_mode(p, 0700);
	/* again: everything exists, still fine */
	assert_int_equal(maildir_prepare(f->mbox), 0);
	/* trailing slashes and doubled slashes */
	snprintf(p, sizeof(p), "%s//mail//x.org/bob//", f->root);
	assert_int_equal(maildir_prepare(p), 0);
	snprintf(p, sizeof(p), "%s/mail/x.org/bob/new", f->root);
	assert_dir_mode(p, 0700);
}

static void
test_prepare_file_in_the_way(void **state)
{
	struct fixture	*f = *state;
	char		 p[512];
	int		 fd;

	snprintf(p, sizeof(p), "%s/file", f->root);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/file/alice", f->root);
	assert_int_equal(maildir_prepare(p), -1);
	assert_int_equal(errno, ENOTDIR);
	snprintf(p, sizeof(p), "%s/file", f->root);
	assert_int_equal(maildir_prepare(p), -1);
}

/* maildir_create */

/* check_name - "<sec>.M<usec>P<pid>Q<n>.<host>" with digits where due. */
static void
check_name(const char *name)
{
	long long	 sec;
	long		 usec, pid;
	unsigned long	 q;
	int		 end = 0;

	if (sscanf(name, "%lld.M%ldP%ldQ%lu.%n", &sec, &usec, &pid, &q,
	    &end) != 4 || end == 0)
		fail_msg("bad name %s", name);
	assert_true(usec >= 0 && usec < 1000000);
	assert_int_equal(pid, (long)getpid());
	assert_true(name[end] != '\0');
	assert_null(strchr(name, '/'));
	assert_null(strchr(name + end, ':'));
}

static void
test_create_unique(void **state)
{
	struct fixture	*f = *state;
	char		 names[50][MAILDIR_NAME_MAX], p[1024];
	struct stat	 st;

	assert_int_equal(maildir_prepare(f->mbox), 0);
	for (int i = 0; i < 50; i++) {
		int	 fd = maildir_create(f->mbox, names[i],
		    sizeof(names[i]));

		assert_true(fd >= 0);
		check_name(names[i]);
		assert_true(fstat(fd, &st) == 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_WRONLY);
		close(fd);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(names[i], names[j]);
		assert_true(snprintf(p, sizeof(p), "%s/tmp/%s", f->mbox,
		    names[i]) < (int)sizeof(p));
		assert_int_equal(access(p, F_OK), 0);
	}
}

static void
test_create_errors(void **state)
{
	struct fixture	*f = *state;
	char		 name[MAILDIR_NAME_MAX], tiny[8];

	/* no tmp/ yet */
	assert_int_equal(maildir_create(f->mbox, name, sizeof(name)), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(maildir_prepare(f->mbox), 0);
	assert_int_equal(maildir_create(f->mbox, tiny, sizeof(tiny)), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

/* maildir_copy */

static void
write_file(const char *path, const char *data, size_t len)
{
	int	 fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static char *
read_file(const char *path, size_t *len)
{
	struct stat	 st;
	char		*p;
	int		 fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

/* lf - the reference conversion: drop each CR that comes before an LF. */
static size_t
lf(const char *in, size_t n, char *out)
{
	size_t	 w = 0;

	for (size_t i = 0; i < n; i++)
		if (!(in[i] == '\r' && i + 1 < n && in[i + 1] == '\n'))
			out[w++] = in[i];
	return w;
}

/* copy_check - copy body after prefix and compare with the reference. */
static void
copy_check(struct fixture *f, const char *prefix, const char *body,
    size_t blen)
{
	char		 src[512], dst[512], *all, *want, *got;
	size_t		 plen = strlen(prefix), wlen, glen;
	int		 in, out;
	ssize_t		 r;

	snprintf(src, sizeof(src), "%s/spool", f->root);
	snprintf(dst, sizeof(dst), "%s/out", f->root);
	write_file(src, body, blen);
	in = open(src, O_RDONLY);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(in >= 0 && out >= 0);
	/* the read offset must not matter: pread from 0 */
	lseek(in, 17, SEEK_SET);
	r = maildir_copy(out, in, prefix);
	close(in);
	close(out);
	all = malloc(plen + blen + 1);
	want = malloc(plen + blen + 1);
	assert_true(all != NULL && want != NULL);
	memcpy(all, prefix, plen);
	memcpy(all + plen, body, blen);
	wlen = lf(all, plen + blen, want);
	got = read_file(dst, &glen);
	assert_int_equal(r, (ssize_t)wlen);
	assert_int_equal(glen, wlen);
	if (wlen > 0)
		assert_memory_equal(got, want, wlen);
	free(got);
	/* the same message from memory, in one write */
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(out >= 0);
	r = maildir_write(out, prefix, body, blen);
	close(out);
	got = read_file(dst, &glen);
	assert_int_equal(r, (ssize_t)wlen);
	assert_int_equal(glen, wlen);
	if (wlen > 0)
		assert_memory_equal(got, want, wlen);
	free(all);
	free(want);
	free(got);
}

static void
test_copy_simple(void **state)
{
	static const char body[] = "Subject: hi\r\n\r\nline 1\r\nline 2\r\n";

	copy_check(*state, "Return-Path: <a@b.example>\r\n"
	    "Delivered-To: alice@example.com\r\n", body, sizeof(body) - 1);
	copy_check(*state, "", body, sizeof(body) - 1);
	copy_check(*state, "", "", 0);
	copy_check(*state, "X: y\r\n", "", 0);
}

static void
test_copy_exact_output(void **state)
{
	struct fixture	*f = *state;
	static const char body[] = "a\r\nb\rc\r\r\nd\n\r";
	static const char want[] = "P: 1\na\nb\rc\r\nd\n\r";
	char		 src[512], dst[512], *got;
	size_t		 glen;
	int		 in, out;

	snprintf(src, sizeof(src), "%s/spool", f->root);
	snprintf(dst, sizeof(dst), "%s/out", f->root);
	write_file(src, body, sizeof(body) - 1);
	in = open(src, O_RDONLY);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(maildir_copy(out, in, "P: 1\r\n"),
	    (ssize_t)sizeof(want) - 1);
	close(in);
	close(out);
	got = read_file(dst, &glen);
	assert_int_equal(glen, sizeof(want) - 1);
	assert_memory_equal(got, want, glen);
	free(got);
	/* from memory: the lone CR at the very end is kept too */
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(maildir_write(out, "P: 1\r\n", body,
	    sizeof(body) - 1), (ssize_t)sizeof(want) - 1);
	close(out);
	got = read_file(dst, &glen);
	assert_int_equal(glen, sizeof(want) - 1);
	assert_memory_equal(got, want, glen);
	free(got);
	assert_int_equal(maildir_write(-1, "", "x", 1), -1);
}

/* Line ends placed on and around every 64 KiB block boundary. */
static void
test_copy_block_boundaries(void **state)
{
	static const long offsets[] = { -2, -1, 0, 1 };
	size_t		 len = 3 * BLOCK + 100;
	char		*body = malloc(len);

	assert_non_null(body);
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		memset(body, 'x', len);
		for (size_t b = 1; b <= 3; b++) {
			size_t	 at = b * BLOCK + (size_t)offsets[i];

			body[at] = '\r';	/* CRLF across or near */
			body[at + 1] = '\n';
		}
		copy_check(*state, "H: v\r\n", body, len);
		/* lone CRs on the boundary */
		for (size_t b = 1; b <= 3; b++)
			body[b * BLOCK + (size_t)offsets[i] + 1] = 'y';
		copy_check(*state, "H: v\r\n", body, len);
	}
	/* exactly one block, ending in CR: kept as a lone CR */
	memset(body, 'z', BLOCK);
	body[BLOCK - 1] = '\r';
	copy_check(*state, "", body, BLOCK);
	/* exactly one block, ending in CRLF split by the block */
	body[BLOCK - 2] = '\r';
	body[BLOCK - 1] = '\n';
	copy_check(*state, "", body, BLOCK);
	free(body);
}

/* A prefix ending in CR whose LF is the body's first byte. */
static void
test_copy_prefix_cr_body_lf(void **state)
{
	copy_check(*state, "A: b\r", "\nbody\r\n", 7);
	copy_check(*state, "A: b\r", "body\r\n", 6);
}

static void
test_copy_all_crlf(void **state)
{
	size_t	 len = 2 * BLOCK + 3;
	char	*body = malloc(len);

	assert_non_null(body);
	for (size_t i = 0; i < len; i++)
		body[i] = (i % 2 == 0) ? '\r' : '\n';
	copy_check(*state, "", body, len);
	memset(body, '\r', len);
	copy_check(*state, "", body, len);
	free(body);
}

static void
test_copy_errors(void **state)
{
	struct fixture	*f = *state;
	char		 src[512];
	int		 in, out[2];

	snprintf(src, sizeof(src), "%s/spool", f->root);
	write_file(src, "a\r\n", 3);
	in = open(src, O_RDONLY);
	assert_true(in >= 0);
	errno = 0;
	assert_int_equal(maildir_copy(-1, in, "P: x\r\n"), -1);
	assert_int_equal(errno, EBADF);
	/* a pipe cannot be read with pread */
	assert_int_equal(pipe(out), 0);
	assert_int_equal(maildir_copy(in, out[0], ""), -1);
	assert_int_equal(errno, ESPIPE);
	close(out[0]);
	close(out[1]);
	close(in);
}

/* maildir_commit, maildir_abort */

static void
test_commit(void **state)
{
	struct fixture	*f = *state;
	char		 name[MAILDIR_NAME_MAX], p[1024];
	int		 fd;

	assert_int_equal(maildir_prepare(f->mbox), 0);
	fd = maildir_create(f->mbox, name, sizeof(name));
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x\n", 2), 2);
	close(fd);
	assert_int_equal(maildir_commit(f->mbox, name, 2), 0);
	snprintf(p, sizeof(p), "%s/tmp/%s", f->mbox, name);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof(p), "%s/new/%s,S=2", f->mbox, name);
	assert_int_equal(access(p, F_OK), 0);

	fd = maildir_create(f->mbox, name, sizeof(name));
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(maildir_commit(f->mbox, name, -1), 0);
	snprintf(p, sizeof(p), "%s/new/%s", f->mbox, name);
	assert_int_equal(access(p, F_OK), 0);

	/* gone already, and unsafe names */
	assert_int_equal(maildir_commit(f->mbox, name, 1), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(maildir_commit(f->mbox, "../new/x", 1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(maildir_commit(f->mbox, ".x", 1), -1);
}

static void
test_abort(void **state)
{
	struct fixture	*f = *state;
	char		 name[MAILDIR_NAME_MAX], p[1024];
	int		 fd;

	assert_int_equal(maildir_prepare(f->mbox), 0);
	fd = maildir_create(f->mbox, name, sizeof(name));
	assert_true(fd >= 0);
	close(fd);
	errno = ENOSPC;
	maildir_abort(f->mbox, name);
	assert_int_equal(errno, ENOSPC);
	snprintf(p, sizeof(p), "%s/tmp/%s", f->mbox, name);
	assert_int_equal(access(p, F_OK), -1);
	/* again, and an unsafe name: nothing happens */
	errno = EIO;
	maildir_abort(f->mbox, name);
	maildir_abort(f->mbox, "../new");
	assert_int_equal(errno, EIO);
	snprintf(p, sizeof(p), "%s/new", f->mbox);
	assert_int_equal(access(p, F_OK), 0);
}

/* maildir_create_at, maildir_commit_at, maildir_abort_at: the same
 * through open tmp/ and new/ descriptors */
static void
test_at(void **state)
{
	struct fixture	*f = *state;
	char		 name[MAILDIR_NAME_MAX], p[1024];
	int		 fd, tmp, new;

	assert_int_equal(maildir_prepare(f->mbox), 0);
	snprintf(p, sizeof(p), "%s/tmp", f->mbox);
	tmp = open(p, O_RDONLY | O_DIRECTORY);
	snprintf(p, sizeof(p), "%s/new", f->mbox);
	new = open(p, O_RDONLY | O_DIRECTORY);
	assert_true(tmp >= 0 && new >= 0);
	fd = maildir_create_at(tmp, "ABC_1", name, sizeof(name));
	assert_true(fd >= 0);
	assert_non_null(strstr(name, "IABC_1."));
	assert_int_equal(write(fd, "x\n", 2), 2);
	close(fd);
	assert_int_equal(maildir_commit_at(tmp, new, name, 2), 0);
	snprintf(p, sizeof(p), "%s/new/%s,S=2", f->mbox, name);
	assert_int_equal(access(p, F_OK), 0);
	assert_true(maildir_has_tag(f->mbox, "ABC_1"));
	assert_int_equal(maildir_commit_at(tmp, new, name, 2), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(maildir_commit_at(tmp, new, "../x", 2), -1);
	assert_int_equal(errno, EINVAL);

	fd = maildir_create_at(tmp, NULL, name, sizeof(name));
	assert_true(fd >= 0);
	close(fd);
	errno = EIO;
	maildir_abort_at(tmp, name);
	assert_int_equal(errno, EIO);
	snprintf(p, sizeof(p), "%s/tmp/%s", f->mbox, name);
	assert_int_equal(access(p, F_OK), -1);
	close(tmp);
	close(new);
}

/* maildir_sweep */

/* make_file - root/rel with a few bytes, its times age seconds ago. */
static void
make_file(const char *root, const char *rel, time_t age)
{
	char		 p[1024];
	struct timespec	 ts[2];
	int		 fd;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x\n", 2), 2);
	close(fd);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= age;
	ts[1] = ts[0];
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static bool
exists(const char *root, const char *rel)
{
	char	p[1024];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return access(p, F_OK) == 0;
}

#define OLD	(40 * 3600)

/* Old tmp/ files of every mailbox go; fresh ones, new/ and cur/, files
 * outside tmp/ and what lies behind a symbolic link stay. */
static void
test_sweep(void **state)
{
	struct fixture	*f = *state;
	char		 tmpl[512], box[512], p[1024], q[1024];
	time_t		 cutoff = time(NULL) - 36 * 3600;

	snprintf(box, sizeof(box), "%s/mail/example.org/bob", f->root);
	assert_int_equal(maildir_prepare(f->mbox), 0);
	assert_int_equal(maildir_prepare(box), 0);
	make_file(f->root, "mail/example.com/alice/tmp/old1", OLD);
	make_file(f->root, "mail/example.com/alice/tmp/new1", 60);
	make_file(f->root, "mail/example.com/alice/new/old2", OLD);
	make_file(f->root, "mail/example.com/alice/old3", OLD);
	make_file(f->root, "mail/example.org/bob/tmp/old4", OLD);
	make_file(f->root, "mail/example.org/bob/tmp/old5", OLD);
	/* a mailbox that is a link elsewhere is not entered */
	snprintf(p, sizeof(p), "%s/elsewhere", f->root);
	assert_int_equal(maildir_prepare(p), 0);
	make_file(f->root, "elsewhere/tmp/old6", OLD);
	snprintf(q, sizeof(q), "%s/mail/example.org/link", f->root);
	assert_int_equal(symlink(p, q), 0);
	/* a link in tmp/ is not a regular file */
	snprintf(q, sizeof(q), "%s/mail/example.org/bob/tmp/link", f->root);
	assert_int_equal(symlink(p, q), 0);
	snprintf(tmpl, sizeof(tmpl), "%s/mail/%%d/%%u", f->root);
	assert_int_equal(maildir_sweep(tmpl, cutoff), 3);
	assert_false(exists(f->root, "mail/example.com/alice/tmp/old1"));
	assert_false(exists(f->root, "mail/example.org/bob/tmp/old4"));
	assert_false(exists(f->root, "mail/example.org/bob/tmp/old5"));
	assert_true(exists(f->root, "mail/example.com/alice/tmp/new1"));
	assert_true(exists(f->root, "mail/example.com/alice/new/old2"));
	assert_true(exists(f->root, "mail/example.com/alice/old3"));
	assert_true(exists(f->root, "elsewhere/tmp/old6"));
	assert_true(exists(f->root, "mail/example.org/bob/tmp/link"));
	assert_int_equal(maildir_sweep(tmpl, cutoff), 0);
}

/* Templates with fixed parts after the patterns, inside a component, and
 * relative ones; a template that names nothing existing is fine. */
static void
test_sweep_templates(void **state)
{
	struct fixture	*f = *state;
	char		 tmpl[512], box[512], cwd[1024];
	time_t		 cutoff = time(NULL) - 36 * 3600;

	snprintf(box, sizeof(box), "%s/home/bob.example.org/Maildir", f->root);
	assert_int_equal(maildir_prepare(box), 0);
	make_file(f->root, "home/bob.example.org/Maildir/tmp/old", OLD);
	snprintf(tmpl, sizeof(tmpl), "%s/home/%%u.other/Maildir", f->root);
	assert_int_equal(maildir_sweep(tmpl, cutoff), 0);
	snprintf(tmpl, sizeof(tmpl), "%s/nothing/%%d/%%u", f->root);
	assert_int_equal(maildir_sweep(tmpl, cutoff), 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->root), 0);
	assert_int_equal(maildir_sweep("home/%u.%d/Maildir", cutoff), 1);
	assert_int_equal(chdir(cwd), 0);
	assert_false(exists(f->root, "home/bob.example.org/Maildir/tmp/old"));
	assert_true(exists(f->root, "home/bob.example.org/Maildir/tmp"));
}

int
main(void)
{
#define TEST(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_table),
		cmocka_unit_test(test_path_size),
		TEST(test_prepare),
		TEST(test_prepare_file_in_the_way),
		TEST(test_create_unique),
		TEST(test_create_errors),
		TEST(test_copy_simple),
		TEST(test_copy_exact_output),
		TEST(test_copy_block_boundaries),
		TEST(test_copy_prefix_cr_body_lf),
		TEST(test_copy_all_crlf),
		TEST(test_copy_errors),
		TEST(test_commit),
		TEST(test_abort),
		TEST(test_at),
		TEST(test_sweep),
		TEST(test_sweep_templates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
