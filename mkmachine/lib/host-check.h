/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* The pure parts of `mkmachine doctor`: parsing what the host reports (versions, sysctls, routes,
 * file system types) and judging it. Reading the files and running the programs is the front end's
 * job; everything here works on strings and numbers, and none of it logs above debug level. */

typedef enum CheckVerdict {
        CHECK_OK,
        CHECK_WARN,
        CHECK_FAIL,
        CHECK_SKIP,             /* could not be checked (because an earlier check failed) */
        _CHECK_VERDICT_MAX,
        _CHECK_VERDICT_INVALID = -EINVAL,
} CheckVerdict;

const char* check_verdict_to_string(CheckVerdict v);
CheckVerdict check_verdict_from_string(const char *s);

/* The oldest systemd-nspawn mkmachine supports: systemd 247, the one of Debian 11. */
#define NSPAWN_VERSION_MIN 247U

/* The major version from the first line of `systemd-nspawn --version` ("systemd 252 (252.39-1…)").
 * -EBADMSG if the first line does not start with "systemd " and a number. */
int systemd_version_parse(const char *text, unsigned *ret);

/* The value of a numeric sysctl as /proc/sys/… gives it ("1\n"). -EBADMSG for anything but one
 * decimal integer with optional white space around it. */
int sysctl_parse_int(const char *text, long *ret);

typedef struct Ipv4Prefix {
        uint32_t address;       /* host byte order, bits beyond the prefix cleared */
        unsigned length;        /* 0…32 */
} Ipv4Prefix;

#define IPV4_PREFIX_STRING_MAX sizeof("255.255.255.255/32")

/* "A.B.C.D/N" (or "A.B.C.D", as /32). -EINVAL for anything else (IPv6 included). Host bits are
 * cleared, as the kernel does for a route. */
int ipv4_prefix_from_string(const char *s, Ipv4Prefix *ret);
char* ipv4_prefix_to_string(const Ipv4Prefix *p, char *buf, size_t size);
/* True if the two ranges share an address (one contains the other). */
bool ipv4_prefix_overlap(const Ipv4Prefix *a, const Ipv4Prefix *b);

/* The range from which systemd-networkd gives out the /28 of each ve- link (80-container-ve.network
 * has Address=0.0.0.0/28): it starts with 192.168.0.0/16 and only goes on to 172.16.0.0/12 and
 * 10.0.0.0/8 once that is used up. networkd avoids ranges already assigned to links, but not routes
 * nor networks of Podman whose bridge is not up. */
#define NETWORKD_CONTAINER_POOL "192.168.0.0/16"

typedef struct RouteEntry {
        char iface[IF_NAMESIZE];
        Ipv4Prefix destination;
} RouteEntry;

/* Parses /proc/net/route (header line, then "Iface Destination Gateway Flags … Mask …" in hex, in
 * the host's byte order). Routes that are not up are skipped. -EBADMSG on a malformed line, with
 * *reterr_line (if non-NULL) its number, 1-based. */
int proc_net_route_parse(const char *text, RouteEntry **ret, size_t *ret_n, unsigned *reterr_line);

typedef enum CgroupMode {
        CGROUP_UNIFIED,         /* cgroup2 on /sys/fs/cgroup */
        CGROUP_HYBRID,          /* v1 controllers, plus cgroup2 on /sys/fs/cgroup/unified */
        CGROUP_LEGACY,          /* v1 only */
        CGROUP_NONE,            /* nothing mounted on /sys/fs/cgroup */
        _CGROUP_MODE_MAX,
        _CGROUP_MODE_INVALID = -EINVAL,
} CgroupMode;

const char* cgroup_mode_to_string(CgroupMode m);
CgroupMode cgroup_mode_from_string(const char *s);

/* The layout from the statfs() f_type of /sys/fs/cgroup and of /sys/fs/cgroup/unified (0 if that
 * does not exist). */
CgroupMode cgroup_mode_from_magic(uint64_t root_magic, uint64_t unified_magic);

/* Free space below which a store or cache directory is a problem: less than 1 GiB fails (a minimal
 * Debian tree alone is about 200 MB, and an import needs the space twice while it replaces a machine),
 * less than 5 GiB warns. */
#define DISK_FREE_FAIL (UINT64_C(1) << 30)
#define DISK_FREE_WARN (UINT64_C(5) << 30)
CheckVerdict disk_free_verdict(uint64_t available);

/* The permissions of the machine store's directory (st_mode): it must give group and others nothing
 * (0700, as machined and mkmachine create it): in a tree unpacked from an image, setuid binaries and
 * device nodes belong to the machine's users, and a host user who can reach them can use them. Anything
 * looser fails; CHECK_OK otherwise. */
CheckVerdict store_mode_verdict(mode_t mode);

/* The mount a path lives on, as the mount table says (read with libmount). */
typedef struct StoreMount {
        char *target;
        char *source;
        char *fstype;
        bool read_only, nodev, nosuid, noexec;
} StoreMount;

void store_mount_done(StoreMount *m);

/* The mount of path in mountinfo (a /proc/self/mountinfo-format file; NULL: this process's): the
 * innermost mount whose target contains path (path need not exist). -ENOENT if none does, or the
 * errno of reading the table. */
int store_mount_read(const char *mountinfo, const char *path, StoreMount *ret);

/* Machines need their device nodes, setuid binaries and programs: a store on a nodev, nosuid or noexec
 * mount breaks them (CHECK_FAIL), a read-only one takes no machines (CHECK_FAIL). */
CheckVerdict store_mount_verdict(const StoreMount *m);

/* What decides whether Port= forwards can work: they are DNAT to a machine, so the host must forward
 * IPv4. systemd-nspawn never turns it on. systemd-networkd up to 255 does when a machine's link comes
 * up (IPMasquerade= in 80-container-ve.network implies IPForward=, which was global). From 256 on
 * IPMasquerade= implies forwarding on the machine's link only, which does not forward what arrives on
 * the host's uplink: the global switch is networkd.conf's IPv4Forwarding=, off unless set (seen on a
 * systemd 257 host: 0 while machines run). */
typedef struct ForwardFacts {
        long ip_forward;                /* net.ipv4.ip_forward */
        int networkd_active;            /* 1, 0, or negative: unknown */
        bool networkd_will_not;         /* networkd will not turn it on: networkd.conf says
                                         * IPv4Forwarding=no, or (256+) does not say yes */
        unsigned port_machines;         /* machines whose settings have Port= */
        unsigned machine_links;         /* ve-… and vb-… links there are now (machines running) */
} ForwardFacts;

typedef enum ForwardState {
        FORWARD_ON,                     /* OK */
        FORWARD_OFF_UNUSED,             /* off, no machine forwards ports: WARN */
        FORWARD_OFF_PENDING,            /* off, networkd turns it on with the first machine: OK */
        FORWARD_OFF_BROKEN,             /* off although machines with ports run: FAIL */
        FORWARD_OFF_NOBODY,             /* off, machines with ports, nobody will turn it on: FAIL */
        _FORWARD_STATE_MAX,
        _FORWARD_STATE_INVALID = -EINVAL,
} ForwardState;

ForwardState forward_state(const ForwardFacts *f);
CheckVerdict forward_state_verdict(ForwardState s);
