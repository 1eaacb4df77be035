/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "string-util.h"
#include "tar-pack.h"
#include "tar-unpack.h"
#include "tests.h"

static char* make_tmp(void) {
        char *d = strdup("/tmp/test-tar-pack.XXXXXX");

        ASSERT_NOT_NULL(d);
        ASSERT_NOT_NULL(mkdtemp(d));
        return d;
}

static void write_at(int dir_fd, const char *name, const char *s) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0644);

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(loop_write(fd, s, strlen(s)));
}

/* A small tree: a file with an xattr and a sub-second mtime, a hardlink, a symlink, a fifo, a sparse
 * file, a directory with mode 1777, and the origin xattr on the root that must stay behind. */
static void make_tree(int fd) {
        struct timespec ts[2] = { { 1000, 123456789 }, { 2000, 987654321 } };
        _cleanup_close_ int sparse = -EBADF;

        ASSERT_EQ(mkdirat(fd, "etc", 0755), 0);
        ASSERT_EQ(mkdirat(fd, "tmp", 01777), 0);
        ASSERT_EQ(fchmodat(fd, "tmp", 01777, 0), 0);
        write_at(fd, "etc/motd", "hello\n");
        ASSERT_EQ(utimensat(fd, "etc/motd", ts, 0), 0);
        ASSERT_EQ(linkat(fd, "etc/motd", fd, "etc/motd.link", 0), 0);
        ASSERT_EQ(symlinkat("motd", fd, "etc/motd.sym"), 0);
        ASSERT_EQ(mkfifoat(fd, "tmp/fifo", 0600), 0);
        sparse = openat(fd, "sparse", O_WRONLY|O_CREAT|O_CLOEXEC, 0600);
        ASSERT_TRUE(sparse >= 0);
        ASSERT_EQ(pwrite(sparse, "end", 3, 8 * 1024 * 1024), 3);

        {
                _cleanup_close_ int f = openat(fd, "etc/motd", O_RDONLY|O_CLOEXEC);
                ASSERT_TRUE(f >= 0);
                ASSERT_EQ(fsetxattr(f, "user.note", "a note", 6, 0), 0);
        }
        ASSERT_EQ(fsetxattr(fd, "user.origin-test", "x", 1, 0), 0);
}

