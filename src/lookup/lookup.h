/*
 * lookup.h - the lookup process (lookup.c): recipients, passwords and
 * sender ownership, answered from the users and aliases tables.
 */
#ifndef POSTBOTE_LOOKUP_H
#define POSTBOTE_LOOKUP_H

#include "common/proc.h"

extern const struct proc_module lookup_module;

#endif
