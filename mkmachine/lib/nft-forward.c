/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <netinet/in.h>
#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "macro.h"
#include "netlink-util.h"
#include "nft-forward.h"

#define NSPAWN_NAT_TABLE "io.systemd.nat"
#define NSPAWN_PORT_MAP  "map_port_ipport"

static void mnl_socket_closep(struct mnl_socket **nl) {
        if (*nl)
                (void) mnl_socket_close(*nl);
}

static void nftnl_set_freep(struct nftnl_set **s) {
        if (*s)
                nftnl_set_free(*s);
}

/* Sends the batch in buf and reads the first answer: only the message that asks for it (NLM_F_ACK) is
 * acked, but the kernel may also refuse the batch as a whole (EPERM without CAP_NET_ADMIN) with an error
 * for its first message, so the sequence numbers are not compared. 0 for the ack, -errno for an error
 * the kernel reports. */
static int nl_transact(struct mnl_socket *nl, const void *buf, size_t len) {
        char reply[MNL_SOCKET_BUFFER_SIZE];
        uint32_t portid = mnl_socket_get_portid(nl);
        ssize_t n;

        if (mnl_socket_sendto(nl, buf, len) < 0)
                return -errno;
        for (;;) {
                int r;

                n = mnl_socket_recvfrom(nl, reply, sizeof(reply));
                if (n < 0)
                        return -errno;
                r = mnl_cb_run(reply, (size_t) n, 0, portid, NULL, NULL);
                if (r < 0)
                        return -errno;
                if (r == MNL_CB_STOP)
                        return 0;
        }
}

/* The key systemd-nspawn uses (src/shared/firewall-util-nft.c): protocol . port, each in a 32-bit
 * register, the port in network byte order. */
static void port_key(const NspawnPort *p, uint32_t key[static 2]) {
        key[0] = p->protocol == PORT_UDP ? IPPROTO_UDP : IPPROTO_TCP;
        key[1] = htons(p->host);
}

static int delete_element(struct mnl_socket *nl, uint16_t family, const NspawnPort *p, uint32_t *seq) {
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = NULL;
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nftnl_set_elem *e;
        struct mnl_nlmsg_batch *b;
        struct nlmsghdr *nlh;
        uint32_t key[2], mine;
        int r;

        s = nftnl_set_alloc();
        e = nftnl_set_elem_alloc();
        if (!s || !e) {
                if (e)
                        nftnl_set_elem_free(e);
                return -ENOMEM;
        }
        nftnl_set_set_str(s, NFTNL_SET_TABLE, NSPAWN_NAT_TABLE);
        nftnl_set_set_str(s, NFTNL_SET_NAME, NSPAWN_PORT_MAP);
        port_key(p, key);
        nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, sizeof(key));
        nftnl_set_elem_add(s, e);

        b = mnl_nlmsg_batch_start(buf, sizeof(buf));
        if (!b)
                return -ENOMEM;
        nftnl_batch_begin(mnl_nlmsg_batch_current(b), (*seq)++);
        (void) mnl_nlmsg_batch_next(b);
        mine = (*seq)++;
        nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b), NFT_MSG_DELSETELEM, family, NLM_F_ACK, mine);
        nftnl_set_elems_nlmsg_build_payload(nlh, s);
        (void) mnl_nlmsg_batch_next(b);
        nftnl_batch_end(mnl_nlmsg_batch_current(b), (*seq)++);
        (void) mnl_nlmsg_batch_next(b);

        r = nl_transact(nl, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b));
        mnl_nlmsg_batch_stop(b);
        return r;
}

int nft_forward_remove(const NspawnPort *ports, size_t n_ports, const char **reterr_family) {
        _cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
        static const struct {
                uint16_t family;
                const char *name;
        } families[] = {
                { NFPROTO_IPV4, "ip" },
                { NFPROTO_IPV6, "ip6" },
        };
        uint32_t seq = (uint32_t) time(NULL);
        int removed = 0, r;

        assert(ports || n_ports == 0);

        if (n_ports == 0)
                return 0;
        r = netlink_open(NETLINK_NETFILTER, &nl);
        if (r < 0)
                return r;

        for (size_t f = 0; f < ELEMENTSOF(families); f++)
                for (size_t i = 0; i < n_ports; i++) {
                        r = delete_element(nl, families[f].family, ports + i, &seq);
                        if (r == -ENOENT)       /* no table, map or element: nothing to remove */
                                continue;
                        if (r < 0) {
                                if (reterr_family)
                                        *reterr_family = families[f].name;
                                return log_debug_errno(r, "Failed to remove the %s forward of port %u: %m",
                                                       families[f].name, ports[i].host);
                        }
                        removed++;
                }
        return removed;
}

int nft_forward_probe(void) {
        _cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct mnl_nlmsg_batch *b;
        struct nlmsghdr *nlh;
        uint32_t seq = (uint32_t) time(NULL), mine;
        struct nftnl_table *t;
        int r;

        r = netlink_open(NETLINK_NETFILTER, &nl);
        if (r < 0)
                return r;

        /* Deleting a table that cannot exist needs the same rights as deleting our elements: ENOENT
         * means we were allowed to ask. */
        t = nftnl_table_alloc();
        if (!t)
                return -ENOMEM;
        nftnl_table_set_str(t, NFTNL_TABLE_NAME, "io.mkmachine.probe-does-not-exist");

        b = mnl_nlmsg_batch_start(buf, sizeof(buf));
        if (!b) {
                nftnl_table_free(t);
                return -ENOMEM;
        }
        nftnl_batch_begin(mnl_nlmsg_batch_current(b), seq++);
        (void) mnl_nlmsg_batch_next(b);
        mine = seq++;
        nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b), NFT_MSG_DELTABLE, NFPROTO_IPV4, NLM_F_ACK,
                                    mine);
        nftnl_table_nlmsg_build_payload(nlh, t);
        (void) mnl_nlmsg_batch_next(b);
        nftnl_batch_end(mnl_nlmsg_batch_current(b), seq++);
        (void) mnl_nlmsg_batch_next(b);
        nftnl_table_free(t);

        r = nl_transact(nl, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b));
        mnl_nlmsg_batch_stop(b);
        return r == -ENOENT ? 0 : r;
}
