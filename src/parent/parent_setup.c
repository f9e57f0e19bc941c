/*
 * parent_setup.c - the parent's work before the children exist and at
 * each reload (parent_setup.h): the config, its tables and its [dkim]
 * keys read and checked, the state directories, the listeners, the user.
 * Runs as root when started so; reads only the admin's files, every one
 * still parsed strictly with file:line errors.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/dkim_keys.h"
#include "common/lookup_tab.h"
#include "common/sandbox.h"
#include "common/tls.h"
#include "lib/log.h"
#include "lib/util.h"
#include "parent/parent_setup.h"

#define TABLE_MAX	(64 << 20)	/* bytes of a users or aliases file */

/*
 * needs_restart - what a reload cannot change: the bound listeners (smtpd
 * has the sockets), state_dir and user.  true, with the reason in err.
 */
static bool
needs_restart(const struct conf *o, const struct conf *n, char *err,
    size_t errlen)
{
	bool	same = o->nlistens == n->nlistens &&
	    strcmp(o->state_dir, n->state_dir) == 0 &&
	    strcmp(o->user, n->user) == 0 &&
	    strcmp(o->smtpd_user, n->smtpd_user) == 0;

	for (size_t i = 0; same && i < o->nlistens; i++)
		same = strcmp(o->listens[i].name, n->listens[i].name) == 0 &&
		    strcmp(o->listens[i].host, n->listens[i].host) == 0 &&
		    o->listens[i].port == n->listens[i].port &&
		    o->listens[i].mode == n->listens[i].mode;
	if (!same)
		snprintf(err, errlen, "listeners, state_dir, user or "
		    "smtpd_user changed: these need a restart");
	return !same;
}

/* read_tables - the users and aliases files nc names into ut and at,
 * checked by loading them; -1 with err set. */
static int
read_tables(const struct conf *nc, struct buf *ut, struct buf *at,
    char *err, size_t errlen)
{
	struct lookup_tab	*t = lookup_tab_new();
	int			 rc = -1;

	if (nc->users != NULL && (buf_read_file(ut, nc->users, TABLE_MAX) ==
	    -1 || lookup_tab_users_load(t, nc, buf_cstr(ut), ut->len,
	    nc->users, err, errlen) == -1)) {
		if (errno != 0 && ut->len == 0)
			snprintf(err, errlen, "%s: %s", nc->users,
			    strerror(errno));
		goto done;
	}
	if (nc->aliases != NULL && (buf_read_file(at, nc->aliases, TABLE_MAX) ==
	    -1 || lookup_tab_aliases_load(t, nc, buf_cstr(at), at->len,
	    nc->aliases, err, errlen) == -1)) {
		if (errno != 0 && at->len == 0)
			snprintf(err, errlen, "%s: %s", nc->aliases,
			    strerror(errno));
		goto done;
	}
	rc = 0;
done:
	lookup_tab_free(t);
	return rc;
}

/* load_texts - the config nc names and what it names into n; -1 with err
 * set and *result the word the reload's log line gets. */
static int
load_texts(const struct conf *nc, struct parent_texts *n,
    const char **result, char *err, size_t errlen)
{
	*result = "refused";
	if (tls_check_conf(nc, err, errlen) == -1)
		return -1;
	if (nc->path != NULL && buf_read_file(&n->conf, nc->path, 1 << 20) ==
	    -1) {
		snprintf(err, errlen, "%s: %s", nc->path, strerror(errno));
		return -1;
	}
	if (read_tables(nc, &n->users, &n->aliases, err, errlen) == -1)
		return -1;
	if (config != NULL && needs_restart(config, nc, err, errlen))
		return -1;
	/* Read as root, as the TLS keys are: smtpd and queue get them. */
	*result = "failed";
	return dkim_keys_read(nc, &n->dkim, err, errlen);
}

/* load - parent_setup_load, and the old config and texts kept in prev
 * when it is not NULL; the reason in err. */
