/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "apt-repo.h"
#include "fd-util.h"
#include "string-util.h"
#include "tests.h"

static void write_text(const char *path, const char *text) {
        _cleanup_fclose_ FILE *f = fopen(path, "we");
        ASSERT_NOT_NULL(f);
        ASSERT_TRUE(fputs(text, f) >= 0);
}

/* A root with etc/apt/sources.list and etc/apt/sources.list.d/, as a host has them. */
static char* make_root(void) {
        char *dir = strdup("/tmp/test-apt-repo.XXXXXX");

        ASSERT_NOT_NULL(dir);
        ASSERT_NOT_NULL(mkdtemp(dir));
        ASSERT_OK(mkdir(strjoina(dir, "/etc"), 0755));
        ASSERT_OK(mkdir(strjoina(dir, "/etc/apt"), 0755));
        ASSERT_OK(mkdir(strjoina(dir, "/etc/apt/sources.list.d"), 0755));
        return dir;
}

TEST(host_sources_deb822) {
        _cleanup_free_ char *root = make_root(), *m = NULL, *s = NULL, *u = NULL;

        write_text(strjoina(root, "/etc/apt/sources.list.d/debian.sources"),
                   "Types: deb\n"
                   "# http://comment.invalid/debian-security\n"
                   "URIs: http://127.0.0.1:1/debian/\n"
                   "Suites: bookworm bookworm-updates\n"
                   "Components: main\n"
                   "\n"
                   "Types: deb-src\n"
                   "URIs: http://127.0.0.1:2/source-only\n"
                   "Suites: bookworm-security\n"
                   "\n"
                   "Types: deb\n"
                   "Enabled: no\n"
                   "URIs: http://127.0.0.1:3/disabled\n"
                   "Suites: bookworm-security\n"
                   "\n"
                   "Types: deb\n"
                   "URIs: http://127.0.0.1:4/debian-security\n"
                   "Suites: bookworm-security\n"
                   "Components: main\n");
        ASSERT_OK(host_apt_mirror(root, &m));
        ASSERT_STREQ(m, "http://127.0.0.1:1/debian");
        ASSERT_OK(host_apt_suite_mirror(root, "bookworm-security", &s));
        ASSERT_STREQ(s, "http://127.0.0.1:4/debian-security");
        ASSERT_OK(host_apt_suite_mirror(root, "bookworm-updates", &u));
        ASSERT_STREQ(u, "http://127.0.0.1:1/debian");
        /* A suite is a whole word: "bookworm" is not "bookworm-security"'s. */
        ASSERT_ERROR(host_apt_suite_mirror(root, "trixie-security", &m), ENOENT);
        ASSERT_ERROR(host_apt_suite_mirror(root, "bookworm-securit", &m), ENOENT);
        ASSERT_OK(system(strjoina("rm -rf ", root)));
}

TEST(host_sources_one_line) {
        _cleanup_free_ char *root = make_root(), *m = NULL, *s = NULL;

        write_text(strjoina(root, "/etc/apt/sources.list"),
                   "# deb http://127.0.0.1:9/commented bookworm-security main\n"
                   "deb http://127.0.0.1:1/debian bookworm main\n"
                   "deb-src http://127.0.0.1:2/src bookworm-security main\n"
                   "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
                   "http://127.0.0.1:3/debian-security/ bookworm-security main\n"
                   "deb http://127.0.0.1:1/debian bookworm-updates main\n");
        ASSERT_OK(host_apt_mirror(root, &m));
        ASSERT_STREQ(m, "http://127.0.0.1:1/debian");
        ASSERT_OK(host_apt_suite_mirror(root, "bookworm-security", &s));
        ASSERT_STREQ(s, "http://127.0.0.1:3/debian-security");
        ASSERT_ERROR(host_apt_suite_mirror(root, "bookworm-backports", &m), ENOENT);
        ASSERT_OK(system(strjoina("rm -rf ", root)));

        root = mfree(root);
        root = make_root();
        ASSERT_ERROR(host_apt_mirror(root, &m), ENOENT);
        ASSERT_ERROR(host_apt_suite_mirror(root, "bookworm-security", &m), ENOENT);
        ASSERT_OK(system(strjoina("rm -rf ", root)));
}

TEST(security_mirror_beside) {
        static const struct {
                const char *mirror, *security;
        } good[] = {
                { "http://127.0.0.1:8/debian", "http://127.0.0.1:8/debian-security" },
                { "http://127.0.0.1:8/debian/", "http://127.0.0.1:8/debian-security" },
                { "https://127.0.0.1/mirrors/debian", "https://127.0.0.1/mirrors/debian-security" },
        };
        static const char *const bad[] = {
                "http://127.0.0.1/ubuntu", "http://debian", "http://127.0.0.1/", "debian",
                "http://127.0.0.1/debian-ports",
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                _cleanup_free_ char *s = NULL;

                ASSERT_OK(apt_security_mirror_beside(good[i].mirror, &s));
                ASSERT_STREQ(s, good[i].security);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *s = NULL;

                ASSERT_ERROR(apt_security_mirror_beside(bad[i], &s), EINVAL);
                ASSERT_NULL(s);
        }
}

DEFINE_TEST_MAIN
