/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gpgv_verify() against signatures made here with two throwaway keys. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "gpgv.h"
#include "string-util.h"
#include "tests.h"

static char dir[64];

static void sh(const char *cmd) {
        char *c;

        ASSERT_TRUE(asprintf(&c, "set -e; cd %s; export GNUPGHOME=%s/gnupg; %s", dir, dir, cmd) > 0);
        if (system(c) != 0)
                test_skip("failed to run: %s", cmd);
        free(c);
}

static void setup(void) {
        strcpy(dir, "/tmp/test-gpgv.XXXXXX");
        ASSERT_TRUE(mkdtemp(dir));
        if (system("command -v gpg >/dev/null && command -v gpgv >/dev/null") != 0)
                test_skip("gpg or gpgv missing");
        sh("mkdir -m 700 gnupg other;"
           "gpg -q --batch --passphrase '' --quick-gen-key 'test <t@invalid>' ed25519 sign never "
           "  2>/dev/null;"
           "gpg -q --export > keyring.gpg;"
           "GNUPGHOME=other gpg -q --batch --passphrase '' "
           "  --quick-gen-key 'other <o@invalid>' ed25519 sign never "
           "  2>/dev/null;"
           "printf 'Suite: test\\nCodename: test\\n' > Release;"
           "gpg -q --batch --clearsign -o InRelease Release;"
           "gpg -q --batch -abs -o Release.gpg Release;"
           "GNUPGHOME=other gpg -q --batch --clearsign -o InRelease.other Release;"
           "sed 's/Suite: test/Suite: evil/' InRelease > InRelease.tampered;"
           "cp Release Release.unsigned");
}

static void cleanup(void) {
        _cleanup_close_ int fd = open("/tmp", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_OK(rm_rf_at(fd, dir + 5));
}

static int file(const char *name) {
        int fd = open(strjoina(dir, "/", name), O_RDONLY|O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        return fd;
}

static int verify(const char *data, const char *sig, char **ret_output, char **ret_msg) {
        _cleanup_close_ int d = file(data), s = sig ? file(sig) : -EBADF;
        _cleanup_close_ int out = memfd_create("out", MFD_CLOEXEC);
        int r;

        *ret_msg = NULL;
        r = gpgv_verify(strjoina(dir, "/keyring.gpg"), d, s, out, ret_msg);
        if (*ret_msg)
                printf("# %s: %s\n", data, *ret_msg);
        if (ret_output) {
                char buf[4096];
                ssize_t n = pread(out, buf, sizeof(buf) - 1, 0);
                ASSERT_TRUE(n >= 0);
                buf[n] = 0;
                *ret_output = strdup(buf);
        }
        return r;
}

TEST(gpgv) {
        _cleanup_free_ char *out = NULL, *msg = NULL;

        setup();

        /* Clear-signed: good, and the output is the signed text alone. */
        ASSERT_OK(verify("InRelease", NULL, &out, &msg));
        ASSERT_STREQ(out, "Suite: test\nCodename: test\n");

        /* Detached. */
        free(msg);
        ASSERT_OK(verify("Release", "Release.gpg", NULL, &msg));

        free(msg);
        ASSERT_EQ(verify("InRelease.tampered", NULL, NULL, &msg), -EBADMSG);
        ASSERT_TRUE(strstr(msg, "bad signature"));

        free(msg);
        ASSERT_EQ(verify("InRelease.other", NULL, NULL, &msg), -EBADMSG);
        ASSERT_TRUE(strstr(msg, "not in the keyring"));

        free(msg);
        ASSERT_EQ(verify("Release.unsigned", NULL, NULL, &msg), -EBADMSG);
        ASSERT_TRUE(strstr(msg, "not signed"));

        /* A detached signature over other data. */
        free(msg);
        ASSERT_EQ(verify("InRelease", "Release.gpg", NULL, &msg), -EBADMSG);

        {
                _cleanup_close_ int d = file("InRelease");
                ASSERT_EQ(gpgv_verify("/nonexistent/keyring.gpg", d, -EBADF, -EBADF, NULL), -ENOKEY);
        }

        cleanup();
}

DEFINE_TEST_MAIN
