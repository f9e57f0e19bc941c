/*
 * cmd_dkim.c - the "postbote dkim" verb: keygen writes a private key
 * into <state_dir>/dkim/ and prints the TXT record to publish; sign
 * prints a message with a DKIM-Signature field added; verify checks
 * every signature of a message, fetching keys over DNS (src/dns.h) on
 * a libevent loop, and prints one result line per signature.
 *
 * Runs as a short-lived CLI process under the admin's own uid.
 *
 * Trust: the command line and the config are the admin's.  The message
 * on stdin and, for verify, the DNS answers are untrusted and only
 * reach the pure parsers in dkim.c and dkim_verify.c.  Domain and
 * selector are validated as DNS names before they become a file name,
 * so neither can contain '/' or start a "..".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/buf.h"
#include "cli/cmd_dkim.h"
#include "common/conf.h"
#include "auth/dkim.h"
#include "lib/dns.h"
#include "lib/util.h"

#define MSG_MAX		(256u * 1024 * 1024)	/* stdin */
#define KEYFILE_MAX	(64u * 1024)
#define TXT_CHUNK	255			/* RFC 1035 3.3.14 */

struct verify_run {
	struct dkim_verify	*v;
	struct event_base	*base;
	size_t			 outstanding;
};

static int	 usage(void);
static int	 read_fd(int, struct buf *);
static void	 to_crlf(struct buf *);
static int	 write_key(const char *, const char *, const char *,
		    const struct buf *);
static int	 keygen(const char *, int, char **);
static int	 sign(int, char **);
static void	 txt_cb(uint64_t, void *, enum dns_status, const char *const *,
		    const size_t *, size_t);
static int	 lookup_all(struct dkim_verify *, const char *const *,
		    size_t);
static int	 print_results(const struct dkim_verify *);
static int	 verify(const char *, int, char **);

static int
usage(void)
{
	fprintf(stderr,
	    "usage: postbote dkim [-c FILE] keygen DOMAIN [-s SELECTOR] "
	    "[-t rsa|ed25519]\n"
	    "       postbote dkim sign -d DOMAIN -s SELECTOR -k KEYFILE "
	    "< MSG\n"
	    "       postbote dkim [-c FILE] verify [--resolver HOST[:PORT]] "
	    "< MSG\n"
	    "MSG may end its lines in CRLF or LF; output uses CRLF.\n");
	return 2;
}

/* read_fd - all of fd into b; more than b->max bytes is ENOBUFS. */
static int
read_fd(int fd, struct buf *b)
{
	size_t	 want;
	ssize_t	 n;
	char	 extra;

	for (;;) {
		want = 65536;
		if (b->max != 0 && b->len >= b->max) {
			while ((n = read(fd, &extra, 1)) == -1 && errno == EINTR)
				;
			if (n == 1)
				errno = ENOBUFS;
			return n == 0 ? 0 : -1;
		}
		if (b->max != 0)
			want = MIN(want, b->max - b->len);
		if (buf_reserve(b, want) == -1)
			return -1;
		n = read(fd, b->data + b->len, want);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		b->len += (size_t)n;
		b->data[b->len] = '\0';
	}
	return n == 0 ? 0 : -1;
}

/* to_crlf - a lone LF becomes CRLF; CRLF stays as it is. */
static void
to_crlf(struct buf *b)
{
	struct buf	 o;

	buf_init(&o, 0);
	buf_reserve(&o, b->len + b->len / 8 + 2);
	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '\n' && (i == 0 || b->data[i - 1] != '\r'))
			buf_putc(&o, '\r');
		buf_putc(&o, b->data[i]);
	}
	buf_free(b);
	*b = o;
}

/* write_key - <state_dir>/dkim/DOMAIN.SELECTOR.key, 0600, never over
 * an existing file. */
