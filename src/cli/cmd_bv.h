/*
 * cmd_bv.h - "sendmail -bv": is mail to these addresses deliverable, and
 * how, as the server's lookup resolves them.
 */
#ifndef POSTBOTE_CMD_BV_H
#define POSTBOTE_CMD_BV_H

#include "common/conf.h"

/*
 * cmd_bv - one line on stdout per address of argv ("ADDR: deliverable:
 * local mailbox ...", "... alias to ...", "... remote ...", or "ADDR:
 * undeliverable: why").  An address without '@' gets the first of
 * domains.  Returns 0 when all are deliverable, EX_NOUSER when one is
 * not, EX_USAGE without addresses, EX_CONFIG or EX_NOPERM when a table
 * cannot be read or loaded.
 */
int	 cmd_bv(const struct conf *, int argc, char **argv);

#endif
