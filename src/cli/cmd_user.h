/*
 * cmd_user.h - "postbote user": add, delete, re-password and list the
 * logins in the users file named by the config.
 */
#ifndef POSTBOTE_CMD_USER_H
#define POSTBOTE_CMD_USER_H

/* cmd_user - argv[0] is "user"; returns the exit status (0 ok, 1
 * operational failure, 2 usage or config error). */
int	 cmd_user(int argc, char **argv);

#endif
