/*
 * deliver.h - the deliver process: local delivery into Maildir (local.c)
 * and remote delivery over SMTP (remote.c, mx.c), both couriers of the
 * job that one IPC_DELIVER from queue becomes (deliver_job.c).
 */
#ifndef POSTBOTE_DELIVER_H
#define POSTBOTE_DELIVER_H

struct proc_module;

/* deliver_module - the deliver process's hooks for the child runtime. */
extern const struct proc_module deliver_module;

#endif
