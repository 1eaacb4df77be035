/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "nspawn-settings.h"

/* systemd-nspawn publishes a machine's Port= forwards as elements of an nftables map: table
 * "io.systemd.nat" (families ip and ip6), map "map_port_ipport", keyed by protocol . host port. A
 * nspawn that is killed never removes them, and the next start then fails to add its own ("Failed to
 * modify AF_INET firewall: File exists"), leaving the machine without its forward. This module removes
 * them over netlink (libnftnl/libmnl), as systemd itself talks to nftables: no nft program needed. */

/* Removes the forward elements of the given ports from both families' maps, in the current network
 * namespace. A missing table, map or element is not an error (nothing to remove). Returns the number of
 * elements removed, or -errno (EPERM without CAP_NET_ADMIN, EPROTONOSUPPORT without nf_tables, …) on
 * the first failure, with the family in *reterr_family if non-NULL. */
int nft_forward_remove(const NspawnPort *ports, size_t n_ports, const char **reterr_family);

/* Checks that nftables can be reached and changed over netlink here: 0, or -errno (as above). Used by
 * doctor: the cleanup after a crash depends on it. */
int nft_forward_probe(void);
