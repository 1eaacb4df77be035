/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <linux/magic.h>

#include <sys/stat.h>

#include "fd-util.h"
#include "host-check.h"
#include "tests.h"

TEST(verdict_table) {
        for (CheckVerdict v = 0; v < _CHECK_VERDICT_MAX; v++)
                ASSERT_EQ(check_verdict_from_string(check_verdict_to_string(v)), v);
        ASSERT_EQ(check_verdict_from_string("bad"), _CHECK_VERDICT_INVALID);
        for (CgroupMode m = 0; m < _CGROUP_MODE_MAX; m++)
                ASSERT_EQ(cgroup_mode_from_string(cgroup_mode_to_string(m)), m);
        ASSERT_EQ(cgroup_mode_from_string(NULL), _CGROUP_MODE_INVALID);
}

TEST(systemd_version) {
        unsigned v = 0;

        ASSERT_OK(systemd_version_parse("systemd 252 (252.39-1~deb12u2)\n+PAM +AUDIT\n", &v));
        ASSERT_EQ(v, 252U);
        ASSERT_OK(systemd_version_parse("systemd 256~rc1 (256~rc1-1)\n", &v));
        ASSERT_EQ(v, 256U);
        ASSERT_OK(systemd_version_parse("systemd 245\n", &v));
        ASSERT_EQ(v, 245U);
        ASSERT_ERROR(systemd_version_parse("systemd-nspawn 252\n", &v), EBADMSG);
        ASSERT_ERROR(systemd_version_parse("systemd abc\n", &v), EBADMSG);
        ASSERT_ERROR(systemd_version_parse("systemd 25x\n", &v), EBADMSG);
        ASSERT_ERROR(systemd_version_parse("", &v), EBADMSG);
        ASSERT_ERROR(systemd_version_parse("systemd 99999999999999999999\n", &v), EBADMSG);
        ASSERT_TRUE(NSPAWN_VERSION_MIN <= 252);
}

TEST(sysctl) {
        long v = 7;

        ASSERT_OK(sysctl_parse_int("1\n", &v));
        ASSERT_EQ(v, 1);
        ASSERT_OK(sysctl_parse_int("0", &v));
        ASSERT_EQ(v, 0);
        ASSERT_OK(sysctl_parse_int(" -5 \n", &v));
        ASSERT_EQ(v, -5);
        ASSERT_ERROR(sysctl_parse_int("", &v), EBADMSG);
        ASSERT_ERROR(sysctl_parse_int("1 2\n", &v), EBADMSG);
        ASSERT_ERROR(sysctl_parse_int("yes\n", &v), EBADMSG);
        ASSERT_ERROR(sysctl_parse_int("1\n0\n", &v), EBADMSG);
}

TEST(prefix) {
        Ipv4Prefix a, b, pool;
        char buf[IPV4_PREFIX_STRING_MAX];

        ASSERT_OK(ipv4_prefix_from_string(NETWORKD_CONTAINER_POOL, &pool));
        ASSERT_STREQ(ipv4_prefix_to_string(&pool, buf, sizeof(buf)), "192.168.0.0/16");

        /* Host bits are cleared. */
        ASSERT_OK(ipv4_prefix_from_string("10.88.3.4/16", &a));
        ASSERT_STREQ(ipv4_prefix_to_string(&a, buf, sizeof(buf)), "10.88.0.0/16");
        ASSERT_FALSE(ipv4_prefix_overlap(&a, &pool));

        ASSERT_OK(ipv4_prefix_from_string("192.168.7.0/24", &b));
        ASSERT_TRUE(ipv4_prefix_overlap(&b, &pool));
        ASSERT_TRUE(ipv4_prefix_overlap(&pool, &b));

        /* The whole 192.0.0.0/8 contains the pool. */
        ASSERT_OK(ipv4_prefix_from_string("192.0.0.0/8", &b));
        ASSERT_TRUE(ipv4_prefix_overlap(&b, &pool));
        /* Right next to it: no overlap. */
        ASSERT_OK(ipv4_prefix_from_string("192.169.0.0/16", &b));
        ASSERT_FALSE(ipv4_prefix_overlap(&b, &pool));
        ASSERT_OK(ipv4_prefix_from_string("192.167.255.255", &b));
        ASSERT_EQ(b.length, 32U);
        ASSERT_FALSE(ipv4_prefix_overlap(&b, &pool));
        ASSERT_OK(ipv4_prefix_from_string("0.0.0.0/0", &b));
        ASSERT_TRUE(ipv4_prefix_overlap(&b, &pool));

        ASSERT_ERROR(ipv4_prefix_from_string("fd00::/8", &b), EINVAL);
        ASSERT_ERROR(ipv4_prefix_from_string("10.0.0.0/33", &b), EINVAL);
        ASSERT_ERROR(ipv4_prefix_from_string("10.0.0.0/", &b), EINVAL);
        ASSERT_ERROR(ipv4_prefix_from_string("10.0.0/8", &b), EINVAL);
        ASSERT_ERROR(ipv4_prefix_from_string("/8", &b), EINVAL);
        ASSERT_ERROR(ipv4_prefix_from_string("10.0.0.0/8x", &b), EINVAL);
}

