/*
 * cmd_send.h - "postbote send" and the same program called as sendmail:
 * local submission of a message on stdin, without the network.
 */
#ifndef POSTBOTE_CMD_SEND_H
#define POSTBOTE_CMD_SEND_H

#include <stdbool.h>

/*
 * cmd_send - argv[0] is "send" (or the sendmail name when as_sendmail).
 * Returns a sysexits.h code: 0 queued, EX_USAGE, EX_DATAERR, EX_NOUSER,
 * EX_UNAVAILABLE, EX_SOFTWARE, EX_TEMPFAIL (server not running), ...
 */
int	 cmd_send(int argc, char **argv, bool as_sendmail);

#endif
