/*
 * journal.c - the queue's write-ahead journal (queue process,
 * worker thread).  Records are framed by a fixed header with a magic, the
 * epoch, the length and a CRC-32 (zlib) over all of it, so a torn write
 * at the end of the journal is recognised and ends the replay.  The
 * decoder trusts nothing in the file: lengths are checked against the
 * buffer before use.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "lib/log.h"
#include "queue/journal.h"
#include "lib/util.h"

#define HDR_MAGIC	0x4842504aU	/* "JPBH" */
#define REC_MAGIC	0x5242504aU	/* "JPBR" */
#define HDR_VERSION	1
#define FLAG_DATA	0x1

#define GROW_STEP	(1024 * 1024)	/* zeroes written ahead of the head */

struct journal {
	int		 fd;
	uint64_t	 epoch;
	uint64_t	 head;		/* next record offset */
	uint64_t	 allocated;	/* bytes written and synced: appends
					 * below it change no metadata */
};

static void
put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void
put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint32_t
get32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t
get64(const char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* rec_crc - CRC-32 of the header (with its crc field zero) and payload. */
static uint32_t
rec_crc(const unsigned char *hdr, const void *payload, size_t len)
{
	unsigned char	 h[JOURNAL_REC_HDR];
	uLong		 crc;

	memcpy(h, hdr, sizeof(h));
	memset(h + 20, 0, 4);
	crc = crc32(0L, h, sizeof(h));
	return (uint32_t)crc32(crc, payload, (uInt)len);
}

/* Header: magic, type, epoch, payload length, crc, 8 reserved bytes. */
static void
rec_put(struct buf *b, uint64_t epoch, enum jrec_type type,
    const struct buf *payload)
{
	unsigned char	hdr[JOURNAL_REC_HDR] = { 0 };

	put32(hdr, REC_MAGIC);
	put32(hdr + 4, (uint32_t)type);
	put64(hdr + 8, epoch);
	put32(hdr + 16, (uint32_t)payload->len);
	put32(hdr + 20, rec_crc(hdr, payload->data, payload->len));
	if (buf_append(b, hdr, sizeof(hdr)) == -1 ||
	    buf_append(b, payload->data, payload->len) == -1)
		fatalx("journal: out of memory");
}

/* journal_rec_commit - id, flags, env length, data length, env, data. */
void
journal_rec_commit(struct buf *b, uint64_t epoch, const char *id,
    const void *env, size_t envlen, const void *data, uint64_t datalen,
    bool has_data)
{
	struct buf	 p;
	unsigned char	 f[16];

	ASSERT(strlen(id) == QUEUE_ID_LEN && envlen <= UINT32_MAX);
	buf_init(&p, 0);
	put32(f, has_data ? FLAG_DATA : 0);
	put32(f + 4, (uint32_t)envlen);
	put64(f + 8, datalen);
	if (buf_append(&p, id, QUEUE_ID_LEN) == -1 ||
	    buf_append(&p, f, sizeof(f)) == -1 ||
	    buf_append(&p, env, envlen) == -1 ||
	    (has_data && buf_append(&p, data, (size_t)datalen) == -1))
		fatalx("journal: out of memory");
	rec_put(b, epoch, JREC_COMMIT, &p);
	buf_free(&p);
}

void
journal_rec_remove(struct buf *b, uint64_t epoch, const char *id)
{
	struct buf	p;

	ASSERT(strlen(id) == QUEUE_ID_LEN);
	buf_init(&p, 0);
	if (buf_append(&p, id, QUEUE_ID_LEN) == -1)
		fatalx("journal: out of memory");
	rec_put(b, epoch, JREC_REMOVE, &p);
	buf_free(&p);
}

/* journal_rec_set_epoch - see journal.h.  b holds whole records, as the
 * encoders above made them. */
void
journal_rec_set_epoch(struct buf *b, uint64_t epoch)
{
	size_t	 off = 0;

	while (off < b->len) {
		unsigned char	*h = (unsigned char *)b->data + off;
		uint32_t	 plen;

		ASSERT(b->len - off >= JOURNAL_REC_HDR);
		plen = get32((const char *)h + 16);
		ASSERT(b->len - off - JOURNAL_REC_HDR >= plen);
		put64(h + 8, epoch);
		put32(h + 20, rec_crc(h, h + JOURNAL_REC_HDR, plen));
		off += JOURNAL_REC_HDR + plen;
	}
}

static bool
id_chars_ok(const char *id)
{
	for (size_t i = 0; i < QUEUE_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'A' && id[i] <= 'F')))
			return false;
	return true;
}

static bool
decode_payload(const char *p, size_t n, enum jrec_type type, struct jrec *r)
{
	uint32_t	flags, envlen;
	uint64_t	datalen;

	if (n < QUEUE_ID_LEN || !id_chars_ok(p))
		return false;
	memcpy(r->id, p, QUEUE_ID_LEN);
	r->id[QUEUE_ID_LEN] = '\0';
	r->type = type;
	if (type == JREC_REMOVE)
		return n == QUEUE_ID_LEN;
	if (n < QUEUE_ID_LEN + 16)
		return false;
	flags = get32(p + QUEUE_ID_LEN);
	envlen = get32(p + QUEUE_ID_LEN + 4);
	datalen = get64(p + QUEUE_ID_LEN + 8);
	n -= QUEUE_ID_LEN + 16;
	p += QUEUE_ID_LEN + 16;
	if ((flags & ~FLAG_DATA) != 0 || envlen > n)
		return false;
	r->has_data = (flags & FLAG_DATA) != 0;
	r->env = p;
	r->envlen = envlen;
	r->datalen = datalen;
	r->data = r->has_data ? p + envlen : NULL;
	return r->has_data ? datalen == n - envlen : n == envlen;
}