static int
write_key(const char *state_dir, const char *domain, const char *sel,
    const struct buf *pem)
{
	char	*dir, *path;
	int	 fd, rc = -1;

	xasprintf(&dir, "%s/dkim", state_dir);
	xasprintf(&path, "%s/%s.%s.key", dir, domain, sel);
	if (mkdir(state_dir, 0755) == -1 && errno != EEXIST)
		fprintf(stderr, "postbote: %s: %s\n", state_dir,
		    strerror(errno));
	else if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		fprintf(stderr, "postbote: %s: %s\n", dir, strerror(errno));
	else if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		fprintf(stderr, "postbote: %s: %s%s\n", path, strerror(errno),
		    errno == EEXIST ? " (not overwritten)" : "");
	else {
		if (fchmod(fd, 0600) == 0 &&
		    write(fd, pem->data, pem->len) == (ssize_t)pem->len &&
		    fsync(fd) == 0)
			rc = 0;
		if (close(fd) == -1 || rc == -1) {
			fprintf(stderr, "postbote: %s: %s\n", path,
			    strerror(errno));
			unlink(path);
			rc = -1;
		} else
			fprintf(stderr, "postbote: wrote %s\n", path);
	}
	free(dir);
	free(path);
	return rc;
}

/* cmd_dkim_print_record - zone-file syntax: the tags, then p= in strings of at
 * most 255 bytes. */
void
cmd_dkim_print_record(const char *domain, const char *sel, const char *rec)
{
	const char	*p = strstr(rec, "p=");
	size_t		 n;

	printf("%s._domainkey.%s. IN TXT ( \"%.*s\"", sel, domain,
	    (int)(p - rec), rec);
	for (n = strlen(p); n > 0;) {
		size_t	 k = MIN(n, (size_t)TXT_CHUNK);

		printf("\n\t\"%.*s\"", (int)k, p);
		p += k;
		n -= k;
	}
	printf(" )\n");
}

static int
keygen(const char *confpath, int argc, char **argv)
{
	enum dkim_keytype	 type = DKIM_KEY_RSA;
	char			 sel[64], err[512], *domain;
	struct dkim_key		*key;
	struct conf		 c;
	struct buf		 pem, rec;
	time_t			 now = time(NULL);
	struct tm		 tm;
	int			 ch, rc = 1;

	snprintf(sel, sizeof(sel), "s%d", gmtime_r(&now, &tm) != NULL ?
	    tm.tm_year + 1900 : 2026);
	optind = 0;
	while ((ch = getopt(argc, argv, "s:t:")) != -1) {
		if (ch == 's' && strlen(optarg) < sizeof(sel))
			str_copy(sel, optarg, sizeof(sel));
		else if (ch == 't' && strcmp(optarg, "rsa") == 0)
			type = DKIM_KEY_RSA;
		else if (ch == 't' && strcmp(optarg, "ed25519") == 0)
			type = DKIM_KEY_ED25519;
		else
			return usage();
	}
	if (argc - optind != 1)
		return usage();
	domain = str_lower(xstrdup(argv[optind]));
	if (!dkim_name_is_valid(domain, strlen(domain)) ||
	    !dkim_name_is_valid(sel, strlen(sel))) {
		fprintf(stderr, "postbote: invalid domain or selector\n");
		free(domain);
		return 2;
	}
	if (conf_load(confpath, &c, err, sizeof(err)) == -1) {
		fprintf(stderr, "postbote: %s\n", err);
		free(domain);
		return 2;
	}
	buf_init(&pem, 0);
	buf_init(&rec, 0);
	if (dkim_key_generate(type, 0, &key) == -1)
		fprintf(stderr, "postbote: key generation failed\n");
	else if (dkim_key_private_pem(key, &pem) == -1 ||
	    dkim_key_record(key, &rec) == -1)
		fprintf(stderr, "postbote: key encoding failed\n");
	else if (write_key(c.state_dir, domain, sel, &pem) == 0) {
		cmd_dkim_print_record(domain, sel, rec.data);
		rc = 0;
	}
	dkim_key_free(key);
	explicit_bzero(pem.data, pem.len);
	buf_free(&pem);
	buf_free(&rec);
	conf_free(&c);
	free(domain);
	return rc;
}

