/*
 * control.c - the control and submission sockets of state_dir
 * (control.h): their paths, the parent's bind and the command line's
 * connect.  The parent binds them because the queue process runs as
 * `user` and may not write in state_dir.  Trust: the path comes from the
 * admin's config; whatever sits at it is checked (a stale socket is only
 * removed when nobody answers, anything else is refused).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/control.h"
#include "lib/log.h"
#include "lib/util.h"

/* control_state_file - see control.h. */
char *
control_state_file(const char *state_dir, const char *name)
{
	char	*p;

	xasprintf(&p, "%s/%s", state_dir, name);
	return p;
}

/* control_path - see control.h. */
char *
control_path(const char *state_dir)
{
	return control_state_file(state_dir, "control");
}

/* control_submit_path - see control.h. */
char *
control_submit_path(const char *state_dir)
{
	return control_state_file(state_dir, "submit");
}

static void
make_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (str_copy(sun->sun_path, path, sizeof(sun->sun_path)) >=
	    sizeof(sun->sun_path))
		fatalx("the socket path %s is too long (state_dir)", path);
}

/* clear_stale - remove a socket left by a server that is gone; refuse to
 * start when one still answers (two queues on one spool would corrupt
 * it), or when something else has the name. */
static void
clear_stale(const struct sockaddr_un *sun)
{
	struct stat	st;
	int		fd;

	if (lstat(sun->sun_path, &st) == -1) {
		if (errno != ENOENT)
			fatal("cannot check %s", sun->sun_path);
		return;
	}
	if (!S_ISSOCK(st.st_mode))
		fatalx("%s exists and is not a socket", sun->sun_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0)
		fatalx("another postbote server is running in this state_dir "
		    "(%s answers)", sun->sun_path);
	close(fd);
	if (unlink(sun->sun_path) == -1 && errno != ENOENT)
		fatal("cannot remove the stale %s", sun->sun_path);
}

/* control_bind - see control.h. */
int
control_bind(const char *path, mode_t mode, bool own, uid_t uid, gid_t gid)
{
	struct sockaddr_un	sun;
	mode_t			old;
	int			fd, rc;

	make_addr(path, &sun);
	clear_stale(&sun);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		fatal("socket");
	old = umask(0177);		/* never briefly open to others */
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1)
		fatal("cannot bind the socket %s", path);
	if ((own && chown(path, uid, gid) == -1) ||
	    chmod(path, mode) == -1 || listen(fd, 16) == -1)
		fatal("cannot set up the socket %s", path);
	return fd;
}

/* control_connect - see control.h. */
int
control_connect(const char *path, int timeout_ms)
{
	struct sockaddr_un	sun = { .sun_family = AF_UNIX };
	struct timeval		tv = { timeout_ms / 1000,
	    (timeout_ms % 1000) * 1000 };
	int			fd, e;

	if (str_copy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	e = errno;
	close(fd);
	errno = e;
	return -1;
}
