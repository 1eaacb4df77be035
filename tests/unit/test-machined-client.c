/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/socket.h>

#include "machined-client.h"
#include "tests.h"

TEST(address_format) {
        static const uint8_t v4[4] = { 192, 168, 7, 18 };
        static const uint8_t v6[16] = { 0xfe, 0x80, [14] = 0x12, [15] = 0x34 };
        char *s = NULL;

        ASSERT_OK(machine_address_format(AF_INET, v4, sizeof(v4), &s));
        ASSERT_STREQ(s, "192.168.7.18");
        free(s);
        ASSERT_OK(machine_address_format(AF_INET6, v6, sizeof(v6), &s));
        ASSERT_STREQ(s, "fe80::1234");
        free(s);
        s = NULL;

        ASSERT_ERROR(machine_address_format(AF_INET, v6, sizeof(v6), &s), EINVAL);
        ASSERT_ERROR(machine_address_format(AF_INET6, v4, sizeof(v4), &s), EINVAL);
        ASSERT_ERROR(machine_address_format(AF_UNIX, v4, sizeof(v4), &s), EAFNOSUPPORT);
        ASSERT_NULL(s);
}

TEST(timespan) {
        char buf[TIMESPAN_STRING_MAX];

        ASSERT_STREQ(format_timespan_short(buf, sizeof(buf), 0), "0s");
        ASSERT_STREQ(format_timespan_short(buf, sizeof(buf), 999999), "0s");
        ASSERT_STREQ(format_timespan_short(buf, sizeof(buf), 7 * USEC_PER_SEC), "7s");
        ASSERT_STREQ(format_timespan_short(buf, sizeof(buf), 252 * USEC_PER_SEC), "4min 12s");
        ASSERT_STREQ(format_timespan_short(buf, sizeof(buf), 3600 * USEC_PER_SEC), "1h");
        ASSERT_STREQ(format_timespan_short(buf, sizeof(buf), (2 * 3600 + 5 * 60 + 9) * USEC_PER_SEC),
                     "2h 5min");
        ASSERT_STREQ(format_timespan_short(buf, sizeof(buf), (3 * 86400 + 4 * 3600) * USEC_PER_SEC),
                     "3d 4h");
        ASSERT_STREQ(format_timespan_short(buf, sizeof(buf), (86400 + 59) * USEC_PER_SEC), "1d");
        /* A small buffer still gets a terminated string. */
        ASSERT_STREQ(format_timespan_short(buf, 4, 252 * USEC_PER_SEC), "4mi");
}

DEFINE_TEST_MAIN
