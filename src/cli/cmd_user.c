/*
 * cmd_user.c - the "postbote user" verb: add | del | passwd ADDRESS, and
 * list, on the users file the config names ("address:crypt-hash" lines,
 * lookup_tab.c).  The password comes from stdin, never from the command
 * line (argv is visible to every local user); on a terminal it is read
 * twice without echo.  New hashes are yescrypt (crypt_gensalt_rn "$y$").
 *
 * Runs as a short-lived CLI process under the admin's uid.  The file is
 * checked with the server's own loader before it is touched, then
 * replaced atomically: a temporary file in the same directory with the
 * old mode and owner, written, fsynced, renamed over the old one, and the
 * directory fsynced.  Other lines (comments included) are kept as they
 * are.  A running server picks the change up on SIGHUP (reload).
 */
#include <sys/stat.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "mail/addr.h"
#include "lib/buf.h"
#include "cli/cmd_user.h"
#include "common/conf.h"
#include "lib/log.h"
#include "common/lookup_tab.h"
#include "common/proc.h"
#include "mail/sasl.h"
#include "lib/util.h"

#define USERS_FILE_MAX	(64u << 20)	/* as the server reads it */

enum user_op { OP_ADD, OP_DEL, OP_PASSWD, OP_LIST };

static int	 usage(void);
static int	 read_password(char *, size_t);
static int	 read_line(const char *, bool, char *, size_t);
static int	 make_hash(const char *, char *, size_t);
static bool	 is_line_of(const char *, size_t, const char *);
static int	 rewrite(const char *, const struct buf *, enum user_op,
		    const char *, const char *);
static int	 write_atomic(const char *, const struct buf *);

static int
usage(void)
{
	fprintf(stderr, "usage: postbote user [-c FILE] add ADDRESS | "
	    "del ADDRESS | passwd ADDRESS | list\n"
	    "       (the password is read from stdin)\n");
	return 2;
}

/* read_line - one line from stdin, echo off on a terminal.  0 or -1. */
static int
read_line(const char *prompt, bool tty, char *out, size_t outsz)
{
	struct termios	 old, quiet;
	char		*nl;
	int		 rv = 0;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		}
	}
	if (fgets(out, (int)outsz, stdin) == NULL)
		rv = -1;
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (rv == -1)
		return -1;
	if ((nl = strchr(out, '\n')) == NULL && !feof(stdin))
		return -1;			/* longer than the buffer */
	if (nl != NULL)
		*nl = '\0';
	out[strcspn(out, "\r")] = '\0';
	return 0;
}

/* read_password - from stdin: 0, or -1 with a message printed. */
static int
read_password(char *pw, size_t pwsz)
{
	bool	 tty = isatty(STDIN_FILENO);
	char	 again[SASL_PASS_MAX + 2];

	if (read_line("Password: ", tty, pw, pwsz) == -1 ||
	    strlen(pw) > SASL_PASS_MAX) {
		fprintf(stderr, "postbote: no password on stdin, or longer "
		    "than %d bytes\n", SASL_PASS_MAX);
		return -1;
	}
	if (pw[0] == '\0') {
		fprintf(stderr, "postbote: empty password refused\n");
		return -1;
	}
	if (tty && (read_line("Again: ", tty, again, sizeof(again)) == -1 ||
	    strcmp(pw, again) != 0)) {
		explicit_bzero(again, sizeof(again));
		fprintf(stderr, "postbote: the passwords differ\n");
		return -1;
	}
	explicit_bzero(again, sizeof(again));
	return 0;
}

/* make_hash - yescrypt of pw with a fresh salt: 0 or -1. */
static int
make_hash(const char *pw, char *out, size_t outsz)
{
	char			 salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data	*cd = xcalloc(1, sizeof(*cd));
	const char		*h = NULL;

	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) != NULL)
		h = crypt_rn(pw, salt, cd, sizeof(*cd));
	if (h == NULL || h[0] == '*' || str_copy(out, h, outsz) >= outsz) {
		free(cd);
		fprintf(stderr, "postbote: crypt: %s\n", strerror(errno));
		return -1;
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return 0;
}

/* is_line_of - is this users-file line the entry for key (canonical)? */
static bool
is_line_of(const char *line, size_t len, const char *key)
{
	char	 a[ADDR_TEXT_MAX * 2], k[ADDR_TEXT_MAX];
	char	*colon, *s = a, *e;

	if (len >= sizeof(a))
		return false;
	memcpy(a, line, len);
	a[len] = '\0';
	if ((colon = strrchr(a, ':')) == NULL)
		return false;
	*colon = '\0';
	s += strspn(s, " \t");
	for (e = colon; e > s && (e[-1] == ' ' || e[-1] == '\t'); e--)
		e[-1] = '\0';
	return lookup_tab_user_key(s, k, sizeof(k)) == 0 && strcmp(k, key) == 0;
}

/*
 * rewrite - the new file text: every line kept but key's (dropped for
 * del, given the new hash for passwd), plus "key:hash" for add.
 */
static int
rewrite(const char *path, const struct buf *old, enum user_op op,
    const char *key, const char *hash)
{
	struct buf	 out;
	size_t		 off = 0;
	int		 rv;

	buf_init(&out, 0);
	while (off < old->len) {
		const char	*p = old->data + off;
		const char	*nl = memchr(p, '\n', old->len - off);
		size_t		 n = nl != NULL ? (size_t)(nl - p) : old->len - off;

		off += n + (nl != NULL);
		if (!is_line_of(p, n, key)) {
			buf_append(&out, p, n);
			buf_append(&out, "\n", 1);
		} else if (op == OP_PASSWD)
			buf_printf(&out, "%s:%s\n", key, hash);
	}
	if (op == OP_ADD)
		buf_printf(&out, "%s:%s\n", key, hash);
	rv = write_atomic(path, &out);
	buf_free(&out);
	return rv;
}

