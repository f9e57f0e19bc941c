/*
 * cmd_spf.h - the "postbote spf" verb: check_host() from the command line.
 */
#ifndef POSTBOTE_CMD_SPF_H
#define POSTBOTE_CMD_SPF_H

/* cmd_spf - argv[0] is "spf"; returns the exit status (0, 1 or 2). */
int	 cmd_spf(int argc, char **argv);

#endif
