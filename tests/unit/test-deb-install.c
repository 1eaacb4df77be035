/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Installing a .deb ourselves, on packages made here: one built with dpkg-deb (a conffile, a maintainer
 * script, a program under /bin of a merged /usr, no md5sums) unpacked and registered into a tree laid
 * out by tree_prepare(), as dpkg --unpack would; a package that is not what the index says, one that is
 * no package, and hostile ones (made with libarchive, as dpkg-deb refuses to) whose data.tar reaches out
 * of the tree with ../ or an absolute path. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deb-install.h"
#include "digest.h"
#include "download.h"
#include "fd-util.h"
#include "fs-util.h"
#include "string-util.h"
#include "tests.h"

static char dir[64];

static int setup(void) {
        int fd;

        strcpy(dir, "/tmp/test-deb-install.XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(dir));
        fd = open(dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(mkdirat(fd, "tree", 0755));
        ASSERT_OK(mkdirat(fd, "out", 0755));
        return fd;
}

static void put(int dir_fd, const char *path, const char *text, mode_t mode) {
        _cleanup_close_ int fd = -EBADF;

        fd = openat(dir_fd, path, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, mode);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(loop_write(fd, text, strlen(text)));
        ASSERT_OK(fchmod(fd, mode));
}

static char* get(int dir_fd, const char *path) {
        char *text = NULL;

        ASSERT_OK(read_full_file_at(dir_fd, path, 1024 * 1024, &text, NULL));
        return text;
}

#define CONTROL "Package: hello\nVersion: 1.0-1\nArchitecture: all\nMaintainer: Test <test@localhost>\n" \
        "Description: a test package\n"

/* hello 1.0-1, built with dpkg-deb. */
static int make_deb(int fd) {
        _cleanup_free_ char *cmd = NULL, *out = NULL;
        int deb;

        ASSERT_OK(mkdir_p_at(fd, "pkg/DEBIAN", 0755, 0755));
        ASSERT_OK(mkdir_p_at(fd, "pkg/etc", 0755, 0755));
        ASSERT_OK(mkdir_p_at(fd, "pkg/bin", 0755, 0755));
        ASSERT_OK(mkdir_p_at(fd, "pkg/usr/share/doc/hello", 0755, 0755));
        put(fd, "pkg/DEBIAN/control", CONTROL, 0644);
        put(fd, "pkg/DEBIAN/conffiles", "/etc/hello.conf\n", 0644);
        put(fd, "pkg/DEBIAN/postinst", "#!/bin/sh\nexit 0\n", 0755);
        put(fd, "pkg/etc/hello.conf", "greeting=hello\n", 0644);
        put(fd, "pkg/bin/hello", "#!/bin/sh\necho hello\n", 0755);
        put(fd, "pkg/usr/share/doc/hello/README", "read me\n", 0644);
        ASSERT_OK(symlinkat("/bin/hello", fd, "pkg/bin/hi"));

        ASSERT_TRUE(asprintf(&cmd, "cd %s && dpkg-deb --root-owner-group -Zgzip --build pkg hello.deb "
                             ">/dev/null && echo done", dir) > 0);
        out = test_command_output(cmd);
        ASSERT_STREQ(out, "done\n");
        deb = openat(fd, "hello.deb", O_RDONLY|O_CLOEXEC);
        ASSERT_TRUE(deb >= 0);
        return deb;
}

TEST(tree_prepare_layout) {
        _cleanup_close_ int fd = setup(), tree = openat(fd, "tree", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        _cleanup_free_ char *arch = NULL, *status = NULL;
        char link[64];
        struct stat st;
        ssize_t n;

        ASSERT_OK(tree_prepare(tree, "amd64"));
        n = readlinkat(tree, "bin", link, sizeof(link) - 1);
        ASSERT_TRUE(n > 0);
        link[n] = 0;
        ASSERT_STREQ(link, "usr/bin");
        n = readlinkat(tree, "lib64", link, sizeof(link) - 1);
        ASSERT_TRUE(n > 0);
        link[n] = 0;
        ASSERT_STREQ(link, "usr/lib64");
        arch = get(tree, "var/lib/dpkg/arch");
        ASSERT_STREQ(arch, "amd64\n");
        status = get(tree, "var/lib/dpkg/status");
        ASSERT_STREQ(status, "");
        ASSERT_OK(fstatat(tree, "tmp", &st, 0));
        ASSERT_EQ(st.st_mode & 07777, 01777u);
        ASSERT_OK(fstatat(tree, "usr/sbin/policy-rc.d", &st, 0));
        ASSERT_EQ(st.st_mode & 07777, 0755u);
        /* Again over itself: nothing fails. */
        ASSERT_OK(tree_prepare(tree, "amd64"));

        ASSERT_OK(tree_finish(tree));
        ASSERT_ERROR(fstatat(tree, "usr/sbin/policy-rc.d", &st, 0) < 0 ? -errno : 0, ENOENT);
        ASSERT_ERROR(fstatat(tree, "var/cache/mkmachine-debs", &st, 0) < 0 ? -errno : 0, ENOENT);
        ASSERT_OK(tree_resume(tree));
        ASSERT_OK(fstatat(tree, "usr/sbin/policy-rc.d", &st, 0));
        ASSERT_OK(fstatat(tree, "var/cache/mkmachine-debs", &st, 0));
        ASSERT_OK(tree_finish(tree));
        ASSERT_OK(tree_finish(tree));

        ASSERT_OK(rm_rf_at(AT_FDCWD, dir));
}

TEST(unpack_and_register) {
        _cleanup_close_ int fd = setup(), tree = openat(fd, "tree", O_RDONLY|O_DIRECTORY|O_CLOEXEC),
                out = openat(fd, "out", O_RDONLY|O_DIRECTORY|O_CLOEXEC), info = -EBADF, deb = -EBADF;
        _cleanup_free_ char *msg = NULL, *list = NULL, *md5sums = NULL, *conf = NULL, *status = NULL,
                *paths = NULL, *control = NULL, *conffiles = NULL, *hash = NULL;
        _cleanup_close_ int conf_fd = -EBADF;
        char md5[2 * EVP_MAX_MD_SIZE + 1], link[64];
        struct stat st;
        ssize_t n;

        ASSERT_OK(tree_prepare(tree, "amd64"));
        info = openat(tree, "var/lib/dpkg/info", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(info >= 0);
        deb = make_deb(fd);

        ASSERT_EQ(deb_unpack_register(deb, tree, info, "hello", "1.0-1", out, "hello", &msg), 1);

        /* Unpacked, through the tree's merged /usr; the conffile in place, not as .dpkg-new. */
        ASSERT_OK(fstatat(tree, "usr/bin/hello", &st, AT_SYMLINK_NOFOLLOW));
        ASSERT_TRUE(S_ISREG(st.st_mode));
        ASSERT_EQ(st.st_mode & 07777, 0755u);
        n = readlinkat(tree, "usr/bin/hi", link, sizeof(link) - 1);
        ASSERT_TRUE(n > 0);
        link[n] = 0;
        ASSERT_STREQ(link, "/bin/hello");
        conf = get(tree, "etc/hello.conf");
        ASSERT_STREQ(conf, "greeting=hello\n");
        ASSERT_ERROR(fstatat(tree, "etc/hello.conf.dpkg-new", &st, 0) < 0 ? -errno : 0, ENOENT);

        /* dpkg's info database: the file list as the package names its paths, the control files, and
         * md5sums made of what was unpacked. */
        list = get(info, "hello.list");
        ASSERT_TRUE(strstr(list, "/.\n"));
        ASSERT_TRUE(strstr(list, "/etc/hello.conf\n"));
        ASSERT_TRUE(strstr(list, "/bin/hello\n"));
        ASSERT_TRUE(strstr(list, "/usr/share/doc/hello/README\n"));
        ASSERT_OK(fstatat(info, "hello.postinst", &st, 0));
        ASSERT_EQ(st.st_mode & 07777, 0755u);
        conffiles = get(info, "hello.conffiles");
        ASSERT_STREQ(conffiles, "/etc/hello.conf\n");
        conf_fd = openat(tree, "etc/hello.conf", O_RDONLY|O_CLOEXEC);
        ASSERT_TRUE(conf_fd >= 0);
        ASSERT_OK(fd_digest_hex(conf_fd, EVP_md5(), md5));
        md5sums = get(info, "hello.md5sums");
        ASSERT_TRUE(asprintf(&hash, "%s  etc/hello.conf\n", md5) > 0);
        ASSERT_TRUE(strstr(md5sums, hash));
        ASSERT_TRUE(strstr(md5sums, "  bin/hello\n"));
        ASSERT_FALSE(strstr(md5sums, "bin/hi"));
        ASSERT_ERROR(fstatat(info, "hello.control", &st, 0) < 0 ? -errno : 0, ENOENT);

        /* For the caller: the status paragraph after the info name, with the conffile's hash, the
         * non-directories as under the merged /usr, and the control file. */
        status = get(out, "hello");
        ASSERT_TRUE(startswith(status, "hello\nPackage: hello\n"));
        ASSERT_TRUE(strstr(status, "Version: 1.0-1\n"));
        free(hash);
        ASSERT_TRUE(asprintf(&hash, "Conffiles:\n /etc/hello.conf %s\n", md5) > 0);
        ASSERT_TRUE(strstr(status, hash));
        paths = get(out, "hello.paths");
        ASSERT_TRUE(strstr(paths, "usr/bin/hello\n"));
        ASSERT_TRUE(strstr(paths, "usr/bin/hi\n"));
        ASSERT_TRUE(strstr(paths, "etc/hello.conf\n"));
        ASSERT_FALSE(strstr(paths, "usr/share/doc/hello\n"));
        control = get(out, "hello.control");
        ASSERT_STREQ(control, CONTROL);

        /* Registered once: the same again finds its info files there and fails. */
        ASSERT_OK(lseek(deb, 0, SEEK_SET));
        ASSERT_ERROR(deb_unpack_register(deb, tree, info, "hello", "1.0-1", out, "again", NULL), EEXIST);

        ASSERT_OK(rm_rf_at(AT_FDCWD, dir));
}

TEST(not_what_the_index_says) {
        _cleanup_close_ int fd = setup(), tree = openat(fd, "tree", O_RDONLY|O_DIRECTORY|O_CLOEXEC),
                out = openat(fd, "out", O_RDONLY|O_DIRECTORY|O_CLOEXEC), info = -EBADF, deb = -EBADF,
                junk = -EBADF;
        _cleanup_free_ char *msg = NULL;

        ASSERT_OK(tree_prepare(tree, "arm64"));
        info = openat(tree, "var/lib/dpkg/info", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(info >= 0);
        deb = make_deb(fd);

        ASSERT_ERROR(deb_unpack_register(deb, tree, info, "hello", "2.0-1", out, "hello", &msg), EBADMSG);
        printf("# %s\n", msg);
        ASSERT_STREQ(msg, "the package is hello 1.0-1, the index says hello 2.0-1");
        ASSERT_ERROR(faccessat(info, "hello.list", F_OK, 0) < 0 ? -errno : 0, ENOENT);
        ASSERT_ERROR(faccessat(out, "hello", F_OK, 0) < 0 ? -errno : 0, ENOENT);
        msg = mfree(msg);

        put(fd, "junk.deb", "!<arch>\nthis is not a package at all\n", 0644);
        junk = openat(fd, "junk.deb", O_RDONLY|O_CLOEXEC);
        ASSERT_TRUE(junk >= 0);
        ASSERT_ERROR(deb_unpack_register(junk, tree, info, "hello", "1.0-1", out, "hello", &msg), EBADMSG);
        printf("# %s\n", msg);
        ASSERT_NOT_NULL(msg);

        ASSERT_OK(rm_rf_at(AT_FDCWD, dir));
}

/* A tar in memory with a directory "." and the regular file name (content "x\n"). */
static size_t make_tar(const char *name, char *buf, size_t size) {
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        size_t used = 0;

        ASSERT_EQ(archive_write_set_format_gnutar(a), ARCHIVE_OK);
        ASSERT_EQ(archive_write_open_memory(a, buf, size, &used), ARCHIVE_OK);
        archive_entry_set_pathname(e, "./");
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
        archive_entry_clear(e);
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, 2);
        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
        ASSERT_EQ(archive_write_data(a, "x\n", 2), 2);
        archive_entry_free(e);
        ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        return used;
}

static void ar_member(struct archive *a, const char *name, const void *data, size_t size) {
        struct archive_entry *e = archive_entry_new();

        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t) size);
        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
        ASSERT_EQ(archive_write_data(a, data, size), (la_ssize_t) size);
        archive_entry_free(e);
}

/* hello 1.0-1 whose data.tar holds the file name: made with libarchive, as dpkg-deb would not. */
static int make_hostile_deb(int fd, const char *name) {
        static char control[10240], data[10240];
        struct archive *a = archive_write_new();
        size_t n_control, n_data;
        int deb;

        {
                struct archive *c = archive_write_new();
                struct archive_entry *e = archive_entry_new();

                ASSERT_EQ(archive_write_set_format_gnutar(c), ARCHIVE_OK);
                ASSERT_EQ(archive_write_open_memory(c, control, sizeof(control), &n_control), ARCHIVE_OK);
                archive_entry_set_pathname(e, "./control");
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_perm(e, 0644);
                archive_entry_set_size(e, (la_int64_t) strlen(CONTROL));
                ASSERT_EQ(archive_write_header(c, e), ARCHIVE_OK);
                ASSERT_EQ(archive_write_data(c, CONTROL, strlen(CONTROL)), (la_ssize_t) strlen(CONTROL));
                archive_entry_free(e);
                ASSERT_EQ(archive_write_close(c), ARCHIVE_OK);
                archive_write_free(c);
        }
        n_data = make_tar(name, data, sizeof(data));

        deb = openat(fd, "hostile.deb", O_RDWR|O_CREAT|O_TRUNC|O_CLOEXEC, 0644);
        ASSERT_TRUE(deb >= 0);
        ASSERT_EQ(archive_write_set_format_ar_svr4(a), ARCHIVE_OK);
        ASSERT_EQ(archive_write_open_fd(a, deb), ARCHIVE_OK);
        ar_member(a, "debian-binary", "2.0\n", 4);
        ar_member(a, "control.tar", control, n_control);
        ar_member(a, "data.tar", data, n_data);
        ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        ASSERT_OK(lseek(deb, 0, SEEK_SET));
        return deb;
}

static void hostile(const char *name, const char *escaped) {
        _cleanup_close_ int fd = setup(), tree = openat(fd, "tree", O_RDONLY|O_DIRECTORY|O_CLOEXEC),
                out = openat(fd, "out", O_RDONLY|O_DIRECTORY|O_CLOEXEC), info = -EBADF, deb = -EBADF;
        _cleanup_free_ char *msg = NULL, *path = NULL;
        int r;

        ASSERT_OK(tree_prepare(tree, "amd64"));
        info = openat(tree, "var/lib/dpkg/info", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(info >= 0);

        /* The same package with a harmless name is installed: what is refused is the path. */
        deb = make_hostile_deb(fd, "./harmless");
        ASSERT_EQ(deb_unpack_register(deb, tree, info, "hello", "1.0-1", out, "hello", &msg), 1);
        ASSERT_OK(faccessat(tree, "harmless", F_OK, 0));
        deb = safe_close(deb);
        ASSERT_OK(rm_rf_at(fd, "tree"));
        ASSERT_OK(rm_rf_at(fd, "out"));
        ASSERT_OK(mkdirat(fd, "tree", 0755));
        ASSERT_OK(mkdirat(fd, "out", 0755));
        safe_close(tree);
        safe_close(out);
        safe_close(info);
        tree = openat(fd, "tree", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        out = openat(fd, "out", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_OK(tree_prepare(tree, "amd64"));
        info = openat(tree, "var/lib/dpkg/info", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(tree >= 0 && out >= 0 && info >= 0);

        if (escaped)
                ASSERT_TRUE(asprintf(&path, "%s/%s", dir, escaped) > 0);
        else
                path = strdup(name);
        ASSERT_NOT_NULL(path);
        deb = make_hostile_deb(fd, path);
        r = deb_unpack_register(deb, tree, info, "hello", "1.0-1", out, "hello", &msg);
        printf("# %s: %d %s\n", path, r, strna(msg));
        ASSERT_ERROR(r, EPERM);
        ASSERT_NOT_NULL(msg);
        /* Nothing outside the tree, and nothing registered. */
        ASSERT_ERROR(faccessat(fd, "escaped", F_OK, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0, ENOENT);
        ASSERT_ERROR(faccessat(info, "hello.list", F_OK, 0) < 0 ? -errno : 0, ENOENT);
        ASSERT_ERROR(faccessat(out, "hello", F_OK, 0) < 0 ? -errno : 0, ENOENT);

        ASSERT_OK(rm_rf_at(AT_FDCWD, dir));
}

TEST(hostile_dotdot) {
        hostile("./../escaped", NULL);
}

TEST(hostile_absolute) {
        hostile(NULL, "escaped");
}

DEFINE_TEST_MAIN
