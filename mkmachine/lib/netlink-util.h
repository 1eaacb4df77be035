/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libmnl/libmnl.h>

/* A netlink socket of the given bus (NETLINK_ROUTE, NETLINK_NETFILTER), close-on-exec and bound, in
 * the network namespace of the calling thread. */
int netlink_open(int bus, struct mnl_socket **ret);