/* journal_rec_decode - see journal.h. */
size_t
journal_rec_decode(const char *p, size_t len, uint64_t epoch, struct jrec *r)
{
	uint32_t	type, plen;

	memset(r, 0, sizeof(*r));
	if (len < JOURNAL_REC_HDR || get32(p) != REC_MAGIC ||
	    get64(p + 8) != epoch || get64(p + 24) != 0)
		return 0;
	type = get32(p + 4);
	plen = get32(p + 16);
	if ((type != JREC_COMMIT && type != JREC_REMOVE) ||
	    plen > len - JOURNAL_REC_HDR)
		return 0;
	if (rec_crc((const unsigned char *)p, p + JOURNAL_REC_HDR, plen) !=
	    get32(p + 20))
		return 0;
	if (!decode_payload(p + JOURNAL_REC_HDR, plen, type, r))
		return 0;
	return JOURNAL_REC_HDR + (size_t)plen;
}

static int
write_header(struct journal *j)
{
	unsigned char	h[JOURNAL_HDR_SIZE] = { 0 };

	put32(h, HDR_MAGIC);
	put32(h + 4, HDR_VERSION);
	put64(h + 8, j->epoch);
	put32(h + 16, (uint32_t)crc32(0L, h, 16));
	if (pwrite(j->fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return -1;
	return fdatasync(j->fd);
}

/* journal_open - an unreadable header means an empty journal: the
 * header is only rewritten after a checkpoint, when nothing needs it. */
struct journal *
journal_open(int dirfd, const char *name)
{
	struct journal	*j;
	char		 h[20];
	int		 fd;

	fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return NULL;
	j = xcalloc(1, sizeof(*j));
	j->fd = fd;
	j->head = JOURNAL_HDR_SIZE;
	j->allocated = JOURNAL_HDR_SIZE;
	if (pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
	    get32(h) == HDR_MAGIC && get32(h + 4) == HDR_VERSION &&
	    get32(h + 16) == (uint32_t)crc32(0L, (const Bytef *)h, 16))
		j->epoch = get64(h + 8);
	else if (write_header(j) == -1 || fsync(dirfd) == -1) {
		int e = errno;

		close(fd);
		free(j);
		errno = e;
		return NULL;
	}
	return j;
}

void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	close(j->fd);
	free(j);
}

uint64_t
journal_epoch(const struct journal *j)
{
	return j->epoch;
}

/* journal_replay - read the epoch's records; the head ends after them. */
int
journal_replay(struct journal *j, void (*cb)(const struct jrec *, void *),
    void *arg)
{
	struct stat	 st;
	char		*data;
	size_t		 len, off = JOURNAL_HDR_SIZE, n;
	struct jrec	 r;

	if (fstat(j->fd, &st) == -1)
		return -1;
	j->allocated = MAX((uint64_t)st.st_size, (uint64_t)JOURNAL_HDR_SIZE);
	len = (size_t)MIN((uint64_t)st.st_size, (uint64_t)JOURNAL_MAX +
	    JOURNAL_INLINE_MAX * 2);
	data = xmalloc(len + 1);
	if (len > 0 && pread(j->fd, data, len, 0) != (ssize_t)len) {
		free(data);
		errno = EIO;
		return -1;
	}
	while (off < len && (n = journal_rec_decode(data + off, len - off,
	    j->epoch, &r)) > 0) {
		cb(&r, arg);
		off += n;
	}
	j->head = MAX(off, (size_t)JOURNAL_HDR_SIZE);
	free(data);
	return 0;
}

int
journal_reset(struct journal *j)
{
	j->epoch++;
	j->head = JOURNAL_HDR_SIZE;
	return write_header(j);
}

size_t
journal_room(const struct journal *j)
{
	return j->head >= JOURNAL_MAX ? 0 : (size_t)(JOURNAL_MAX - j->head);
}

/*
 * grow - write zeroes ahead of the head and sync them once, so that the
 * fdatasync of each batch only writes data: no size or block allocation
 * changes, which on many file systems cost a metadata write each time.
 */
static int
grow(struct journal *j, uint64_t need)
{
	static const char	zero[65536];
	uint64_t		to = MAX(need, j->allocated + GROW_STEP);

	to = (to + GROW_STEP - 1) / GROW_STEP * GROW_STEP;
	for (uint64_t off = j->allocated; off < to;) {
		ssize_t w = pwrite(j->fd, zero, (size_t)MIN(sizeof(zero),
		    to - off), (off_t)off);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += (uint64_t)w;
	}
	if (fdatasync(j->fd) == -1)
		return -1;
	j->allocated = to;
	return 0;
}

int
journal_append(struct journal *j, const struct buf *b, bool sync)
{
	size_t	off = 0;

	if (j->head + b->len > j->allocated && grow(j, j->head + b->len) == -1)
		return -1;

	while (off < b->len) {
		ssize_t w = pwrite(j->fd, b->data + off, b->len - off,
		    (off_t)(j->head + off));

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		off += (size_t)w;
	}
	if (sync && fdatasync(j->fd) == -1)
		return -1;
	j->head += b->len;
	return 0;
}
