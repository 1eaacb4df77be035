/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading blobs through a blob source (here an in-memory one, as a registry client would be) with
 * their size and digest checked, and what the import looks for in a tree: an init, /usr. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "download.h"
#include "fd-util.h"
#include "fs-util.h"
#include "oci-import.h"
#include "string-util.h"
#include "tests.h"

#define ZEROS64 "0000000000000000000000000000000000000000000000000000000000000000"

typedef struct MemBlob {
        const char *digest;
        const char *data;
} MemBlob;

static int mem_open(void *userdata, const char *digest, int *ret_fd) {
        const MemBlob *b = userdata;
        int fd;

        for (; b->digest; b++) {
                if (!streq(b->digest, digest))
                        continue;
                fd = memfd_create("blob", MFD_CLOEXEC);
                ASSERT_TRUE(fd >= 0);
                ASSERT_OK(loop_write(fd, b->data, strlen(b->data)));
                ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
                *ret_fd = fd;
                return 0;
        }
        return -ENOENT;
}

static void digest_of(const char *s, char ret[80]) {
        char hex[65];

        sha256_hex(s, strlen(s), hex);
        snprintf(ret, 80, "sha256:%s", hex);
}

TEST(blob_read_verified) {
        char good[80], other[80], *buf = NULL, *msg = NULL;
        size_t n;

        digest_of("{\"hello\":1}", good);
        digest_of("something else", other);
        MemBlob blobs[] = {
                { good, "{\"hello\":1}" },
                { other, "tampered" },          /* served under a digest it does not have */
                {}
        };
        OciBlobSource src = { .open = mem_open, .userdata = blobs };

        ASSERT_OK(oci_blob_read_verified(&src, good, 11, &buf, &n, NULL));
        ASSERT_EQ(n, 11U);
        ASSERT_STREQ(buf, "{\"hello\":1}");
        buf = mfree(buf);

        ASSERT_ERROR(oci_blob_read_verified(&src, good, 10, &buf, &n, &msg), EBADMSG);    /* longer */
        ASSERT_TRUE(strstr(msg, "wrong size"));
        msg = mfree(msg);
        ASSERT_ERROR(oci_blob_read_verified(&src, good, 12, &buf, &n, &msg), EBADMSG);    /* shorter */
        msg = mfree(msg);
        ASSERT_ERROR(oci_blob_read_verified(&src, other, 8, &buf, &n, &msg), EBADMSG);
        ASSERT_TRUE(strstr(msg, "does not match its digest"));
        msg = mfree(msg);
        ASSERT_ERROR(oci_blob_read_verified(&src, "sha256:" ZEROS64, 1, &buf, &n, &msg), ENOENT);
        ASSERT_TRUE(strstr(msg, "missing"));
        msg = mfree(msg);
        ASSERT_ERROR(oci_blob_read_verified(&src, "sha512:00", 1, &buf, &n, &msg), EOPNOTSUPP);
        msg = mfree(msg);
        ASSERT_ERROR(oci_blob_read_verified(&src, good, OCI_JSON_SIZE_MAX + 1ULL, &buf, &n, &msg), E2BIG);
        msg = mfree(msg);
        ASSERT_NULL(buf);
}

TEST(source_kind_strings) {
        for (OciSourceKind k = 0; k < _OCI_SOURCE_KIND_MAX; k++)
                ASSERT_EQ(oci_source_kind_from_string(oci_source_kind_to_string(k)), k);
}

static int tree_new(char dir[static 64]) {
        int fd;

        strcpy(dir, "/tmp/test-oci-import.XXXXXX");
        ASSERT_TRUE(mkdtemp(dir));
        fd = open(dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        return fd;
}

static void tree_free(const char *dir, int fd) {
        _cleanup_close_ int tmp = open("/tmp", O_RDONLY|O_DIRECTORY|O_CLOEXEC);

        safe_close(fd);
        ASSERT_OK(rm_rf_at(tmp, dir + 5));
}

static void write_exec(int dir_fd, const char *path, mode_t mode) {
        _cleanup_close_ int fd = openat(dir_fd, path, O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, mode);

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(loop_write(fd, "x", 1));
        ASSERT_OK(fchmod(fd, mode));
}

TEST(tree_has_init) {
        char dir[64];
        int fd = tree_new(dir);

        ASSERT_FALSE(oci_tree_has_init(fd));

        /* Busybox's init: not a reason to boot. */
        ASSERT_OK(mkdirat(fd, "bin", 0755));
        ASSERT_OK(mkdirat(fd, "sbin", 0755));
        write_exec(fd, "bin/busybox", 0755);
        ASSERT_OK(symlinkat("/bin/busybox", fd, "sbin/init"));
        ASSERT_FALSE(oci_tree_has_init(fd));

        /* A link out of the tree is resolved inside it. */
        ASSERT_OK(unlinkat(fd, "sbin/init", 0));
        ASSERT_OK(symlinkat("/usr/lib/systemd/systemd", fd, "sbin/init"));
        ASSERT_FALSE(oci_tree_has_init(fd));

        ASSERT_OK(mkdirat(fd, "usr", 0755));
        ASSERT_OK(mkdirat(fd, "usr/lib", 0755));
        ASSERT_OK(mkdirat(fd, "usr/lib/systemd", 0755));
        write_exec(fd, "usr/lib/systemd/systemd", 0644);
        ASSERT_FALSE(oci_tree_has_init(fd));   /* not executable */
        ASSERT_OK(fchmodat(fd, "usr/lib/systemd/systemd", 0755, 0));
        ASSERT_TRUE(oci_tree_has_init(fd));
        tree_free(dir, fd);
}

TEST(tree_make_runnable) {
        char dir[64];
        int fd = tree_new(dir);
        struct stat st;
        bool added;

        ASSERT_OK(oci_tree_make_runnable(fd, &added));
        ASSERT_TRUE(added);
        ASSERT_OK(fstatat(fd, "usr", &st, AT_SYMLINK_NOFOLLOW));
        ASSERT_TRUE(S_ISDIR(st.st_mode));
        ASSERT_OK(oci_tree_make_runnable(fd, &added));
        ASSERT_FALSE(added);

        /* Something else called usr stays as it is. */
        ASSERT_OK(unlinkat(fd, "usr", AT_REMOVEDIR));
        ASSERT_OK(symlinkat("/elsewhere", fd, "usr"));
        ASSERT_OK(oci_tree_make_runnable(fd, &added));
        ASSERT_FALSE(added);
        ASSERT_OK(fstatat(fd, "usr", &st, AT_SYMLINK_NOFOLLOW));
        ASSERT_TRUE(S_ISLNK(st.st_mode));
        tree_free(dir, fd);
}

DEFINE_TEST_MAIN
