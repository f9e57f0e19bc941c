/*
 * maildir.c - Maildir delivery: mailbox paths from the config template,
 * directory creation, unique file names in tmp/, the copy from the spool
 * file with CRLF turned into LF, the rename into new/, and the sweep of
 * the tmp/ files that a crash left behind.
 * Runs in the deliver process, as the one mail user that owns all
 * mailboxes.  No fsync here: the caller batches syncs of files and of new/.
 *
 * Trust: the template comes from the config (trusted); the local part and
 * domain come from a recipient a peer chose, so each must be one safe path
 * component before it reaches a path.  Files are created with O_EXCL and
 * O_NOFOLLOW, so a planted name or symlink in tmp/ is never written
 * through.  The message bytes are copied as they are, except line ends.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "deliver/maildir.h"
#include "lib/util.h"

#define COPY_BLOCK	(64 * 1024)
#define CREATE_TRIES	5
#define SWEEP_COMPS	32	/* template components below the fixed part */

struct sweep {
	char		*comp[SWEEP_COMPS];	/* into a copy of the template */
	size_t		 ncomp;
	time_t		 cutoff;
	unsigned	 removed;
};

/* Per-process part of unique names ("Q<n>"); atomic for worker threads. */
static atomic_ulong	 name_counter;
static long		 cached_pid;	/* set once with the host name */

static bool	 is_safe_component(const char *);
static int	 put(char *, size_t, size_t *, const char *, size_t);
static int	 mkdir_ok(const char *, mode_t);
static int	 mkdir_parents(char *);
static void	 host_part(char *, size_t);
static void	 host_part_compute(char *, size_t);
static int	 make_name(char *, size_t, const char *);
static int	 create_in(int, const char *, const char *, char *, size_t);
static int	 commit_in(int, const char *, int, const char *, const char *,
		    off_t);
static void	 abort_in(int, const char *, const char *);
static char	*lf_block(char *, size_t, bool *, size_t *);
static int	 copy_prefix(int, const char *, char *, bool *, uint64_t *);
static int	 copy_body(int, int, char *, bool *, uint64_t *);
static ssize_t	 copy_end(int, char *, uint64_t);
static bool	 is_pattern(const char *);
static char	*unescape(char *);
static bool	 match(const char *, const char *);
static void	 sweep_tmp(struct sweep *, int);
static void	 sweep_level(struct sweep *, int, size_t);

/*
 * maildir_path - expand the mailbox template into out.  Returns 0, or -1
 * with errno EINVAL (unsafe component, bad '%' sequence) or ENAMETOOLONG
 * (out too small).
 */
