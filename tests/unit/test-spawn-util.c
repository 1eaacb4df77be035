/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include "spawn-util.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"

TEST(output_collected) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        size_t n = 0;

        ASSERT_OK(spawn_capture(STRV_MAKE("printf", "a\\0b"), 5 * USEC_PER_SEC, &out, &n, &err));
        ASSERT_EQ(n, 3u);
        ASSERT_TRUE(memcmp(out, "a\0b", 4) == 0);       /* NUL-terminated after the data */
        ASSERT_NULL(err);                               /* stderr only on failure */
}

TEST(stdin_is_dev_null) {
        _cleanup_free_ char *out = NULL;
        size_t n = 0;

        /* cat returns at once: its input is /dev/null, not our terminal or pipe. */
        ASSERT_OK(spawn_capture(STRV_MAKE("cat"), 5 * USEC_PER_SEC, &out, &n, NULL));
        ASSERT_EQ(n, 0u);
        ASSERT_STREQ(out, "");
}

TEST(failure_with_stderr) {
        _cleanup_free_ char *out = NULL, *err = NULL;

        ASSERT_ERROR(spawn_capture(STRV_MAKE("sh", "-c", "echo oops >&2; exit 3"), 5 * USEC_PER_SEC, &out,
                                   NULL, &err), EPROTO);
        ASSERT_NOT_NULL(err);
        ASSERT_TRUE(startswith(err, "oops"));
        ASSERT_NULL(out);                               /* nothing handed out on failure */
}

TEST(not_found) {
        _cleanup_free_ char *out = NULL;

        ASSERT_ERROR(spawn_capture(STRV_MAKE("mkmachine-test-no-such-program"), 5 * USEC_PER_SEC, &out, NULL,
                                   NULL), ENOENT);
}

TEST(timeout_kills) {
        _cleanup_free_ char *out = NULL;
        usec_t start = now_usec(CLOCK_MONOTONIC);

        ASSERT_ERROR(spawn_capture(STRV_MAKE("sleep", "30"), 300 * USEC_PER_MSEC, &out, NULL, NULL),
                     ETIMEDOUT);
        ASSERT_TRUE(now_usec(CLOCK_MONOTONIC) - start < 10 * USEC_PER_SEC);
}

DEFINE_TEST_MAIN
