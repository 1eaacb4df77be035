/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "fd-util.h"
#include "fs-util.h"
#include "tests-openssl.h"
#include "tests.h"

static char dir[64];

static int setup(void) {
        int fd;

        strcpy(dir, "/tmp/test-digest.XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(dir));
        fd = open(dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        return fd;
}

static void cleanup(int fd) {
        safe_close(fd);
        ASSERT_OK(rm_rf_at(AT_FDCWD, dir));
}

TEST(sha256_and_verify) {
        static const char empty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        char h[65];
        int fd = setup();

        ASSERT_OK(sha256_hex("", 0, h));
        ASSERT_STREQ(h, empty);
        ASSERT_OK(sha256_hex("abc", 3, h));
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

TEST(fd_digest_md5_offset_kept) {
        char h[2 * EVP_MAX_MD_SIZE + 1];
        int fd = setup();
        _cleanup_close_ int f = openat(fd, "f", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0644);

        ASSERT_TRUE(f >= 0);
        ASSERT_OK(loop_write(f, "abc", 3));
        ASSERT_OK(fd_digest_hex(f, EVP_md5(), h));
        ASSERT_STREQ(h, "900150983cd24fb0d6963f7d28e17f72");
        ASSERT_EQ(lseek(f, 0, SEEK_CUR), 3);    /* read with pread() */
        cleanup(fd);
}

TEST(digest_to_hex) {
        static const uint8_t md[] = { 0x00, 0x0f, 0xa0, 0xff };
        char h[9];

        digest_to_hex(md, sizeof(md), h);
        ASSERT_STREQ(h, "000fa0ff");
}

TEST(sha256_failure_is_an_error) {
        OSSL_PROVIDER *provider;
        OSSL_LIB_CTX *old = openssl_break(&provider);
        char h[65] = "not touched";
        int r;

        /* Once this yielded an all-zero digest and 0; now it is an error and a digest that matches
         * nothing. */
        r = sha256_hex("abc", 3, h);
        openssl_restore(old, provider);
        ASSERT_ERROR(r, EIO);
        ASSERT_STREQ(h, "");

        ASSERT_OK(sha256_hex("abc", 3, h));
        ASSERT_STREQ(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

DEFINE_TEST_MAIN
