#define _GNU_SOURCE
#include "mpm_audit.h"

#include <errno.h>
#include <stdint.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

// Sends one request on a fresh socket and waits for the kernel's answer: the reply of
// type `want` is copied to `out`, an error ack returns -errno.
static int request(int type, const void *payload, size_t len, int want, void *out, size_t out_len) {
    struct {
        struct nlmsghdr h;
        char data[1024];
    } msg;
    if (len > sizeof msg.data) return -EMSGSIZE;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
    if (fd < 0) return -errno;
    memset(&msg, 0, sizeof msg);
    msg.h.nlmsg_len = NLMSG_LENGTH(len);
    msg.h.nlmsg_type = type;
    msg.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    msg.h.nlmsg_seq = 1;
    if (len) memcpy(msg.data, payload, len);
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(fd, &msg, msg.h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    // The ack, then (for AUDIT_GET) the reply; or an error ack alone.
    int result = -EPROTO, done = 0;
    char buf[1024] __attribute__((aligned(NLMSG_ALIGNTO)));
    while (!done) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            result = -errno;
            break;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = NLMSG_DATA(h);
                if (e->error != 0) { result = e->error; done = 1; break; }
                if (want == 0) { result = 0; done = 1; break; }
            } else if (h->nlmsg_type == want) {
                size_t have = h->nlmsg_len - NLMSG_HDRLEN;
                memset(out, 0, out_len);
                memcpy(out, NLMSG_DATA(h), have < out_len ? have : out_len);
                result = 0;
                done = 1;
                break;
            }
        }
    }
    close(fd);
    return result;
}

int mpm_audit_enabled(void) {
    struct audit_status s;
    int r = request(AUDIT_GET, NULL, 0, AUDIT_GET, &s, sizeof s);
    return r < 0 ? r : (int)s.enabled;
}

int mpm_audit_set_enabled(int enabled) {
    struct audit_status s;
    memset(&s, 0, sizeof s);
    s.mask = AUDIT_STATUS_ENABLED;
    s.enabled = (unsigned)enabled;
    return request(AUDIT_SET, &s, sizeof s, 0, NULL, 0);
}

int mpm_audit_user_message(const char *text) {
    return request(MPM_AUDIT_TRUSTED_APP, text, strlen(text) + 1, 0, NULL, 0);
}

int mpm_audit_open_log(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_AUDIT);
    if (fd < 0) return -errno;
    struct sockaddr_nl group = {.nl_family = AF_NETLINK, .nl_groups = 1U << (AUDIT_NLGRP_READLOG - 1)};
    if (bind(fd, (struct sockaddr *)&group, sizeof group) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    // A burst of denials should not overflow the socket before the supervisor reads it.
    int size = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    return fd;
}

int mpm_audit_receive(int fd, int *type, char *buf, size_t size) {
    if (size < MPM_AUDIT_BUFFER_SIZE || ((uintptr_t)buf & (NLMSG_ALIGNTO - 1)) != 0) return -EINVAL;
    for (;;) {
        struct sockaddr_nl from;
        socklen_t from_len = sizeof from;
        ssize_t n = recvfrom(fd, buf, size, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &from_len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        }
        if ((size_t)n > size) continue;  // longer than any record: not the kernel's
        struct nlmsghdr *h = (struct nlmsghdr *)buf;
        if (from.nl_pid != 0 || !NLMSG_OK(h, (size_t)n)) continue;
        size_t len = h->nlmsg_len - NLMSG_HDRLEN;
        int record_type = h->nlmsg_type;
        const char *text = NLMSG_DATA(h);
        while (len > 0 && text[len - 1] == '\0') len--;
        if (len == 0) continue;  // every record starts with "audit(T:S): "
        memmove(buf, text, len);  // len < size: the header came before it
        buf[len] = '\0';
        *type = record_type;
        return (int)len;
    }
}