int
maildir_path(const char *tmpl, const char *local, const char *domain,
    char *out, size_t outsz)
{
	size_t	 n = 0;

	if (!is_safe_component(local) || !is_safe_component(domain)) {
		errno = EINVAL;
		return -1;
	}
	for (const char *p = tmpl; *p != '\0'; p++) {
		const char	*ins;

		if (*p != '%') {
			ins = p;
			if (put(out, outsz, &n, ins, 1) == -1)
				return -1;
			continue;
		}
		switch (*++p) {
		case 'd':
			ins = domain;
			break;
		case 'u':
			ins = local;
			break;
		case '%':
			ins = "%";
			break;
		default:		/* also a '%' ending the template */
			errno = EINVAL;
			return -1;
		}
		if (put(out, outsz, &n, ins, strlen(ins)) == -1)
			return -1;
	}
	if (n >= outsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	out[n] = '\0';
	return 0;
}

/* is_safe_component - not empty, no '/', no leading '.', no control byte. */
static bool
is_safe_component(const char *s)
{
	if (s == NULL || s[0] == '\0' || s[0] == '.')
		return false;
	for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++)
		if (*c == '/' || *c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

/* put - append s[0..len) at out[*n], keeping room for the NUL. */
static int
put(char *out, size_t outsz, size_t *n, const char *s, size_t len)
{
	if (outsz == 0 || len >= outsz - *n) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out + *n, s, len);
	*n += len;
	return 0;
}

/*
 * maildir_prepare - mkdir -p for dir (parents 0755), then dir, tmp, new,
 * cur at 0700 (less the umask).  Existing directories are fine and keep
 * their modes.  Returns 0 or -1 with errno.
 */
int
maildir_prepare(const char *dir)
{
	static const char *const subdirs[] = { "tmp", "new", "cur" };
	char	 path[PATH_MAX];
	size_t	 len;

	if ((len = str_copy(path, dir, sizeof(path))) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	if (len == 0) {
		errno = ENOENT;
		return -1;
	}
	if (mkdir_parents(path) == -1 || mkdir_ok(path, 0700) == -1)
		return -1;
	for (size_t i = 0; i < NELEM(subdirs); i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, subdirs[i]) >=
		    (int)sizeof(path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (mkdir_ok(path, 0700) == -1)
			return -1;
	}
	return 0;
}

static int
mkdir_ok(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

/* mkdir_parents - make every ancestor of path (0755); path is restored. */
static int
mkdir_parents(char *path)
{
	for (char *s = path + 1; (s = strchr(s, '/')) != NULL; s++) {
		if (s[-1] == '/')
			continue;
		*s = '\0';
		if (mkdir_ok(path, 0755) == -1) {
			*s = '/';
			return -1;
		}
		*s = '/';
	}
	return 0;
}

/*
 * maildir_create - open DIR/tmp/NAME with a fresh name; see maildir.h.
 * A name clash (EEXIST) is retried with a new name a few times; other
 * errors are returned at once.
 */
int
maildir_create(const char *dir, char *name, size_t namesz)
{
	return maildir_create_tagged(dir, NULL, name, namesz);
}

/* maildir_create_tagged - the same, with "I<tag>" in the unique part. */
int
maildir_create_tagged(const char *dir, const char *tag, char *name,
    size_t namesz)
{
	char	 tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s/tmp/", dir) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return create_in(AT_FDCWD, tmp, tag, name, namesz);
}

/* maildir_create_at - see maildir.h. */
int
maildir_create_at(int tmpfd, const char *tag, char *name, size_t namesz)
{
	return create_in(tmpfd, "", tag, name, namesz);
}

/* create_in - a fresh name in dfd/<at><name>; at is "" or "DIR/tmp/". */
static int
create_in(int dfd, const char *at, const char *tag, char *name,
    size_t namesz)
{
	char	 path[PATH_MAX];
	int	 fd;

	for (int i = 0; i < CREATE_TRIES; i++) {
		if (make_name(name, namesz, tag) == -1)
			return -1;
		if (snprintf(path, sizeof(path), "%s%s", at, name) >=
		    (int)sizeof(path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = openat(dfd, path, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd != -1 || errno != EEXIST)
			return fd;
	}
	return -1;
}

/* maildir_has_tag - is a message named with "I<tag>." in new/ or cur/?
 * Only used after a crash, to keep a delivery from happening twice. */
bool
maildir_has_tag(const char *dir, const char *tag)
{
	static const char	*subs[] = { "new", "cur" };
	char			 path[PATH_MAX], needle[MAILDIR_NAME_MAX];
	bool			 found = false;

	snprintf(needle, sizeof(needle), "I%s.", tag);
	for (size_t i = 0; i < 2 && !found; i++) {
		DIR		*d;
		struct dirent	*de;

		snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
		if ((d = opendir(path)) == NULL)
			continue;
		while (!found && (de = readdir(d)) != NULL)
			found = strstr(de->d_name, needle) != NULL;
		closedir(d);
	}
	return found;
}

/* make_name - "<sec>.M<usec>P<pid>Q<n>[I<tag>].<host>", the Maildir
 * convention; the tag names the queue id and recipient. */
static int
make_name(char *name, size_t namesz, const char *tag)
{
	char		 host[MAILDIR_NAME_MAX];
	struct timeval	 tv;
	unsigned long	 q = atomic_fetch_add(&name_counter, 1);
	int		 n;

	host_part(host, sizeof(host));		/* sets cached_pid too */
	gettimeofday(&tv, NULL);
	n = snprintf(name, namesz, "%lld.M%ldP%ldQ%lu%s%s.%s",
	    (long long)tv.tv_sec, (long)tv.tv_usec, cached_pid, q,
	    tag != NULL ? "I" : "", tag != NULL ? tag : "", host);
	if (n < 0 || (size_t)n >= namesz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * host_part - the host name with '/' and ':' written as "\057" and
 * "\072", as Maildir readers expect (':' starts the info part of a name).
 */
static char		 cached_host[MAILDIR_NAME_MAX];
static pthread_once_t	 host_once = PTHREAD_ONCE_INIT;

static void
host_init(void)
{
	host_part_compute(cached_host, sizeof(cached_host));
	cached_pid = (long)getpid();
}

/* host_part - the escaped host name, looked up once per process. */
static void
host_part(char *out, size_t outsz)
{
	pthread_once(&host_once, host_init);
	str_copy(out, cached_host, outsz);
}

static void
host_part_compute(char *out, size_t outsz)
{
	char	 host[256];
	size_t	 n = 0;

	if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
		str_copy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	for (const char *h = host; *h != '\0' && n + 5 <= outsz; h++) {
		if (*h == '/' || *h == ':') {
			snprintf(out + n, outsz - n, "\\%03o",
			    (unsigned)(unsigned char)*h);
			n += 4;
		} else
			out[n++] = *h;
	}
	out[n] = '\0';
}

/*
 * maildir_copy - prefix, then the whole of in_fd read with pread from
 * offset 0 in 64 KiB blocks, with CRLF turned into LF (a lone CR is kept).
 * The two are one stream for line ends.  Short writes and EINTR are
 * retried.  Returns the bytes written, or -1 with errno.
 */
ssize_t
maildir_copy(int out_fd, int in_fd, const char *prefix)
{
	char		*blk = xmalloc(COPY_BLOCK + 1);
	bool		 cr = false;
	uint64_t	 total = 0;
	int		 rv;

	rv = copy_prefix(out_fd, prefix != NULL ? prefix : "", blk, &cr,
	    &total);
	if (rv == 0)
		rv = copy_body(out_fd, in_fd, blk, &cr, &total);
	if (rv == 0 && cr && (rv = util_write_all(out_fd, "\r", 1)) == 0)
		total++;
	return copy_end(rv, blk, total);
}

/* copy_end - free blk (errno kept); -1, or total as a ssize_t. */
static ssize_t
copy_end(int rv, char *blk, uint64_t total)
{
	int	 saved = errno;

	free(blk);
	errno = saved;
	if (rv == -1)
		return -1;
	if (total > SSIZE_MAX) {
		errno = EOVERFLOW;
		return -1;
	}
	return (ssize_t)total;
}

/*
 * maildir_write - the same as maildir_copy for a message already in
 * memory: prefix and data go through the line-end change into one buffer
 * and out with one write.
 */
ssize_t
maildir_write(int out_fd, const char *prefix, const char *data, size_t len)
{
	size_t	 plen = prefix != NULL ? strlen(prefix) : 0, outlen, all;
	char	*blk, *p;
	bool	 cr = false;
	int	 rv;

	if (ckd_add(&all, plen, len) || ckd_add(&all, all, (size_t)2)) {
		errno = EOVERFLOW;
		return -1;
	}
	blk = xmalloc(all);		/* room before and after the bytes */
	if (plen > 0)
		memcpy(blk + 1, prefix, plen);
	if (len > 0)
		memcpy(blk + 1 + plen, data, len);
	p = lf_block(blk, plen + len, &cr, &outlen);
	if (cr)
		p[outlen++] = '\r';	/* a lone CR at the very end */
	rv = util_write_all(out_fd, p, outlen);
	return copy_end(rv, blk, outlen);
}

static int
copy_prefix(int out_fd, const char *prefix, char *blk, bool *cr,
    uint64_t *total)
{
	size_t	 left = strlen(prefix), n, outlen;
	char	*p;

	while (left > 0) {
		n = MIN(left, (size_t)COPY_BLOCK);
		memcpy(blk + 1, prefix, n);
		prefix += n;
		left -= n;
		p = lf_block(blk, n, cr, &outlen);
		if (util_write_all(out_fd, p, outlen) == -1)
			return -1;
		*total += outlen;
	}
	return 0;
}

static int
copy_body(int out_fd, int in_fd, char *blk, bool *cr, uint64_t *total)
{
	off_t	 off = 0;
	ssize_t	 got;
	size_t	 outlen;
	char	*p;

	for (;;) {
		got = pread(in_fd, blk + 1, COPY_BLOCK, off);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1)
			return -1;
		if (got == 0)
			return 0;
		off += got;
		p = lf_block(blk, (size_t)got, cr, &outlen);
		if (util_write_all(out_fd, p, outlen) == -1)
			return -1;
		*total += outlen;
	}
}

/*
 * lf_block - turn CRLF into LF in place in b[1..1+n).  b[0] is room for a
 * CR held back from the previous block (*cr) that turned out to be lone.
 * A CR ending this block is held back in turn.  Returns where the output
 * starts; its length goes to *outlen.
 */
static char *
lf_block(char *b, size_t n, bool *cr, size_t *outlen)
{
	char	*start = b + 1, *r = b + 1, *w = b + 1, *end = b + 1 + n;
	char	*c;

	if (*cr && (n == 0 || *r != '\n')) {
		*b = '\r';
		start = b;
	}
	*cr = false;
	while (r < end) {
		c = memchr(r, '\r', (size_t)(end - r));
		if (c == NULL)
			c = end;
		if (w != r)
			memmove(w, r, (size_t)(c - r));
		w += c - r;
		if (c == end)
			break;
		r = c + 1;
		if (r == end)
			*cr = true;
		else if (*r != '\n')
			*w++ = '\r';
	}
	*outlen = (size_t)(w - start);
	return start;
}

/*
 * maildir_commit - rename DIR/tmp/NAME to DIR/new/NAME,S=size (no ",S="
 * part when size is negative).  Returns 0 or -1 with errno.
 */
int
maildir_commit(const char *dir, const char *name, off_t size)
{
	char	 from[PATH_MAX], to[PATH_MAX];

	if (snprintf(from, sizeof(from), "%s/tmp/", dir) >= (int)sizeof(from)
	    || snprintf(to, sizeof(to), "%s/new/", dir) >= (int)sizeof(to)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return commit_in(AT_FDCWD, from, AT_FDCWD, to, name, size);
}

/* maildir_commit_at - see maildir.h. */
int
maildir_commit_at(int tmpfd, int newfd, const char *name, off_t size)
{
	return commit_in(tmpfd, "", newfd, "", name, size);
}

/* commit_in - the rename from fromfd/<from>NAME to tofd/<to>NAME[,S=]. */
static int
commit_in(int fromfd, const char *from, int tofd, const char *to,
    const char *name, off_t size)
{
	char	 src[PATH_MAX], dst[PATH_MAX];
	int	 n;

	if (!is_safe_component(name)) {
		errno = EINVAL;
		return -1;
	}
	if (size >= 0)
		n = snprintf(dst, sizeof(dst), "%s%s,S=%lld", to, name,
		    (long long)size);
	else
		n = snprintf(dst, sizeof(dst), "%s%s", to, name);
	if (n < 0 || (size_t)n >= sizeof(dst) ||
	    snprintf(src, sizeof(src), "%s%s", from, name) >=
	    (int)sizeof(src)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return renameat(fromfd, src, tofd, dst);
}

/* maildir_abort - unlink DIR/tmp/NAME; errno is left as the caller had it. */
void
maildir_abort(const char *dir, const char *name)
{
	char	 at[PATH_MAX];

	if (snprintf(at, sizeof(at), "%s/tmp/", dir) < (int)sizeof(at))
		abort_in(AT_FDCWD, at, name);
}

/* maildir_abort_at - see maildir.h. */
void
maildir_abort_at(int tmpfd, const char *name)
{
	abort_in(tmpfd, "", name);
}

static void
abort_in(int dfd, const char *at, const char *name)
{
	char	 path[PATH_MAX];
	int	 saved = errno;

	if (is_safe_component(name) && snprintf(path, sizeof(path),
	    "%s%s", at, name) < (int)sizeof(path))
		unlinkat(dfd, path, 0);
	errno = saved;
}

/* ---- tmp/ sweeping ---- */

/* is_pattern - does a template component hold %d or %u? */
static bool
is_pattern(const char *c)
{
	for (; *c != '\0'; c++)
		if (c[0] == '%' && c[1] != '\0') {
			if (c[1] == 'd' || c[1] == 'u')
				return true;
			c++;			/* "%%" */
		}
	return false;
}

/* unescape - "%%" to "%" in place. */
static char *
unescape(char *s)
{
	char	*w = s;

	for (const char *r = s; *r != '\0'; r++) {
		if (r[0] == '%' && r[1] == '%')
			r++;
		*w++ = *r;
	}
	*w = '\0';
	return s;
}

/* match - name against a pattern component: "%d" and "%u" stand for one
 * or more bytes, "%%" for '%', anything else for itself.  Templates have
 * a few escapes, so the backtracking stays small. */
static bool
match(const char *pat, const char *name)
{
	for (; *pat != '\0'; pat++, name++) {
		if (pat[0] == '%' && (pat[1] == 'd' || pat[1] == 'u')) {
			size_t	len = strlen(name);

			for (size_t k = 1; k <= len; k++)
				if (match(pat + 2, name + k))
					return true;
			return false;
		}
		if (pat[0] == '%' && pat[1] == '%')
			pat++;
		if (*name != *pat)
			return false;
	}
	return *name == '\0';
}

/* sweep_tmp - the old regular files of dfd/tmp. */
static void
sweep_tmp(struct sweep *s, int dfd)
{
	int		 tfd = openat(dfd, "tmp", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;

	if (tfd == -1)
		return;
	if ((d = fdopendir(tfd)) == NULL) {
		close(tfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    fstatat(tfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		/* Read or written since the cutoff: a delivery may be
		 * under way, or a reader still at it. */
		if (!S_ISREG(st.st_mode) || st.st_atime >= s->cutoff ||
		    st.st_mtime >= s->cutoff)
			continue;
		if (unlinkat(tfd, de->d_name, 0) == 0)
			s->removed++;
	}
	closedir(d);
}

/* sweep_level - component i of the template below dfd. */
static void
sweep_level(struct sweep *s, int dfd, size_t i)
{
	DIR		*d;
	struct dirent	*de;
	int		 fd, dup_fd;

	if (i == s->ncomp) {
		sweep_tmp(s, dfd);
		return;
	}
	if (!is_pattern(s->comp[i])) {
		fd = openat(dfd, s->comp[i], O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (fd != -1) {
			sweep_level(s, fd, i + 1);
			close(fd);
		}
		return;
	}
	if ((dup_fd = dup(dfd)) == -1)
		return;
	if ((d = fdopendir(dup_fd)) == NULL) {
		close(dup_fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !match(s->comp[i], de->d_name))
			continue;
		fd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (fd != -1) {
			sweep_level(s, fd, i + 1);
			close(fd);
		}
	}
	closedir(d);
}

/* maildir_sweep - see maildir.h.  The fixed part is the admin's (it may
 * hold symbolic links); what lies below it is named after peers. */
unsigned
maildir_sweep(const char *tmpl, time_t cutoff)
{
	struct sweep	 s = { .cutoff = cutoff };
	char		*copy = xstrdup(tmpl), *first = NULL, *p, *c;
	const char	*fixed;
	int		 fd;

	for (p = copy; *p != '\0' && first == NULL; ) {
		char	*end = p + strcspn(p, "/"), save = *end;

		*end = '\0';
		if (is_pattern(p))
			first = p;
		*end = save;
		p = *end != '\0' ? end + 1 : end;
	}
	if (first == NULL) {		/* no %u: the config refuses that */
		free(copy);
		return 0;
	}
	if (first > copy)
		first[-1] = '\0';	/* the '/' before it */
	fixed = first == copy ? "." : copy[0] == '\0' ? "/" : unescape(copy);
	for (p = first; (c = strsep(&p, "/")) != NULL; ) {
		if (*c == '\0')
			continue;
		if (s.ncomp == SWEEP_COMPS)
			break;
		s.comp[s.ncomp++] = is_pattern(c) ? c : unescape(c);
	}
	if (s.ncomp < SWEEP_COMPS && (fd = open(fixed, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) != -1) {
		sweep_level(&s, fd, 0);
		close(fd);
	}
	free(copy);
	return s.removed;
}
