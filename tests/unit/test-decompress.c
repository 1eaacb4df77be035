/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The decompressor on fixtures made here with the tools (gzip, xz, zstd, bzip2): what comes out is what
 * went in, through a file and through a pipe, over more chunks than the ring holds; the digest and byte
 * count are of the raw input; truncated input and garbage behind a magic number fail with a message;
 * detection of each magic number, and what it refuses. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decompress.h"
#include "digest.h"
#include "download.h"
#include "fd-util.h"
#include "fs-util.h"
#include "string-util.h"
#include "tests.h"

/* More than the ring's four slots of 1 MiB, so that the reader thread must wait for us. */
#define DATA_SIZE (5U * 1024U * 1024U)

static char dir[64];
static uint8_t *data;

static const char* path_of(const char *name) {
        static char p[128];

        snprintf(p, sizeof(p), "%s/%s", dir, name);
        return p;
}

/* Each case runs in a child of its own (tests.h) that makes the fixtures it uses, when first asked for
 * them, and removes them as it returns: FIXTURES goes first in a case, to be cleaned up last. */
static void fixtures_remove(int *unused) {
        if (!data)
                return;
        ASSERT_OK(rm_rf_at(AT_FDCWD, dir));
        data = mfree(data);
}
#define FIXTURES _cleanup_(fixtures_remove) _unused_ int _fixtures_ = 0

