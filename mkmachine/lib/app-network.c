/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "app-network.h"
#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "netlink-util.h"
#include "string-util.h"

#define MACHINE_IFNAME "host0"
#define ADDRS_MAX 1024U

typedef struct Rtnl {
        struct mnl_socket *nl;
        uint32_t seq;
} Rtnl;

static void rtnl_close(Rtnl *r) {
        if (r->nl)
                (void) mnl_socket_close(r->nl);
        r->nl = NULL;
}

static int rtnl_open(Rtnl *ret) {
        struct mnl_socket *nl;
        int r;

        r = netlink_open(NETLINK_ROUTE, &nl);
        if (r < 0)
                return r;
        *ret = (Rtnl) { .nl = nl, .seq = (uint32_t) time(NULL) };
        return 0;
}

/* A netlink socket in the network namespace netns_fd: sockets stay in the namespace they were made
 * in, so this thread goes there for the socket() call and comes back. */
static int rtnl_open_in(int netns_fd, Rtnl *ret) {
        _cleanup_close_ int self = -EBADF;
        int r;

        self = open("/proc/self/ns/net", O_RDONLY|O_CLOEXEC);
        if (self < 0)
                return -errno;
        if (setns(netns_fd, CLONE_NEWNET) < 0)
                return -errno;
        r = rtnl_open(ret);
        if (setns(self, CLONE_NEWNET) < 0) {
                /* Cannot happen (we were there a moment ago); going on in the wrong namespace would
                 * configure the wrong links. */
                log_debug_errno(errno, "Cannot return to our own network namespace: %m");
                abort();
        }
        return r;
}

/* Sends one request and runs cb over the answer until the kernel's ack or the end of a dump. */
static int rtnl_call(Rtnl *rt, struct nlmsghdr *nlh, mnl_cb_t cb, void *data) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        uint32_t portid = mnl_socket_get_portid(rt->nl);

        nlh->nlmsg_seq = ++rt->seq;
        nlh->nlmsg_flags |= NLM_F_ACK;
        if (mnl_socket_sendto(rt->nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        for (;;) {
                ssize_t n = mnl_socket_recvfrom(rt->nl, buf, sizeof(buf));
                int r;

                if (n < 0)
                        return -errno;
                r = mnl_cb_run(buf, (size_t) n, rt->seq, portid, cb, data);
                if (r < 0)
                        return -errno;
                if (r == MNL_CB_STOP)
                        return 0;
        }
}

typedef struct Link {
        int ifindex;
        int peer;               /* IFLA_LINK: a veth's peer, in the other namespace */
        int master;             /* IFLA_MASTER: the bridge it is enslaved to */
        unsigned flags;
        bool peer_elsewhere;    /* IFLA_LINK_NETNSID: the peer is in another namespace */
        bool veth;              /* IFLA_INFO_KIND "veth" */
        char name[IFNAMSIZ];
        bool found;
} Link;

static int linkinfo_cb(const struct nlattr *a, void *data) {
        Link *l = data;

        if (mnl_attr_get_type(a) == IFLA_INFO_KIND && mnl_attr_validate(a, MNL_TYPE_STRING) >= 0)
                l->veth = streq(mnl_attr_get_str(a), "veth");
        return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *a, void *data) {
        Link *l = data;

        switch (mnl_attr_get_type(a)) {
        case IFLA_LINK:
                if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                        l->peer = (int) mnl_attr_get_u32(a);
                break;
        case IFLA_MASTER:
                if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                        l->master = (int) mnl_attr_get_u32(a);
                break;
        case IFLA_LINK_NETNSID:
                l->peer_elsewhere = true;
                break;
        case IFLA_IFNAME:
                if (mnl_attr_validate(a, MNL_TYPE_STRING) >= 0)
                        (void) snprintf(l->name, sizeof(l->name), "%s", mnl_attr_get_str(a));
                break;
        case IFLA_LINKINFO:
                (void) mnl_attr_parse_nested(a, linkinfo_cb, l);
                break;
        }
        return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data) {
        const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        Link *l = data;

        if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
                return MNL_CB_OK;
        *l = (Link) { .ifindex = ifi->ifi_index, .flags = ifi->ifi_flags, .found = true };
        (void) mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, l);
        return MNL_CB_OK;
}

