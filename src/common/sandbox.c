/*
 * sandbox.c - the confinement of a child of "postbote serve" (sandbox.h):
 * the chroot of a process that needs no paths, the empty capability
 * bounding set, no new privileges, and a seccomp filter built with
 * libseccomp from the calls every child makes (below) and those its
 * module lists.  The default action kills the whole process (SIGSYS), so
 * that the parent sees the death and restarts it; POSTBOTE_SECCOMP=log
 * turns the default into a kernel log line instead.  The sanitizer build
 * adds what ASan and LeakSanitizer need at run time and at exit, so the
 * production filter stays tight.  Runs in every child, from its start;
 * trusts only the module's lists.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <errno.h>
#include <linux/capability.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sandbox.h"
#include "lib/log.h"

/*
 * What every child makes: libc and its allocator, threads and locks,
 * signals, the libevent loop (epoll, an eventfd or a pipe to wake it),
 * the IPC channels (sendmsg/recvmsg with SCM_RIGHTS), the clock, and
 * writes to the log (stderr, or syslog's datagram socket).
 */
static const char *const base_calls[] = {
	"read", "write", "readv", "writev", "close", "fstat", "newfstatat",
	"lseek", "fcntl", "dup", "dup2", "dup3", "ioctl",
	"mmap", "munmap", "mprotect", "madvise", "mremap", "brk",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"exit", "exit_group", "futex", "set_robust_list", "rseq",
	"sched_yield", "getrandom", "restart_syscall", "sysinfo",
	"clock_gettime", "clock_nanosleep", "nanosleep", "gettimeofday",
	"time", "getpid", "gettid", "getppid", "tgkill", "getuid",
	"geteuid", "getgid", "getegid",
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"eventfd2", "pipe2", "poll", "ppoll", "select", "pselect6",
	"sendmsg", "recvmsg", "sendto", "recvfrom", "getsockopt",
	"setsockopt", "shutdown", "connect",
	NULL
};

#if defined(__SANITIZE_ADDRESS__) || defined(POSTBOTE_SANITIZE)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif

#ifdef SANITIZER_BUILD
/*
 * What the sanitizers add: ASan's reports and its shadow memory, and
 * LeakSanitizer's check at exit, which stops the world (a tracer task
 * that ptraces every thread) and lists the threads from /proc.
 */
static const char *const sanitizer_calls[] = {
	"openat", "open", "getdents", "getdents64", "readlink", "clone", "clone3",
	"ptrace", "wait4", "waitid", "prctl", "sched_getaffinity", "kill",
	"prlimit64", "getrlimit", "setrlimit", "munlock", "mlock",
	"process_vm_readv", "uname", "statfs", "fstatfs", "pread64",
	"unlink", "unlinkat", "mkdir", "mkdirat", "access", "faccessat",
	"faccessat2", "sched_getparam", "sched_getscheduler",
	NULL
};
#endif

static void	 add_list(scmp_filter_ctx, uint32_t, const char *const *,
		    const char *);
static bool	 is_listed(const char *const *, const char *);

/* sandbox_chroot - see sandbox.h. */
void
sandbox_chroot(const char *dir)
{
	if (chroot(dir) == -1 || chdir("/") == -1)
		fatal("cannot enter the empty root %s", dir);
}

/* sandbox_cap_drop - see sandbox.h. */
void
sandbox_cap_drop(void)
{
	for (int cap = 0; cap <= CAP_LAST_CAP || prctl(PR_CAPBSET_READ, cap,
	    0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 &&
		    errno != EINVAL)
			fatal("cannot drop capability %d from the bounding "
			    "set", cap);
}

/* add_list - a rule with action act for each call of names. */
static void
add_list(scmp_filter_ctx ctx, uint32_t act, const char *const *names,
    const char *pname)
{
	for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
		int	nr = seccomp_syscall_resolve_name(names[i]), rc;

		/* A call this architecture does not have needs no rule. */
		if (nr == __NR_SCMP_ERROR || nr < 0)
			continue;
		/* -EEXIST: listed twice (the sanitizer build's calls). */
		if ((rc = seccomp_rule_add(ctx, act, nr, 0)) != 0 &&
		    rc != -EEXIST)
			fatalx("%s: seccomp rule for %s failed", pname,
			    names[i]);
	}
}

static bool
is_listed(const char *const *names, const char *name)
{
	for (size_t i = 0; names != NULL && names[i] != NULL; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/*
 * unix_socket - syslog(3) connects again to /dev/log when its socket
 * broke (syslogd restarted): a process that makes no other socket may
 * still make that one, AF_UNIX only.
 */
static void
unix_socket(scmp_filter_ctx ctx, const struct sandbox *sb, const char *pname)
{
	/* spelt out: the SCMP_A0() macro leaves datum_b to the compiler */
	const struct scmp_arg_cmp unix_only = { .arg = 0, .op = SCMP_CMP_EQ,
	    .datum_a = AF_UNIX, .datum_b = 0 };

	if (is_listed(sb->allow, "socket"))
		return;
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    unix_only) != 0)
		fatalx("%s: seccomp rule for socket failed", pname);
}

/* default_action - kill the process, or log when the admin asked. */
static uint32_t
default_action(const char *pname)
{
	const char	*mode = getenv("POSTBOTE_SECCOMP");

	if (mode == NULL || *mode == '\0' || strcmp(mode, "kill") == 0)
		return SCMP_ACT_KILL_PROCESS;
	if (strcmp(mode, "log") == 0) {
		log_warn("event=seccomp process=%s action=log reason=\""
		    "POSTBOTE_SECCOMP=log: calls outside the filter are "
		    "logged by the kernel, not refused\"", pname);
		return SCMP_ACT_LOG;
	}
	fatalx("POSTBOTE_SECCOMP=%s: must be kill or log", log_safe(mode));
}

#ifdef POSTBOTE_TEST_HOOKS
/* forbidden - the test build's hook: a call no filter allows. */
static void
forbidden(int sig)
{
	static char *const argv[] = { (char *)"/", NULL };

	syscall(SYS_execve, "/", argv, argv + 1);
}
#endif

/* sandbox_enter - see sandbox.h. */
void
sandbox_enter(const char *name, const struct sandbox *sb)
{
	scmp_filter_ctx	 ctx;
	uint32_t	 act = default_action(name);

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("%s: cannot set no_new_privs", name);
	if ((ctx = seccomp_init(act)) == NULL)
		fatalx("%s: seccomp_init failed", name);
	/* In the log mode the kernel also logs the refused calls (EACCES). */
	if (act == SCMP_ACT_LOG)
		(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	add_list(ctx, SCMP_ACT_ALLOW, base_calls, name);
	add_list(ctx, SCMP_ACT_ALLOW, sb->allow, name);
	unix_socket(ctx, sb, name);
#ifdef SANITIZER_BUILD
	add_list(ctx, SCMP_ACT_ALLOW, sanitizer_calls, name);
#endif
	add_list(ctx, SCMP_ACT_ERRNO(EACCES), sb->refuse, name);
#ifdef POSTBOTE_TEST_HOOKS
	if (getenv("POSTBOTE_TEST_FORBIDDEN") != NULL)
		signal(SIGUSR2, forbidden);
#endif
	if (seccomp_load(ctx) != 0)
		fatalx("%s: cannot load the seccomp filter", name);
	seccomp_release(ctx);
}
