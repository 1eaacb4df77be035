/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <libmount/libmount.h>
#include <errno.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host-check.h"
#include "string-table.h"
#include "string-util.h"

static const char *const check_verdict_table[_CHECK_VERDICT_MAX] = {
        [CHECK_OK]   = "ok",
        [CHECK_WARN] = "warn",
        [CHECK_FAIL] = "fail",
        [CHECK_SKIP] = "skip",
};

DEFINE_STRING_TABLE_LOOKUP(check_verdict, CheckVerdict);

static const char *const cgroup_mode_table[_CGROUP_MODE_MAX] = {
        [CGROUP_UNIFIED] = "unified",
        [CGROUP_HYBRID]  = "hybrid",
        [CGROUP_LEGACY]  = "legacy",
        [CGROUP_NONE]    = "none",
};

DEFINE_STRING_TABLE_LOOKUP(cgroup_mode, CgroupMode);

static int parse_unsigned(const char *s, const char **ret_end, unsigned long max, unsigned long *ret) {
        unsigned long v = 0;
        const char *p = s;

        if (*p < '0' || *p > '9')
                return -EBADMSG;
        for (; *p >= '0' && *p <= '9'; p++) {
                v = v * 10 + (unsigned long) (*p - '0');
                if (v > max)
                        return -ERANGE;
        }
        *ret_end = p;
        *ret = v;
        return 0;
}

int systemd_version_parse(const char *text, unsigned *ret) {
        const char *p, *end;
        unsigned long v;

        assert(text);
        assert(ret);

        p = startswith(text, "systemd ");
        if (!p || parse_unsigned(p, &end, 100000, &v) < 0)
                return -EBADMSG;
        /* "systemd 252 (252.39-1)", "systemd 252\n", "systemd 256~rc1 (…)" */
        if (!IN_SET_CHAR(*end, ' ', '\n', '~', '.', '-', '\0'))
                return -EBADMSG;
        *ret = (unsigned) v;
        return 0;
}

int sysctl_parse_int(const char *text, long *ret) {
        const char *p = text, *end;
        unsigned long v;
        bool negative;

        assert(text);
        assert(ret);

        p += strspn(p, " \t");
        negative = *p == '-';
        if (negative)
                p++;
        if (parse_unsigned(p, &end, (unsigned long) LONG_MAX, &v) < 0)
                return -EBADMSG;
        if (end[strspn(end, " \t\n")] != '\0')
                return -EBADMSG;
        *ret = negative ? -(long) v : (long) v;
        return 0;
}

static uint32_t prefix_mask(unsigned length) {
        return length == 0 ? 0 : UINT32_MAX << (32 - length);
}

int ipv4_prefix_from_string(const char *s, Ipv4Prefix *ret) {
        char a[INET_ADDRSTRLEN];
        const char *slash;
        unsigned long length = 32;
        struct in_addr in;
        size_t n;

        assert(s);
        assert(ret);

        slash = strchr(s, '/');
        n = slash ? (size_t) (slash - s) : strlen(s);
        if (n == 0 || n >= sizeof(a))
                return -EINVAL;
        memcpy(a, s, n);
        a[n] = 0;
        if (inet_pton(AF_INET, a, &in) != 1)
                return -EINVAL;
        if (slash) {
                const char *end;

                if (parse_unsigned(slash + 1, &end, 32, &length) < 0 || *end)
                        return -EINVAL;
        }
        *ret = (Ipv4Prefix) {
                .address = ntohl(in.s_addr) & prefix_mask((unsigned) length),
                .length = (unsigned) length,
        };
        return 0;
}

char* ipv4_prefix_to_string(const Ipv4Prefix *p, char *buf, size_t size) {
        assert(p);
        assert(buf);

        (void) snprintf(buf, size, "%u.%u.%u.%u/%u", p->address >> 24, (p->address >> 16) & 0xff,
                        (p->address >> 8) & 0xff, p->address & 0xff, p->length);
        return buf;
}