/* The link called name (ifindex 0) or with ifindex. -ENODEV if there is none. */
static int link_get(Rtnl *rt, const char *name, int ifindex, Link *ret) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct ifinfomsg *ifi;
        int r;

        nlh->nlmsg_type = RTM_GETLINK;
        nlh->nlmsg_flags = NLM_F_REQUEST;
        ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = ifindex;
        if (name)
                mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        *ret = (Link) {};
        r = rtnl_call(rt, nlh, link_cb, ret);
        if (r == -ENODEV || (r >= 0 && !ret->found))
                return -ENODEV;
        return r;
}

static int link_set_up(Rtnl *rt, int ifindex) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct ifinfomsg *ifi;

        nlh->nlmsg_type = RTM_NEWLINK;
        nlh->nlmsg_flags = NLM_F_REQUEST;
        ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = ifindex;
        ifi->ifi_flags = IFF_UP;
        ifi->ifi_change = IFF_UP;
        return rtnl_call(rt, nlh, NULL, NULL);
}

typedef struct Addr {
        int ifindex;            /* 0: a route */
        uint32_t addr;          /* host byte order */
        unsigned prefixlen;
} Addr;

typedef struct AddrList {
        Addr items[ADDRS_MAX];
        size_t n;
        int type;               /* RTM_NEWADDR or RTM_NEWROUTE */
} AddrList;

typedef struct AttrPick {
        uint16_t type;
        uint32_t value;
        bool found;
} AttrPick;

static int attr_pick_cb(const struct nlattr *a, void *data) {
        AttrPick *p = data;

        if (mnl_attr_get_type(a) == p->type && mnl_attr_get_payload_len(a) == sizeof(uint32_t)) {
                memcpy(&p->value, mnl_attr_get_payload(a), sizeof(uint32_t));
                p->found = true;
        }
        return MNL_CB_OK;
}

static int addr_cb(const struct nlmsghdr *nlh, void *data) {
        AddrList *l = data;

        if (nlh->nlmsg_type != l->type || l->n >= ADDRS_MAX)
                return MNL_CB_OK;

        if (l->type == RTM_NEWADDR) {
                const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
                AttrPick p = { .type = IFA_LOCAL };

                if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa) || ifa->ifa_family != AF_INET ||
                    ifa->ifa_scope != RT_SCOPE_UNIVERSE)
                        return MNL_CB_OK;
                (void) mnl_attr_parse(nlh, sizeof(*ifa), attr_pick_cb, &p);
                if (!p.found)
                        return MNL_CB_OK;
                l->items[l->n++] = (Addr) { .ifindex = (int) ifa->ifa_index, .addr = ntohl(p.value),
                                            .prefixlen = ifa->ifa_prefixlen };
        } else {
                const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
                AttrPick p = { .type = RTA_DST };

                if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm) || rtm->rtm_family != AF_INET ||
                    rtm->rtm_dst_len == 0)
                        return MNL_CB_OK;
                (void) mnl_attr_parse(nlh, sizeof(*rtm), attr_pick_cb, &p);
                if (!p.found)
                        return MNL_CB_OK;
                l->items[l->n++] = (Addr) { .addr = ntohl(p.value), .prefixlen = rtm->rtm_dst_len };
        }
        return MNL_CB_OK;
}

/* Every global IPv4 address (type RTM_GETADDR) or every IPv4 route with a destination (RTM_GETROUTE),
 * appended to l. */
static int addr_dump(Rtnl *rt, int type, AddrList *l) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST|NLM_F_DUMP;
        if (type == RTM_GETADDR) {
                struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
                ifa->ifa_family = AF_INET;
                l->type = RTM_NEWADDR;
        } else {
                struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
                rtm->rtm_family = AF_INET;
                l->type = RTM_NEWROUTE;
        }
        return rtnl_call(rt, nlh, addr_cb, l);
}

