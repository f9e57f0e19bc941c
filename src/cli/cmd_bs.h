/*
 * cmd_bs.h - "sendmail -bs": SMTP on standard input and output, each
 * message handed to the running server's queue as "postbote send" does.
 */
#ifndef POSTBOTE_CMD_BS_H
#define POSTBOTE_CMD_BS_H

#include "common/conf.h"

/*
 * cmd_bs - run the session until QUIT or end of input.  Returns 0;
 * EX_TEMPFAIL when a message got a 4xx from the queue (the server not
 * running, say); EX_PROTOCOL when input ended inside DATA (that message
 * is dropped) or after too many bad commands.
 */
int	 cmd_bs(const struct conf *);

#endif
