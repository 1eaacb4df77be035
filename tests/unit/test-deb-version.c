/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "deb-version.h"
#include "tests.h"

TEST(valid) {
        static const char* const good[] = {
                "0", "1.0", "1:0", "0:0", "1.0-1", "1.0-1+b1", "1.0~rc1-0ubuntu1", "2:1.2.3+dfsg-4~bpo12+1",
                "2.30-5ubuntu1", "1.0+dfsg-1", "7.88.1-10+deb12u5", "1.2-3-4", "1.0-1.1~exp1",
                "4.19.0-27", "99999999999999999999999999:1", "a1", "1a", "1.0~", "1.0-~",
        };
        static const char* const bad[] = {
                "", ":", "1:", ":1", "a:1", "1:2:3", "-1", "1.0-", "1.0_1", "1.0 1", " 1.0", "1.0\n",
                "1:-1", "1.0-1_2", "1.0-1:2", "1.0-1-", "ä", "1.0/2", "1.0-a:b",
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!deb_version_is_valid(good[i]))
                        _test_fail("'%s' should be valid", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (deb_version_is_valid(bad[i]))
                        _test_fail("'%s' should be invalid", bad[i]);
        ASSERT_FALSE(deb_version_is_valid(NULL));
}

static void check(const char *a, const char *b, int expected) {
        int r = deb_version_compare(a, b), s = deb_version_compare(b, a);

        if (r != expected)
                _test_fail("compare('%s', '%s') = %i, expected %i", a, b, r, expected);
        /* Antisymmetry. */
        if (s != -expected)
                _test_fail("compare('%s', '%s') = %i, expected %i", b, a, s, -expected);
}

TEST(compare_table) {
        static const struct {
                const char *a, *b;
                int expected;
        } cases[] = {
                { "1.0~rc1", "1.0", -1 },
                { "1.0~rc1", "1.0~rc2", -1 },
                { "1.0~~", "1.0~", -1 },
                { "1.0~~a", "1.0~~", 1 },
                { "1.0~", "1.0", -1 },
                { "1:0", "9.9", 1 },
                { "1:0", "0:9.9", 1 },
                { "2:0", "10:0", -1 },
                { "1.0-1", "1.0-1+b1", -1 },
                { "2.30-5", "2.30-5ubuntu1", -1 },
                { "0", "0:0", 0 },
                { "1", "0:1", 0 },
                { "1.0", "1.0-0", 0 },
                { "1.0", "1.0-1", -1 },
                { "00001:1", "1:1", 0 },
                { "1.0a", "1.0", 1 },
                { "1.0.0", "1.0", 1 },
                { "1.0+dfsg-1", "1.0-1", 1 },
                { "1.0+dfsg-1", "1.0.1-1", -1 },
                { "1.0a", "1.0+", -1 },
                { "1.0a", "1.0.", -1 },
                { "1.0+b1", "1.0.0", -1 },
                { "1.0+", "1.0.", -1 },
                { "1.0-1", "1.0-1", 0 },
                { "1.2.3", "1.2.3", 0 },
                { "1.10", "1.9", 1 },
                { "1.010", "1.10", 0 },
                { "1.0010", "1.9", 1 },
                { "a", "b", -1 },
                { "A", "a", -1 },
                { "Z", "a", -1 },
                { "z", "+", -1 },
                { "1a", "1Z", 1 },
                { "7.88.1-10+deb12u5", "7.88.1-10+deb12u4", 1 },
                { "7.88.1-10+deb12u10", "7.88.1-10+deb12u9", 1 },
                { "2.36-9+deb12u4", "2.36-9", 1 },
                { "252.30-1~deb12u2", "252.30-1", -1 },
                { "1:2.38.1-5+deb12u3", "2.39", 1 },
                { "1.2-3-4", "1.2-3-5", -1 },
                { "1.2-3-4", "1.2-4", 1 },           /* upstream "1.2-3" > "1.2" */
                { "99999999999999999999999999999", "99999999999999999999999999998", 1 },
                { "1.99999999999999999999999999999", "1.100000000000000000000000000000", -1 },
                { "99999999999999999999:1", "99999999999999999998:2", 1 },
                { "", "", 0 },
                { "", "0", 0 },
                { "", "~", 1 },
                { "1.0", "", 1 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                check(cases[i].a, cases[i].b, cases[i].expected);
}

TEST(compare_is_a_total_order_on_a_sorted_list) {
        /* Sorted strictly ascending: every pair must compare by index, which covers antisymmetry and
         * transitivity on this list. */
        static const char* const sorted[] = {
                "~~", "~~a", "~", "~1", "0~rc1", "0", "0.1", "0.9", "0.10", "0.10a", "0.10+", "0.10.1",
                "1~beta", "1~beta1", "1", "1-1", "1-1+b1", "1-1.1", "1-2", "1a", "1b", "1+dfsg", "1.0",
                "1.0-1", "1.0-1ubuntu1", "1.0-1ubuntu1.1", "1.0-2", "1.1", "1.10", "9", "10", "1:0~",
                "1:0", "1:1.0", "2:0.1", "10:0",
        };

        for (size_t i = 0; i < ELEMENTSOF(sorted); i++)
                for (size_t j = 0; j < ELEMENTSOF(sorted); j++)
                        check(sorted[i], sorted[j], i < j ? -1 : i > j ? 1 : 0);
}

TEST(compare_invalid_strings) {
        /* Not valid, but still ordered without crashing: "a:1" has no epoch. */
        check("a:1", "0:a:1", 0);
        check("1:", "0", 1);
        check("x y", "x z", -1);
        check("\xff", "a", 1);
}

DEFINE_TEST_MAIN