static void pack_unpack(Compression c) {
        _cleanup_free_ char *tmp = make_tmp(), *msg = NULL, *content = NULL;
        _cleanup_close_ int root = -EBADF, src = -EBADF, dst = -EBADF, out = -EBADF;
        TarPackStats stats = {};
        TarUnpackStats ustats = {};
        char buf[64] = {};
        struct stat a, b;
        char link[16] = {};

        root = open(tmp, O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(root >= 0);
        ASSERT_EQ(mkdirat(root, "src", 0755), 0);
        ASSERT_EQ(mkdirat(root, "dst", 0755), 0);
        src = openat(root, "src", O_DIRECTORY|O_CLOEXEC);
        dst = openat(root, "dst", O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(src >= 0 && dst >= 0);
        make_tree(src);

        out = memfd_create("archive", MFD_CLOEXEC);
        ASSERT_TRUE(out >= 0);
        ASSERT_OK(tar_pack(src, out, c, "user.origin-test", NULL, NULL, &stats, &msg));
        ASSERT_TRUE(stats.entries >= 8);
        ASSERT_EQ(stats.bytes, 6u + 3u);        /* the hardlink carries no data, holes are not read */
        ASSERT_TRUE(lseek(out, 0, SEEK_END) < 1024 * 1024);     /* the hole is not in the archive */
        ASSERT_EQ(lseek(out, 0, SEEK_SET), 0);

        ASSERT_OK(tar_unpack(out, dst, 0, 0, NULL, &ustats, &msg));
        ASSERT_EQ((int) ustats.compression, (int) c);

        ASSERT_OK(read_full_file_at(dst, "etc/motd", 1024, &content, NULL));
        ASSERT_STREQ(content, "hello\n");
        ASSERT_EQ(fstatat(dst, "etc/motd", &a, 0), 0);
        ASSERT_EQ(fstatat(dst, "etc/motd.link", &b, 0), 0);
        ASSERT_EQ(a.st_ino, b.st_ino);
        ASSERT_EQ(a.st_mtim.tv_sec, 2000);
        ASSERT_EQ(a.st_mtim.tv_nsec, 987654321);
        ASSERT_EQ(readlinkat(dst, "etc/motd.sym", link, sizeof(link) - 1), 4);
        ASSERT_STREQ(link, "motd");
        ASSERT_EQ(fstatat(dst, "tmp/fifo", &a, AT_SYMLINK_NOFOLLOW), 0);
        ASSERT_TRUE(S_ISFIFO(a.st_mode));
        ASSERT_EQ(fstatat(dst, "tmp", &a, 0), 0);
        ASSERT_EQ(a.st_mode & 07777, 01777u);
        ASSERT_EQ(fstatat(dst, "sparse", &a, 0), 0);
        ASSERT_EQ(a.st_size, 8 * 1024 * 1024 + 3);
        ASSERT_TRUE(a.st_blocks * 512 < 1024 * 1024);
        {
                _cleanup_close_ int f = openat(dst, "etc/motd", O_RDONLY|O_CLOEXEC);
                ASSERT_TRUE(f >= 0);
                ASSERT_EQ(fgetxattr(f, "user.note", buf, sizeof(buf)), 6);
                ASSERT_TRUE(memcmp(buf, "a note", 6) == 0);
        }
        ASSERT_TRUE(fgetxattr(dst, "user.origin-test", buf, sizeof(buf)) < 0);

        ASSERT_OK(rm_rf_at(AT_FDCWD, tmp));
}

TEST(round_trip_none) {
        pack_unpack(COMPRESSION_NONE);
}

TEST(round_trip_gzip) {
        pack_unpack(COMPRESSION_GZIP);
}

TEST(round_trip_zstd) {
        pack_unpack(COMPRESSION_ZSTD);
}

TEST(round_trip_xz) {
        pack_unpack(COMPRESSION_XZ);
}

TEST(unsupported_compression) {
        _cleanup_free_ char *msg = NULL;
        _cleanup_close_ int out = memfd_create("archive", MFD_CLOEXEC);

        ASSERT_TRUE(out >= 0);
        ASSERT_ERROR(tar_pack(out, out, COMPRESSION_BZIP2, NULL, NULL, NULL, NULL, &msg), EOPNOTSUPP);
        ASSERT_NOT_NULL(msg);
}

TEST(interrupted) {
        _cleanup_free_ char *tmp = make_tmp(), *msg = NULL;
        _cleanup_close_ int src = -EBADF, out = -EBADF;
        volatile sig_atomic_t stop = SIGTERM;
        char cwd[PATH_MAX], after[PATH_MAX];

        src = open(tmp, O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(src >= 0);
        make_tree(src);
        out = memfd_create("archive", MFD_CLOEXEC);
        ASSERT_TRUE(out >= 0);
        ASSERT_NOT_NULL(getcwd(cwd, sizeof(cwd)));
        ASSERT_ERROR(tar_pack(src, out, COMPRESSION_NONE, NULL, &stop, NULL, NULL, &msg), EINTR);
        /* ... and back in the directory it started in. */
        ASSERT_NOT_NULL(getcwd(after, sizeof(after)));
        ASSERT_STREQ(cwd, after);
        ASSERT_OK(rm_rf_at(AT_FDCWD, tmp));
}

typedef struct CwdWatch {
        atomic_bool stop;
        atomic_bool changed;
        char cwd[PATH_MAX];
} CwdWatch;

static void* watch_cwd(void *userdata) {
        CwdWatch *w = userdata;
        char now[PATH_MAX];

        while (!atomic_load(&w->stop))
                if (!getcwd(now, sizeof(now)) || !streq(now, w->cwd))
                        atomic_store(&w->changed, true);
        return NULL;
}

TEST(cwd_never_changes) {
        _cleanup_free_ char *tmp = make_tmp(), *msg = NULL;
        _cleanup_close_ int src = -EBADF, out = -EBADF;
        CwdWatch w = {};
        TarPackStats stats = {};
        pthread_t thread;

        src = open(tmp, O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(src >= 0);
        make_tree(src);
        for (unsigned i = 0; i < 200; i++) {
                char name[32];

                snprintf(name, sizeof(name), "d%u", i);
                ASSERT_EQ(mkdirat(src, name, 0755), 0);
                write_at(src, strjoina(name, "/f"), "x");
        }
        out = memfd_create("archive", MFD_CLOEXEC);
        ASSERT_TRUE(out >= 0);

        /* Another thread of the process must never see its working directory move (libarchive's disk
         * reader changes into what it reads: that happens in a child). */
        ASSERT_NOT_NULL(getcwd(w.cwd, sizeof(w.cwd)));
        ASSERT_EQ(pthread_create(&thread, NULL, watch_cwd, &w), 0);
        ASSERT_OK(tar_pack(src, out, COMPRESSION_NONE, NULL, NULL, NULL, &stats, &msg));
        atomic_store(&w.stop, true);
        ASSERT_EQ(pthread_join(thread, NULL), 0);
        ASSERT_FALSE(atomic_load(&w.changed));
        ASSERT_TRUE(stats.entries >= 400);
        ASSERT_OK(rm_rf_at(AT_FDCWD, tmp));
}

static volatile sig_atomic_t late_stop = 0;

static void* stop_later(void *userdata) {
        (void) usleep(200 * 1000);
        late_stop = SIGTERM;
        return NULL;
}

TEST(interrupted_in_the_parent_only) {
        _cleanup_free_ char *tmp = make_tmp(), *msg = NULL, *big = NULL;
        _cleanup_close_ int src = -EBADF;
        int pipefd[2];
        pthread_t thread;

        src = open(tmp, O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(src >= 0);
        big = malloc(1024 * 1024 + 1);
        ASSERT_NOT_NULL(big);
        memset(big, 'x', 1024 * 1024);
        big[1024 * 1024] = 0;
        write_at(src, "big", big);
        /* Nobody reads the archive: the packing child blocks once the pipe is full, and only the parent
         * sees the flag (set as a signal handler of its own would). It must stop the child. */
        ASSERT_EQ(pipe2(pipefd, O_CLOEXEC), 0);
        ASSERT_EQ(pthread_create(&thread, NULL, stop_later, NULL), 0);
        ASSERT_ERROR(tar_pack(src, pipefd[1], COMPRESSION_NONE, NULL, &late_stop, NULL, NULL, &msg), EINTR);
        ASSERT_EQ(pthread_join(thread, NULL), 0);
        safe_close(pipefd[0]);
        safe_close(pipefd[1]);
        ASSERT_OK(rm_rf_at(AT_FDCWD, tmp));
}

TEST(compression_from_filename) {
        Compression c;

        ASSERT_OK(tar_pack_compression_from_filename("a.tar", &c));
        ASSERT_EQ(c, COMPRESSION_NONE);
        ASSERT_OK(tar_pack_compression_from_filename("/x/a.tar.gz", &c));
        ASSERT_EQ(c, COMPRESSION_GZIP);
        ASSERT_OK(tar_pack_compression_from_filename("a.tar.zst", &c));
        ASSERT_EQ(c, COMPRESSION_ZSTD);
        ASSERT_OK(tar_pack_compression_from_filename("a.txz", &c));
        ASSERT_EQ(c, COMPRESSION_XZ);
        ASSERT_ERROR(tar_pack_compression_from_filename("a.tar.bz2", &c), EINVAL);
        ASSERT_ERROR(tar_pack_compression_from_filename(".tar", &c), EINVAL);
        ASSERT_ERROR(tar_pack_compression_from_filename("a.zip", &c), EINVAL);
}

DEFINE_TEST_MAIN
