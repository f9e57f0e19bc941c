/*
 * queue_http.h - the metrics listener of the queue process: /metrics
 * (Prometheus text format or OpenMetrics) and the status page.
 */
#ifndef POSTBOTE_QUEUE_HTTP_H
#define POSTBOTE_QUEUE_HTTP_H

struct event_base;

/* queue_http_init - serve HTTP on the listening socket fd (bound by the
 * parent from metrics_listen), on loop base; fd -1: nothing. */
void	 queue_http_init(struct event_base *base, int fd);

#endif