/* As the kernel writes it on little-endian machines. */
static const char route_text[] =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "wg0\t0032A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "ve-guest\t1007A8C0\t00000000\t0001\t0\t0\t0\tF0FFFFFF\t0\t0\t0\n"
        "down0\t0033A8C0\t00000000\t0000\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

TEST(routes) {
        _cleanup_free_ RouteEntry *l = NULL;
        size_t n = 0;
        unsigned line = 0;
        char buf[IPV4_PREFIX_STRING_MAX];
        Ipv4Prefix pool;

        if (htonl(1) == 1)
                test_skip("big-endian: the fixture is little-endian");

        ASSERT_OK(ipv4_prefix_from_string(NETWORKD_CONTAINER_POOL, &pool));
        ASSERT_OK(proc_net_route_parse(route_text, &l, &n, NULL));
        ASSERT_EQ(n, 4U);       /* the route that is not up is left out */
        ASSERT_STREQ(l[0].iface, "eth0");
        ASSERT_STREQ(ipv4_prefix_to_string(&l[0].destination, buf, sizeof(buf)), "0.0.0.0/0");
        ASSERT_STREQ(ipv4_prefix_to_string(&l[1].destination, buf, sizeof(buf)), "10.0.0.0/24");
        ASSERT_FALSE(ipv4_prefix_overlap(&l[1].destination, &pool));
        ASSERT_STREQ(l[2].iface, "wg0");
        ASSERT_STREQ(ipv4_prefix_to_string(&l[2].destination, buf, sizeof(buf)), "192.168.50.0/24");
        ASSERT_TRUE(ipv4_prefix_overlap(&l[2].destination, &pool));
        ASSERT_STREQ(ipv4_prefix_to_string(&l[3].destination, buf, sizeof(buf)), "192.168.7.16/28");

        free(l);
        l = NULL;
        ASSERT_OK(proc_net_route_parse("Iface\tDestination\n", &l, &n, NULL));
        ASSERT_EQ(n, 0U);

        ASSERT_ERROR(proc_net_route_parse("", &l, &n, &line), EBADMSG);
        ASSERT_EQ(line, 1U);
        ASSERT_ERROR(proc_net_route_parse("eth0 0 0 0\n", &l, &n, &line), EBADMSG);
        ASSERT_EQ(line, 1U);
        ASSERT_ERROR(proc_net_route_parse("Iface\neth0\tXX000000\t0\t0001\t0\t0\t0\t00FFFFFF\n",
                                          &l, &n, &line), EBADMSG);
        ASSERT_EQ(line, 2U);
        /* A mask that is not contiguous ones. */
        ASSERT_ERROR(proc_net_route_parse("Iface\neth0\t0000000A\t0\t0001\t0\t0\t0\t00FF00FF\n",
                                          &l, &n, &line), EBADMSG);
        ASSERT_EQ(line, 2U);
}

TEST(cgroup_mode) {
        ASSERT_EQ(cgroup_mode_from_magic(CGROUP2_SUPER_MAGIC, 0), CGROUP_UNIFIED);
        ASSERT_EQ(cgroup_mode_from_magic(TMPFS_MAGIC, CGROUP2_SUPER_MAGIC), CGROUP_HYBRID);
        ASSERT_EQ(cgroup_mode_from_magic(TMPFS_MAGIC, 0), CGROUP_LEGACY);
        ASSERT_EQ(cgroup_mode_from_magic(0, 0), CGROUP_NONE);
}

TEST(disk_free) {
        ASSERT_EQ(disk_free_verdict(0), CHECK_FAIL);
        ASSERT_EQ(disk_free_verdict(DISK_FREE_FAIL - 1), CHECK_FAIL);
        ASSERT_EQ(disk_free_verdict(DISK_FREE_FAIL), CHECK_WARN);
        ASSERT_EQ(disk_free_verdict(DISK_FREE_WARN - 1), CHECK_WARN);
        ASSERT_EQ(disk_free_verdict(DISK_FREE_WARN), CHECK_OK);
}

