/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error-util.h"
#include "fd-util.h"
#include "fs-util.h"
#include "log.h"
#include "path-util.h"
#include "process-util.h"
#include "progress.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"

TEST(filename_is_valid) {
        ASSERT_TRUE(filename_is_valid("foo"));
        ASSERT_TRUE(filename_is_valid(".foo"));
        ASSERT_FALSE(filename_is_valid(""));
        ASSERT_FALSE(filename_is_valid("."));
        ASSERT_FALSE(filename_is_valid(".."));
        ASSERT_FALSE(filename_is_valid("a/b"));
        ASSERT_FALSE(filename_is_valid(NULL));
}

TEST(path_is_safe_relative) {
        ASSERT_TRUE(path_is_safe_relative("a/b/c"));
        ASSERT_TRUE(path_is_safe_relative("./a/b/"));
        ASSERT_TRUE(path_is_safe_relative("a..b/..c"));
        ASSERT_FALSE(path_is_safe_relative("/etc"));
        ASSERT_FALSE(path_is_safe_relative("a/../b"));
        ASSERT_FALSE(path_is_safe_relative(".."));
        ASSERT_FALSE(path_is_safe_relative("a/.."));
        ASSERT_FALSE(path_is_safe_relative(""));
}

TEST(path_is_normalized_absolute) {
        ASSERT_TRUE(path_is_normalized_absolute("/var/lib/machines"));
        ASSERT_TRUE(path_is_normalized_absolute("/"));
        ASSERT_FALSE(path_is_normalized_absolute("var"));
        ASSERT_FALSE(path_is_normalized_absolute("/a//b"));
        ASSERT_FALSE(path_is_normalized_absolute("/a/./b"));
        ASSERT_FALSE(path_is_normalized_absolute("/a/.."));
}

TEST(strv) {
        _cleanup_strv_free_ char **l = NULL;

        ASSERT_EQ(strv_length(l), 0u);
        ASSERT_OK(strv_extend(&l, "a"));
        ASSERT_OK(strv_extend(&l, "b"));
        ASSERT_EQ(strv_length(l), 2u);
        ASSERT_TRUE(strv_contains(l, "b"));
        ASSERT_FALSE(strv_contains(l, "c"));
}

TEST(format_bytes) {
        char buf[FORMAT_BYTES_MAX];

        ASSERT_STREQ(format_bytes(buf, sizeof(buf), 512), "512B");
        ASSERT_STREQ(format_bytes(buf, sizeof(buf), 1536), "1.5K");
        ASSERT_STREQ(format_bytes(buf, sizeof(buf), 200 * 1024 * 1024), "200M");
}

TEST(log_returns_negative_errno) {
        log_set_max_level(LOG_EMERG);
        ASSERT_EQ(log_error_errno(SYNTHETIC_ERRNO(EINVAL), "x"), -EINVAL);
        ASSERT_EQ(log_error_errno(-ENOENT, "x"), -ENOENT);
        ASSERT_EQ(log_level_from_string("debug"), LOG_DEBUG);
        ASSERT_EQ(log_level_from_string("bogus"), -EINVAL);
}

TEST(mkdir_p_at) {
        char dir[] = "/tmp/test-basic.XXXXXX";
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        mode_t u = umask(0);

        ASSERT_NOT_NULL(mkdtemp(dir));
        fd = open(dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);

        ASSERT_OK(mkdir_p_at(fd, "a/b/c", 0755, 0700));
        ASSERT_OK(fstatat(fd, "a/b", &st, 0));
        ASSERT_EQ(st.st_mode & 07777, 0755u);
        ASSERT_OK(fstatat(fd, "a/b/c", &st, 0));
        ASSERT_EQ(st.st_mode & 07777, 0700u);
        /* Again, and with a trailing slash: nothing to do. */
        ASSERT_OK(mkdir_p_at(fd, "a/b/c/", 0755, 0700));
        ASSERT_OK(mkdir_p_at(AT_FDCWD, strjoina(dir, "/a/b/d"), 0755, 0750));
        ASSERT_OK(fstatat(fd, "a/b/d", &st, 0));
        ASSERT_EQ(st.st_mode & 07777, 0750u);
        /* A file in the way. */
        ASSERT_OK(write_file_atomic_at(fd, "f", "x", 1, 0644));
        ASSERT_ERROR(mkdir_p_at(fd, "f/g", 0755, 0755), ENOTDIR);

        umask(u);
        ASSERT_OK(rm_rf_at(AT_FDCWD, dir));
}

