/*
 * dmarc_psl.c - the Public Suffix List (publicsuffix.org format, from
 * Debian's publicsuffix package) as an open-addressing hash of rules,
 * and the organizational domain of RFC 7489 3.2 built on it.
 *
 * Runs wherever DMARC is evaluated; the list is loaded once and is
 * read-only afterwards, so threads may share it.
 *
 * Trust: the list file is trusted configuration (root-owned, from the
 * distribution) but is still parsed with bounds: line lengths and the
 * file size are capped.  Domains come from the network: they are
 * length-checked and copied before any use, never trusted to be
 * NUL-free or well formed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dmarc.h"
#include "lib/util.h"

#define RULE_NORMAL	1
#define RULE_WILD	2	/* "*.rest": stored as "rest" */
#define RULE_EXCEPT	3	/* "!name": stored as "name" */
#define LABELS_MAX	128	/* a 253-byte name has at most 127 labels */

struct rule {
	const char	*s;		/* into psl->text; NULL: empty slot */
	size_t		 len;
	int		 kind;
};

struct dmarc_psl {
	char		*text;		/* owned, lower-cased copy */
	struct rule	*slot;		/* owned; nslot is a power of two */
	size_t		 nslot;
	size_t		 nrule;
};

static uint64_t	 hash(const char *, size_t, int);
static void	 insert(struct dmarc_psl *, const char *, size_t, int);
static bool	 has_rule(const struct dmarc_psl *, const char *, size_t, int);
static void	 add_line(struct dmarc_psl *, char *, size_t);
static int	 split(const char *, char *, size_t *, size_t *);
static size_t	 suffix_labels(const struct dmarc_psl *, const char *,
		    const size_t *, size_t);
static void	 load_default(void);

static struct dmarc_psl	*default_psl;
static pthread_once_t	 default_once = PTHREAD_ONCE_INIT;

/* hash - the bytes' hash; the kinds of one name sit side by side. */
static uint64_t
hash(const char *s, size_t len, int kind)
{
	return str_hash_bytes(s, len) + (uint64_t)kind;
}

static bool
has_rule(const struct dmarc_psl *p, const char *s, size_t len, int kind)
{
	size_t	 i;

	if (p->nslot == 0)
		return false;
	i = (size_t)hash(s, len, kind) & (p->nslot - 1);
	for (; p->slot[i].s != NULL; i = (i + 1) & (p->nslot - 1))
		if (p->slot[i].kind == kind && p->slot[i].len == len &&
		    memcmp(p->slot[i].s, s, len) == 0)
			return true;
	return false;
}

/* insert - add a rule; the table is sized beforehand to stay half empty. */
static void
insert(struct dmarc_psl *p, const char *s, size_t len, int kind)
{
	size_t	 i;

	if (len == 0 || has_rule(p, s, len, kind))
		return;
	ASSERT(p->nrule + 1 <= p->nslot / 2);
	i = (size_t)hash(s, len, kind) & (p->nslot - 1);
	while (p->slot[i].s != NULL)
		i = (i + 1) & (p->nslot - 1);
	p->slot[i].s = s;
	p->slot[i].len = len;
	p->slot[i].kind = kind;
	p->nrule++;
}

/* add_line - one list line: the rule is its text up to the first white
 * space; "//" lines are comments.  Rules with empty labels are skipped. */
static void
add_line(struct dmarc_psl *p, char *s, size_t len)
{
	size_t	 n = 0;
	int	 kind = RULE_NORMAL;

	while (n < len && s[n] != ' ' && s[n] != '\t' && s[n] != '\r')
		n++;
	if (n == 0 || (n >= 2 && s[0] == '/' && s[1] == '/'))
		return;
	if (s[0] == '!') {
		kind = RULE_EXCEPT;
		s++, n--;
	} else if (n >= 2 && s[0] == '*' && s[1] == '.') {
		kind = RULE_WILD;
		s += 2, n -= 2;
	}
	if (n == 0 || n > DMARC_DOMAIN_MAX || s[0] == '.' || s[n - 1] == '.' ||
	    memmem(s, n, "..", 2) != NULL)
		return;
	str_lower(s);		/* the text is NUL-split per line already */
	insert(p, s, n, kind);
}

/* dmarc_psl_parse - a rule table from PSL text. */
struct dmarc_psl *
dmarc_psl_parse(const char *text, size_t len)
{
	struct dmarc_psl	*p = xcalloc(1, sizeof(*p));
	size_t			 lines = 1, i = 0;

	p->text = xmalloc(len + 1);
	memcpy(p->text, text, len);
	p->text[len] = '\0';
	for (size_t k = 0; k < len; k++)
		if (text[k] == '\n') {
			lines++;
			p->text[k] = '\0';
		}
	p->nslot = 16;
	while (p->nslot / 2 < lines)
		p->nslot *= 2;
	p->slot = xcalloc(p->nslot, sizeof(*p->slot));
	while (i <= len) {
		char	*line = p->text + i;
		size_t	 n = strnlen(line, len - i);

		add_line(p, line, n);
		i += n + 1;
	}
	return p;
}

