/*
 * cmd_say.c - one finding of "postbote check --dns" (cmd_say.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "cli/cmd_say.h"

/* cmd_say - see cmd_say.h. */
bool
cmd_say(const char *dom, const char *what, bool ok, const char *fmt, ...)
{
	char	 text[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (char *p = text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	if (dom != NULL)
		printf("%s: ", dom);
	printf("%s: %s: %s\n", what, ok ? "ok" : "WRONG", text);
	return ok;
}
