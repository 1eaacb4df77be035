/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "progress-bar.h"
#include "string-util.h"
#include "tests.h"

static void known_total(void) {
        Progress p = PROGRESS_BAR;

        progress_bar_set_enabled(true);
        progress_begin(&p, "Unpacking \033]0;x\a", 1000);
        progress_update(&p, 100);      /* too early: nothing drawn yet */
        ASSERT_TRUE(usleep(150 * 1000) >= 0);
        progress_update(&p, 500);
        progress_update(&p, 600);      /* rate-limited */
        progress_end(&p);
}

static void unknown_total(void) {
        Progress p = PROGRESS_BAR;

        progress_begin(&p, "Downloading", 0);
        ASSERT_TRUE(usleep(150 * 1000) >= 0);
        progress_update(&p, 1536);
        progress_end(&p);
}

static void off(void) {
        Progress p = PROGRESS_BAR;

        progress_bar_set_enabled(false);
        progress_begin(&p, "Unpacking", 1000);
        ASSERT_TRUE(usleep(150 * 1000) >= 0);
        progress_update(&p, 500);
        progress_end(&p);
}

static void message_while_drawn(void) {
        Progress p = PROGRESS_BAR;

        progress_bar_set_enabled(true);
        log_set_before_write(progress_bar_clear);
        progress_begin(&p, "Downloading", 0);
        ASSERT_TRUE(usleep(150 * 1000) >= 0);
        progress_update(&p, 1536);
        log_error("Something happened.");
        progress_end(&p);
        log_set_before_write(NULL);
}

static void child_killed_while_drawing(void) {
        Progress p = PROGRESS_BAR;
        pid_t pid;

        progress_bar_set_enabled(true);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                progress_begin(&p, "Exporting", 0);
                (void) usleep(150 * 1000);
                progress_update(&p, 2048);
                (void) fflush(stderr);
                _exit(0);       /* as if killed: the line is not erased */
        }
        ASSERT_TRUE(waitpid(pid, NULL, 0) == pid);
        progress_end_after_child(&p);
}

TEST(progress_bar) {
        _cleanup_free_ char *known = test_capture_stderr(known_total);
        _cleanup_free_ char *unknown = test_capture_stderr(unknown_total);
        _cleanup_free_ char *nothing = test_capture_stderr(off);
        _cleanup_free_ char *message = test_capture_stderr(message_while_drawn);
        _cleanup_free_ char *child = test_capture_stderr(child_killed_while_drawing);
        const char *eta;

        /* One line, the label escaped, bar, percentage, bytes, a rate and an ETA; then erased. */
        ASSERT_TRUE(startswith(known,
                "\r\033[KUnpacking \\x1b]0;x\\a [############------------]  50% 500B/1000B "));
        eta = strstr(known, "/s ETA 0:0");
        ASSERT_NOT_NULL(eta);
        ASSERT_NULL(strstr(eta, "\r\033[KUnpacking"));
        ASSERT_TRUE(endswith(known, "\r\033[K"));
        /* Without a total: bytes and rate. */
        ASSERT_TRUE(startswith(unknown, "\r\033[KDownloading 1.5K "));
        ASSERT_NOT_NULL(strstr(unknown, "/s\r\033[K"));
        ASSERT_STREQ(nothing, "");
        /* A message erases the line first and is not erased itself: the end finds no line to erase. */
        ASSERT_NOT_NULL(strstr(message, "/s\r\033[KSomething happened.\n"));
        ASSERT_TRUE(endswith(message, "Something happened.\n"));
        /* What a child drew and left is erased when its parent ends the progress after it. */
        ASSERT_TRUE(startswith(child, "\r\033[KExporting 2.0K "));
        ASSERT_TRUE(endswith(child, "/s\r\033[K"));
}

DEFINE_TEST_MAIN
