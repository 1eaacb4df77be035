/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>

#include "time-util.h"

/* The network of a machine that runs an application instead of an init (Boot=no) on a private network
 * (veth, zone or bridge): nobody inside configures host0, so mkmachine does it from the host, as
 * netavark does for Podman. The machine needs no DHCP client, shell or ip.
 *
 * The host side (ve-NAME, or the bridge a vb-NAME is enslaved to) normally gets its address from
 * systemd-networkd (80-container-ve.network, 80-container-vz.network): the machine gets another one in
 * that subnet and a default route through the host side. Where networkd does not manage the link, a
 * free /28 of 192.168.0.0/16 is taken and both ends get an address (no NAT then: Port= forwards work,
 * the machine cannot reach out). */

typedef struct AppNetwork {
        struct in_addr address;         /* the machine's, on host0 */
        struct in_addr gateway;         /* the host side's */
        unsigned prefixlen;
        bool allocated;                 /* the subnet is ours: networkd did not manage the host side */
} AppNetwork;

/* Configures host0 in the network namespace netns_fd (and, when allocating, its host side in ours):
 * link up, address, default route. seed picks the address on shared subnets (the machine's name).
 * Waits up to timeout for networkd to configure the host side. -ENODEV if the namespace has no host0
 * veth, -ETIMEDOUT if networkd manages the host side but gave it no address in time, -EADDRNOTAVAIL if
 * no address is free. Idempotent: a second call leaves things as they are. */
int app_network_configure(int netns_fd, const char *seed, usec_t timeout, AppNetwork *ret);

/* The resolv.conf a machine on a private network gets: the host's name servers (from text, the host's
 * /etc/resolv.conf) without loopback ones, which the machine cannot reach; when that leaves none,
 * those of fallback (systemd-resolved's /run/systemd/resolve/resolv.conf, the upstream servers behind
 * its 127.0.0.53 stub; may be NULL). search and options lines are kept. Only what parses is written,
 * reformatted: addresses through inet_pton(), domains of [A-Za-z0-9._-]. */
int resolv_conf_for_machine(const char *text, const char *fallback, char **ret);
