/*
 * envelope.c - a message's envelope in the spool, written in spool_rec.c's
 * records at commit (envelope_encode, envelope_decode), and the status
 * records appended as delivery proceeds.  docs/queue-format.md is the
 * reference; every record letter lives in the two tables below.
 *
 * Runs in queue, the only writer of the spool, and in anything that reads
 * queue files.  Pure: no I/O and no logging; errors are returned.
 *
 * Trust: none.  A queue file holds peer-supplied strings, and a disk fault,
 * a crash or a local user with spool access can change any byte, so the
 * reader is as strict as the SMTP parser: lengths bounded, numbers checked
 * for overflow, values validated before they are copied, unknown records
 * refused.  The writer refuses to write what the reader would refuse.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtp_parse.h"
#include "mail/envelope.h"
#include "mail/spool_rec.h"
#include "lib/util.h"

#define NUM_DIGITS	20	/* longest number: UINT64_MAX */
#define ENV_VERSION	"1"
#define REC_END		'.'

/* How strictly a string value is checked before it is stored. */
enum str_class {
	STR_NONE = 0,		/* not a string field */
	STR_TEXT,		/* no NUL */
	STR_LINE,		/* no NUL, CR or LF */
	STR_ADDR,		/* STR_LINE and not empty */
};

enum field_scope {
	SCOPE_MSG,		/* struct envelope, before the first recipient */
	SCOPE_RCPT_START,	/* struct env_rcpt, opens a recipient group */
	SCOPE_RCPT,		/* struct env_rcpt, inside a group */
};

/*
 * One envelope record.  String fields are handled generically through
 * off; the others have a parser (set) and a writer (put) of their own.
 * put writes nothing for a value that is at its default and optional.
 */
struct field {
	char		 type;
	enum field_scope scope;
	bool		 required;
	enum str_class	 str;
	size_t		 off;		/* string fields: offset of the char * */
	const char	*name;
	int		(*set)(void *, const char *, size_t);
	int		(*put)(struct buf *, char, const void *);
};

/* One status record, valid only after the end-of-envelope record. */
struct status_rec {
	char		 type;
	int		(*apply)(struct envelope *, const char *, size_t);
};

/* Decoder state; err is the caller's buffer. */
struct dec {
	const char	*data;
	size_t		 len, off;
	size_t		 rec_off;	/* where the current record starts */
	struct envelope	*env;
	size_t		 rcap;		/* allocated env->rcpts slots */
	uint32_t	 seen;		/* message fields, bit = table index */
	uint32_t	 rseen;		/* fields of the current recipient */
	char		*err;
	size_t		 errlen;
};

static int	 einval(void);
static bool	 str_ok(enum str_class, const char *, size_t);
static int	 parse_num(const char *, size_t, uint64_t, uint64_t *);
static int	 parse_pair(const char *, size_t, uint64_t, uint64_t *,
		    uint64_t, uint64_t *);