static int addr_add(Rtnl *rt, int ifindex, uint32_t addr, unsigned prefixlen) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct ifaddrmsg *ifa;
        uint32_t mask = prefixlen == 0 ? 0 : UINT32_MAX << (32 - prefixlen);

        nlh->nlmsg_type = RTM_NEWADDR;
        nlh->nlmsg_flags = NLM_F_REQUEST|NLM_F_CREATE|NLM_F_REPLACE;
        ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
        ifa->ifa_family = AF_INET;
        ifa->ifa_prefixlen = prefixlen;
        ifa->ifa_scope = RT_SCOPE_UNIVERSE;
        ifa->ifa_index = ifindex;
        mnl_attr_put_u32(nlh, IFA_LOCAL, htonl(addr));
        mnl_attr_put_u32(nlh, IFA_ADDRESS, htonl(addr));
        if (prefixlen < 31)
                mnl_attr_put_u32(nlh, IFA_BROADCAST, htonl(addr | ~mask));
        return rtnl_call(rt, nlh, NULL, NULL);
}

static int route_add_default(Rtnl *rt, int ifindex, uint32_t gateway) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct rtmsg *rtm;

        nlh->nlmsg_type = RTM_NEWROUTE;
        nlh->nlmsg_flags = NLM_F_REQUEST|NLM_F_CREATE|NLM_F_REPLACE;
        rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = AF_INET;
        rtm->rtm_table = RT_TABLE_MAIN;
        rtm->rtm_protocol = RTPROT_STATIC;
        rtm->rtm_scope = RT_SCOPE_UNIVERSE;
        rtm->rtm_type = RTN_UNICAST;
        mnl_attr_put_u32(nlh, RTA_GATEWAY, htonl(gateway));
        mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t) ifindex);
        return rtnl_call(rt, nlh, NULL, NULL);
}

static uint32_t prefix_mask(unsigned prefixlen) {
        return prefixlen == 0 ? 0 : UINT32_MAX << (32 - prefixlen);
}

static bool overlaps(uint32_t a, unsigned alen, uint32_t b, unsigned blen) {
        uint32_t m = prefix_mask(MIN(alen, blen));

        return (a & m) == (b & m);
}

static uint32_t seed_hash(const char *s) {
        uint32_t h = 2166136261U;       /* FNV-1a: a stable spread, nothing secret */

        for (; s && *s; s++)
                h = (h ^ (uint8_t) *s) * 16777619U;
        return h;
}

/* networkd's view of a link: its state file, "ADMIN_STATE=…". 1: it manages the link, 0: it does not
 * (unmanaged, or networkd is not running and never wrote the file), negative: error. */
static int networkd_manages(int ifindex, usec_t deadline) {
        char path[64];

        if (access("/run/systemd/netif/links", F_OK) < 0)
                return errno == ENOENT ? 0 : -errno;    /* networkd never ran here */
        (void) snprintf(path, sizeof(path), "/run/systemd/netif/links/%i", ifindex);
        for (;;) {
                _cleanup_free_ char *text = NULL;
                const char *s;
                int r;

                r = read_full_file_at(AT_FDCWD, path, 64 * 1024, &text, NULL);
                if (r >= 0) {
                        s = strstr(text, "ADMIN_STATE=");
                        if (s && (startswith(s, "ADMIN_STATE=unmanaged") ||
                                  startswith(s, "ADMIN_STATE=linger")))
                                return 0;
                        if (s && !startswith(s, "ADMIN_STATE=pending"))
                                return 1;
                } else if (r != -ENOENT)
                        return r;
                /* A new link: networkd (if it runs) writes its file within moments. */
                if (now_usec(CLOCK_MONOTONIC) >= deadline)
                        return 0;
                (void) usleep(20 * 1000);
        }
}

static const Addr* find_addr_on(const AddrList *l, int ifindex) {
        for (size_t i = 0; i < l->n; i++)
                if (l->items[i].ifindex == ifindex && l->items[i].prefixlen >= 8 &&
                    l->items[i].prefixlen <= 30)
                        return l->items + i;
        return NULL;
}

/* An address for the machine in gw's subnet: on a veth's own subnet the next one after the host side;
 * on a shared one (zone, bridge) one picked by seed. */
