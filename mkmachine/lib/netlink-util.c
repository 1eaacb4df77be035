/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <sys/socket.h>

#include "netlink-util.h"

int netlink_open(int bus, struct mnl_socket **ret) {
        struct mnl_socket *nl;

        nl = mnl_socket_open2(bus, SOCK_CLOEXEC);
        if (!nl)
                return -errno;
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                int r = -errno;
                (void) mnl_socket_close(nl);
                return r;
        }
        *ret = nl;
        return 0;
}
