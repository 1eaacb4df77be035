/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* host0 configured from outside, against real links: the test runs in a network namespace of its own
 * (the "host"), each case makes a "machine" namespace with a veth whose end there is host0, as
 * systemd-nspawn does; ip(8) makes the links and reads the result, for the test only. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app-network.h"
#include "fd-util.h"
#include "macro.h"
#include "string-util.h"
#include "tests.h"

static bool in_netns = false;

static void enter_netns(void) {
        const char *must = getenv("MKMACHINE_MUST_WORK");

        if (in_netns)
                return;
        if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0 || system("command -v ip >/dev/null") != 0) {
                if (must && streq(must, "1"))
                        _test_fail("needs root, a network namespace and ip (MKMACHINE_MUST_WORK=1)");
                test_skip("needs root, a network namespace and the ip program");
        }
        ASSERT_EQ(system("ip link set lo up"), 0);
        in_netns = true;
}

typedef struct Machine {
        pid_t pid;
        int netns_fd;
} Machine;

/* A process in a new network namespace (the machine's); with veth, a veth HOSTSIDE/host0 into it. */
static void machine_start(Machine *m, const char *hostside) {
        int p[2];
        char c, cmd[256];

        enter_netns();
        ASSERT_OK(RET_NERRNO(pipe(p)));
        m->pid = fork();
        ASSERT_TRUE(m->pid >= 0);
        if (m->pid == 0) {
                if (unshare(CLONE_NEWNET) < 0)
                        _exit(1);
                (void) write(p[1], "x", 1);
                pause();
                _exit(0);
        }
        ASSERT_EQ(read(p[0], &c, 1), 1);
        close(p[0]);
        close(p[1]);
        (void) snprintf(cmd, sizeof(cmd), "/proc/%i/ns/net", (int) m->pid);
        m->netns_fd = open(cmd, O_RDONLY|O_CLOEXEC);
        ASSERT_TRUE(m->netns_fd >= 0);
        if (hostside) {
                (void) snprintf(cmd, sizeof(cmd), "ip link add %s type veth peer name host0 netns %i",
                                hostside, (int) m->pid);
                ASSERT_EQ(system(cmd), 0);
        }
}

static void machine_stop(Machine *m) {
        safe_close(m->netns_fd);
        (void) kill(m->pid, SIGKILL);
        (void) waitpid(m->pid, NULL, 0);
}

/* What ip prints for cmd inside the machine, as one line. */
static char* in_machine(const Machine *m, const char *cmd) {
        char line[512];

        (void) snprintf(line, sizeof(line), "nsenter --net=/proc/%i/ns/net %s 2>&1 | tr -s ' \\n' ' '",
                        (int) m->pid, cmd);
        return test_command_output(line);
}

static char* addr_str(struct in_addr a) {
        char buf[INET_ADDRSTRLEN];

        ASSERT_NOT_NULL(inet_ntop(AF_INET, &a, buf, sizeof(buf)));
        return strdup(buf);
}

TEST(veth_with_host_address) {
        Machine m;
        AppNetwork n, again;
        _cleanup_free_ char *addr = NULL, *route = NULL, *link = NULL, *a = NULL, *g = NULL;

        machine_start(&m, "ve-t1");
        ASSERT_EQ(system("ip addr add 10.9.0.1/28 dev ve-t1 && ip link set ve-t1 up"), 0);

        ASSERT_OK(app_network_configure(m.netns_fd, "t1", 2 * USEC_PER_SEC, &n));
        a = addr_str(n.address);
        g = addr_str(n.gateway);
        ASSERT_STREQ(a, "10.9.0.2");
        ASSERT_STREQ(g, "10.9.0.1");
        ASSERT_EQ(n.prefixlen, 28u);
        ASSERT_FALSE(n.allocated);

        addr = in_machine(&m, "ip -o -4 addr show dev host0");
        ASSERT_NOT_NULL(strstr(addr, "inet 10.9.0.2/28 brd 10.9.0.15"));
        route = in_machine(&m, "ip -4 route show default");
        ASSERT_STREQ(route, "default via 10.9.0.1 dev host0 proto static ");
        link = in_machine(&m, "ip -o link show dev host0");
        ASSERT_NOT_NULL(strstr(link, ",UP"));

        /* Again (a restart of the helper): the same, no error. */
        ASSERT_OK(app_network_configure(m.netns_fd, "t1", 2 * USEC_PER_SEC, &again));
        ASSERT_EQ(again.address.s_addr, n.address.s_addr);
        free(addr);
        addr = in_machine(&m, "ip -o -4 addr show dev host0 | wc -l");
        ASSERT_STREQ(addr, "1 ");
        machine_stop(&m);
}