static int
load(const char *path, struct parent_texts *texts, struct parent_prev *prev,
    char *err, size_t errlen)
{
	struct conf		*nc = xcalloc(1, sizeof(*nc));
	struct parent_texts	 n;
	const char		*result = "refused";

	memset(&n, 0, sizeof(n));
	buf_init(&n.conf, 0);
	buf_init(&n.users, 0);
	buf_init(&n.aliases, 0);
	buf_init(&n.dkim, 0);
	if (conf_load(path, nc, err, errlen) == -1) {
		free(nc);
		nc = NULL;
	} else if (load_texts(nc, &n, &result, err, errlen) == 0) {
		if (prev != NULL) {
			prev->config = config;
			prev->texts = *texts;
		} else {
			if (config != NULL) {
				conf_free(config);
				free(config);
			}
			parent_setup_free_texts(texts);
		}
		config = nc;
		*texts = n;
		return 0;
	}
	if (config == NULL)
		fprintf(stderr, "postbote: %s\n", err);
	else
		log_warn("event=reload result=%s reason=\"%s\"", result,
		    log_safe(err));
	if (nc != NULL) {
		conf_free(nc);
		free(nc);
	}
	parent_setup_free_texts(&n);
	return -1;
}

/* parent_setup_load - see parent_setup.h. */
int
parent_setup_load(const char *path, struct parent_texts *texts)
{
	char	err[2048];

	return load(path, texts, NULL, err, sizeof(err));
}

/* parent_setup_reload - see parent_setup.h. */
int
parent_setup_reload(const char *path, struct parent_texts *texts,
    struct parent_prev *prev, char *err, size_t errlen)
{
	memset(prev, 0, sizeof(*prev));
	return load(path, texts, prev, err, errlen);
}

/* parent_setup_restore - see parent_setup.h. */
void
parent_setup_restore(struct parent_texts *texts, struct parent_prev *prev)
{
	if (prev->config == NULL)
		return;
	conf_free(config);
	free(config);
	parent_setup_free_texts(texts);
	config = prev->config;
	*texts = prev->texts;
	memset(prev, 0, sizeof(*prev));
}

/* parent_setup_forget - see parent_setup.h. */
void
parent_setup_forget(struct parent_prev *prev)
{
	if (prev->config == NULL)
		return;
	conf_free(prev->config);
	free(prev->config);
	parent_setup_free_texts(&prev->texts);
	memset(prev, 0, sizeof(*prev));
}

/* parent_setup_free_texts - see parent_setup.h. */
void
parent_setup_free_texts(struct parent_texts *t)
{
	buf_free(&t->conf);
	buf_free(&t->users);
	buf_free(&t->aliases);
	dkim_keys_wipe(&t->dkim);
}

/* value_path - the first word after "=" on line [p, e) as the config
 * would read it (made absolute) into out; its key into key.  -1 when
 * the line is no setting. */
static int
value_path(const char *p, const char *e, char *key, size_t keylen,
    char *out, size_t outlen)
{
	const char	*eq = memchr(p, '=', (size_t)(e - p)), *k = p, *v;
	size_t		 kl, vl;

	while (k < e && (*k == ' ' || *k == '\t'))
		k++;
	if (eq == NULL || *k == '#' || *k == '[')
		return -1;
	for (kl = 0; k + kl < eq && k[kl] != ' ' && k[kl] != '\t'; kl++)
		;
	for (v = eq + 1; v < e && (*v == ' ' || *v == '\t'); v++)
		;
	for (vl = 0; v + vl < e && v[vl] != ' ' && v[vl] != '\t' &&
	    v[vl] != '\r'; vl++)
		;
	snprintf(key, keylen, "%.*s", (int)kl, k);
	if (vl > 0 && *v == '/')
		snprintf(out, outlen, "%.*s", (int)vl, v);
	else
		snprintf(out, outlen, "%s/%.*s", conf_base_dir(), (int)vl, v);
	return 0;
}

/* parent_setup_locate - see parent_setup.h. */
void
parent_setup_locate(const struct parent_texts *t, const char *err,
    char *out, size_t outlen)
{
	const char	*p = t->conf.data != NULL ? t->conf.data : "", *e;
	char		 key[64], path[PATH_MAX + 64];
	unsigned	 line = 0;

	out[0] = '\0';
	if (config == NULL || config->path == NULL)
		return;
	for (; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		size_t	n;

		line++;
		if ((e = strchr(p, '\n')) == NULL)
			e = p + strlen(p);
		if (value_path(p, e, key, sizeof(key), path, sizeof(path)) ==
		    -1 || (n = strlen(path)) == 0 || strncmp(err, path, n) != 0 ||
		    err[n] != ':')
			continue;
		snprintf(out, outlen, "%s:%u: %s: ", config->path, line, key);
		return;
	}
}

