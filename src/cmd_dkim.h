/*
 * cmd_dkim.h - the "postbote dkim" verb (keygen, sign, verify).
 */
#ifndef POSTBOTE_CMD_DKIM_H
#define POSTBOTE_CMD_DKIM_H

/* cmd_dkim - argv[0] is "dkim"; returns the exit status (0, 1 or 2). */
int	 cmd_dkim(int argc, char **argv);

#endif