/* write_atomic - replace path by b: temp file, fsync, rename, fsync dir;
 * the old file's mode and owner are kept (0640 for a new file). */
static int
write_atomic(const char *path, const struct buf *b)
{
	struct stat	 st;
	char		*tmp, *dcopy = xstrdup(path);
	int		 fd, dfd, rv = -1;
	bool		 exists = stat(path, &st) == 0;
	FILE		*f;

	xasprintf(&tmp, "%s.tmpXXXXXX", path);
	if ((fd = mkstemp(tmp)) == -1)
		goto out;
	if (fchmod(fd, exists ? st.st_mode & 07777 : 0640) == -1 ||
	    (exists && fchown(fd, st.st_uid, st.st_gid) == -1) ||
	    (f = fdopen(fd, "w")) == NULL) {
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (fwrite(b->data, 1, b->len, f) != b->len || fflush(f) != 0 ||
	    fsync(fileno(f)) == -1) {
		fclose(f);
		unlink(tmp);
		goto out;
	}
	if (fclose(f) != 0 || rename(tmp, path) == -1) {
		unlink(tmp);
		goto out;
	}
	if ((dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY)) != -1) {
		fsync(dfd);
		close(dfd);
	}
	rv = 0;
out:
	if (rv == -1)
		fprintf(stderr, "postbote: %s: %s\n", path, strerror(errno));
	free(tmp);
	free(dcopy);
	return rv;
}

/* edit - add, del or passwd on a loaded, checked table.  Exit status. */
static int
edit(const struct conf *c, const struct lookup_tab *t, const struct buf *old,
    enum user_op op, const char *address)
{
	char		 key[ADDR_TEXT_MAX], hash[CRYPT_OUTPUT_SIZE];
	char		 pw[SASL_PASS_MAX + 2];
	struct mailaddr	 m;
	int		 rv;

	if (addr_parse(address, ADDR_F_UTF8, &m) != ADDR_OK ||
	    lookup_tab_user_key(address, key, sizeof(key)) == -1) {
		fprintf(stderr, "postbote: %s: not a valid address\n",
		    log_safe(address));
		return 1;
	}
	if (!conf_is_local_domain(c, m.domain)) {
		fprintf(stderr, "postbote: %s: %s is not a local domain\n",
		    log_safe(address), log_safe(m.domain));
		return 1;
	}
	if (op == OP_ADD && lookup_tab_user_addr(t, key) != NULL) {
		fprintf(stderr, "postbote: %s: user already exists\n", key);
		return 1;
	}
	if (op != OP_ADD && lookup_tab_user_addr(t, key) == NULL) {
		fprintf(stderr, "postbote: %s: no such user\n", key);
		return 1;
	}
	if (op != OP_DEL && (read_password(pw, sizeof(pw)) == -1 ||
	    make_hash(pw, hash, sizeof(hash)) == -1)) {
		explicit_bzero(pw, sizeof(pw));
		return 1;
	}
	explicit_bzero(pw, sizeof(pw));
	rv = rewrite(c->users, old, op, key, op != OP_DEL ? hash : NULL);
	if (rv == 0)
		printf("%s: %s\n", key, op == OP_ADD ? "added" :
		    op == OP_DEL ? "deleted" : "password changed");
	return rv == 0 ? 0 : 1;
}

/* load - the users file as text and as a checked table.  Exit status. */
static int
load(const struct conf *c, enum user_op op, struct buf *text,
    struct lookup_tab *t)
{
	char	 err[512];

	if (buf_read_file(text, c->users, USERS_FILE_MAX) == -1) {
		if (errno == ENOENT && op == OP_ADD)
			return 0;	/* the first user makes the file */
		fprintf(stderr, "postbote: %s: %s\n", c->users,
		    strerror(errno));
		return 1;
	}
	if (lookup_tab_users_load(t, c, buf_cstr(text), text->len, c->users,
	    err, sizeof(err)) == -1) {
		fprintf(stderr, "postbote: %s\n", err);
		return 1;
	}
	return 0;
}

int
cmd_user(int argc, char **argv)
{
	static const char *const ops[] = { "add", "del", "passwd", "list" };
	const char		*path = NULL;
	struct conf		 c;
	struct lookup_tab	*t;
	struct buf		 text;
	char			 err[512];
	int			 ch, op = -1, rv;

	while ((ch = getopt(argc, argv, "c:")) != -1) {
		if (ch != 'c')
			return usage();
		path = optarg;
	}
	argc -= optind;
	argv += optind;
	for (int i = 0; argc > 0 && i < (int)NELEM(ops); i++)
		if (strcmp(argv[0], ops[i]) == 0)
			op = i;
	if (op == -1 || argc != (op == OP_LIST ? 1 : 2))
		return usage();
	if (conf_load(path, &c, err, sizeof(err)) == -1) {
		fprintf(stderr, "postbote: %s\n", err);
		return 2;
	}
	if (c.users == NULL) {
		fprintf(stderr, "postbote: %s names no users file\n",
		    c.path != NULL ? c.path : "the embedded configuration");
		conf_free(&c);
		return 1;
	}
	t = lookup_tab_new();
	buf_init(&text, 0);
	if ((rv = load(&c, op, &text, t)) == 0) {
		if (op == OP_LIST)
			for (size_t i = 0; i < lookup_tab_user_count(t); i++)
				printf("%s\n", lookup_tab_user_at(t, i));
		else
			rv = edit(&c, t, &text, op, argv[1]);
	}
	buf_free(&text);
	lookup_tab_free(t);
	conf_free(&c);
	return rv;
}
