/*
 * parent.h - "postbote serve" and "postbote check": the parent process
 * reads and checks the config and its tables, makes the state
 * directories, binds the listeners and the control sockets, then forks
 * the children, supervises them, reloads on SIGHUP and stops on SIGTERM.
 */
#ifndef POSTBOTE_PARENT_H
#define POSTBOTE_PARENT_H

#include <stdbool.h>

#include "common/proc.h"

/*
 * parent_serve - run the server in the foreground until SIGTERM/SIGINT;
 * modules[PROC_SMTPD .. PROC_DELIVER] are the children's modules (the
 * caller links them in).  Returns the exit status.
 */
int	 parent_serve(const char *confpath, bool verbose,
	    const struct proc_module *const modules[PROC_MAX]);
/* parent_check - load and check the config and its tables as serve would
 * ("postbote check"), and warn of a listener address already in use;
 * messages to stderr.  0 or -1. */
int	 parent_check(const char *confpath);
/* parent_check_config - the same without trying the listeners' addresses
 * ("newaliases": it starts no server, and a running one holds them). */
int	 parent_check_config(const char *confpath);

#endif