static int pick_address(uint32_t gw, unsigned prefixlen, bool shared, const char *seed, uint32_t *ret) {
        uint32_t mask = prefix_mask(prefixlen), net = gw & mask, hosts = ~mask - 1U;
        uint32_t start = shared ? seed_hash(seed) % hosts : (gw - net) % hosts;

        /* hosts: the addresses between the network's and the broadcast one. */
        for (uint32_t i = 0; i < hosts; i++) {
                uint32_t a = net + 1 + (start + i) % hosts;

                if (a != gw) {
                        *ret = a;
                        return 0;
                }
        }
        return -EADDRNOTAVAIL;
}

/* A /28 of 192.168.0.0/16 that no address or route of the host touches, starting at one seed picks. */
static int allocate_subnet(Rtnl *host, const char *seed, uint32_t *ret_net) {
        _cleanup_free_ AddrList *l = calloc(1, sizeof(AddrList));
        uint32_t base = 0xC0A80000U, n = 4096, start = seed_hash(seed) % n;
        int r;

        if (!l)
                return -ENOMEM;
        r = addr_dump(host, RTM_GETADDR, l);
        if (r >= 0)
                r = addr_dump(host, RTM_GETROUTE, l);
        if (r < 0)
                return r;
        for (uint32_t i = 0; i < n; i++) {
                uint32_t net = base + ((start + i) % n) * 16;
                bool used = false;

                for (size_t j = 0; j < l->n && !used; j++)
                        used = overlaps(net, 28, l->items[j].addr, l->items[j].prefixlen);
                if (!used) {
                        *ret_net = net;
                        return 0;
                }
        }
        return -EADDRNOTAVAIL;
}

int app_network_configure(int netns_fd, const char *seed, usec_t timeout, AppNetwork *ret) {
        _cleanup_(rtnl_close) Rtnl host = {}, machine = {};
        _cleanup_free_ AddrList *addrs = NULL;
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + timeout;
        Link m, peer;
        const Addr *a = NULL;
        AppNetwork net = {};
        uint32_t address;
        int gw_ifindex, r;

        assert(netns_fd >= 0);
        assert(ret);

        r = rtnl_open(&host);
        if (r < 0)
                return r;
        r = rtnl_open_in(netns_fd, &machine);
        if (r < 0)
                return r;

        r = link_get(&machine, MACHINE_IFNAME, 0, &m);
        if (r < 0)
                return r;
        if (!m.veth || m.peer <= 0 || !m.peer_elsewhere)
                return -ENODEV;         /* not a veth into another namespace: nothing of ours */
        /* The machine's payload runs already, as root of its namespace, and may have made a "host0"
         * of its own: the host side must be a veth of systemd-nspawn's (ve-NAME, vb-NAME) whose peer
         * is this very link, or we would touch some other link of the host. */
        r = link_get(&host, NULL, m.peer, &peer);
        if (r == -ENODEV)
                return -ENODEV;
        if (r < 0)
                return r;
        if (!peer.veth || !peer.peer_elsewhere || peer.peer != m.ifindex ||
            !(startswith(peer.name, "ve-") || startswith(peer.name, "vb-")))
                return -ENODEV;
        r = link_set_up(&machine, m.ifindex);
        if (r < 0)
                return r;
        gw_ifindex = peer.master > 0 ? peer.master : peer.ifindex;

        addrs = calloc(1, sizeof(AddrList));
        if (!addrs)
                return -ENOMEM;

        /* The host side gets its carrier once host0 is up; networkd then gives it an address. */
        r = networkd_manages(gw_ifindex, MIN(deadline, now_usec(CLOCK_MONOTONIC) + USEC_PER_SEC));
        if (r < 0)
                return r;
        for (bool managed = r > 0;;) {
                addrs->n = 0;
                r = addr_dump(&host, RTM_GETADDR, addrs);
                if (r < 0)
                        return r;
                a = find_addr_on(addrs, gw_ifindex);
                if (a || !managed)
                        break;
                if (now_usec(CLOCK_MONOTONIC) >= deadline)
                        return -ETIMEDOUT;
                (void) usleep(20 * 1000);
        }

        if (a) {
                net.gateway.s_addr = htonl(a->addr);
                net.prefixlen = a->prefixlen;
                r = pick_address(a->addr, a->prefixlen, peer.master > 0, seed, &address);
                if (r < 0)
                        return r;
        } else {
                uint32_t subnet;

                /* Nobody manages the host side. A bridge is someone's LAN: we do not invent addresses
                 * in it. A veth of our own gets a subnet of its own. */
                if (peer.master > 0)
                        return -EADDRNOTAVAIL;
                r = allocate_subnet(&host, seed, &subnet);
                if (r < 0)
                        return r;
                r = addr_add(&host, peer.ifindex, subnet + 1, 28);
                if (r >= 0)
                        r = link_set_up(&host, peer.ifindex);
                if (r < 0)
                        return r;
                net.gateway.s_addr = htonl(subnet + 1);
                net.prefixlen = 28;
                net.allocated = true;
                address = subnet + 2;
        }

        r = addr_add(&machine, m.ifindex, address, net.prefixlen);
        if (r < 0)
                return r;
        r = route_add_default(&machine, m.ifindex, ntohl(net.gateway.s_addr));
        if (r < 0)
                return r;
        net.address.s_addr = htonl(address);
        *ret = net;
        return 0;
}