bool ipv4_prefix_overlap(const Ipv4Prefix *a, const Ipv4Prefix *b) {
        uint32_t m;

        assert(a);
        assert(b);

        /* Two prefixes overlap iff they agree on the bits of the shorter one. */
        m = prefix_mask(MIN(a->length, b->length));
        return (a->address & m) == (b->address & m);
}

/* A hex number of exactly digits digits (addresses, masks) or, with digits 0, of 1 to 8 (flags). */
static int hex32(const char *s, size_t digits, uint32_t *ret) {
        size_t n = strlen(s);
        unsigned long v;
        char *end;

        if ((digits > 0 ? n != digits : n < 1 || n > 8) || strspn(s, "0123456789abcdefABCDEF") != n)
                return -EBADMSG;
        errno = 0;
        v = strtoul(s, &end, 16);
        if (errno != 0 || *end)
                return -EBADMSG;
        *ret = (uint32_t) v;
        return 0;
}

int proc_net_route_parse(const char *text, RouteEntry **ret, size_t *ret_n, unsigned *reterr_line) {
        _cleanup_free_ RouteEntry *l = NULL;
        size_t n = 0, allocated = 0;
        unsigned line = 0;
        const char *p = text;

        assert(text);
        assert(ret);
        assert(ret_n);

        while (*p) {
                char iface[64], dest[16], gw[16], flags[16], mask[16], buf[512];
                size_t len = strcspn(p, "\n");
                uint32_t d, m, f;
                int k;

                line++;
                if (len >= sizeof(buf))
                        goto bad;
                memcpy(buf, p, len);
                buf[len] = 0;
                p += len;
                if (*p == '\n')
                        p++;

                if (line == 1) {
                        if (!startswith(buf, "Iface"))
                                goto bad;
                        continue;
                }
                if (isempty(buf + strspn(buf, " \t")))
                        continue;

                /* Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT */
                k = sscanf(buf, "%63s %15s %15s %15s %*s %*s %*s %15s", iface, dest, gw, flags, mask);
                if (k != 5 || strlen(iface) >= IF_NAMESIZE ||
                    hex32(dest, 8, &d) < 0 || hex32(mask, 8, &m) < 0 || hex32(flags, 0, &f) < 0)
                        goto bad;
                /* The kernel writes addresses in network byte order as a host-order number. */
                d = ntohl(d);
                m = ntohl(m);
                /* A mask must be contiguous ones. */
                if (m != 0 && (~m & (~m + 1)) != 0)
                        goto bad;
                if (!(f & 0x1))         /* RTF_UP */
                        continue;
                if (GREEDY_REALLOC(l, allocated, n + 1) < 0)
                        return -ENOMEM;
                strcpy(l[n].iface, iface);
                l[n].destination.length = m == 0 ? 0 : 32 - (unsigned) __builtin_ctz(m);
                l[n].destination.address = d & m;
                n++;
        }
        if (line == 0)
                goto bad;

        *ret = TAKE_PTR(l);
        *ret_n = n;
        return 0;
bad:
        if (reterr_line)
                *reterr_line = MAX(line, 1U);
        return -EBADMSG;
}

CgroupMode cgroup_mode_from_magic(uint64_t root_magic, uint64_t unified_magic) {
        if (root_magic == CGROUP2_SUPER_MAGIC)
                return CGROUP_UNIFIED;
        if (root_magic != TMPFS_MAGIC)
                return CGROUP_NONE;
        return unified_magic == CGROUP2_SUPER_MAGIC ? CGROUP_HYBRID : CGROUP_LEGACY;
}

CheckVerdict disk_free_verdict(uint64_t available) {
        if (available < DISK_FREE_FAIL)
                return CHECK_FAIL;
        if (available < DISK_FREE_WARN)
                return CHECK_WARN;
        return CHECK_OK;
}

