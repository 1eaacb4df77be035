/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The package index model (apt-repo.c) and the resolver (resolve.c) on a small made-up index. */
#include <stdio.h>
#include <string.h>

#include "apt-repo.h"
#include "resolve.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define PKG(name, version, extra)                                                               \
        "Package: " name "\nVersion: " version "\nArchitecture: amd64\nFilename: pool/" name    \
        ".deb\nSize: 100\nSHA256: " SHA "\n" extra "\n"

static const char index_text[] =
        PKG("libc6", "2.36-9", "Priority: required\n")
        PKG("dpkg", "1.21.22", "Essential: yes\nPriority: required\nPre-Depends: libc6 (>= 2.34)\n")
        PKG("base-files", "12.4", "Essential: yes\nPriority: required\n")
        PKG("systemd", "252.39-1", "Priority: important\nDepends: libc6, dbus | dbus-broker, "
            "default-logind (>= 1) | logind\n")
        PKG("dbus", "1.14", "Priority: optional\nDepends: libdbus (= 1.14)\n")
        PKG("libdbus", "1.14", "Priority: optional\n")
        PKG("libdbus", "1.10", "Priority: optional\n")
        PKG("dbus-broker", "33", "Priority: optional\n")
        PKG("logind-a", "1.0", "Priority: optional\nProvides: logind, default-logind (= 2)\n")
        PKG("logind-b", "1.0", "Priority: extra\nProvides: logind\n")
        PKG("needs-new", "1.0", "Priority: optional\nDepends: libc6 (>= 3.0)\n")
        PKG("needs-broken", "1.0", "Priority: optional\nDepends: needs-new\n")
        PKG("foreign", "1.0", "Priority: optional\n");

static AptRepo* load(void) {
        _cleanup_free_ char *msg = NULL;
        AptRepo *repo = NULL;

        ASSERT_OK(apt_repo_new_from_index("amd64", index_text, &repo, &msg));
        return repo;
}

static bool has(DebPackage **l, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(l[i]->name, name))
                        return true;
        return false;
}

TEST(index) {
        _cleanup_(apt_repo_freep) AptRepo *repo = load();
        const DebProviders *p;

        ASSERT_STREQ(apt_repo_find(repo, "libdbus")->version, "1.14");  /* the higher version wins */
        ASSERT_TRUE(apt_repo_find(repo, "dpkg")->essential);
        ASSERT_EQ((int) apt_repo_find(repo, "systemd")->priority, (int) DEB_PRIORITY_IMPORTANT);
        p = apt_repo_providers(repo, "logind");
        ASSERT_TRUE(p);
        ASSERT_EQ(p->n, 2U);
        p = apt_repo_providers(repo, "default-logind");
        ASSERT_EQ(p->n, 1U);
        ASSERT_STREQ(p->versions[0], "2");
        ASSERT_NULL(apt_repo_find(repo, "nonexistent"));
}

TEST(minbase) {
        _cleanup_(apt_repo_freep) AptRepo *repo = load();
        _cleanup_free_ DebPackage **l = NULL;
        _cleanup_free_ char *msg = NULL;
        size_t n;

        ASSERT_OK(deb_resolve(repo, &(ResolveOptions) { .priority = DEB_PRIORITY_REQUIRED }, &l, &n, &msg));
        ASSERT_EQ(n, 3U);
        ASSERT_STREQ(l[0]->name, "base-files");   /* sorted by name */
        ASSERT_STREQ(l[1]->name, "dpkg");
        ASSERT_STREQ(l[2]->name, "libc6");
}

TEST(essential_only) {
        _cleanup_(apt_repo_freep) AptRepo *repo = load();
        _cleanup_free_ DebPackage **l = NULL;
        size_t n;

        /* Essential and what it needs (libc6 through Pre-Depends), nothing of priority alone. */
        ASSERT_OK(deb_resolve(repo, &(ResolveOptions) { .priority = _DEB_PRIORITY_INVALID }, &l, &n, NULL));
        ASSERT_EQ(n, 3U);
        ASSERT_TRUE(has(l, n, "libc6"));
}

