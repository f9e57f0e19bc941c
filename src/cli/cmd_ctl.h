/*
 * cmd_ctl.h - "postbote reload", "postbote stop", "postbote status" and
 * "newaliases": the running server, reached through the parent's socket
 * state_dir/master (parent/parent_ctl.c).
 */
#ifndef POSTBOTE_CMD_CTL_H
#define POSTBOTE_CMD_CTL_H

/* cmd_ctl - argv[0] is "reload", "stop" or "status"; the exit status
 * (status: 0 running, 3 not running, as LSB's init scripts say). */
int	 cmd_ctl(int argc, char **argv);
/* cmd_ctl_newaliases - check the config and its aliases and users
 * tables, then reload a running server. */
int	 cmd_ctl_newaliases(int argc, char **argv);

#endif
