/*
 * cmd_spf.h - the "postbote spf" verb: check_host() from the command line.
 */
#ifndef POSTBOTE_CMD_SPF_H
#define POSTBOTE_CMD_SPF_H

/* cmd_spf - argv[0] is "spf"; returns the exit status (0, 1 or 2). */
int	 cmd_spf(int argc, char **argv);
/*
 * cmd_spf_sender - a MAIL FROM typed on the command line as the SPF code
 * takes it: "<>" is the null sender (RFC 5321 4.5.5), which is "", and
 * "<a@b>" is a@b.  s is cut in place; the result points into it.
 */
char	*cmd_spf_sender(char *s);

#endif
