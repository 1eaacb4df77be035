/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* netlink_open(): the socket is of the bus asked for, close-on-exec and bound (the kernel gave it a port
 * id), and it talks: a dump of the links finds the loopback device. A bus that does not exist is an
 * error that leaves *ret alone. */
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <time.h>

#include "netlink-util.h"
#include "tests.h"

static void check_socket(struct mnl_socket *nl, int bus) {
        struct sockaddr_nl sa = {};
        socklen_t l = sizeof(sa);
        int fd = mnl_socket_get_fd(nl), v;
        socklen_t n = sizeof(v);

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &n));
        ASSERT_EQ(v, AF_NETLINK);
        n = sizeof(v);
        ASSERT_OK(getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &n));
        ASSERT_EQ(v, bus);
        ASSERT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        ASSERT_OK(getsockname(fd, (struct sockaddr*) &sa, &l));
        ASSERT_EQ(sa.nl_family, AF_NETLINK);
        ASSERT_TRUE(sa.nl_pid != 0);
        ASSERT_EQ(sa.nl_pid, mnl_socket_get_portid(nl));
}

static int link_cb(const struct nlmsghdr *h, void *userdata) {
        const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(h);
        bool *found = userdata;

        if (h->nlmsg_type == RTM_NEWLINK && (ifi->ifi_flags & IFF_LOOPBACK))
                *found = true;
        return MNL_CB_OK;
}

TEST(route) {
        struct mnl_socket *nl = NULL;
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *h;
        unsigned seq = (unsigned) time(NULL);
        bool found = false;
        int r;

        ASSERT_OK(netlink_open(NETLINK_ROUTE, &nl));
        ASSERT_NOT_NULL(nl);
        check_socket(nl, NETLINK_ROUTE);

        h = mnl_nlmsg_put_header(buf);
        h->nlmsg_type = RTM_GETLINK;
        h->nlmsg_flags = NLM_F_REQUEST|NLM_F_DUMP;
        h->nlmsg_seq = seq;
        (void) mnl_nlmsg_put_extra_header(h, sizeof(struct ifinfomsg));
        ASSERT_EQ(mnl_socket_sendto(nl, h, h->nlmsg_len), (ssize_t) h->nlmsg_len);
        do {
                ssize_t k = mnl_socket_recvfrom(nl, buf, sizeof(buf));

                ASSERT_TRUE(k > 0);
                r = mnl_cb_run(buf, (size_t) k, seq, mnl_socket_get_portid(nl), link_cb, &found);
        } while (r > 0);
        ASSERT_EQ(r, MNL_CB_STOP);
        ASSERT_TRUE(found);
        ASSERT_OK(mnl_socket_close(nl));
}

TEST(netfilter) {
        struct mnl_socket *nl = NULL;
        int r;

        r = netlink_open(NETLINK_NETFILTER, &nl);
        if (r == -EPROTONOSUPPORT) {
                printf("# nfnetlink is not available here\n");
                exit(TEST_SKIP_EXIT);
        }
        ASSERT_OK(r);
        check_socket(nl, NETLINK_NETFILTER);
        ASSERT_OK(mnl_socket_close(nl));
}

TEST(no_such_bus) {
        struct mnl_socket *nl = (struct mnl_socket*) &nl;

        ASSERT_TRUE(netlink_open(MAX_LINKS + 1, &nl) < 0);
        ASSERT_TRUE(netlink_open(-1, &nl) < 0);
        ASSERT_TRUE(nl == (struct mnl_socket*) &nl);
}

DEFINE_TEST_MAIN
