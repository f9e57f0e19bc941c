/*
 * cmd_verify.h - the "postbote verify" verb.
 */
#ifndef POSTBOTE_CMD_VERIFY_H
#define POSTBOTE_CMD_VERIFY_H

/* cmd_verify - argv[0] is "verify"; returns the exit status. */
int	 cmd_verify(int argc, char **argv);

#endif
