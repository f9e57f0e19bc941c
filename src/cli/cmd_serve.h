/*
 * cmd_serve.h - "postbote serve" (the server, cmd_serve.c) and "postbote
 * check" (its config checked as serve would read it).
 */
#ifndef POSTBOTE_CMD_SERVE_H
#define POSTBOTE_CMD_SERVE_H

int	 cmd_serve(int argc, char **argv);
int	 cmd_serve_check(int argc, char **argv);

#endif
