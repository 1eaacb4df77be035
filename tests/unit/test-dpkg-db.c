/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>

#include "dpkg-db.h"
#include "fd-util.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"

#define CONTROL_LIBC6                                                                   \
        "Package: libc6\n"                                                              \
        "Source: glibc\n"                                                               \
        "Version: 2.36-9+deb12u10\n"                                                    \
        "Architecture: amd64\n"                                                         \
        "Multi-Arch: same\n"                                                            \
        "Depends: libgcc-s1\n"                                                          \
        "Description: GNU C Library: Shared libraries\n"                                \
        " Contains the standard libraries.\n"                                           \
        " .\n"                                                                          \
        " More.\n"

TEST(control_multi_arch_same) {
        _cleanup_(dpkg_control_done) DpkgControl c = {};
        _cleanup_free_ char *msg = NULL, *paragraph = NULL;

        ASSERT_OK(dpkg_control_parse(CONTROL_LIBC6, strlen(CONTROL_LIBC6), &c, &msg));
        ASSERT_STREQ(c.package, "libc6");
        ASSERT_STREQ(c.version, "2.36-9+deb12u10");
        ASSERT_STREQ(c.architecture, "amd64");
        ASSERT_TRUE(c.multi_arch_same);
        ASSERT_STREQ(c.info_name, "libc6:amd64");
        /* Package is written by dpkg_status_paragraph() itself, continuation lines are kept. */
        ASSERT_STREQ(c.fields, "Source: glibc\nVersion: 2.36-9+deb12u10\nArchitecture: amd64\n"
                     "Multi-Arch: same\nDepends: libgcc-s1\nDescription: GNU C Library: Shared libraries\n"
                     " Contains the standard libraries.\n .\n More.\n");

        ASSERT_OK(dpkg_status_paragraph(&c, STRV_MAKE("/etc/ld.so.conf.d/x86_64-linux-gnu.conf"),
                                        STRV_MAKE("d4e7a7b88a71b5ffd9e2644e71a0cfab"), &paragraph));
        ASSERT_TRUE(startswith(paragraph, "Package: libc6\nStatus: install ok unpacked\nSource: glibc\n"));
        ASSERT_TRUE(endswith(paragraph, " More.\nConffiles:\n"
                             " /etc/ld.so.conf.d/x86_64-linux-gnu.conf d4e7a7b88a71b5ffd9e2644e71a0cfab\n"));
}

TEST(control_drops_status_fields) {
        static const char text[] =
                "Package: bash\nStatus: purge ok not-installed\nVersion: 5.2\nArchitecture: amd64\n"
                "Conffiles:\n /etc/evil 0123\nConfig-Version: 1\nMulti-Arch: foreign\nEssential: yes\n\n\n";
        _cleanup_(dpkg_control_done) DpkgControl c = {};
        _cleanup_free_ char *paragraph = NULL;

        ASSERT_OK(dpkg_control_parse(text, strlen(text), &c, NULL));
        ASSERT_FALSE(c.multi_arch_same);
        ASSERT_STREQ(c.info_name, "bash");
        ASSERT_STREQ(c.fields, "Version: 5.2\nArchitecture: amd64\nMulti-Arch: foreign\nEssential: yes\n");
        ASSERT_OK(dpkg_status_paragraph(&c, NULL, NULL, &paragraph));
        ASSERT_STREQ(paragraph, "Package: bash\nStatus: install ok unpacked\nVersion: 5.2\n"
                     "Architecture: amd64\nMulti-Arch: foreign\nEssential: yes\n");
}

TEST(control_multi_arch_same_all) {
        static const char text[] = "Package: tzdata\nVersion: 2024a\nArchitecture: all\nMulti-Arch: same\n";
        _cleanup_(dpkg_control_done) DpkgControl c = {};

        ASSERT_OK(dpkg_control_parse(text, strlen(text), &c, NULL));
        ASSERT_STREQ(c.info_name, "tzdata");
}

