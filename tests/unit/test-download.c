/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The parts of download.c that need no server (the integration tests run it against one): digests,
 * verification, stale temporaries, and a refused connection leaving nothing behind. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "download.h"
#include "fd-util.h"
#include "fs-util.h"
#include "string-util.h"
#include "tests.h"

static char dir[64];

static int setup(void) {
        int fd;

        strcpy(dir, "/tmp/test-download.XXXXXX");
        ASSERT_TRUE(mkdtemp(dir));
        fd = open(dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        return fd;
}

static void cleanup(int fd) {
        _cleanup_close_ int tmp = open("/tmp", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        safe_close(fd);
        ASSERT_OK(rm_rf_at(tmp, dir + 5));
}

static size_t entries(int fd) {
        DIR *d = opendir_dup(fd);
        size_t n = 0;

        ASSERT_TRUE(d);
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

TEST(sha256_and_verify) {
        static const char empty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        char h[65];
        int fd = setup();

        sha256_hex("", 0, h);
        ASSERT_STREQ(h, empty);
        sha256_hex("abc", 3, h);
        ASSERT_STREQ(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

        ASSERT_OK(write_file_atomic_at(fd, "f", "abc", 3, 0644));
        ASSERT_OK(file_verify_at(fd, "f", 3, h));
        ASSERT_OK(file_verify_at(fd, "f", 0, NULL));
        ASSERT_OK(file_verify_at(fd, "f", 3,
                                 "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
        ASSERT_EQ(file_verify_at(fd, "f", 4, h), -EBADMSG);
        ASSERT_EQ(file_verify_at(fd, "f", 3, empty), -EBADMSG);
        ASSERT_EQ(file_verify_at(fd, "missing", 3, h), -ENOENT);
        cleanup(fd);
}

TEST(clean_stale) {
        struct timespec old[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000 } };
        int fd = setup();

        ASSERT_OK(write_file_atomic_at(fd, "keep.deb", "x", 1, 0644));
        ASSERT_OK(write_file_atomic_at(fd, ".#young.deb.0123", "x", 1, 0644));
        ASSERT_OK(write_file_atomic_at(fd, ".#old.deb.4567", "x", 1, 0644));
        ASSERT_OK(utimensat(fd, ".#old.deb.4567", old, 0));
        download_clean_stale(fd, 3600);
        ASSERT_EQ(entries(fd), 2U);
        ASSERT_EQ(faccessat(fd, ".#old.deb.4567", F_OK, 0), -1);
        cleanup(fd);
}

TEST(refused_connection_leaves_nothing) {
        _cleanup_free_ char *msg = NULL;
        int fd = setup();
        DownloadItem item = {
                /* Port 1 on loopback: nothing listens, the connection is refused at once. */
                .url = "http://127.0.0.1:1/pool/x.deb",
                .dir_fd = fd,
                .name = "x.deb",
                .size = 10,
        };

        ASSERT_EQ(download_many(&item, 1, 4, NULL, NULL, &msg), -EIO);
        printf("# %s\n", msg);
        ASSERT_TRUE(strstr(msg, "http://127.0.0.1:1/pool/x.deb"));
        ASSERT_EQ(entries(fd), 0U);

        /* Only http and https: no file://, no others. */
        item.url = "file:///etc/passwd";
        free(msg);
        msg = NULL;
        ASSERT_EQ(download_many(&item, 1, 4, NULL, NULL, &msg), -EIO);
        ASSERT_EQ(entries(fd), 0U);

        item.name = "../escape";
        free(msg);
        msg = NULL;
        ASSERT_EQ(download_many(&item, 1, 4, NULL, NULL, &msg), -EINVAL);
        cleanup(fd);
}

DEFINE_TEST_MAIN
