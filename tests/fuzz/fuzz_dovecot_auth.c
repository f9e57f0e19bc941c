/*
 * fuzz_dovecot_auth.c - libFuzzer target for dovecot_auth.c: the input,
 * copied into a heap block of exactly its size, is split at LF into
 * server lines, each parsed.  Checks: an accepted login is non-empty,
 * within DOVECOT_USER_MAX and free of control bytes and spaces; a reason
 * is printable; CONT data lies inside the line; a USER request built from
 * any login holds exactly one LF per line it should.  Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "mail/dovecot_auth.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
violation(const char *what)
{
	fprintf(stderr, "fuzz_dovecot_auth: %s\n", what);
	abort();
}

static void
check(const char *line, size_t n, const struct dovecot_line *l)
{
	struct buf	 b;
	size_t		 u = strnlen(l->user, sizeof(l->user));
	size_t		 lfs = 0;

	if (l->has_user) {
		if (u == 0 || u > DOVECOT_USER_MAX)
			violation("login length");
		for (size_t i = 0; i < u; i++)
			if ((unsigned char)l->user[i] <= ' ' ||
			    l->user[i] == 0x7f)
				violation("control byte in login");
		buf_init(&b, 0);
		if (dovecot_auth_user(&b, l->id, l->user, "smtp") != 0)
			violation("request");
		for (size_t i = 0; i < b.len; i++)
			lfs += b.data[i] == '\n';
		if (lfs != 2)
			violation("escaping");
		buf_free(&b);
	}
	for (size_t i = 0; l->reason[i] != '\0'; i++)
		if ((unsigned char)l->reason[i] < ' ' ||
		    (unsigned char)l->reason[i] >= 0x7f)
			violation("reason not printable");
	if (l->cont != NULL && (l->cont < line ||
	    l->cont + l->contlen > line + n))
		violation("CONT outside the line");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dovecot_line	 l;
	char			*s;
	size_t			 start = 0;

	if (size > 4 * DOVECOT_LINE_MAX || (s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (size_t i = 0; i <= size; i++) {
		if (i < size && s[i] != '\n')
			continue;
		if (dovecot_auth_parse(s + start, i - start, &l) == 0)
			check(s + start, i - start, &l);
		start = i + 1;
	}
	free(s);
	return 0;
}