CheckVerdict store_mode_verdict(mode_t mode) {
        return (mode & 0077) != 0 ? CHECK_FAIL : CHECK_OK;
}

void store_mount_done(StoreMount *m) {
        m->target = mfree(m->target);
        m->source = mfree(m->source);
        m->fstype = mfree(m->fstype);
}

static bool has_option(const char *optstr, const char *name) {
        return optstr && mnt_optstr_get_option(optstr, name, NULL, NULL) == 0;
}

int store_mount_read(const char *mountinfo, const char *path, StoreMount *ret) {
        struct libmnt_table *t;
        struct libmnt_iter *it;
        struct libmnt_fs *fs = NULL;
        size_t best = 0;
        const char *vfs, *fsopts;
        int r = 0;

        assert(path);
        assert(ret);

        t = mnt_new_table_from_file(mountinfo ?: "/proc/self/mountinfo");
        if (!t)
                return errno > 0 ? -errno : -EIO;
        /* The innermost mount whose target contains path, by the path's text (it need not exist yet):
         * the longest such target, and of equal ones the last (mounted over the earlier). */
        it = mnt_new_iter(MNT_ITER_FORWARD);
        if (!it) {
                mnt_unref_table(t);
                return -ENOMEM;
        }
        for (struct libmnt_fs *f; mnt_table_next_fs(t, it, &f) == 0;) {
                const char *target = mnt_fs_get_target(f);
                size_t n = target ? strlen(target) : 0;

                if (n == 0 || n < best)
                        continue;
                if (!streq(target, "/") &&
                    (strncmp(path, target, n) != 0 || (path[n] != 0 && path[n] != '/')))
                        continue;
                fs = f;
                best = n;
        }
        mnt_free_iter(it);
        if (!fs) {
                mnt_unref_table(t);
                return -ENOENT;
        }
        vfs = mnt_fs_get_vfs_options(fs);
        fsopts = mnt_fs_get_fs_options(fs);
        *ret = (StoreMount) {
                .target = strdup(mnt_fs_get_target(fs) ?: ""),
                .source = strdup(mnt_fs_get_source(fs) ?: ""),
                .fstype = strdup(mnt_fs_get_fstype(fs) ?: ""),
                .read_only = has_option(vfs, "ro") || has_option(fsopts, "ro"),
                .nodev = has_option(vfs, "nodev"),
                .nosuid = has_option(vfs, "nosuid"),
                .noexec = has_option(vfs, "noexec"),
        };
        if (!ret->target || !ret->source || !ret->fstype) {
                store_mount_done(ret);
                r = -ENOMEM;
        }
        mnt_unref_table(t);
        return r;
}

CheckVerdict store_mount_verdict(const StoreMount *m) {
        assert(m);
        return m->read_only || m->nodev || m->nosuid || m->noexec ? CHECK_FAIL : CHECK_OK;
}

ForwardState forward_state(const ForwardFacts *f) {
        assert(f);

        if (f->ip_forward != 0)
                return FORWARD_ON;
        if (f->port_machines == 0)
                return f->networkd_active > 0 && !f->networkd_will_not ? FORWARD_OFF_PENDING :
                        FORWARD_OFF_UNUSED;
        /* networkd turns it on as a machine's link comes up: with one there, it did not. */
        if (f->machine_links > 0)
                return FORWARD_OFF_BROKEN;
        if (f->networkd_active > 0 && !f->networkd_will_not)
                return FORWARD_OFF_PENDING;
        return FORWARD_OFF_NOBODY;
}

CheckVerdict forward_state_verdict(ForwardState s) {
        switch (s) {
        case FORWARD_ON:
        case FORWARD_OFF_PENDING:
                return CHECK_OK;
        case FORWARD_OFF_UNUSED:
                return CHECK_WARN;
        default:
                return CHECK_FAIL;
        }
}