static void
make_dir(const char *path, mode_t mode, const struct proc_user *u)
{
	struct stat	st;

	int		fd;

	if (mkdir(path, mode) == -1 && errno != EEXIST)
		fatal("cannot create directory %s", path);
	/* fchown on what we opened: a symlink put in its place is refused. */
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || fstat(fd, &st) == -1 || !S_ISDIR(st.st_mode))
		fatalx("%s is not a directory", path);
	if (u != NULL && u->drop && fchown(fd, u->uid, u->gid) == -1)
		fatal("cannot chown %s", path);
	close(fd);
}

/*
 * empty_root - STATE_DIR/empty, the root of a chrooted child: owned by
 * root, mode 0555, so that nobody but root can put anything in it.
 */
static void
empty_root(const struct proc_user *u)
{
	char		*p;
	int		 fd;

	xasprintf(&p, "%s/%s", config->state_dir, SANDBOX_EMPTY_DIR);
	if (mkdir(p, 0555) == -1 && errno != EEXIST)
		fatal("cannot create directory %s", p);
	if ((fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		fatalx("%s is not a directory", p);
	if ((u->drop && fchown(fd, 0, 0) == -1) || fchmod(fd, 0555) == -1)
		fatal("cannot make %s root's, mode 0555", p);
	close(fd);
	free(p);
}

/* parent_setup_dirs - see parent_setup.h. */
void
parent_setup_dirs(const struct proc_user *u)
{
	static const char *spool[] = { "spool", "spool/data", "spool/queue",
	    "spool/hold", "spool/corrupt", "spool/free",
	    "lookup",		/* lookup's own files: the greylist store */
	    "mta-sts",		/* deliver's MTA-STS policy cache */
	    "tlsrpt" };		/* queue's TLS-RPT counts (queue_tlsrpt.c) */
	char		*p;
	size_t		 sl = strlen(config->state_dir);

	make_dir(config->state_dir, 0755, NULL);
	empty_root(u);
	for (size_t i = 0; i < NELEM(spool); i++) {
		xasprintf(&p, "%s/%s", config->state_dir, spool[i]);
		make_dir(p, 0700, u);
		free(p);
	}
	/* The default mailbox root lives in state_dir and belongs to user. */
	if (strncmp(config->mailbox, config->state_dir, sl) == 0 &&
	    strncmp(config->mailbox + sl, "/mail/", 6) == 0) {
		xasprintf(&p, "%s/mail", config->state_dir);
		make_dir(p, 0755, u);
		free(p);
	}
	parent_setup_mailboxes(u);
}

/*
 * make_path - mkdir -p of path as root, mode 0755, for the folders above
 * the mailboxes that do not exist yet; existing ones are left as they
 * are.  -1 with errno when one cannot be made.
 */
static int
make_path(const char *path)
{
	char		 buf[PATH_MAX];
	size_t		 len = strlen(path);

	if (len == 0 || len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (char *s = buf + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char	c = *s;

		*s = '\0';
		if (mkdir(buf, 0755) == -1 && errno != EEXIST)
			return -1;
		if (c == '\0')
			return 0;
		*s = c;
	}
}

/*
 * domain_dir - BASE/DOMAIN for the mailboxes of one local domain, made
 * and given to user when it is new; an existing one is left alone.
 */
static void
domain_dir(const char *base, const char *domain, const struct proc_user *u)
{
	char		*p;
	int		 fd;

	xasprintf(&p, "%s/%s", base, domain);
	if (mkdir(p, 0700) == -1) {
		if (errno != EEXIST)
			log_warn("event=mailbox-dir path=%s result=failed "
			    "reason=\"%s\"", log_safe(p), strerror(errno));
		free(p);
		return;
	}
	/* fchown on what we opened: a symlink put in its place is refused. */
	if ((fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 ||
	    (u->drop && fchown(fd, u->uid, u->gid) == -1))
		log_warn("event=mailbox-dir path=%s result=failed "
		    "reason=\"%s\"", log_safe(p), strerror(errno));
	else
		log_info("event=mailbox-dir path=%s result=created",
		    log_safe(p));
	if (fd != -1)
		close(fd);
	free(p);
}

/* parent_setup_mailboxes - see parent_setup.h. */
void
parent_setup_mailboxes(const struct proc_user *u)
{
	const char	*t = config->mailbox, *pct, *slash;
	char		*base;

	/* Only a template whose first escape is a whole "%d" folder: the
	 * folders above it are the admin's (as /var/mail), the domain
	 * folders below are ours to make for user, who cannot create them
	 * in a root-owned /var/mail. */
	if (t == NULL || t[0] != '/' || (pct = strchr(t, '%')) == NULL ||
	    strncmp(pct, "%d/", 3) != 0 || pct[-1] != '/')
		return;
	slash = pct - 1;
	if (slash == t)
		return;
	base = xstrndup(t, (size_t)(slash - t));
	if (make_path(base) == -1) {
		log_warn("event=mailbox-dir path=%s result=failed "
		    "reason=\"%s\"", log_safe(base), strerror(errno));
		free(base);
		return;
	}
	for (size_t i = 0; i < config->ndomains; i++)
		domain_dir(base, config->domains[i], u);
	free(base);
}

static int
bind_one(const struct conf_listen *l)
{
	struct addrinfo	 hints = { 0 }, *res;
	char		 port[8];
	int		 fd, on = 1, rc;

	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", l->port);
	if ((rc = getaddrinfo(l->host, port, &hints, &res)) != 0)
		fatalx("listen %s: bad address %s: %s", l->name, l->host,
		    gai_strerror(rc));
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		fatal("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
		fatal("cannot listen on %s:%u (listen %s)", l->host, l->port,
		    l->name);
	if (listen(fd, 1024) == -1)
		fatal("listen");
	freeaddrinfo(res);
	/* The listeners are inherited by smtpd; no close-on-exec needed. */
	return fd;
}

/* parent_setup_probe - see parent_setup.h. */
void
parent_setup_probe(void)
{
	for (size_t i = 0; i < config->nlistens; i++) {
		const struct conf_listen *l = &config->listens[i];
		struct addrinfo	 hints = { 0 }, *res;
		char		 port[8];
		int		 fd, on = 1;

		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
		hints.ai_socktype = SOCK_STREAM;
		snprintf(port, sizeof(port), "%u", l->port);
		if (getaddrinfo(l->host, port, &hints, &res) != 0)
			continue;
		fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd != -1) {
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
			    sizeof(on));
			if (res->ai_family == AF_INET6)
				setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
				    sizeof(on));
			if (bind(fd, res->ai_addr, res->ai_addrlen) == -1 &&
			    errno == EADDRINUSE)
				fprintf(stderr, "postbote: warning: [listen %s] "
				    "address %s:%u is in use (by another "
				    "program, or by this server running)\n",
				    l->name, l->host, l->port);
			close(fd);
		}
		freeaddrinfo(res);
	}
}

/* parent_setup_listen - see parent_setup.h. */
int *
parent_setup_listen(size_t *n)
{
	int	*fds = xcalloc(config->nlistens ? config->nlistens : 1,
	    sizeof(int));

	for (size_t i = 0; i < config->nlistens; i++)
		fds[i] = bind_one(&config->listens[i]);
	*n = config->nlistens;
	return fds;
}

/* parent_setup_metrics - see parent_setup.h. */
int
parent_setup_metrics(void)
{
	struct conf_listen	 l = { 0 };

	if (config->metrics_host == NULL || config->metrics_host[0] == '\0')
		return -1;
	if (config->metrics_port == 0)
		fatalx("metrics_listen %s: a port is needed (HOST:PORT)",
		    config->metrics_host);
	l.name = "metrics";
	l.host = config->metrics_host;
	l.port = config->metrics_port;
	return bind_one(&l);
}

/* find_user - the account of name (the value of key), never root. */
static struct passwd *
find_user(const char *name, const char *key)
{
	struct passwd	*pw;

	if ((pw = getpwnam(name)) == NULL)
		fatalx("user %s does not exist: create it (useradd --system "
		    "%s) or set \"%s\" in the config", name, name, key);
	if (pw->pw_uid == 0)
		fatalx("user %s is root: postbote will not run its processes "
		    "as root", name);
	return pw;
}

/* parent_setup_user - see parent_setup.h. */
void
parent_setup_user(struct proc_user *u)
{
	struct passwd	*pw;

	memset(u, 0, sizeof(*u));
	if (geteuid() != 0)
		return;
	pw = find_user(config->user, "user");
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	pw = find_user(config->smtpd_user, "smtpd_user");
	if (pw->pw_uid == u->uid)
		fatalx("smtpd_user %s has the uid of user %s: smtpd would own "
		    "the spool and the mailboxes", config->smtpd_user,
		    config->user);
	u->own_uid = pw->pw_uid;
	u->own_gid = pw->pw_gid;
	u->drop = true;
}