static int
sign(int argc, char **argv)
{
	struct dkim_sign_opts	 o;
	struct dkim_key		*key = NULL;
	const char		*keyfile = NULL;
	struct buf		 pem, msg, sig;
	char			 err[256];
	int			 ch, rc = 1;

	memset(&o, 0, sizeof(o));
	optind = 0;
	while ((ch = getopt(argc, argv, "d:s:k:")) != -1) {
		if (ch == 'd')
			o.domain = optarg;
		else if (ch == 's')
			o.selector = optarg;
		else if (ch == 'k')
			keyfile = optarg;
		else
			return usage();
	}
	if (optind != argc || o.domain == NULL || o.selector == NULL ||
	    keyfile == NULL)
		return usage();
	buf_init(&pem, 0);
	buf_init(&msg, MSG_MAX);
	buf_init(&sig, 0);
	if (buf_read_file(&pem, keyfile, KEYFILE_MAX) == -1)
		fprintf(stderr, "postbote: %s: %s\n", keyfile, strerror(errno));
	else if (dkim_key_load_pem(pem.data, pem.len, &key, err,
	    sizeof(err)) == -1)
		fprintf(stderr, "postbote: %s: %s\n", keyfile, err);
	else if (read_fd(0, &msg) == -1)
		fprintf(stderr, "postbote: stdin: %s\n", strerror(errno));
	else {
		to_crlf(&msg);
		o.key = key;
		o.now = time(NULL);
		if (dkim_sign(msg.data, msg.len, &o, &sig, err,
		    sizeof(err)) == -1)
			fprintf(stderr, "postbote: %s\n", err);
		else if (fwrite(sig.data, 1, sig.len, stdout) != sig.len ||
		    fwrite(msg.data, 1, msg.len, stdout) != msg.len ||
		    fflush(stdout) == EOF)
			fprintf(stderr, "postbote: stdout: %s\n",
			    strerror(errno));
		else
			rc = 0;
	}
	dkim_key_free(key);
	explicit_bzero(pem.data, pem.len);
	buf_free(&pem);
	buf_free(&msg);
	buf_free(&sig);
	return rc;
}

/* txt_cb - one key record answer: the first record that looks like a
 * DKIM key (v=DKIM1), else the first one (RFC 6376 3.6.2.2). */
static void
txt_cb(uint64_t id, void *arg, enum dns_status st, const char *const *txt,
    const size_t *len, size_t n)
{
	struct verify_run	*r = arg;
	enum dkim_lookup	 lk = DKIM_LOOKUP_OK;
	size_t			 pick = 0;

	if (st == DNS_OK && n == 0)
		st = DNS_NODATA;
	if (st == DNS_NXDOMAIN || st == DNS_NODATA)
		lk = DKIM_LOOKUP_NONE;
	else if (st == DNS_TEMPFAIL)
		lk = DKIM_LOOKUP_TEMP;
	else if (st != DNS_OK)
		lk = DKIM_LOOKUP_PERM;
	for (size_t i = 0; lk == DKIM_LOOKUP_OK && i < n; i++)
		if (len[i] >= 7 && strncmp(txt[i], "v=DKIM1", 7) == 0) {
			pick = i;
			break;
		}
	dkim_verify_key(r->v, (size_t)id, lk, lk == DKIM_LOOKUP_OK ?
	    txt[pick] : "", lk == DKIM_LOOKUP_OK ? len[pick] : 0);
	if (--r->outstanding == 0)
		event_base_loopexit(r->base, NULL);
}