/* Text that compresses, but not to nothing: numbered lines with a pseudo-random word. */
static void fixtures(void) {
        _cleanup_close_ int fd = -EBADF;
        uint32_t x = 12345;
        size_t n = 0;

        if (data)
                return;
        strcpy(dir, "/tmp/test-decompress.XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(dir));
        data = malloc(DATA_SIZE);
        ASSERT_NOT_NULL(data);
        for (unsigned line = 0; n < DATA_SIZE; line++) {
                char l[64];
                int k;

                x = x * 1103515245U + 12345U;
                k = snprintf(l, sizeof(l), "line %u: %08x\n", line, x >> 8);
                memcpy(data + n, l, MIN((size_t) k, DATA_SIZE - n));
                n += MIN((size_t) k, DATA_SIZE - n);
        }
        fd = open(path_of("data"), O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0644);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(loop_write(fd, data, DATA_SIZE));

}

/* The data compressed by the tool (made when first asked for), or the raw data. */
static const char* fixture(Compression c) {
        _cleanup_free_ char *cmd = NULL, *out = NULL;
        const char *name = compression_to_string(c);

        fixtures();
        if (c == COMPRESSION_NONE)
                return path_of("data");
        if (access(path_of(strjoina("data.", name)), F_OK) < 0) {
                ASSERT_TRUE(asprintf(&cmd, "cd %s && %s -1 -q -c data > data.%s && echo done", dir, name,
                                     name) > 0);
                out = test_command_output(cmd);
                ASSERT_STREQ(out, "done\n");
        }
        return path_of(strjoina("data.", name));
}

static int open_fixture(Compression c) {
        int fd = open(fixture(c), O_RDONLY|O_CLOEXEC);

        ASSERT_TRUE(fd >= 0);
        return fd;
}

/* A pipe that cat fills from the fixture. */
static FILE* pipe_fixture(Compression c, int *ret_fd) {
        _cleanup_free_ char *cmd = NULL;
        FILE *f;

        ASSERT_TRUE(asprintf(&cmd, "exec cat %s", fixture(c)) > 0);
        f = popen(cmd, "re");
        ASSERT_NOT_NULL(f);
        *ret_fd = fileno(f);
        return f;
}

/* Reads everything, checking it against data; returns the number of chunks. */
static size_t read_all(Decompressor *d) {
        size_t off = 0, chunks = 0;

        for (;;) {
                const void *buf;
                size_t size;

                ASSERT_OK(decompressor_read(d, &buf, &size));
                if (size == 0)
                        break;
                ASSERT_TRUE(off + size <= DATA_SIZE);
                ASSERT_EQ(memcmp(buf, data + off, size), 0);
                off += size;
                chunks++;
        }
        ASSERT_EQ(off, (size_t) DATA_SIZE);
        return chunks;
}

static void check_digest_and_count(Decompressor *d, int fd) {
        char got[65], want[65];
        struct stat st;

        ASSERT_OK(fstat(fd, &st));
        ASSERT_EQ(decompressor_bytes_in(d), (uint64_t) st.st_size);
        ASSERT_OK(lseek(fd, 0, SEEK_SET));
        ASSERT_OK(fd_digest_hex(fd, EVP_sha256(), want));
        ASSERT_OK(decompressor_sha256(d, got));
        ASSERT_STREQ(got, want);
}

TEST(compression_table) {
        for (Compression c = 0; c < _COMPRESSION_MAX; c++)
                ASSERT_EQ(compression_from_string(compression_to_string(c)), c);
        ASSERT_EQ(compression_from_string("lz4"), _COMPRESSION_INVALID);
        ASSERT_NULL(compression_to_string(_COMPRESSION_MAX));
}

TEST(detect) {
        static const uint8_t skippable[] = { 0x5e, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 0, 0, 0, 0 };
        uint8_t tar[512] = {};

        ASSERT_EQ(compression_detect((const uint8_t*) "\x1f\x8b\x08", 3), COMPRESSION_GZIP);
        ASSERT_EQ(compression_detect((const uint8_t*) "\xfd" "7zXZ\0\0", 7), COMPRESSION_XZ);
        ASSERT_EQ(compression_detect((const uint8_t*) "\x28\xb5\x2f\xfd\0", 5), COMPRESSION_ZSTD);
        ASSERT_EQ(compression_detect(skippable, sizeof(skippable)), COMPRESSION_ZSTD);
        ASSERT_EQ(compression_detect((const uint8_t*) "BZh91AY&SY", 10), COMPRESSION_BZIP2);
        /* "BZh" and then no block: not bzip2, whatever it is. */
        ASSERT_EQ(compression_detect((const uint8_t*) "BZh9 hello", 10), COMPRESSION_NONE);
        ASSERT_EQ(compression_detect((const uint8_t*) "\x04\x22\x4d\x18", 4), -EPROTONOSUPPORT);
        ASSERT_EQ(compression_detect((const uint8_t*) "LZIP\x01", 5), -EPROTONOSUPPORT);
        ASSERT_EQ(compression_detect((const uint8_t*) "\x1f\x9d\x90", 3), -EPROTONOSUPPORT);
        /* Too short to tell: what fits is checked. */
        ASSERT_EQ(compression_detect((const uint8_t*) "\x1f", 1), COMPRESSION_NONE);
        ASSERT_EQ(compression_detect((const uint8_t*) "", 0), COMPRESSION_NONE);
        /* A tar whose first name looks like gzip's magic number is a tar. */
        memcpy(tar, "\x1f\x8b", 2);
        memcpy(tar + 257, "ustar", 5);
        ASSERT_EQ(compression_detect(tar, sizeof(tar)), COMPRESSION_NONE);
}

TEST(each_compression_from_a_file) {
        FIXTURES;

        for (Compression c = 0; c < _COMPRESSION_MAX; c++) {
                _cleanup_(decompressor_freep) Decompressor *d = NULL;
                _cleanup_close_ int fd = open_fixture(c);
                char hex[65];
                size_t chunks;

                ASSERT_OK(decompressor_new(fd, &d));
                ASSERT_EQ(decompressor_compression(d), c);
                /* The digest only once the whole input is read. */
                ASSERT_ERROR(decompressor_sha256(d, hex), EBUSY);
                chunks = read_all(d);
                printf("# %s: %zu chunks from %" PRIu64 " bytes\n", compression_to_string(c), chunks,
                       decompressor_bytes_in(d));
                ASSERT_TRUE(chunks >= 5);
                check_digest_and_count(d, fd);
                ASSERT_NULL(decompressor_error(d));
        }
}

TEST(each_compression_from_a_pipe) {
        FIXTURES;

        for (Compression c = 0; c < _COMPRESSION_MAX; c++) {
                _cleanup_(decompressor_freep) Decompressor *d = NULL;
                _cleanup_close_ int file = open_fixture(c);
                int fd;
                FILE *f = pipe_fixture(c, &fd);

                ASSERT_OK(decompressor_new(fd, &d));
                ASSERT_EQ(decompressor_compression(d), c);
                (void) read_all(d);
                check_digest_and_count(d, file);
                d = decompressor_free(d);
                ASSERT_EQ(pclose(f), 0);
        }
}

TEST(drain_completes_the_digest) {
        FIXTURES;
        _cleanup_(decompressor_freep) Decompressor *d = NULL;
        _cleanup_close_ int fd = open_fixture(COMPRESSION_ZSTD);
        const void *buf;
        size_t size;

        ASSERT_OK(decompressor_new(fd, &d));
        ASSERT_OK(decompressor_read(d, &buf, &size));
        ASSERT_TRUE(size > 0);
        ASSERT_EQ(memcmp(buf, data, size), 0);
        ASSERT_OK(decompressor_drain(d));
        check_digest_and_count(d, fd);
}

/* The first half of each compressed fixture: an error with a message, never a clean end. */
TEST(truncated) {
        FIXTURES;

        for (Compression c = 0; c < _COMPRESSION_MAX; c++) {
                _cleanup_(decompressor_freep) Decompressor *d = NULL;
                _cleanup_close_ int fd = -EBADF, half = -EBADF;
                _cleanup_free_ uint8_t *buf = NULL;
                struct stat st;
                const void *p;
                size_t size;
                int r;

                if (c == COMPRESSION_NONE)
                        continue;
                fd = open_fixture(c);
                ASSERT_OK(fstat(fd, &st));
                buf = malloc((size_t) st.st_size / 2);
                ASSERT_NOT_NULL(buf);
                ASSERT_EQ(loop_read(fd, buf, (size_t) st.st_size / 2), (ssize_t) st.st_size / 2);
                half = open(path_of("half"), O_RDWR|O_CREAT|O_TRUNC|O_CLOEXEC, 0644);
                ASSERT_TRUE(half >= 0);
                ASSERT_OK(loop_write(half, buf, (size_t) st.st_size / 2));
                ASSERT_OK(lseek(half, 0, SEEK_SET));

                ASSERT_OK(decompressor_new(half, &d));
                do
                        r = decompressor_read(d, &p, &size);
                while (r >= 0 && size > 0);
                printf("# %s: %s\n", compression_to_string(c), strna(decompressor_error(d)));
                ASSERT_TRUE(r < 0);
                ASSERT_NOT_NULL(decompressor_error(d));
                ASSERT_TRUE(strlen(decompressor_error(d)) > 0);
        }
}

/* Each magic number followed by junk. */
TEST(garbage) {
        FIXTURES;
        static const struct {
                const char *magic;
                size_t n;
        } magics[] = {
                { "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10 },
                { "\xfd" "7zXZ\0\0\x04", 7 },
                { "\x28\xb5\x2f\xfd", 4 },
                { "BZh91AY&SY", 10 },
        };

        fixtures();
        for (size_t i = 0; i < ELEMENTSOF(magics); i++) {
                _cleanup_(decompressor_freep) Decompressor *d = NULL;
                _cleanup_close_ int fd = open(path_of("garbage"), O_RDWR|O_CREAT|O_TRUNC|O_CLOEXEC, 0644);
                uint8_t junk[4096];
                const void *p;
                size_t size;
                int r;

                ASSERT_TRUE(fd >= 0);
                for (size_t k = 0; k < sizeof(junk); k++)
                        junk[k] = (uint8_t) (k * 7 + 0xa5);
                memcpy(junk, magics[i].magic, magics[i].n);
                ASSERT_OK(loop_write(fd, junk, sizeof(junk)));
                ASSERT_OK(lseek(fd, 0, SEEK_SET));

                ASSERT_OK(decompressor_new(fd, &d));
                ASSERT_TRUE(decompressor_compression(d) != COMPRESSION_NONE);
                do
                        r = decompressor_read(d, &p, &size);
                while (r >= 0 && size > 0);
                printf("# %s: %d %s\n", compression_to_string(decompressor_compression(d)), r,
                       strna(decompressor_error(d)));
                ASSERT_TRUE(r < 0);
                ASSERT_NOT_NULL(decompressor_error(d));
        }
}

TEST(empty_and_refused_inputs) {
        FIXTURES;
        _cleanup_(decompressor_freep) Decompressor *d = NULL;
        _cleanup_close_ int fd = -EBADF, dfd = -EBADF;
        char hex[65];
        const void *p;
        size_t size;

        fixtures();
        fd = open(path_of("empty"), O_RDWR|O_CREAT|O_TRUNC|O_CLOEXEC, 0644);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(decompressor_new(fd, &d));
        ASSERT_EQ(decompressor_compression(d), COMPRESSION_NONE);
        ASSERT_OK(decompressor_read(d, &p, &size));
        ASSERT_EQ(size, 0U);
        ASSERT_EQ(decompressor_bytes_in(d), UINT64_C(0));
        ASSERT_OK(decompressor_sha256(d, hex));
        ASSERT_STREQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        d = decompressor_free(d);

        ASSERT_OK(lseek(fd, 0, SEEK_SET));
        ASSERT_OK(loop_write(fd, "\x04\x22\x4d\x18 lz4", 8));
        ASSERT_OK(lseek(fd, 0, SEEK_SET));
        ASSERT_ERROR(decompressor_new(fd, &d), EPROTONOSUPPORT);
        ASSERT_NULL(d);

        dfd = open(dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(dfd >= 0);
        ASSERT_ERROR(decompressor_new(dfd, &d), EISDIR);
}

/* Freed while the reader thread waits on a pipe that stays open: it is stopped, not waited for. */
TEST(free_while_blocked_on_a_pipe) {
        _cleanup_(decompressor_freep) Decompressor *d = NULL;
        _cleanup_close_pair_ int p[2] = { -EBADF, -EBADF };
        char text[600];

        memset(text, 'x', sizeof(text));
        ASSERT_OK(pipe2(p, O_CLOEXEC));
        /* More than detection reads (512 bytes), and then nothing, with the writer still there. */
        ASSERT_OK(loop_write(p[1], text, sizeof(text)));
        ASSERT_OK(decompressor_new(p[0], &d));
        ASSERT_EQ(decompressor_compression(d), COMPRESSION_NONE);
        (void) usleep(100 * 1000);
        d = decompressor_free(d);
        ASSERT_NULL(d);
}

DEFINE_TEST_MAIN