static bool is_loopback_server(int family, const void *a) {
        if (family == AF_INET)
                return (ntohl(((const struct in_addr*) a)->s_addr) >> 24) == 127;
        return memcmp(a, &in6addr_loopback, sizeof(struct in6_addr)) == 0;
}

static bool domain_is_valid(const char *s, size_t n) {
        if (n == 0 || n > 253)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", s[i]))
                        return false;
        return true;
}

/* Appends to f the nameserver lines of text that the machine can reach (servers set; counted in
 * *n_servers), or its search and options lines (servers not set). */
static void resolv_conf_copy(FILE *f, const char *text, bool servers, unsigned *n_servers) {
        bool search = !servers;

        const char *p = text;

        while (p && *p) {
                size_t len = strcspn(p, "\n");
                _cleanup_free_ char *line = strndup(p, len);
                char *save = NULL, *key;

                p += len + (p[len] == '\n');
                if (!line)
                        continue;
                key = strtok_r(line, " \t\r", &save);
                if (!key)
                        continue;
                if (servers && streq(key, "nameserver")) {
                        const char *v = strtok_r(NULL, " \t\r", &save);
                        unsigned char buf[sizeof(struct in6_addr)];
                        char out[INET6_ADDRSTRLEN];
                        int family = v && strchr(v, ':') ? AF_INET6 : AF_INET;

                        /* A scoped IPv6 address (fe80::1%eth0) names a host link: not for the machine. */
                        if (!v || inet_pton(family, v, buf) != 1 || is_loopback_server(family, buf) ||
                            !inet_ntop(family, buf, out, sizeof(out)))
                                continue;
                        fprintf(f, "nameserver %s\n", out);
                        (*n_servers)++;
                } else if (search && (streq(key, "search") || streq(key, "domain"))) {
                        bool any = false;

                        for (const char *d; (d = strtok_r(NULL, " \t\r", &save)); ) {
                                if (!domain_is_valid(d, strlen(d)))
                                        continue;
                                fprintf(f, "%s%s", any ? " " : "search ", d);
                                any = true;
                        }
                        if (any)
                                fputc('\n', f);
                } else if (search && streq(key, "options")) {
                        bool any = false;

                        for (const char *o; (o = strtok_r(NULL, " \t\r", &save)); ) {
                                if (!domain_is_valid(o, strcspn(o, ":")) ||
                                    (o[strcspn(o, ":")] == ':' && strspn(o + strcspn(o, ":") + 1,
                                                                         "0123456789") !=
                                     strlen(o + strcspn(o, ":") + 1)))
                                        continue;
                                fprintf(f, "%s%s", any ? " " : "options ", o);
                                any = true;
                        }
                        if (any)
                                fputc('\n', f);
                }
        }
}

int resolv_conf_for_machine(const char *text, const char *fallback, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        unsigned n = 0;
        FILE *f;

        assert(ret);

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fputs("# Written by mkmachine for a machine on a private network: the host's name servers it can\n"
              "# reach (no loopback ones).\n", f);
        resolv_conf_copy(f, text, /* servers= */ true, &n);
        if (n == 0 && fallback)
                resolv_conf_copy(f, fallback, /* servers= */ true, &n);
        resolv_conf_copy(f, text, /* servers= */ false, NULL);
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return (int) n;
}