/* lookup_all - fetch every pending key over DNS, in parallel. */
static int
lookup_all(struct dkim_verify *v, const char *const *servers, size_t ns)
{
	struct verify_run	 r = { v, NULL, 0 };
	struct dns_ctx		*dns;
	char			 err[256], name[DKIM_NAME_MAX + 16];

	if ((r.base = event_base_new()) == NULL)
		return -1;
	if ((dns = dns_new(r.base, servers, ns, 0, 0, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "postbote: dns: %s\n", err);
		event_base_free(r.base);
		return -1;
	}
	for (size_t i = 0; i < v->nsig; i++)
		if (dkim_verify_pending(v, i))
			r.outstanding++;
	for (size_t i = 0; i < v->nsig; i++) {
		if (!dkim_verify_pending(v, i))
			continue;
		dkim_verify_keyname(v, i, name, sizeof(name));
		dns_txt(dns, name, txt_cb, i, &r);
	}
	if (r.outstanding > 0)
		event_base_dispatch(r.base);
	dns_free(dns);
	event_base_free(r.base);
	return 0;
}

/* print_results - one line per signature; 0 if every one passed. */
static int
print_results(const struct dkim_verify *v)
{
	int	 rc = 0;

	if (v->nsig == 0) {
		printf("dkim=none\n");
		return 1;
	}
	for (size_t i = 0; i < v->nsig; i++) {
		const struct dkim_sig	*s = &v->sig[i];
		const char		*why = s->reason;

		if (why[0] == '\0' && s->testing)
			why = "testing";
		printf("dkim=%s%s%s%s header.d=%s header.s=%s header.a=%s\n",
		    dkim_verify_result_str(s->result), why[0] != '\0' ? " (" : "",
		    why, why[0] != '\0' ? ")" : "",
		    s->domain[0] != '\0' ? s->domain : "unknown",
		    s->selector[0] != '\0' ? s->selector : "unknown",
		    dkim_alg_str(s->alg));
		if (s->result != DKIM_PASS)
			rc = 1;
	}
	return rc;
}

static int
verify(const char *confpath, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "resolver", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	const char		*resolver = NULL;
	struct dkim_verify	 v;
	struct conf		 c;
	struct buf		 msg;
	char			 err[512];
	int			 ch, rc = 1;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 'r')
			return usage();
		resolver = optarg;
	}
	if (optind != argc)
		return usage();
	if (conf_load(confpath, &c, err, sizeof(err)) == -1) {
		fprintf(stderr, "postbote: %s\n", err);
		return 2;
	}
	memset(&v, 0, sizeof(v));
	buf_init(&msg, MSG_MAX);
	if (read_fd(0, &msg) == -1)
		fprintf(stderr, "postbote: stdin: %s\n", strerror(errno));
	else if (to_crlf(&msg), dkim_verify_begin(&v, msg.data != NULL ?
	    msg.data : "", msg.len, time(NULL), err, sizeof(err)) == -1)
		printf("dkim=permerror (%s)\n", err);
	else if ((resolver != NULL ? lookup_all(&v, &resolver, 1) :
	    lookup_all(&v, (const char *const *)c.resolvers,
	    c.nresolvers)) == 0)
		rc = print_results(&v);
	dkim_verify_free(&v);
	buf_free(&msg);
	conf_free(&c);
	return rc;
}

/* cmd_dkim - "postbote dkim ..."; argv[0] is "dkim". */
int
cmd_dkim(int argc, char **argv)
{
	const char	*confpath = NULL;
	int		 ch;

	optind = 0;
	while ((ch = getopt(argc, argv, "+c:")) != -1) {
		if (ch != 'c')
			return usage();
		confpath = optarg;
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return usage();
	if (strcmp(argv[0], "keygen") == 0)
		return keygen(confpath, argc, argv);
	if (strcmp(argv[0], "sign") == 0)
		return sign(argc, argv);
	if (strcmp(argv[0], "verify") == 0)
		return verify(confpath, argc, argv);
	return usage();
}

/* cmd_dkim_read_stdin - see cmd_dkim.h. */
int
cmd_dkim_read_stdin(struct buf *msg, size_t max)
{
	buf_init(msg, max);
	if (read_fd(0, msg) == -1)
		return -1;
	to_crlf(msg);
	return 0;
}
