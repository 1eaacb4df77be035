/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "package-update.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"

static int parse(const char *text, PackageUpgrade **ret, size_t *ret_n, unsigned *reterr_line) {
        return package_upgrades_parse(text, strlen(text), ret, ret_n, reterr_line);
}

/* What apt-get --simulate --with-new-pkgs upgrade printed on Debian 12 (package names changed). */
TEST(parse_apt_output) {
        static const char text[] =
                "NOTE: This is only a simulation!\n"
                "      apt-get needs root privileges for real execution.\n"
                "Reading package lists...\n"
                "Building dependency tree...\n"
                "The following packages will be upgraded:\n"
                "  base-files bash libgcrypt20 mkm-pkgtest\n"
                "4 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.\n"
                "Inst base-files [12.4+deb12u11] (12.4+deb12u15 Debian:12.15/oldstable [amd64])\n"
                "Conf base-files (12.4+deb12u15 Debian:12.15/oldstable [amd64])\n"
                "Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\n"
                "Inst libgcrypt20 [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, "
                "Debian-Security:12/oldstable-security [amd64]) []\n"
                "Inst libfoo:i386 [1:2.0-1] (1:2.1-1 local:bookworm [i386])\n"
                "Inst mkm-new (1.0~rc1-1 mkm-test:bookworm [all])\n"
                "Remv old-thing [0.9]\n"
                "Conf bash (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\n";
        PackageUpgrade *u = NULL;
        size_t n = 0;

        ASSERT_OK(parse(text, &u, &n, NULL));
        ASSERT_EQ(n, (size_t) 5);
        ASSERT_STREQ(u[0].package, "base-files");
        ASSERT_STREQ(u[0].installed, "12.4+deb12u11");
        ASSERT_STREQ(u[0].candidate, "12.4+deb12u15");
        ASSERT_STREQ(u[0].architecture, "amd64");
        ASSERT_STREQ(u[1].package, "bash");
        ASSERT_STREQ(u[2].package, "libgcrypt20");
        ASSERT_STREQ(u[2].candidate, "1.10.1-3+deb12u1");
        ASSERT_STREQ(u[2].architecture, "amd64");
        ASSERT_STREQ(u[3].package, "libfoo:i386");
        ASSERT_STREQ(u[3].installed, "1:2.0-1");
        ASSERT_STREQ(u[3].candidate, "1:2.1-1");
        ASSERT_STREQ(u[3].architecture, "i386");
        /* Newly installed: no installed version. */
        ASSERT_STREQ(u[4].package, "mkm-new");
        ASSERT_NULL(u[4].installed);
        ASSERT_STREQ(u[4].candidate, "1.0~rc1-1");
        ASSERT_STREQ(u[4].architecture, "all");
        package_upgrade_array_free(u, n);
}

TEST(parse_nothing_pending) {
        PackageUpgrade *u = (PackageUpgrade*) 1;
        size_t n = 7;

        ASSERT_OK(parse("Reading package lists...\n0 upgraded, 0 newly installed, 0 to remove and 0 not "
                        "upgraded.\n", &u, &n, NULL));
        ASSERT_EQ(n, (size_t) 0);
        ASSERT_NULL(u);
        ASSERT_OK(package_upgrades_parse(NULL, 0, &u, &n, NULL));
        ASSERT_EQ(n, (size_t) 0);
        /* No final newline; no architecture. */
        ASSERT_OK(parse("Inst ab [1] (2 x)", &u, &n, NULL));
        ASSERT_EQ(n, (size_t) 1);
        ASSERT_NULL(u[0].architecture);
        ASSERT_STREQ(u[0].candidate, "2");
        package_upgrade_array_free(u, n);
}