TEST(alternatives_versions_provides) {
        _cleanup_(apt_repo_freep) AptRepo *repo = load();
        _cleanup_free_ DebPackage **l = NULL;
        size_t n;

        ASSERT_OK(deb_resolve(repo, &(ResolveOptions) {
                                      .priority = DEB_PRIORITY_IMPORTANT,
                              }, &l, &n, NULL));
        ASSERT_TRUE(has(l, n, "systemd"));
        ASSERT_TRUE(has(l, n, "dbus"));           /* the first alternative */
        ASSERT_FALSE(has(l, n, "dbus-broker"));
        ASSERT_TRUE(has(l, n, "libdbus"));
        ASSERT_TRUE(has(l, n, "logind-a"));       /* versioned Provides satisfies (>= 1) */
        ASSERT_FALSE(has(l, n, "logind-b"));
        ASSERT_FALSE(has(l, n, "foreign"));
}

TEST(exclude_picks_the_next_alternative) {
        _cleanup_(apt_repo_freep) AptRepo *repo = load();
        _cleanup_free_ DebPackage **l = NULL;
        size_t n;

        ASSERT_OK(deb_resolve(repo, &(ResolveOptions) {
                                      .priority = DEB_PRIORITY_IMPORTANT,
                                      .exclude = STRV_MAKE("dbus"),
                              }, &l, &n, NULL));
        ASSERT_FALSE(has(l, n, "dbus"));
        ASSERT_TRUE(has(l, n, "dbus-broker"));
}

TEST(errors) {
        _cleanup_(apt_repo_freep) AptRepo *repo = load();
        DebPackage **l = NULL;
        char *msg = NULL;
        size_t n;

        ASSERT_EQ(deb_resolve(repo, &(ResolveOptions) {
                                      .priority = DEB_PRIORITY_REQUIRED,
                                      .include = STRV_MAKE("needs-broken"),
                              }, &l, &n, &msg), -ESRCH);
        printf("# %s\n", msg);
        ASSERT_STREQ(msg, "Cannot satisfy Depends: libc6 (>= 3.0), of needs-new, needed by needs-broken "
                     "(included).");
        msg = mfree(msg);

        ASSERT_EQ(deb_resolve(repo, &(ResolveOptions) {
                                      .priority = DEB_PRIORITY_REQUIRED,
                                      .include = STRV_MAKE("nope"),
                              }, &l, &n, &msg), -ENOENT);
        ASSERT_TRUE(strstr(msg, "'nope'"));
        msg = mfree(msg);

        ASSERT_EQ(deb_resolve(repo, &(ResolveOptions) {
                                      .priority = DEB_PRIORITY_REQUIRED,
                                      .include = STRV_MAKE("dbus"),
                                      .exclude = STRV_MAKE("libdbus"),
                              }, &l, &n, &msg), -ESRCH);
        ASSERT_TRUE(strstr(msg, "libdbus (= 1.14), of dbus (included)"));
        free(msg);
}

TEST(bad_index) {
        AptRepo *repo = NULL;
        char *msg = NULL;

        ASSERT_EQ(apt_repo_new_from_index("amd64", "Package: x\nVersion: 1\nArchitecture: amd64\n", &repo,
                                          &msg),
                  -EBADMSG);
        ASSERT_TRUE(strstr(msg, "'x'"));
        free(msg);
        msg = NULL;
        ASSERT_EQ(apt_repo_new_from_index("amd64", PKG("x", "1", "Filename: ../../etc/passwd\n"), &repo,
                                          &msg),
                  -EBADMSG);
        free(msg);
        msg = NULL;
        ASSERT_EQ(apt_repo_new_from_index("amd64", "no colon here\n", &repo, &msg), -EBADMSG);
        ASSERT_TRUE(strstr(msg, "Line 1"));
        free(msg);
}

DEFINE_TEST_MAIN
