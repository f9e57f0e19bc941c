/*
 * cmd_say.h - one finding of "postbote check --dns", as the checks of
 * cmd_dns.c, cmd_mtasts.c and cmd_tlsa.c print it.
 */
#ifndef POSTBOTE_CMD_SAY_H
#define POSTBOTE_CMD_SAY_H

#include <stdbool.h>

/* cmd_say - print "DOM: WHAT: ok|WRONG: TEXT" on stdout ("WHAT: ..."
 * when dom is NULL), control and non-ASCII bytes of TEXT shown as '?';
 * returns ok, so that bad findings can make the exit status 1. */
bool	 cmd_say(const char *dom, const char *what, bool ok, const char *fmt,
	    ...) __attribute__((format(printf, 4, 5)));

#endif
