/*
 * local_submit.h - what "postbote send" and "sendmail -bs" share: the
 * header fields added to a local submission, and its hand-over to the
 * running server's queue over state_dir/submit (IPC_CTL_SUBMIT).
 */
#ifndef POSTBOTE_LOCAL_SUBMIT_H
#define POSTBOTE_LOCAL_SUBMIT_H

#include <stddef.h>

#include "common/conf.h"
#include "lib/buf.h"

/*
 * local_submit_complete - From (with fullname when not NULL), Date and
 * Message-ID put before the header of the CRLF text msg when it has
 * none; an empty line is put in when the text had no header block.
 */
void	 local_submit_complete(const struct conf *, struct buf *msg,
	    const char *sender, const char *fullname);

/*
 * local_submit_send - one IPC_CTL_SUBMIT of sender, rcpts and msg to the
 * queue of state_dir, and its answer.  Returns a sysexits.h code: EX_OK
 * when the queue committed the message (text: its queue id), the
 * queue's code of a refusal (text: its reason), EX_TEMPFAIL when the
 * server is not running or did not answer (text: why), EX_SOFTWARE for
 * an answer that does not decode.  Every failure is also said on stderr.
 */
int	 local_submit_send(const char *state_dir, const char *sender,
	    char *const *rcpts, size_t nrcpts, const struct buf *msg,
	    char *text, size_t textsz);

#endif