TEST(control_errors) {
        static const struct {
                const char *text;
                const char *message;
        } cases[] = {
                { "Version: 1\nArchitecture: all\n", "missing or invalid Package" },
                { "Package: A\nVersion: 1\nArchitecture: all\n", "missing or invalid Package" },
                { "Package: a/b\nVersion: 1\nArchitecture: all\n", "missing or invalid Package" },
                { "Package: ab\nArchitecture: all\n", "missing or invalid Version" },
                { "Package: ab\nVersion: 1 2\nArchitecture: all\n", "missing or invalid Version" },
                { "Package: ab\nVersion: 1\n", "missing or invalid Architecture" },
                { "Package: ab\nVersion: 1\nArchitecture: all\n\nPackage: cd\n",
                  "control:5: more than one" },
                { " continued\nPackage: ab\n", "control:1: continuation line without a field" },
                { "Package: ab\nno colon here\n", "control:2: not a field" },
                { "Package: ab\n-Field: x\n", "control:2: not a field" },
                { "Package: ab\n#comment: x\n", "control:2: not a field" },
                { "Package: ab\npackage: cd\n", "control:2: field package given twice" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(dpkg_control_done) DpkgControl c = {};
                _cleanup_free_ char *msg = NULL;
                int r;

                r = dpkg_control_parse(cases[i].text, strlen(cases[i].text), &c, &msg);
                if (r != -EBADMSG || !msg || !strstr(msg, cases[i].message))
                        _test_fail("case %zu: returned %i, '%s'", i, r, strna(msg));
        }

        /* A NUL byte inside. */
        _cleanup_(dpkg_control_done) DpkgControl c = {};
        ASSERT_ERROR(dpkg_control_parse("Package: ab\0\n", 13, &c, NULL), EBADMSG);
}

TEST(conffiles) {
        _cleanup_strv_free_ char **paths = NULL;
        static const char text[] = "/etc/a.conf\n\n/etc/b c\r\n";

        ASSERT_ERROR(dpkg_conffiles_parse(text, strlen(text), &paths), EBADMSG);     /* a blank */
        ASSERT_OK(dpkg_conffiles_parse("/etc/a.conf\n\n/etc/b\t \n", 22, &paths));
        ASSERT_EQ(strv_length(paths), 2U);
        ASSERT_STREQ(paths[0], "/etc/a.conf");
        ASSERT_STREQ(paths[1], "/etc/b");
        paths = strv_free(paths);

        ASSERT_ERROR(dpkg_conffiles_parse("remove-on-upgrade /etc/old\n", 27, &paths), EOPNOTSUPP);
        ASSERT_ERROR(dpkg_conffiles_parse("etc/relative\n", 13, &paths), EBADMSG);
        ASSERT_OK(dpkg_conffiles_parse("", 0, &paths));
        ASSERT_NULL(paths);
}

static int collect(DpkgTriggerKind kind, const char *name, void *userdata) {
        FILE *f = userdata;

        fprintf(f, "%i %s\n", (int) kind, name);
        return 0;
}

static int triggers_dump(const char *text, char **ret, char **reterr_message) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        r = dpkg_triggers_parse(text, strlen(text), collect, f, reterr_message);
        fclose(f);
        if (r >= 0)
                *ret = TAKE_PTR(buf);
        return r;
}

TEST(triggers) {
        _cleanup_free_ char *dump = NULL, *msg = NULL;

        ASSERT_OK(triggers_dump("# comment\n\ninterest-noawait /usr/lib/x86_64-linux-gnu\n"
                                "  interest ldconfig  \nactivate-noawait ldconfig\n"
                                "interest-await foo\nactivate bar\nactivate-await baz\n", &dump, NULL));
        ASSERT_STREQ(dump, "1 /usr/lib/x86_64-linux-gnu\n0 ldconfig\n3 ldconfig\n0 foo\n2 bar\n2 baz\n");

        ASSERT_ERROR(triggers_dump("interest ok\nlisten x\n", &dump, &msg), EBADMSG);
        ASSERT_STREQ(msg, "triggers:2: unknown directive 'listen'");
        msg = mfree(msg);
        ASSERT_ERROR(triggers_dump("interest a b\n", &dump, &msg), EBADMSG);
        ASSERT_STREQ(msg, "triggers:1: more than one trigger name");
        msg = mfree(msg);
        /* Names that would be paths, or dpkg's own files, in triggers/. */
        static const char *const bad_names[] = {
                "interest ../x", "interest a/b", "interest File", "interest Unincorp", "interest .hidden",
                "interest", "interest caf\xc3\xa9",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++) {
                msg = mfree(msg);
                if (triggers_dump(bad_names[i], &dump, &msg) != -EBADMSG || !strstr(strna(msg), "invalid"))
                        _test_fail("'%s' accepted: %s", bad_names[i], strna(msg));
        }
}

TEST(info_name) {
        _cleanup_free_ char *a = dpkg_info_name("libc6", "amd64", true),
                *b = dpkg_info_name("tzdata", "all", true),
                *c = dpkg_info_name("bash", "amd64", false);

        ASSERT_STREQ(a, "libc6:amd64");
        ASSERT_STREQ(b, "tzdata");
        ASSERT_STREQ(c, "bash");
}

TEST(info_member_names) {
        ASSERT_TRUE(dpkg_info_member_ok("postinst"));
        ASSERT_TRUE(dpkg_info_member_ok("md5sums"));
        ASSERT_FALSE(dpkg_info_member_ok("control"));
        ASSERT_FALSE(dpkg_info_member_ok("list"));
        ASSERT_FALSE(dpkg_info_member_ok("a.b"));
        ASSERT_FALSE(dpkg_info_member_ok(""));
        ASSERT_FALSE(dpkg_info_member_ok("x y"));
}

DEFINE_TEST_MAIN
