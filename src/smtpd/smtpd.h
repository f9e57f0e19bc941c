/*
 * smtpd.h - the smtpd process (smtpd.c): every SMTP session, the only
 * process that reads network bytes.
 */
#ifndef POSTBOTE_SMTPD_H
#define POSTBOTE_SMTPD_H

#include "common/proc.h"

extern const struct proc_module smtpd_module;

#endif
