/*
 * lmtp.h - LMTP delivery (RFC 2033, the deliver process): a courier for
 * the jobs whose recipients are of local domains delivered by an LMTP
 * server (deliver = lmtp:..., docs/config.md), all of one server.
 */
#ifndef POSTBOTE_LMTP_H
#define POSTBOTE_LMTP_H

#include "deliver/deliver_job.h"

/*
 * lmtp_courier - delivers a job in one LMTP transaction to its domain's
 * server, each recipient with its own reply after the final dot; at most
 * lmtp_concurrency connections per server, kept for smtp_idle_time and
 * reused; reload and shutdown close the idle ones.
 */
extern const struct deliver_courier lmtp_courier;

#endif
