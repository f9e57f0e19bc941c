/*
 * smtp_log.c - smtpd's log lines in Postfix's shapes and the SMTP
 * transcript of debug peers (smtpd process).
 *
 * With log_format = postfix, a received message and a refused command are
 * logged as Postfix's smtpd logs them ("QID: client=NAME[IP]", "NOQUEUE:
 * reject: RCPT from NAME[IP]: 550 ...; from=<> to=<> proto=ESMTP
 * helo=<>"), so that log summarizers count them.  The transcript logs
 * every line of the dialogue with a client inside debug_peers (or every
 * client under -v), with AUTH payloads masked.
 * Trust: every string from the peer (names, addresses, lines) goes
 * through log_safe().
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtpd/smtp_log.h"
#include "common/conf.h"
#include "lib/log.h"

/* smtp_log_postfix - see smtp_log.h. */
bool
smtp_log_postfix(void)
{
	return config->log_format == LOG_FORMAT_POSTFIX;
}

/* client_name - what Postfix writes as the client: NAME[IP]. */
static const char *
client_name(const struct smtp_log_peer *p)
{
	static char	 out[384];

	snprintf(out, sizeof(out), "%s[%s]",
	    p->name[0] != '\0' ? log_safe(p->name) : "unknown", p->ip);
	return out;
}

/* smtp_log_client - see smtp_log.h. */
void
smtp_log_client(const struct smtp_log_peer *p)
{
	if (!smtp_log_postfix())
		return;
	if (p->auth[0] != '\0')
		log_info("%s: client=%s, sasl_method=%s, sasl_username=%s",
		    p->qid, client_name(p), p->mech, log_safe(p->auth));
	else
		log_info("%s: client=%s", p->qid, client_name(p));
}

/* smtp_log_reject - see smtp_log.h. */
void
smtp_log_reject(const struct smtp_log_peer *p, const char *stage,
    const char *to, const char *reply)
{
	log_info("%s: reject: %s from %s: %s;%s%s%s%s%s%s proto=%s "
	    "helo=<%s>", p->qid[0] != '\0' ? p->qid : "NOQUEUE", stage,
	    client_name(p), log_safe(reply),
	    p->from != NULL ? " from=<" : "",
	    p->from != NULL ? log_safe(p->from) : "",
	    p->from != NULL ? ">" : "",
	    to != NULL ? " to=<" : "", to != NULL ? log_safe(to) : "",
	    to != NULL ? ">" : "", p->esmtp ? "ESMTP" : "SMTP",
	    log_safe(p->helo));
}

/* smtp_log_tls - see smtp_log.h. */
void
smtp_log_tls(const struct smtp_log_peer *p, const char *version,
    const char *cipher)
{
	log_info("Anonymous TLS connection established from %s: %s with "
	    "cipher %s", client_name(p), version, cipher);
}

/* smtp_log_is_debug_peer - see smtp_log.h. */
bool
smtp_log_is_debug_peer(const struct sockaddr *sa)
{
	return log_verbose() || conf_nets_match(config->debug_peers,
	    config->ndebug_peers, sa);
}

/* smtp_log_transcript - see smtp_log.h. */
void
smtp_log_transcript(uint64_t id, const char *dir, const char *line,
    size_t len, bool masked)
{
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (masked) {
		log_info("session=%016llx transcript=%s line=\"*** (masked)\"",
		    (unsigned long long)id, dir);
		return;
	}
	if (*dir == '<' && len > 5 && strncasecmp(line, "AUTH ", 5) == 0) {
		const char	*sp = memchr(line + 5, ' ', len - 5);

		if (sp != NULL) {	/* "AUTH PLAIN <initial response>" */
			log_info("session=%016llx transcript=%s "
			    "line=\"%s *** (masked)\"", (unsigned long long)id,
			    dir, log_safe_n(line, (size_t)(sp - line)));
			return;
		}
	}
	log_info("session=%016llx transcript=%s line=\"%s\"",
	    (unsigned long long)id, dir, log_safe_n(line, len));
}
