#ifndef MPM_AUDIT_H
#define MPM_AUDIT_H

// The kernel audit subsystem, as far as Landlock's denial records need it (Landlock ABI 7,
// Linux 6.15+). Landlock logs a denial only while audit is enabled (audit_enabled, one
// system-wide switch); a root supervisor can then read the records from NETLINK_AUDIT's
// read-only multicast group, next to (not instead of) auditd. Each returns what the kernel
// said without interpretation.

#include <stddef.h>

#define MPM_AUDIT_LANDLOCK_ACCESS 1423
#define MPM_AUDIT_LANDLOCK_DOMAIN 1424
#define MPM_AUDIT_SYSCALL 1300
#define MPM_AUDIT_EOE 1320
#define MPM_AUDIT_TRUSTED_APP 1121  // libaudit's "trusted application" message (1100-1199: user space)

// landlock_restrict_self() flag (ABI 7): also log denials after the sandboxed program's
// execve (by default Landlock logs only those of the program that called restrict_self).
#define MPM_LL_RESTRICT_SELF_LOG_NEW_EXEC_ON (1U << 1)

// AUDIT_GET: audit_enabled (0 off, 1 on, 2 on and locked), or -errno (-EPERM without
// CAP_AUDIT_CONTROL, -ECONNREFUSED outside the initial user namespace, -EPROTONOSUPPORT
// on a kernel without audit).
int mpm_audit_enabled(void);

// AUDIT_SET of audit_enabled (0 or 1): 0 or -errno. mpm-run never calls it; the tests use
// it to switch audit on for their duration and back to what it was.
int mpm_audit_set_enabled(int enabled);

// Logs `text` as an AUDIT_TRUSTED_APP record (needs CAP_AUDIT_WRITE): 0 or -errno. The
// kernel queues it behind every record logged before, so its arrival on the log group
// proves that those have arrived too.
int mpm_audit_user_message(const char *text);

// A non-blocking, close-on-exec NETLINK_AUDIT socket bound to the AUDIT_NLGRP_READLOG
// group (needs CAP_AUDIT_READ in the initial user namespace), or -errno.
int mpm_audit_open_log(void);

// The buffer mpm_audit_receive needs: one netlink message of the longest record
// (MAX_AUDIT_MESSAGE_LENGTH, 8970 bytes, after a 16-byte header).
#define MPM_AUDIT_BUFFER_SIZE 9216

// Receives one record without waiting: its type in *type and its text ("audit(T:S): ...")
// in buf, NUL-terminated. buf (size bytes, at least MPM_AUDIT_BUFFER_SIZE, 4-byte aligned)
// takes the whole message first: the caller's buffer, not this function's stack, which in
// serve is a waiting run's thread stack, woken by every record on the machine. The length
// of the text; 0 when nothing is waiting; -ENOBUFS when the kernel dropped records because
// the socket's buffer was full; -EINVAL for a smaller buf; other -errno. Messages not sent
// by the kernel, or longer than buf, are skipped.
int mpm_audit_receive(int fd, int *type, char *buf, size_t size);

#endif