TEST(store_mode) {
        ASSERT_EQ(store_mode_verdict(S_IFDIR | 0700), CHECK_OK);
        ASSERT_EQ(store_mode_verdict(S_IFDIR | 0500), CHECK_OK);
        ASSERT_EQ(store_mode_verdict(S_IFDIR | 0755), CHECK_FAIL);
        ASSERT_EQ(store_mode_verdict(S_IFDIR | 0710), CHECK_FAIL);
        ASSERT_EQ(store_mode_verdict(S_IFDIR | 0701), CHECK_FAIL);
        ASSERT_EQ(store_mode_verdict(S_IFDIR | 01777), CHECK_FAIL);
}

TEST(store_mount) {
        /* A mount table of our own: the innermost mount containing the path counts, its options say
         * whether machines can work there. */
        static const char table[] =
                "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
                "30 22 0:40 / /var/lib rw,nosuid,nodev,noexec,relatime shared:2 - tmpfs tmpfs rw\n"
                "31 30 8:2 / /var/lib/machines rw,relatime shared:3 - xfs /dev/sdb1 rw\n"
                "32 22 8:3 / /srv ro,relatime shared:4 - ext4 /dev/sdc1 ro\n";
        char path[] = "/tmp/test-host-check.XXXXXX";
        _cleanup_(store_mount_done) StoreMount m = {};
        int fd = mkstemp(path);

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(loop_write(fd, table, strlen(table)));
        safe_close(fd);

        ASSERT_OK(store_mount_read(path, "/var/lib/machines/web/etc", &m));
        ASSERT_STREQ(m.target, "/var/lib/machines");
        ASSERT_STREQ(m.source, "/dev/sdb1");
        ASSERT_STREQ(m.fstype, "xfs");
        ASSERT_FALSE(m.nodev || m.nosuid || m.noexec || m.read_only);
        ASSERT_EQ(store_mount_verdict(&m), CHECK_OK);
        store_mount_done(&m);

        ASSERT_OK(store_mount_read(path, "/var/lib/other", &m));
        ASSERT_STREQ(m.target, "/var/lib");
        ASSERT_TRUE(m.nodev && m.nosuid && m.noexec && !m.read_only);
        ASSERT_EQ(store_mount_verdict(&m), CHECK_FAIL);
        store_mount_done(&m);

        ASSERT_OK(store_mount_read(path, "/srv/machines", &m));
        ASSERT_TRUE(m.read_only);
        ASSERT_EQ(store_mount_verdict(&m), CHECK_FAIL);
        store_mount_done(&m);

        ASSERT_OK(store_mount_read(path, "/home", &m));
        ASSERT_STREQ(m.target, "/");
        store_mount_done(&m);

        /* This process's own table has a mount for / at least. */
        ASSERT_OK(store_mount_read(NULL, "/", &m));
        ASSERT_STREQ(m.target, "/");

        ASSERT_OK(unlink(path));
}

TEST(forward_state) {
        ForwardFacts f = { .ip_forward = 1 };

        ASSERT_EQ(forward_state(&f), FORWARD_ON);
        ASSERT_EQ(forward_state_verdict(FORWARD_ON), CHECK_OK);

        /* Off, nobody forwards ports: a warning, or fine when networkd will turn it on anyway. */
        f = (ForwardFacts) { .networkd_active = 0 };
        ASSERT_EQ(forward_state(&f), FORWARD_OFF_UNUSED);
        ASSERT_EQ(forward_state_verdict(FORWARD_OFF_UNUSED), CHECK_WARN);
        f.networkd_active = 1;
        ASSERT_EQ(forward_state(&f), FORWARD_OFF_PENDING);

        /* Machines with ports: networkd turns it on with the first link, unless networkd.conf says no. */
        f = (ForwardFacts) { .networkd_active = 1, .port_machines = 2 };
        ASSERT_EQ(forward_state(&f), FORWARD_OFF_PENDING);
        ASSERT_EQ(forward_state_verdict(FORWARD_OFF_PENDING), CHECK_OK);
        f.networkd_will_not = true;
        ASSERT_EQ(forward_state(&f), FORWARD_OFF_NOBODY);
        ASSERT_EQ(forward_state_verdict(FORWARD_OFF_NOBODY), CHECK_FAIL);
        f = (ForwardFacts) { .networkd_active = 0, .port_machines = 1 };
        ASSERT_EQ(forward_state(&f), FORWARD_OFF_NOBODY);
        f.networkd_active = -1;
        ASSERT_EQ(forward_state(&f), FORWARD_OFF_NOBODY);

        /* ... and with one running, it should be on already: it is broken. */
        f = (ForwardFacts) { .networkd_active = 1, .port_machines = 1, .machine_links = 1 };
        ASSERT_EQ(forward_state(&f), FORWARD_OFF_BROKEN);
        ASSERT_EQ(forward_state_verdict(FORWARD_OFF_BROKEN), CHECK_FAIL);
}

DEFINE_TEST_MAIN