TEST(rm_rf_and_atomic_write) {
        char tmpl[] = "/tmp/test-basic-XXXXXX";
        _cleanup_close_ int fd = -EBADF, sub = -EBADF;
        _cleanup_free_ char *c = NULL;
        size_t n;

        ASSERT_NOT_NULL(mkdtemp(tmpl));
        fd = open(tmpl, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);

        ASSERT_OK(RET_NERRNO(mkdirat(fd, "d", 0755)));
        ASSERT_OK(RET_NERRNO(mkdirat(fd, "d/e", 0755)));
        ASSERT_OK(RET_NERRNO(symlinkat("/etc", fd, "d/link")));
        sub = open(strjoina(tmpl, "/d/e"), O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(sub >= 0);
        ASSERT_OK(write_file_atomic_at(sub, "f", "hello", 5, 0600));
        ASSERT_ERROR(write_file_atomic_at(sub, "x/y", "hello", 5, 0600), EINVAL);
        sub = safe_close(sub);
        ASSERT_OK(read_full_file_at(fd, "d/e/f", 100, &c, &n));
        ASSERT_STREQ(c, "hello");
        ASSERT_EQ(n, 5u);
        ASSERT_ERROR(read_full_file_at(fd, "d/e/f", 3, &c, &n), E2BIG);

        /* openat_in_root resolves symlinks as if the directory were '/'. */
        sub = openat_in_root(fd, "d/link/../e/f", O_RDONLY, 0);
        ASSERT_ERROR(sub, ENOENT);

        ASSERT_OK(rm_rf_at(fd, "d"));
        ASSERT_ERROR(RET_NERRNO(faccessat(fd, "d", F_OK, AT_SYMLINK_NOFOLLOW)), ENOENT);
        ASSERT_OK(access("/etc/passwd", F_OK));
        ASSERT_OK(rm_rf_at(fd, "missing"));
        ASSERT_OK(RET_NERRNO(rmdir(tmpl)));
}

/* A tree whose "etc" is an absolute symlink to a directory outside it: what is done in the tree's etc
 * must stay in the tree. */
TEST(unlink_and_symlink_in_root) {
        char tree[] = "/tmp/test-basic-tree-XXXXXX", outside[] = "/tmp/test-basic-outside-XXXXXX";
        _cleanup_close_ int fd = -EBADF, out = -EBADF;

        ASSERT_NOT_NULL(mkdtemp(tree));
        ASSERT_NOT_NULL(mkdtemp(outside));
        fd = open(tree, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        out = open(outside, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(fd >= 0 && out >= 0);
        ASSERT_OK(write_file_atomic_at(out, "hostname", "host", 4, 0644));
        ASSERT_OK(RET_NERRNO(symlinkat(outside, fd, "etc")));

        ASSERT_ERROR(unlinkat_in_root(fd, "etc/hostname", 0), ENOENT);
        ASSERT_ERROR(symlinkat_in_root("/usr/share/zoneinfo/UTC", fd, "etc/localtime"), ENOENT);
        ASSERT_OK(RET_NERRNO(faccessat(out, "hostname", F_OK, 0)));
        ASSERT_ERROR(RET_NERRNO(faccessat(out, "localtime", F_OK, AT_SYMLINK_NOFOLLOW)), ENOENT);

        /* Inside the tree both work, the last component never followed. */
        ASSERT_OK(RET_NERRNO(unlinkat(fd, "etc", 0)));
        ASSERT_OK(RET_NERRNO(mkdirat(fd, "etc", 0755)));
        ASSERT_OK(symlinkat_in_root("/usr/share/zoneinfo/UTC", fd, "etc/localtime"));
        ASSERT_OK(RET_NERRNO(symlinkat(strjoina(outside, "/hostname"), fd, "etc/hostname")));
        ASSERT_OK(unlinkat_in_root(fd, "etc/hostname", 0));
        ASSERT_OK(RET_NERRNO(faccessat(out, "hostname", F_OK, 0)));
        ASSERT_OK(unlinkat_in_root(fd, "etc/localtime", 0));
        ASSERT_ERROR(unlinkat_in_root(fd, "etc/", 0), EINVAL);

        ASSERT_OK(rm_rf_at(AT_FDCWD, tree));
        ASSERT_OK(rm_rf_at(AT_FDCWD, outside));
}

TEST(error_message) {
        _cleanup_free_ char *msg = NULL;

        ASSERT_EQ(error_message(NULL, -EIO, "dropped %s", "message"), -EIO);
        /* The first (innermost) message is kept, the later, more general one dropped. */
        ASSERT_EQ(error_message(&msg, -ENOENT, "No '%s'.", "foo"), -ENOENT);
        ASSERT_STREQ(msg, "No 'foo'.");
        ASSERT_EQ(error_message(&msg, -EIO, "Something failed."), -EIO);
        ASSERT_STREQ(msg, "No 'foo'.");

        /* %m is the error given, whatever errno says. */
        msg = mfree(msg);
        errno = EAGAIN;
        ASSERT_EQ(error_message(&msg, -ENOSPC, "Writing: %m"), -ENOSPC);
        ASSERT_STREQ(msg, "Writing: No space left on device");
        /* ... and errno is left as it was. */
        ASSERT_EQ(errno, EAGAIN);
}

/* A fail() helper as tar-unpack, download and apt-repo have it, over error_messagev(). */
typedef struct FailState {
        char *error;
} FailState;

_printf_(3, 4)
static int fail_like_a_module(FailState *s, int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        r = error_messagev(&s->error, r, format, ap);
        va_end(ap);
        return r;
}

TEST(error_messagev_percent_m) {
        FailState s = {};

        /* What errno says at the time of formatting does not matter: %m is the error given. */
        errno = ENOENT;
        ASSERT_EQ(fail_like_a_module(&s, -EROFS, "'%s': failed to set times: %m", "etc/x"), -EROFS);
        ASSERT_STREQ(s.error, "'etc/x': failed to set times: Read-only file system");
        ASSERT_EQ(errno, ENOENT);
        /* The first message wins. */
        ASSERT_EQ(fail_like_a_module(&s, -EIO, "later: %m"), -EIO);
        ASSERT_STREQ(s.error, "'etc/x': failed to set times: Read-only file system");
        free(s.error);
}

static void assert_escaped(const char *in, size_t max_len, const char *want) {
        _cleanup_free_ char *e = str_escape_terminal(in, max_len);

        ASSERT_NOT_NULL(e);
        ASSERT_STREQ(e, want);
        ASSERT_TRUE(strlen(e) <= max_len);
}

TEST(str_escape_terminal) {
        /* Plain text and valid UTF-8 stay as they are. */
        assert_escaped("debian:12 /usr/bin", SIZE_MAX, "debian:12 /usr/bin");
        assert_escaped("Gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac \xf0\x9f\x90\xa7", SIZE_MAX,
                       "Gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac \xf0\x9f\x90\xa7");
        assert_escaped("", SIZE_MAX, "");
        assert_escaped(NULL, SIZE_MAX, "");

        /* ESC and CSI/OSC sequences: the ESC is shown, so no sequence starts. */
        assert_escaped("\033[2Jx", SIZE_MAX, "\\x1b[2Jx");
        assert_escaped("\033]0;title\a", SIZE_MAX, "\\x1b]0;title\\a");
        assert_escaped("a\rb\nc\td", SIZE_MAX, "a\\rb\\nc\\td");
        assert_escaped("\x01\x7f\b\f\v", SIZE_MAX, "\\x01\\x7f\\b\\f\\v");
        /* A backslash is doubled, so that "\x1b" in the input is not mistaken for an escaped ESC. */
        assert_escaped("C:\\x1b", SIZE_MAX, "C:\\\\x1b");

        /* Raw C1 bytes, stray continuation bytes, truncated, overlong and surrogate encodings and code
         * points above U+10FFFF are not UTF-8: each byte is shown. */
        assert_escaped("\x9b" "2J", SIZE_MAX, "\\x9b2J");
        assert_escaped("a\xc3", SIZE_MAX, "a\\xc3");
        assert_escaped("\xc3(", SIZE_MAX, "\\xc3(");
        assert_escaped("\xc0\xaf", SIZE_MAX, "\\xc0\\xaf");
        assert_escaped("\xed\xa0\x80", SIZE_MAX, "\\xed\\xa0\\x80");
        assert_escaped("\xf4\x90\x80\x80", SIZE_MAX, "\\xf4\\x90\\x80\\x80");
        assert_escaped("\xff\xfe", SIZE_MAX, "\\xff\\xfe");
        /* C1 controls in UTF-8 form (U+009B is CSI), bidirectional overrides and the line separator. */
        assert_escaped("\xc2\x9b" "2J", SIZE_MAX, "\\xc2\\x9b2J");
        assert_escaped("a\xe2\x80\xae" "b", SIZE_MAX, "a\\xe2\\x80\\xaeb");
        assert_escaped("\xe2\x80\xa8", SIZE_MAX, "\\xe2\\x80\\xa8");

        /* Truncation: within max_len, ellipsis included, never inside an escape or a UTF-8 sequence. */
        assert_escaped("abcdefgh", 8, "abcdefgh");
        assert_escaped("abcdefghi", 8, "abcde\xe2\x80\xa6");
        assert_escaped("ab\033cdef", 8, "ab\xe2\x80\xa6");
        assert_escaped("abcd\033", 8, "abcd\\x1b");
        assert_escaped("abcd\033", 7, "abcd\xe2\x80\xa6");
        assert_escaped("a\xc3\xbc\xc3\xbc\xc3\xbc", 7, "a\xc3\xbc\xc3\xbc\xc3\xbc");
        assert_escaped("a\xc3\xbc\xc3\xbc\xc3\xbc", 6, "a\xc3\xbc\xe2\x80\xa6");
        assert_escaped("a\xc3\xbc\xc3\xbc\xc3\xbc", 5, "a\xe2\x80\xa6");
        assert_escaped("abcdef", 2, "ab");
        assert_escaped("abcdef", 0, "");
}

TEST(parse_boolean) {
        /* As systemd reads them: the .nspawn files, recipes and .machine files all use this one. */
        const char *yes[] = { "1", "yes", "YES", "y", "True", "t", "on" },
                *no[] = { "0", "no", "N", "false", "F", "OFF" },
                *neither[] = { "", "2", "yess", "ja", " yes", "yes " };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                ASSERT_EQ(parse_boolean(yes[i]), 1);
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                ASSERT_EQ(parse_boolean(no[i]), 0);
        for (size_t i = 0; i < ELEMENTSOF(neither); i++)
                ASSERT_ERROR(parse_boolean(neither[i]), EINVAL);
        ASSERT_ERROR(parse_boolean(NULL), EINVAL);
}

TEST(parse_size) {
        uint64_t v;

        ASSERT_OK(parse_size("0", &v));
        ASSERT_EQ(v, UINT64_C(0));
        ASSERT_OK(parse_size("4096", &v));
        ASSERT_EQ(v, UINT64_C(4096));
        ASSERT_OK(parse_size("10K", &v));
        ASSERT_EQ(v, UINT64_C(10240));
        ASSERT_OK(parse_size("3m", &v));
        ASSERT_EQ(v, UINT64_C(3) << 20);
        ASSERT_OK(parse_size("2G", &v));
        ASSERT_EQ(v, UINT64_C(2) << 30);
        ASSERT_OK(parse_size("1T", &v));
        ASSERT_EQ(v, UINT64_C(1) << 40);
        ASSERT_ERROR(parse_size("", &v), EINVAL);
        ASSERT_ERROR(parse_size("-1", &v), EINVAL);
        ASSERT_ERROR(parse_size(" 1", &v), EINVAL);
        ASSERT_ERROR(parse_size("1KB", &v), EINVAL);
        ASSERT_ERROR(parse_size("1X", &v), EINVAL);
        ASSERT_ERROR(parse_size("1.5G", &v), EINVAL);
        ASSERT_ERROR(parse_size("99999999999999999999", &v), ERANGE);
        ASSERT_ERROR(parse_size("16777216T", &v), ERANGE);
}

TEST(json_text_escape_terminal) {
        _cleanup_free_ char *a = NULL, *b = NULL;

        a = json_text_escape_terminal("{ \"a\": \"x\\u001b[2J\xc3\xbc\" }");
        ASSERT_STREQ(a, "{ \"a\": \"x\\u001b[2J\xc3\xbc\" }");
        b = json_text_escape_terminal("[ \"\x7f\xc2\x9b\xff\xe2\x80\xae\" ]");
        ASSERT_STREQ(b, "[ \"\\u007f\\u009b\\ufffd\\u202e\" ]");
}

/* Runs f() with stderr going to a temporary file; returns what it wrote. */
static void log_hostile(void) {
        log_error("Refused entry '%s'.", "x\033[2J\r\a");
}

static void log_percent_m(void) {
        int r;

        log_set_max_level(LOG_INFO);
        errno = EAGAIN;
        r = log_error_errno(-ENOSPC, "Failed to write: %m");
        ASSERT_EQ(r, -ENOSPC);
        ASSERT_EQ(errno, EAGAIN);
        r = log_error_errno(SYNTHETIC_ERRNO(EROFS), "Synthetic: %m");
        ASSERT_EQ(r, -EROFS);
}

TEST(log_percent_m_is_the_error_passed) {
        _cleanup_free_ char *text = test_capture_stderr(log_percent_m);

        ASSERT_STREQ(text, "Failed to write: No space left on device\nSynthetic: Read-only file system\n");
}

static int written_level = -1;
static char written[256];

static void writer(int level, const char *text) {
        written_level = level;
        snprintf(written, sizeof(written), "%s", text);
}

TEST(log_writer) {
        _cleanup_free_ char *out = NULL;

        /* A writer gets the message (escaped) instead of stderr. */
        log_set_writer(writer);
        out = test_capture_stderr(log_hostile);
        log_set_writer(NULL);
        ASSERT_STREQ(out, "");
        ASSERT_EQ(written_level, LOG_ERR);
        ASSERT_STREQ(written, "Refused entry 'x\\x1b[2J\\r\\a'.");
}

TEST(wait_for_child) {
        siginfo_t si;
        pid_t pid;

        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0)
                _exit(3);
        ASSERT_OK(wait_for_child(pid, &si));
        ASSERT_EQ(child_exit_status(&si), 3);

        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                (void) raise(SIGKILL);
                _exit(0);
        }
        ASSERT_OK(wait_for_child(pid, &si));
        ASSERT_EQ(child_exit_status(&si), 128 + SIGKILL);

        /* Reaped already: nothing to wait for. */
        ASSERT_ERROR(wait_for_child(pid, NULL), ECHILD);
}

TEST(log_escapes_control_characters) {
        _cleanup_free_ char *text = test_capture_stderr(log_hostile);

        /* What log_internal() writes to stderr: the whole message escaped. */
        ASSERT_STREQ(text, "Refused entry 'x\\x1b[2J\\r\\a'.\n");
}

typedef struct Seen {
        ProgressEvent events[16];
        uint64_t done[16];
        size_t n;
} Seen;

static void record(const Progress *p, ProgressEvent event, void *userdata) {
        Seen *seen = userdata;

        ASSERT_TRUE(seen->n < ELEMENTSOF(seen->events));
        seen->events[seen->n] = event;
        seen->done[seen->n++] = p->done;
}

TEST(progress_reports) {
        Seen seen = {};
        Progress p = { .func = record, .userdata = &seen }, none = {};

        progress_begin(&p, "Unpacking", 1000);
        ASSERT_TRUE(p.func == record && p.userdata == &seen && p.total == 1000);
        progress_update(&p, 100);      /* too early: not reported */
        ASSERT_OK(RET_NERRNO(usleep(150 * 1000)));
        progress_update(&p, 500);
        progress_update(&p, 600);      /* rate-limited */
        progress_end(&p);
        progress_end(&p);              /* ended once */
        ASSERT_EQ(seen.n, 3u);
        ASSERT_EQ(seen.events[0], PROGRESS_BEGIN);
        ASSERT_EQ(seen.events[1], PROGRESS_UPDATE);
        ASSERT_EQ(seen.done[1], 500u);
        ASSERT_EQ(seen.events[2], PROGRESS_END);
        ASSERT_EQ(seen.done[2], 600u);

        /* Nobody watching, or no Progress at all: nothing happens. */
        progress_begin(&none, "Downloading", 0);
        ASSERT_FALSE(none.active);
        progress_update(&none, 1);
        progress_end(&none);
        progress_begin(NULL, "Downloading", 0);
        progress_update(NULL, 1);
        progress_end(NULL);
}

DEFINE_TEST_MAIN
