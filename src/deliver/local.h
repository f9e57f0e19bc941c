/*
 * local.h - local delivery into Maildir (the deliver process): a courier
 * for the jobs whose recipients are local.
 */
#ifndef POSTBOTE_LOCAL_H
#define POSTBOTE_LOCAL_H

#include "deliver/deliver_job.h"

/*
 * local_courier - delivers each local recipient of a job into its
 * Maildir on the worker thread, batched with the jobs that arrive
 * meanwhile; a recipient reported delivered is on disk (file and new/
 * synced).  A remote recipient mixed in is deferred (4.3.5).
 */
extern const struct deliver_courier local_courier;

#endif