/* dmarc_psl_load - read and parse the file; NULL if unreadable. */
struct dmarc_psl *
dmarc_psl_load(const char *path)
{
	struct dmarc_psl	*p;
	FILE			*fp;
	char			*data;
	size_t			 n;

	if ((fp = fopen(path, "re")) == NULL)
		return NULL;
	data = xmalloc(DMARC_PSL_FILE_MAX + 1);
	n = fread(data, 1, DMARC_PSL_FILE_MAX + 1, fp);
	if (ferror(fp) || n > DMARC_PSL_FILE_MAX) {
		fclose(fp);
		free(data);
		return NULL;
	}
	fclose(fp);
	p = dmarc_psl_parse(data, n);
	free(data);
	return p;
}

static void
load_default(void)
{
	default_psl = dmarc_psl_load(DMARC_PSL_PATH);
}

/* dmarc_psl_default - the system list, loaded on first use. */
const struct dmarc_psl *
dmarc_psl_default(void)
{
	pthread_once(&default_once, load_default);
	return default_psl;
}

/* dmarc_psl_free - free a table from dmarc_psl_parse/_load. */
void
dmarc_psl_free(struct dmarc_psl *p)
{
	if (p == NULL)
		return;
	free(p->slot);
	free(p->text);
	free(p);
}

/* dmarc_psl_count - rules in the table. */
size_t
dmarc_psl_count(const struct dmarc_psl *p)
{
	return p == NULL ? 0 : p->nrule;
}

/*
 * split - copy domain lower-cased into buf (DMARC_DOMAIN_MAX + 1 bytes),
 * dropping one trailing dot, and record where each label starts: start[0]
 * is the leftmost.  Returns 0 or -1 (empty, empty label, too long).
 */
static int
split(const char *domain, char *buf, size_t *start, size_t *nlabel)
{
	size_t	 len = strnlen(domain, DMARC_DOMAIN_MAX + 2), n = 0;

	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0 || len > DMARC_DOMAIN_MAX)
		return -1;
	memcpy(buf, domain, len);
	buf[len] = '\0';
	str_lower(buf);
	start[n++] = 0;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '.')
			continue;
		if (i + 1 == len || buf[i + 1] == '.' || i == 0 ||
		    n == LABELS_MAX)
			return -1;
		start[n++] = i + 1;
	}
	*nlabel = n;
	return 0;
}

/*
 * suffix_labels - how many rightmost labels form the public suffix
 * (publicsuffix.org algorithm): an exception rule wins and counts one
 * label less; else the longest normal or wildcard match; else 1 (the
 * implicit "*" rule).
 */
static size_t
suffix_labels(const struct dmarc_psl *p, const char *d, const size_t *start,
    size_t n)
{
	size_t	 best = 1, except = 0;

	for (size_t k = 1; k <= n; k++) {
		const char	*sfx = d + start[n - k];
		size_t		 len = strlen(sfx);

		if (has_rule(p, sfx, len, RULE_EXCEPT))
			except = k;
		if (has_rule(p, sfx, len, RULE_NORMAL) && k > best)
			best = k;
		if (k >= 2) {
			const char	*up = d + start[n - k + 1];

			if (has_rule(p, up, strlen(up), RULE_WILD) && k > best)
				best = k;
		}
	}
	if (except > 0)
		return except - 1;
	return best;
}

/* dmarc_psl_org_domain - public suffix plus one label (RFC 7489 3.2). */
int
dmarc_psl_org_domain(const struct dmarc_psl *p, const char *domain, char *out,
    size_t size)
{
	char	 buf[DMARC_DOMAIN_MAX + 1];
	size_t	 start[LABELS_MAX], n, x;

	if (split(domain, buf, start, &n) == -1)
		return -1;
	/*
	 * Without the list (the publicsuffix package missing), fall back to
	 * the last two labels: right for example.com, wrong for co.uk-style
	 * registries, where relaxed alignment then becomes too lenient
	 * between unrelated names under the same second-level suffix.
	 */
	x = p == NULL ? 1 : suffix_labels(p, buf, start, n);
	if (x == 0)
		x = 1;		/* an exception at the top label; not in use */
	if (x >= n)		/* the domain itself is a public suffix */
		x = n - 1;
	if (str_copy(out, buf + start[n - x - 1], size) >= size)
		return -1;
	return 0;
}
