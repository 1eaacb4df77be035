/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The forward cleanup over netlink, against the real nf_tables of a network namespace of the test's
 * own: the map is made the way systemd-nspawn makes it (with the nft program, for the test only), and
 * nft_forward_remove() must take out exactly the stale elements. */
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"

#include "nft-forward.h"
#include "string-util.h"
#include "tests.h"

static void enter_netns(void) {
        const char *must = getenv("MKMACHINE_MUST_WORK");

        if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0 || system("command -v nft >/dev/null") != 0) {
                if (must && streq(must, "1"))
                        _test_fail("needs root, a network namespace and nft (MKMACHINE_MUST_WORK=1)");
                test_skip("needs root, a network namespace and the nft program");
        }
}

/* The element lines of nft's listing of the ip map, or "" (NULL if there is no map). */
static char* listing(const char *family) {
        char cmd[256];

        (void) snprintf(cmd, sizeof(cmd), "nft list map %s io.systemd.nat map_port_ipport 2>/dev/null | "
                        "grep -o '[a-z]* \\. [0-9]* :' | sort | tr '\\n' ' '", family);
        return test_command_output(cmd);
}

TEST(remove_stale_forwards) {
        NspawnPort ports[] = {
                { .protocol = PORT_TCP, .host = 7777, .guest = 80 },
                { .protocol = PORT_UDP, .host = 5353, .guest = 53 },
                { .protocol = PORT_TCP, .host = 9999, .guest = 99 },     /* never there */
        };
        const char *family = NULL;
        char *l;

        enter_netns();

        /* Nothing there at all: no table, nothing to remove, no error. */
        ASSERT_EQ(nft_forward_remove(ports, ELEMENTSOF(ports), NULL), 0);
        ASSERT_OK(nft_forward_probe());

        ASSERT_EQ(system("nft -f - <<'EOF'\n"
                         "table ip io.systemd.nat {\n"
                         "  map map_port_ipport {\n"
                         "    type inet_proto . inet_service : ipv4_addr . inet_service;\n"
                         "  }\n"
                         "}\n"
                         "table ip6 io.systemd.nat {\n"
                         "  map map_port_ipport {\n"
                         "    type inet_proto . inet_service : ipv6_addr . inet_service;\n"
                         "  }\n"
                         "}\n"
                         "add element ip io.systemd.nat map_port_ipport { tcp . 7777 : 10.0.0.2 . 80 }\n"
                         "add element ip io.systemd.nat map_port_ipport { udp . 5353 : 10.0.0.2 . 53 }\n"
                         "add element ip io.systemd.nat map_port_ipport { tcp . 8080 : 10.0.0.3 . 80 }\n"
                         "add element ip6 io.systemd.nat map_port_ipport { tcp . 7777 : fd00::2 . 80 }\n"
                         "EOF"), 0);
        l = listing("ip");
        ASSERT_STREQ(l, "tcp . 7777 : tcp . 8080 : udp . 5353 : ");
        free(l);

        /* Three elements of this machine (two ip, one ip6); another machine's 8080 stays. */
        ASSERT_EQ(nft_forward_remove(ports, ELEMENTSOF(ports), &family), 3);
        l = listing("ip");
        ASSERT_STREQ(l, "tcp . 8080 : ");
        free(l);
        l = listing("ip6");
        ASSERT_STREQ(l, "");
        free(l);

        /* Again: nothing left to remove. */
        ASSERT_EQ(nft_forward_remove(ports, ELEMENTSOF(ports), &family), 0);
        ASSERT_EQ(nft_forward_remove(NULL, 0, NULL), 0);
}

TEST(probe_without_rights) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};
        NspawnPort p = { .protocol = PORT_TCP, .host = 7777, .guest = 80 };

        enter_netns();
        ASSERT_EQ(system("nft add table ip io.systemd.nat"), 0);

        /* Without CAP_NET_ADMIN the kernel refuses: the probe and the cleanup say so. */
        ASSERT_OK(RET_NERRNO(syscall(SYS_capget, &h, d)));
        d[CAP_NET_ADMIN / 32].effective &= ~(1U << (CAP_NET_ADMIN % 32));
        ASSERT_OK(RET_NERRNO(syscall(SYS_capset, &h, d)));
        ASSERT_ERROR(nft_forward_probe(), EPERM);
        ASSERT_ERROR(nft_forward_remove(&p, 1, NULL), EPERM);
}

DEFINE_TEST_MAIN