static bool	 is_queue_id(const char *, size_t);
static bool	 notify_ok(uint64_t);
static int	 set_version(void *, const char *, size_t);
static int	 put_version(struct buf *, char, const void *);
static int	 set_id(void *, const char *, size_t);
static int	 put_id(struct buf *, char, const void *);
static int	 set_arrival(void *, const char *, size_t);
static int	 put_arrival(struct buf *, char, const void *);
static int	 set_ret(void *, const char *, size_t);
static int	 put_ret(struct buf *, char, const void *);
static int	 set_body(void *, const char *, size_t);
static int	 put_body(struct buf *, char, const void *);
static int	 parse_flag(const char *, size_t, bool *);
static int	 set_smtputf8(void *, const char *, size_t);
static int	 put_smtputf8(struct buf *, char, const void *);
static int	 set_quarantine(void *, const char *, size_t);
static int	 put_quarantine(struct buf *, char, const void *);
static int	 set_tls_req(void *, const char *, size_t);
static int	 put_tls_req(struct buf *, char, const void *);
static int	 set_size(void *, const char *, size_t);
static int	 put_size(struct buf *, char, const void *);
static int	 set_notify(void *, const char *, size_t);
static int	 put_notify(struct buf *, char, const void *);
static int	 set_kind(void *, const char *, size_t);
static int	 put_kind(struct buf *, char, const void *);
static int	 set_state(void *, const char *, size_t);
static int	 put_state(struct buf *, char, const void *);
static int	 put_field(struct buf *, const struct field *, const void *);
static int	 put_scope(struct buf *, bool, const void *);
static int	 put_result(struct buf *, char, size_t, const char *);
static int	 fail(struct dec *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static const struct field *find_field(char);
static void	 add_rcpt(struct dec *);
static int	 store_field(const struct field *, void *, const char *,
		    size_t);
static int	 apply_field(struct dec *, char, const char *, size_t);
static int	 end_envelope(struct dec *, size_t);
static int	 decode_envelope(struct dec *);
static int	 decode_status(struct dec *);
static int	 apply_result(struct envelope *, const char *, size_t,
		    enum rcpt_state, bool);
static int	 st_done(struct envelope *, const char *, size_t);
static int	 st_failed(struct envelope *, const char *, size_t);
static int	 st_deferred(struct envelope *, const char *, size_t);
static int	 st_schedule(struct envelope *, const char *, size_t);
static int	 st_bounced(struct envelope *, const char *, size_t);
static int	 st_warned(struct envelope *, const char *, size_t);

#define MSG_STR(t, req, cls, member) \
	{ t, SCOPE_MSG, req, cls, offsetof(struct envelope, member), \
	    #member, NULL, NULL }
#define RCPT_STR(t, scope, req, cls, member) \
	{ t, scope, req, cls, offsetof(struct env_rcpt, member), \
	    #member, NULL, NULL }
#define NUM(t, scope, req, name) \
	{ t, scope, req, STR_NONE, 0, #name, set_##name, put_##name }

/*
 * The envelope records, in the order envelope_encode writes them.  The
 * reader takes message fields in any order but each once, all before the
 * first recipient; a recipient's fields follow its 'r' record.  Letters
 * are never reused, so a letter means the same thing everywhere.
 */
static const struct field fields[] = {
	NUM('V', SCOPE_MSG, true, version),
	NUM('I', SCOPE_MSG, true, id),
	NUM('T', SCOPE_MSG, true, arrival),
	MSG_STR('S', true, STR_LINE, sender),
	MSG_STR('H', false, STR_TEXT, helo),
	MSG_STR('C', false, STR_TEXT, client),
	MSG_STR('N', false, STR_TEXT, client_name),
	MSG_STR('A', false, STR_LINE, auth),	/* xtext-decoded: 21Nails */
	MSG_STR('E', false, STR_LINE, envid),
	NUM('R', SCOPE_MSG, false, ret),
	NUM('B', SCOPE_MSG, false, body),
	NUM('U', SCOPE_MSG, false, smtputf8),
	NUM('Z', SCOPE_MSG, true, size),
	MSG_STR('X', false, STR_TEXT, prepend),
	NUM('G', SCOPE_MSG, false, quarantine),
	NUM('M', SCOPE_MSG, false, tls_req),
	RCPT_STR('r', SCOPE_RCPT_START, true, STR_ADDR, addr),
	RCPT_STR('o', SCOPE_RCPT, false, STR_ADDR, orig),
	RCPT_STR('c', SCOPE_RCPT, false, STR_ADDR, orcpt),
	NUM('n', SCOPE_RCPT, false, notify),
	NUM('k', SCOPE_RCPT, false, kind),
	NUM('s', SCOPE_RCPT, false, state),
	RCPT_STR('t', SCOPE_RCPT, false, STR_TEXT, status),
};

_Static_assert(NELEM(fields) <= 32, "seen masks are 32 bits");

static const struct status_rec status_recs[] = {
	{ 'D', st_done },
	{ 'F', st_failed },
	{ 'L', st_deferred },
	{ 'P', st_schedule },
	{ 'Q', st_bounced },
	{ 'W', st_warned },
};

/* -- value checks ------------------------------------------------------- */

static int
einval(void)
{
	errno = EINVAL;
	return -1;
}

static bool
str_ok(enum str_class cls, const char *s, size_t n)
{
	if (memchr(s, '\0', n) != NULL)
		return false;
	if (cls >= STR_LINE &&
	    (memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL))
		return false;
	return cls != STR_ADDR || n > 0;
}

/* parse_num - 1-20 digits, no leading zero, no overflow, at most max. */
static int
parse_num(const char *v, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t	 x = 0;

	if (n == 0 || n > NUM_DIGITS || (n > 1 && v[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		if (ckd_mul(&x, x, 10) || ckd_add(&x, x, v[i] - '0'))
			return -1;
	}
	if (x > max)
		return -1;
	*out = x;
	return 0;
}

/* parse_pair - "A B": two numbers separated by one space. */
static int
parse_pair(const char *v, size_t n, uint64_t amax, uint64_t *a,
    uint64_t bmax, uint64_t *b)
{
	const char	*sp = memchr(v, ' ', n);
	size_t		 alen;

	if (sp == NULL)
		return -1;
	alen = (size_t)(sp - v);
	if (parse_num(v, alen, amax, a) == -1 ||
	    parse_num(sp + 1, n - alen - 1, bmax, b) == -1)
		return -1;
	return 0;
}

static bool
is_queue_id(const char *s, size_t n)
{
	if (n != QUEUE_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

/* notify_ok - RFC 3461 4.1: NEVER alone, or any of the other three. */
static bool
notify_ok(uint64_t v)
{
	const uint64_t	 some = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE |
	    SMTP_NOTIFY_DELAY;

	return v == SMTP_NOTIFY_NEVER || (v & ~some) == 0;
}

/* -- field parsers and writers ------------------------------------------ */

static int
set_version(void *o, const char *v, size_t n)
{
	return n == strlen(ENV_VERSION) && memcmp(v, ENV_VERSION, n) == 0 ?
	    0 : -1;
}

static int
put_version(struct buf *b, char t, const void *o)
{
	return spool_rec_puts(b, t, ENV_VERSION);
}

static int
set_id(void *o, const char *v, size_t n)
{
	struct envelope	*e = o;

	if (!is_queue_id(v, n))
		return -1;
	memcpy(e->id, v, n);
	e->id[n] = '\0';
	return 0;
}

static int
put_id(struct buf *b, char t, const void *o)
{
	const struct envelope	*e = o;

	if (!is_queue_id(e->id, strnlen(e->id, sizeof(e->id))))
		return einval();
	return spool_rec_put(b, t, e->id, QUEUE_ID_LEN);
}

static int
set_arrival(void *o, const char *v, size_t n)
{
	return parse_num(v, n, UINT64_MAX, &((struct envelope *)o)->arrival);
}

static int
put_arrival(struct buf *b, char t, const void *o)
{
	return spool_rec_putu64(b, t, ((const struct envelope *)o)->arrival);
}

static int
set_ret(void *o, const char *v, size_t n)
{
	uint64_t	 x;

	if (parse_num(v, n, SMTP_RET_HDRS, &x) == -1)
		return -1;
	((struct envelope *)o)->ret = (int)x;
	return 0;
}

static int
put_ret(struct buf *b, char t, const void *o)
{
	int	 ret = ((const struct envelope *)o)->ret;

	if (ret < 0 || ret > SMTP_RET_HDRS)
		return einval();
	return spool_rec_putu64(b, t, (uint64_t)ret);
}

static int
set_body(void *o, const char *v, size_t n)
{
	uint64_t	 x;

	if (parse_num(v, n, SMTP_BODY_8BITMIME, &x) == -1)
		return -1;
	((struct envelope *)o)->body = (int)x;
	return 0;
}

static int
put_body(struct buf *b, char t, const void *o)
{
	int	 body = ((const struct envelope *)o)->body;

	if (body < 0 || body > SMTP_BODY_8BITMIME)
		return einval();
	return spool_rec_putu64(b, t, (uint64_t)body);
}

/* parse_flag - "0" or "1" into *out. */
static int
parse_flag(const char *v, size_t n, bool *out)
{
	uint64_t	 x;

	if (parse_num(v, n, 1, &x) == -1)
		return -1;
	*out = x == 1;
	return 0;
}

static int
set_smtputf8(void *o, const char *v, size_t n)
{
	return parse_flag(v, n, &((struct envelope *)o)->smtputf8);
}

static int
put_smtputf8(struct buf *b, char t, const void *o)
{
	return spool_rec_puts(b, t,
	    ((const struct envelope *)o)->smtputf8 ? "1" : "0");
}

/* set_digit - a one-digit field 0..max into *out. */
static int
set_digit(const char *v, size_t n, int max, int *out)
{
	uint64_t	 x;

	if (parse_num(v, n, (uint64_t)max, &x) == -1)
		return -1;
	*out = (int)x;
	return 0;
}

/* put_digit - a one-digit field 1..max; 0 is not written, so files from
 * before the field have none. */
static int
put_digit(struct buf *b, char t, int q, int max)
{
	char	 v[2] = { (char)('0' + q), '\0' };

	if (q <= 0 || q > max)
		return 0;
	return spool_rec_puts(b, t, v);
}

static int
set_quarantine(void *o, const char *v, size_t n)
{
	return set_digit(v, n, ENV_HOLD_MAX,
	    &((struct envelope *)o)->quarantine);
}

static int
put_quarantine(struct buf *b, char t, const void *o)
{
	return put_digit(b, t, ((const struct envelope *)o)->quarantine,
	    ENV_HOLD_MAX);
}

static int
set_tls_req(void *o, const char *v, size_t n)
{
	return set_digit(v, n, ENV_TLS_MAX, &((struct envelope *)o)->tls_req);
}

static int
put_tls_req(struct buf *b, char t, const void *o)
{
	return put_digit(b, t, ((const struct envelope *)o)->tls_req,
	    ENV_TLS_MAX);
}

/* envelope_tls_name - see envelope.h. */
const char *
envelope_tls_name(int t)
{
	switch (t) {
	case ENV_TLS_REQUIRE:	return "requiretls";
	case ENV_TLS_OPTIONAL:	return "optional";
	default:		return "default";
	}
}

/* envelope_hold_name - see envelope.h. */
const char *
envelope_hold_name(int why)
{
	switch (why) {
	case ENV_HOLD_DMARC:	return "dmarc";
	case ENV_HOLD_LISTENER:	return "listener";
	case ENV_HOLD_MILTER:	return "milter";
	default:		return "none";
	}
}

static int
set_size(void *o, const char *v, size_t n)
{
	return parse_num(v, n, UINT64_MAX, &((struct envelope *)o)->size);
}

static int
put_size(struct buf *b, char t, const void *o)
{
	return spool_rec_putu64(b, t, ((const struct envelope *)o)->size);
}

static int
set_notify(void *o, const char *v, size_t n)
{
	uint64_t	 x;

	if (parse_num(v, n, UINT_MAX, &x) == -1 || !notify_ok(x))
		return -1;
	((struct env_rcpt *)o)->notify = (unsigned)x;
	return 0;
}

static int
put_notify(struct buf *b, char t, const void *o)
{
	unsigned	 notify = ((const struct env_rcpt *)o)->notify;

	if (!notify_ok(notify))
		return einval();
	return notify == 0 ? 0 : spool_rec_putu64(b, t, notify);
}

static int
set_kind(void *o, const char *v, size_t n)
{
	uint64_t	 x;

	if (parse_num(v, n, RCPT_REMOTE, &x) == -1)
		return -1;
	((struct env_rcpt *)o)->kind = x == RCPT_REMOTE ? RCPT_REMOTE :
	    RCPT_LOCAL;
	return 0;
}

static int
put_kind(struct buf *b, char t, const void *o)
{
	enum rcpt_kind	 kind = ((const struct env_rcpt *)o)->kind;

	if (kind != RCPT_LOCAL && kind != RCPT_REMOTE)
		return einval();
	return spool_rec_putu64(b, t, (uint64_t)kind);
}

static int
set_state(void *o, const char *v, size_t n)
{
	static const enum rcpt_state	 states[] = {
		RCPT_PENDING, RCPT_DONE, RCPT_FAILED
	};
	uint64_t			 x;

	if (parse_num(v, n, NELEM(states) - 1, &x) == -1)
		return -1;
	((struct env_rcpt *)o)->state = states[x];
	return 0;
}

/* put_state - pending, the state at commit, is written as no record. */
static int
put_state(struct buf *b, char t, const void *o)
{
	enum rcpt_state	 state = ((const struct env_rcpt *)o)->state;

	if (state == RCPT_PENDING)
		return 0;
	if (state != RCPT_DONE && state != RCPT_FAILED)
		return einval();
	return spool_rec_putu64(b, t, (uint64_t)state);
}

/* -- encoding ----------------------------------------------------------- */

static int
put_field(struct buf *b, const struct field *f, const void *obj)
{
	const char	*s;

	if (f->str == STR_NONE)
		return f->put(b, f->type, obj);
	s = *(char *const *)(const void *)((const char *)obj + f->off);
	if (s == NULL)
		return f->required ? einval() : 0;
	if (!str_ok(f->str, s, strlen(s)))
		return einval();
	return spool_rec_puts(b, f->type, s);
}

/* put_scope - the message fields, or one recipient's group. */
static int
put_scope(struct buf *b, bool rcpt, const void *obj)
{
	for (size_t i = 0; i < NELEM(fields); i++) {
		if ((fields[i].scope != SCOPE_MSG) != rcpt)
			continue;
		if (put_field(b, &fields[i], obj) == -1)
			return -1;
	}
	return 0;
}

/*
 * envelope_encode - append the envelope part of a queue file to b: the
 * message fields, one group per recipient (carrying its state and status
 * when it is not pending, so a rewritten file keeps what was delivered),
 * and the end-of-envelope record.  Scheduling state is not written.
 * Returns 0, or -1 with b unchanged: errno EINVAL if env is not valid
 * (what envelope_decode would refuse), or EMSGSIZE/ENOBUFS.
 */
int
envelope_encode(const struct envelope *env, struct buf *b)
{
	size_t	 start = b->len;
	int	 saved;

	if (env->nrcpt == 0 || env->rcpts == NULL) {
		errno = EINVAL;
		goto fail;
	}
	if (put_scope(b, false, env) == -1)
		goto fail;
	for (size_t i = 0; i < env->nrcpt; i++)
		if (put_scope(b, true, &env->rcpts[i]) == -1)
			goto fail;
	if (spool_rec_put(b, REC_END, "", 0) == -1)
		goto fail;
	return 0;
fail:
	saved = errno;
	b->len = start;
	if (b->data != NULL)
		b->data[start] = '\0';
	errno = saved;
	return -1;
}

/* put_result - "INDEX" or "INDEX SP STATUS". */
static int
put_result(struct buf *b, char type, size_t idx, const char *status)
{
	char	 num[NUM_DIGITS + 2];
	int	 n;

	n = snprintf(num, sizeof(num), status != NULL ? "%zu " : "%zu", idx);
	ASSERT(n > 0 && (size_t)n < sizeof(num));
	if (status == NULL)
		return spool_rec_put_parts(b, type, num, (size_t)n, "", 0);
	return spool_rec_put_parts(b, type, num, (size_t)n, status, strlen(status));
}

/*
 * envelope_put_done - recipient rcpt_index was delivered; status (may be
 * NULL) is the final reply.  Like every envelope_put_* status writer:
 * returns 0, or -1 as spool_rec_put with b unchanged.
 */
int
envelope_put_done(struct buf *b, size_t rcpt_index, const char *status)
{
	return put_result(b, 'D', rcpt_index, status);
}

/* envelope_put_failed - recipient rcpt_index failed for good. */
int
envelope_put_failed(struct buf *b, size_t rcpt_index, const char *status)
{
	return put_result(b, 'F', rcpt_index, status);
}

/* envelope_put_deferred - an attempt for rcpt_index failed for now. */
int
envelope_put_deferred(struct buf *b, size_t rcpt_index, const char *status)
{
	return put_result(b, 'L', rcpt_index, status);
}

/* envelope_put_schedule - attempts so far and when to try next (µs). */
int
envelope_put_schedule(struct buf *b, unsigned attempts,
    uint64_t next_attempt)
{
	char	 val[2 * NUM_DIGITS + 2];
	int	 n;

	n = snprintf(val, sizeof(val), "%u %" PRIu64, attempts, next_attempt);
	ASSERT(n > 0 && (size_t)n < sizeof(val));
	return spool_rec_put(b, 'P', val, (size_t)n);
}

/* envelope_put_bounced - a bounce or DSN for this message is queued. */
int
envelope_put_bounced(struct buf *b)
{
	return spool_rec_put(b, 'Q', "", 0);
}

/* envelope_put_warned - the delay warning for this message is queued. */
int
envelope_put_warned(struct buf *b)
{
	return spool_rec_put(b, 'W', "", 0);
}

/* -- decoding ----------------------------------------------------------- */

static int
fail(struct dec *d, const char *fmt, ...)
{
	va_list	 ap;

	if (d->err != NULL && d->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(d->err, d->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static const struct field *
find_field(char type)
{
	for (size_t i = 0; i < NELEM(fields); i++)
		if (fields[i].type == type)
			return &fields[i];
	return NULL;
}

/* add_rcpt - a zeroed recipient at the end of env->rcpts. */
static void
add_rcpt(struct dec *d)
{
	struct envelope	*e = d->env;
	size_t		 ncap;

	if (e->nrcpt == d->rcap) {
		/* rcap <= len / 4: an 'r' record takes 4 bytes at least */
		ASSERT(!ckd_mul(&ncap, d->rcap == 0 ? 4 : d->rcap, 2));
		e->rcpts = xreallocarray(e->rcpts, ncap, sizeof(*e->rcpts));
		d->rcap = ncap;
	}
	memset(&e->rcpts[e->nrcpt], 0, sizeof(e->rcpts[0]));
	e->nrcpt++;
}

static int
store_field(const struct field *f, void *obj, const char *v, size_t n)
{
	char	**slot;

	if (f->str == STR_NONE)
		return f->set(obj, v, n);
	if (!str_ok(f->str, v, n))
		return -1;
	slot = (char **)(void *)((char *)obj + f->off);
	*slot = xstrndup(v, n);
	return 0;
}

static int
apply_field(struct dec *d, char type, const char *v, size_t n)
{
	const struct field	*f = find_field(type);
	uint32_t		*mask, bit;
	void			*obj;

	if (f == NULL)
		return fail(d, "unknown record '%c' at offset %zu", type,
		    d->rec_off);
	if (f->scope == SCOPE_MSG && d->env->nrcpt > 0)
		return fail(d, "record '%c' after the recipients", type);
	if (f->scope == SCOPE_RCPT && d->env->nrcpt == 0)
		return fail(d, "record '%c' before any recipient", type);
	if (f->scope == SCOPE_RCPT_START) {
		add_rcpt(d);
		d->rseen = 0;
	}
	obj = d->env;
	mask = &d->seen;
	if (f->scope != SCOPE_MSG) {
		obj = &d->env->rcpts[d->env->nrcpt - 1];
		mask = &d->rseen;
	}
	bit = UINT32_C(1) << (f - fields);
	if (*mask & bit)
		return fail(d, "duplicate record '%c' at offset %zu", type,
		    d->rec_off);
	*mask |= bit;
	if (store_field(f, obj, v, n) == -1)
		return fail(d, "bad %s at offset %zu", f->name, d->rec_off);
	return 0;
}

static int
end_envelope(struct dec *d, size_t vlen)
{
	if (vlen != 0)
		return fail(d, "bad end-of-envelope record");
	for (size_t i = 0; i < NELEM(fields); i++)
		if (fields[i].scope == SCOPE_MSG && fields[i].required &&
		    !(d->seen & (UINT32_C(1) << i)))
			return fail(d, "missing %s", fields[i].name);
	if (d->env->nrcpt == 0)
		return fail(d, "no recipients");
	return 0;
}

/* decode_envelope - the records up to and including '.'. */
static int
decode_envelope(struct dec *d)
{
	enum spool_rec_result	 r;
	const char		*val;
	size_t			 vlen;
	char			 type;

	for (;;) {
		d->rec_off = d->off;
		r = spool_rec_get(d->data, d->len, &d->off, &type, &val,
		    &vlen);
		if (r == REC_EOF || r == REC_TRUNCATED) {
			fail(d, "envelope truncated at offset %zu",
			    d->rec_off);
			return -2;
		}
		if (r != REC_OK)
			return fail(d, "bad record at offset %zu", d->rec_off);
		if (d->seen == 0 && type != 'V')
			return fail(d, "no version record");
		if (type == REC_END)
			return end_envelope(d, vlen);
		if (apply_field(d, type, val, vlen) == -1)
			return -1;
	}
}

/*
 * apply_result - a done, failed or deferred record: "INDEX" or
 * "INDEX SP STATUS" (status may be empty; without it status becomes NULL).
 */
static int
apply_result(struct envelope *e, const char *v, size_t n,
    enum rcpt_state state, bool set_state_too)
{
	const char	*sp = memchr(v, ' ', n);
	size_t		 ilen = sp != NULL ? (size_t)(sp - v) : n;
	uint64_t	 idx;
	struct env_rcpt	*r;

	if (parse_num(v, ilen, UINT64_MAX, &idx) == -1 || idx >= e->nrcpt)
		return -1;
	if (sp != NULL && !str_ok(STR_TEXT, sp + 1, n - ilen - 1))
		return -1;
	r = &e->rcpts[idx];
	if (set_state_too)
		r->state = state;
	free(r->status);
	r->status = sp != NULL ? xstrndup(sp + 1, n - ilen - 1) : NULL;
	return 0;
}

static int
st_done(struct envelope *e, const char *v, size_t n)
{
	return apply_result(e, v, n, RCPT_DONE, true);
}

static int
st_failed(struct envelope *e, const char *v, size_t n)
{
	return apply_result(e, v, n, RCPT_FAILED, true);
}

static int
st_deferred(struct envelope *e, const char *v, size_t n)
{
	return apply_result(e, v, n, RCPT_PENDING, false);
}

static int
st_schedule(struct envelope *e, const char *v, size_t n)
{
	uint64_t	 attempts, next;

	if (parse_pair(v, n, UINT_MAX, &attempts, UINT64_MAX, &next) == -1)
		return -1;
	e->attempts = (unsigned)attempts;
	e->next_attempt = next;
	return 0;
}

static int
st_bounced(struct envelope *e, const char *v, size_t n)
{
	if (n != 0)
		return -1;
	e->bounced = true;
	return 0;
}

static int
st_warned(struct envelope *e, const char *v, size_t n)
{
	if (n != 0)
		return -1;
	e->warned = true;
	return 0;
}

/* decode_status - the records after '.'; a cut-off last one is ignored. */
static int
decode_status(struct dec *d)
{
	enum spool_rec_result	 r;
	const char		*val;
	size_t			 vlen, i;
	char			 type;

	for (;;) {
		d->rec_off = d->off;
		r = spool_rec_get(d->data, d->len, &d->off, &type, &val,
		    &vlen);
		if (r == REC_EOF || r == REC_TRUNCATED)
			return 0;
		if (r != REC_OK)
			return fail(d, "bad record at offset %zu", d->rec_off);
		for (i = 0; i < NELEM(status_recs); i++)
			if (status_recs[i].type == type)
				break;
		if (i == NELEM(status_recs))
			return fail(d, "unknown status record '%c' at offset "
			    "%zu", type, d->rec_off);
		if (status_recs[i].apply(d->env, val, vlen) == -1)
			return fail(d, "bad status record '%c' at offset %zu",
			    type, d->rec_off);
	}
}

/*
 * envelope_decode - see spool_rec.h.  env is overwritten (not freed
 * first); on success the caller owns its strings and frees them with
 * envelope_free, on failure env is left zeroed and err (if errlen > 0)
 * holds a NUL-terminated reason.
 */
int
envelope_decode(const char *data, size_t len, struct envelope *env,
    char *err, size_t errlen)
{
	struct dec	 d;
	int		 r;

	memset(env, 0, sizeof(*env));
	memset(&d, 0, sizeof(d));
	d.data = data;
	d.len = len;
	d.env = env;
	d.err = err;
	d.errlen = errlen;
	if ((r = decode_envelope(&d)) < 0 || (r = decode_status(&d)) < 0) {
		envelope_free(env);
		return r == -2 ? -2 : -1;
	}
	return 0;
}

/* envelope_free - see spool_rec.h; leaves env zeroed. */
void
envelope_free(struct envelope *env)
{
	for (size_t i = 0; i < env->nrcpt; i++) {
		free(env->rcpts[i].addr);
		free(env->rcpts[i].orig);
		free(env->rcpts[i].orcpt);
		free(env->rcpts[i].status);
		free(env->rcpts[i].remote_mta);
	}
	free(env->rcpts);
	free(env->sender);
	free(env->helo);
	free(env->client);
	free(env->client_name);
	free(env->auth);
	free(env->envid);
	free(env->prepend);
	memset(env, 0, sizeof(*env));
}
