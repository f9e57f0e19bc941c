/*
 * cmd_dkim.h - the "postbote dkim" verb (keygen, sign, verify).
 */
#ifndef POSTBOTE_CMD_DKIM_H
#define POSTBOTE_CMD_DKIM_H

/* cmd_dkim - argv[0] is "dkim"; returns the exit status (0, 1 or 2). */
int	 cmd_dkim(int argc, char **argv);

struct buf;

/* cmd_dkim_print_record - "SEL._domainkey.DOMAIN. IN TXT ( ... )" on
 * stdout, rec split into strings of at most 255 bytes. */
void	 cmd_dkim_print_record(const char *domain, const char *sel,
	    const char *rec);
/* cmd_dkim_read_stdin - all of stdin (at most max bytes) into msg, a lone
 * LF made CRLF.  0, or -1 with errno (ENOBUFS: too long). */
int	 cmd_dkim_read_stdin(struct buf *msg, size_t max);

#endif