TEST(parse_malformed) {
        static const char *const bad[] = {
                "Inst \n",
                "Inst a [1] (2 x [amd64])\n",                   /* one-letter name */
                "Inst Bash [1] (2 x [amd64])\n",                /* upper case */
                "Inst -bash [1] (2 x [amd64])\n",
                "Inst bash/x [1] (2 x [amd64])\n",
                "Inst bash: [1] (2 x [amd64])\n",
                "Inst bash:AMD [1] (2 x [amd64])\n",
                "Inst bash [] (2 x [amd64])\n",
                "Inst bash [1 (2 x [amd64])\n",
                "Inst bash [1 2] (2 x [amd64])\n",              /* a space in a version */
                "Inst bash [1]\n",                              /* no candidate */
                "Inst bash [1] 2\n",
                "Inst bash [1] ( x [amd64])\n",
                "Inst bash [1] (2\x1b[31m x [amd64])\n",        /* a terminal escape in a version */
                "Inst bash [1] (2 x [amd64]\n",                 /* no ')' */
                "Inst bash [1] (2 x amd64])\n",
                "Inst bash [1] (2 x [am d64])\n",
                "Inst bash [1] (2 x [])\n",
                "Inst bash [1] ())\n",
                "Inst bash  [1] (2 x [amd64])\n",
        };
        PackageUpgrade *u = NULL;
        size_t n = 0;
        unsigned line = 0;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                line = 0;
                ASSERT_ERROR(parse(bad[i], &u, &n, &line), EBADMSG);
                ASSERT_EQ(line, 1u);
        }
        /* The failing line is named; what was parsed before it is freed. */
        ASSERT_ERROR(parse("Inst ok [1] (2 x [amd64])\nfoo\nInst b@d [1] (2 x [amd64])\n", &u, &n, &line),
                     EBADMSG);
        ASSERT_EQ(line, 3u);
        /* A NUL inside an Inst line. */
        ASSERT_ERROR(package_upgrades_parse("Inst ab\0 [1] (2 x)\n", 19, &u, &n, NULL), EBADMSG);
}

TEST(parse_limits) {
        _cleanup_free_ char *big = NULL, *many = NULL;
        PackageUpgrade *u = NULL;
        size_t n = 0, size = 0;
        FILE *f;

        big = malloc(PACKAGE_UPGRADE_LINE_MAX + 2);
        ASSERT_NOT_NULL(big);
        memset(big, 'x', PACKAGE_UPGRADE_LINE_MAX + 1);
        big[PACKAGE_UPGRADE_LINE_MAX + 1] = 0;
        ASSERT_ERROR(parse(big, &u, &n, NULL), E2BIG);

        f = open_memstream(&many, &size);
        ASSERT_NOT_NULL(f);
        for (unsigned i = 0; i <= PACKAGE_UPGRADES_MAX; i++)
                fprintf(f, "Inst p%u [1] (2 x [amd64])\n", i);
        ASSERT_EQ(fclose(f), 0);
        ASSERT_ERROR(package_upgrades_parse(many, size, &u, &n, NULL), E2BIG);
        /* One fewer is fine. */
        size = strrchr(many, 'I') - many;
        ASSERT_OK(package_upgrades_parse(many, size, &u, &n, NULL));
        ASSERT_EQ(n, (size_t) PACKAGE_UPGRADES_MAX);
        package_upgrade_array_free(u, n);
}

/* In the bootstrap's sandbox (build-env): without the network a program in the tree sees only a
 * loopback device; with it, the host's; its exit status comes back. The tree: the host's busybox and
 * its libraries. */
TEST(run_in_tree_without_network) {
        char tree[] = "/var/tmp/test-package-update.XXXXXX", cmd[512];
        _cleanup_close_ int root = -EBADF;

        if (geteuid() != 0 || access("/bin/busybox", X_OK) < 0)
                test_skip("needs root and /bin/busybox");
        ASSERT_NOT_NULL(mkdtemp(tree));
        (void) snprintf(cmd, sizeof(cmd),
                        "set -e; cd %s; mkdir -p bin usr proc sys dev run tmp etc; cp /bin/busybox bin/; "
                        "ln -s busybox bin/sh; ln -s busybox bin/grep; ln -s busybox bin/test; "
                        "for l in $(ldd /bin/busybox | grep -o '/[^ ]*'); do mkdir -p .$(dirname $l); "
                        "cp -L $l .$l; done", tree);
        ASSERT_EQ(system(cmd), 0);
        root = open(tree, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(root >= 0);
        ASSERT_EQ(package_update_run_in_tree(root, false, STRV_MAKE("/bin/sh", "-c",
                                             "test \"$(grep -c : /proc/net/dev)\" = 1"), -EBADF), 0);
        ASSERT_EQ(package_update_run_in_tree(root, false, STRV_MAKE("/bin/sh", "-c", "exit 3"), -EBADF),
                  3);
        ASSERT_EQ(package_update_run_in_tree(root, true, STRV_MAKE("/bin/sh", "-c", "exit 4"), -EBADF), 4);
        (void) snprintf(cmd, sizeof(cmd), "rm -rf %s", tree);
        ASSERT_EQ(system(cmd), 0);
}

TEST(mode_range) {
        ASSERT_TRUE(PACKAGE_UPDATE_CHECK >= 0 && PACKAGE_UPDATE_INSTALL < _PACKAGE_UPDATE_MODE_MAX);
        ASSERT_EQ(_PACKAGE_UPDATE_MODE_INVALID, -EINVAL);
}

DEFINE_TEST_MAIN
