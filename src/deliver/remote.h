/*
 * remote.h - remote delivery over SMTP (the deliver process): a courier
 * for the jobs whose recipients are all of one remote domain.
 */
#ifndef POSTBOTE_REMOTE_H
#define POSTBOTE_REMOTE_H

#include "deliver/deliver_job.h"

/*
 * remote_courier - delivers a job in one SMTP transaction to the
 * domain's route or MX hosts, keeping connections for reuse; init and
 * reload read the DNS, TLS and route password settings, shutdown closes
 * idle connections.
 */
extern const struct deliver_courier remote_courier;

#endif
