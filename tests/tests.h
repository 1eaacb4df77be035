/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A small TAP harness. TEST(name) { … } registers a case in an ELF section, so a case cannot be
 * written and forgotten; DEFINE_TEST_MAIN runs them all and computes the plan. Each case runs in a
 * forked child so that a failed assertion ends only that case. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"

typedef struct TestCase {
        const char *name;
        void (*func)(void);
} TestCase;

/* clang's ASan pads globals, which would break walking the section as an array. */
#if defined(__clang__)
#  define _test_no_asan_ __attribute__((no_sanitize("address")))
#else
#  define _test_no_asan_
#endif

#define TEST(n)                                                                         \
        static void test_##n(void);                                                     \
        _section_("SET_TESTS") _used_ _test_no_asan_ __attribute__((aligned(8)))        \
        static const TestCase test_case_##n = { .name = #n, .func = test_##n };         \
        static void test_##n(void)

extern const TestCase __start_SET_TESTS[];
extern const TestCase __stop_SET_TESTS[];

/* A case may call test_skip() to report "ok N # SKIP reason". */
#define TEST_SKIP_EXIT 77
#define test_skip(...)                                                                  \
        do {                                                                            \
                printf("# skip: ");                                                     \
                printf(__VA_ARGS__);                                                    \
                printf("\n");                                                           \
                fflush(stdout);                                                         \
                _exit(TEST_SKIP_EXIT);                                                  \
        } while (0)

#define _test_fail(...)                                                                 \
        do {                                                                            \
                fprintf(stderr, "%s:%i: ", __FILE__, __LINE__);                         \
                fprintf(stderr, __VA_ARGS__);                                           \
                fprintf(stderr, "\n");                                                  \
                printf("# %s:%i: assertion failed\n", __FILE__, __LINE__);              \
                fflush(stdout);                                                         \
                fflush(stderr);                                                         \
                abort();                                                                \
        } while (0)

#define ASSERT_TRUE(expr)                                                               \
        do {                                                                            \
                if (!(expr))                                                            \
                        _test_fail("Expected \"%s\" to be true", #expr);                \
        } while (0)

#define ASSERT_FALSE(expr)                                                              \
        do {                                                                            \
                if (expr)                                                               \
                        _test_fail("Expected \"%s\" to be false", #expr);               \
        } while (0)

#define ASSERT_OK(expr)                                                                 \
        ({                                                                              \
                __auto_type _r = (expr);                                                \
                if (_r < 0)                                                             \
                        _test_fail("\"%s\" failed: %s", #expr, strerror((int) -_r));    \
                _r;                                                                     \
        })

#define ASSERT_ERROR(expr, err)                                                         \
        do {                                                                            \
                __auto_type _r = (expr);                                                \
                if (_r >= 0)                                                            \
                        _test_fail("\"%s\" succeeded, expected %s", #expr, strerror(err)); \
                if (-_r != (err))                                                       \
                        _test_fail("\"%s\" returned %s, expected %s", #expr,            \
                                   strerror((int) -_r), strerror(err));                 \
        } while (0)

#define ASSERT_EQ(a, b)                                                                 \
        do {                                                                            \
                __auto_type _a = (a);                                                   \
                __auto_type _b = (b);                                                   \
                if (_a != _b)                                                           \
                        _test_fail("Expected \"%s == %s\", got %" PRIiMAX " != %" PRIiMAX, \
                                   #a, #b, (intmax_t) _a, (intmax_t) _b);               \
        } while (0)

#define ASSERT_NE(a, b)                                                                 \
        do {                                                                            \
                __auto_type _a = (a);                                                   \
                __auto_type _b = (b);                                                   \
                if (_a == _b)                                                           \
                        _test_fail("Expected \"%s != %s\", both %" PRIiMAX, #a, #b, (intmax_t) _a); \
        } while (0)

#define ASSERT_STREQ(a, b)                                                              \
        do {                                                                            \
                const char *_a = (a), *_b = (b);                                        \
                if (!_a || !_b || strcmp(_a, _b) != 0)                                  \
                        _test_fail("Expected \"%s == %s\", got \"%s\" != \"%s\"",       \
                                   #a, #b, _a ?: "(null)", _b ?: "(null)");             \
        } while (0)

#define ASSERT_NULL(p) ASSERT_TRUE((p) == NULL)
#define ASSERT_NOT_NULL(p) ASSERT_TRUE((p) != NULL)

/* The whole standard output of the shell command cmd (for tests that read what a tool such as ip or
 * nft says); "" if it printed nothing. */
static inline char* test_command_output(const char *cmd) {
        char *buf = NULL;
        size_t n = 0;
        FILE *f = popen(cmd, "r");

        ASSERT_NOT_NULL(f);
        if (getdelim(&buf, &n, 0, f) < 0) {
                free(buf);
                buf = strdup("");
        }
        pclose(f);
        ASSERT_NOT_NULL(buf);
        return buf;
}

/* What f() writes to stderr (up to 4 KiB). */
static inline char* test_capture_stderr(void (*f)(void)) {
        char *text;
        size_t n;
        FILE *t;
        int saved;

        t = tmpfile();
        ASSERT_NOT_NULL(t);
        saved = dup(STDERR_FILENO);
        ASSERT_TRUE(saved >= 0);
        ASSERT_TRUE(dup2(fileno(t), STDERR_FILENO) >= 0);
        f();
        (void) fflush(stderr);
        ASSERT_TRUE(dup2(saved, STDERR_FILENO) >= 0);
        ASSERT_TRUE(close(saved) >= 0);
        text = calloc(1, 4096);
        ASSERT_NOT_NULL(text);
        rewind(t);
        n = fread(text, 1, 4095, t);
        text[n] = 0;
        ASSERT_TRUE(fclose(t) == 0);
        return text;
}

static inline int test_run_all(void) {
        size_t n = (size_t) (__stop_SET_TESTS - __start_SET_TESTS), failed = 0;

        printf("1..%zu\n", n);
        fflush(stdout);

        for (size_t i = 0; i < n; i++) {
                const TestCase *t = __start_SET_TESTS + i;
                pid_t pid;
                int status = 0;

                pid = fork();
                if (pid < 0) {
                        perror("fork");
                        return EXIT_FAILURE;
                }
                if (pid == 0) {
                        t->func();
                        fflush(stdout);
                        _exit(EXIT_SUCCESS);
                }
                while (waitpid(pid, &status, 0) < 0)
                        if (errno != EINTR) {
                                perror("waitpid");
                                return EXIT_FAILURE;
                        }

                if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SUCCESS)
                        printf("ok %zu - %s\n", i + 1, t->name);
                else if (WIFEXITED(status) && WEXITSTATUS(status) == TEST_SKIP_EXIT)
                        printf("ok %zu - %s # SKIP\n", i + 1, t->name);
                else {
                        printf("not ok %zu - %s\n", i + 1, t->name);
                        failed++;
                }
                fflush(stdout);
        }

        return failed > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

#define DEFINE_TEST_MAIN                                                                \
        int main(void) {                                                                \
                return test_run_all();                                                  \
        }