TEST(veth_unmanaged_gets_a_free_subnet) {
        Machine m;
        AppNetwork n;
        _cleanup_free_ char *addr = NULL, *a = NULL;

        /* The lower half of 192.168.0.0/16 is taken on the host: the allocation avoids it. */
        machine_start(&m, "ve-t2");
        ASSERT_EQ(system("ip link add x-t2 type veth peer name y-t2 && "
                         "ip addr add 192.168.0.1/17 dev x-t2"), 0);

        ASSERT_OK(app_network_configure(m.netns_fd, "t2", 2 * USEC_PER_SEC, &n));
        ASSERT_TRUE(n.allocated);
        ASSERT_EQ(n.prefixlen, 28u);
        ASSERT_TRUE((ntohl(n.gateway.s_addr) & 0xFFFF8000U) == 0xC0A88000U);
        ASSERT_EQ(ntohl(n.address.s_addr), ntohl(n.gateway.s_addr) + 1);
        a = addr_str(n.gateway);
        /* The host side (in the test's namespace) has the gateway address. */
        {
                _cleanup_free_ char *hostside = test_command_output("ip -o -4 addr show dev ve-t2");

                ASSERT_NOT_NULL(strstr(hostside, strjoina("inet ", a, "/28")));
        }
        addr = in_machine(&m, "ip -4 route show default");
        ASSERT_STREQ(addr, strjoina("default via ", a, " dev host0 proto static "));
        ASSERT_EQ(system("ip link del x-t2"), 0);
        machine_stop(&m);
}

TEST(bridge) {
        Machine m;
        AppNetwork n;
        _cleanup_free_ char *a = NULL;

        /* A bridge without an address is someone else's: no address is invented in it. */
        machine_start(&m, "vb-t3");
        ASSERT_EQ(system("ip link add br-t3 type bridge && ip link set vb-t3 master br-t3 && "
                         "ip link set br-t3 up && ip link set vb-t3 up"), 0);
        ASSERT_ERROR(app_network_configure(m.netns_fd, "t3", 2 * USEC_PER_SEC, &n), EADDRNOTAVAIL);

        /* With one (a zone's, from networkd): an address in its subnet, picked by name. */
        ASSERT_EQ(system("ip addr add 10.7.0.1/24 dev br-t3"), 0);
        ASSERT_OK(app_network_configure(m.netns_fd, "t3", 2 * USEC_PER_SEC, &n));
        a = addr_str(n.gateway);
        ASSERT_STREQ(a, "10.7.0.1");
        ASSERT_TRUE((ntohl(n.address.s_addr) & 0xFFFFFF00U) == 0x0A070000U);
        ASSERT_NE(ntohl(n.address.s_addr), 0x0A070001U);
        ASSERT_NE(ntohl(n.address.s_addr) & 0xFF, 0xFFU);
        ASSERT_NE(ntohl(n.address.s_addr) & 0xFF, 0U);
        ASSERT_EQ(system("ip link del br-t3"), 0);
        machine_stop(&m);
}

TEST(no_host0) {
        Machine m;
        AppNetwork n;

        /* --network=none (or an interface of the user's moved in): nothing of ours to configure. */
        machine_start(&m, NULL);
        ASSERT_ERROR(app_network_configure(m.netns_fd, "t4", USEC_PER_SEC, &n), ENODEV);

        /* The payload (root in its namespace) made a "host0" veth of its own: refused, nothing of the
         * host is touched (its peer's index might name some link of the host). */
        {
                char cmd[256];

                (void) snprintf(cmd, sizeof(cmd), "nsenter --net=/proc/%i/ns/net ip link add host0 type "
                                "veth peer name fake0", (int) m.pid);
                ASSERT_EQ(system(cmd), 0);
        }
        ASSERT_ERROR(app_network_configure(m.netns_fd, "t4", USEC_PER_SEC, &n), ENODEV);
        machine_stop(&m);

        /* A host0 whose host side is not systemd-nspawn's (ve-…, vb-…): refused too. */
        machine_start(&m, "eth-t4");
        ASSERT_EQ(system("ip addr add 10.8.0.1/28 dev eth-t4 && ip link set eth-t4 up"), 0);
        ASSERT_ERROR(app_network_configure(m.netns_fd, "t4", USEC_PER_SEC, &n), ENODEV);
        ASSERT_EQ(system("ip link del eth-t4"), 0);
        machine_stop(&m);
}

TEST(resolv_conf) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

        /* Loopback servers are dropped, the rest reformatted; search and options kept if valid. */
        ASSERT_EQ(resolv_conf_for_machine("# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.1  \n"
                                          "nameserver ::1\nnameserver 2001:db8::0001\n"
                                          "search example.org lan\noptions edns0 ndots:2 bad;x\n",
                                          NULL, &a), 2);
        ASSERT_TRUE(endswith(a, "nameserver 10.0.0.1\nnameserver 2001:db8::1\nsearch example.org lan\n"
                             "options edns0 ndots:2\n"));

        /* Only resolved's stub: its upstream servers, not its search list. */
        ASSERT_EQ(resolv_conf_for_machine("nameserver 127.0.0.53\nsearch home\n",
                                          "nameserver 192.0.2.53\nsearch other\n", &b), 1);
        ASSERT_TRUE(endswith(b, "nameserver 192.0.2.53\nsearch home\n"));

        /* Hostile text: nothing but parsed values gets through. */
        ASSERT_EQ(resolv_conf_for_machine("nameserver 1.2.3.4\x1b[2J\nnameserver 1.2.3.4;rm\n"
                                          "search a\x1b]0;b\noptions x:\x07\n", NULL, &c), 0);
        ASSERT_NULL(strchr(c, '\x1b'));
        ASSERT_NULL(strchr(c, '\x07'));
        ASSERT_NULL(strstr(c, "nameserver"));
        ASSERT_NULL(strstr(c, "search"));

        ASSERT_EQ(resolv_conf_for_machine("", NULL, &d), 0);
        ASSERT_TRUE(startswith(d, "# Written by mkmachine"));
}

DEFINE_TEST_MAIN
