/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tar unpacker against archives the test makes itself with libarchive's writer: every kind of
 * entry and metadata, and a corpus of hostile and broken archives, each of which must be refused with
 * a message naming the entry while nothing lands outside the tree. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "string-util.h"
#include "tar-unpack.h"
#include "tests.h"

typedef struct Ent {
        const char *path;
        mode_t type;            /* AE_IF*; 0 with hardlink set */
        const char *data;       /* regular files */
        const char *target;     /* symlink target or hardlink target */
        mode_t perm;            /* 0: 0644 for files, 0755 for directories */
        int64_t size;           /* overrides the size of data: a lie makes a truncated archive */
} Ent;

/* Writes the entries as a pax archive into a memfd, through the given libarchive filter. */
static int make_archive(const Ent *ents, size_t n, int filter) {
        struct archive *a = archive_write_new();
        int fd = memfd_create("archive", MFD_CLOEXEC);

        ASSERT_TRUE(a);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        if (filter != ARCHIVE_FILTER_NONE)
                ASSERT_EQ(archive_write_add_filter(a, filter), ARCHIVE_OK);
        ASSERT_EQ(archive_write_open_fd(a, fd), ARCHIVE_OK);

        for (size_t i = 0; i < n; i++) {
                struct archive_entry *e = archive_entry_new();
                const Ent *x = ents + i;

                archive_entry_set_pathname(e, x->path);
                archive_entry_set_mtime(e, 1700000000 + (time_t) i, 0);
                if (x->type == 0) {
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_perm(e, 0644);
                        archive_entry_set_hardlink(e, x->target);
                        archive_entry_set_size(e, 0);
                } else {
                        archive_entry_set_filetype(e, x->type);
                        archive_entry_set_perm(e, x->perm ?: (x->type == AE_IFDIR ? 0755 : 0644));
                        if (x->type == AE_IFLNK)
                                archive_entry_set_symlink(e, x->target);
                        if (x->type == AE_IFREG)
                                archive_entry_set_size(e, x->size ?: (int64_t) strlen(x->data ?: ""));
                }
                ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
                if (x->type == AE_IFREG && x->data)
                        archive_write_data(a, x->data, strlen(x->data));
                archive_entry_free(e);
        }

        archive_write_close(a);
        archive_write_free(a);
        ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

typedef struct Sandbox {
        char dir[64];
        int tree_fd;
        int outside_fd;
} Sandbox;

static void sandbox_new(Sandbox *s) {
        strcpy(s->dir, "/tmp/test-tar-unpack.XXXXXX");
        ASSERT_TRUE(mkdtemp(s->dir));
        ASSERT_OK(mkdir(strjoina(s->dir, "/tree"), 0755));
        ASSERT_OK(mkdir(strjoina(s->dir, "/outside"), 0755));
        s->tree_fd = open(strjoina(s->dir, "/tree"), O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        s->outside_fd = open(strjoina(s->dir, "/outside"), O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(s->tree_fd >= 0 && s->outside_fd >= 0);
        ASSERT_OK(write_file_atomic_at(s->outside_fd, "victim", "precious", 8, 0644));
}

static void sandbox_free(Sandbox *s) {
        _cleanup_close_ int fd = open("/tmp", O_RDONLY|O_DIRECTORY|O_CLOEXEC);

        safe_close(s->tree_fd);
        safe_close(s->outside_fd);
        ASSERT_OK(rm_rf_at(fd, s->dir + 5));
}

/* Nothing outside the tree changed: only the victim is there, with its content. */
static void assert_outside_untouched(Sandbox *s) {
        _cleanup_free_ char *buf = NULL;
        DIR *d;
        size_t n = 0;

        ASSERT_OK(read_full_file_at(s->outside_fd, "victim", 64, &buf, NULL));
        ASSERT_STREQ(buf, "precious");
        d = opendir_dup(s->outside_fd);
        ASSERT_TRUE(d);
        for (struct dirent *de; (de = readdir(d));)
                n++;
        closedir(d);
        ASSERT_EQ(n, 3U); /* ".", "..", "victim" */

        /* …and nothing next to the tree either. */
        d = opendir(s->dir);
        ASSERT_TRUE(d);
        n = 0;
        for (struct dirent *de; (de = readdir(d));)
                n++;
        closedir(d);
        ASSERT_EQ(n, 4U); /* ".", "..", "tree", "outside" */
}

static int unpack(Sandbox *s, int fd, TarUnpackFlags flags, char **ret_msg) {
        int r;

        *ret_msg = NULL;
        r = tar_unpack(fd, s->tree_fd, flags, 0, NULL, NULL, ret_msg);
        safe_close(fd);
        if (*ret_msg)
                printf("# %s\n", *ret_msg);
        return r;
}

/* Unpacks a hostile archive: must fail with the expected error, a message naming the entry, and no
 * effect outside the tree. */
static void assert_refused(const Ent *ents, size_t n, int expected, const char *entry_in_message) {
        _cleanup_free_ char *msg = NULL;
        Sandbox s;

        sandbox_new(&s);
        ASSERT_EQ(unpack(&s, make_archive(ents, n, ARCHIVE_FILTER_NONE), 0, &msg), expected);
        ASSERT_TRUE(msg);
        if (entry_in_message)
                ASSERT_TRUE(strstr(msg, entry_in_message));
        assert_outside_untouched(&s);
        sandbox_free(&s);
}

TEST(absolute_path) {
        /* libarchive's writer keeps the name as given. */
        assert_refused((const Ent[]) { { "/etc/evil", AE_IFREG, "x" } }, 1, -EPERM, "/etc/evil");
}

TEST(dotdot) {
        assert_refused((const Ent[]) { { "../outside/new", AE_IFREG, "x" } }, 1, -EPERM, "../outside/new");
        assert_refused((const Ent[]) { { "a/../../outside/victim", AE_IFREG, "x" } }, 1, -EPERM, "a/../..");
}

TEST(write_through_planted_symlink) {
        /* An absolute symlink to the outside, then a file "through" it. */
        assert_refused((const Ent[]) {
                        { "link", AE_IFLNK, NULL, "/tmp" },
                        { "link/evil", AE_IFREG, "x" },
                }, 2, -ELOOP, "link/evil");

        /* A relative one climbing out, and one pointing inside: both refused, no exceptions. */
        assert_refused((const Ent[]) {
                        { "up", AE_IFLNK, NULL, "../outside" },
                        { "up/victim", AE_IFREG, "x" },
                }, 2, -ELOOP, "up/victim");
        assert_refused((const Ent[]) {
                        { "d", AE_IFDIR },
                        { "in", AE_IFLNK, NULL, "d" },
                        { "in/x", AE_IFDIR },
                }, 3, -ELOOP, "in/x");
        /* A hardlink whose target path goes through a symlink. */
        assert_refused((const Ent[]) {
                        { "up", AE_IFLNK, NULL, "../outside" },
                        { "h", 0, NULL, "up/victim" },
                }, 2, -ELOOP, "h");
}

TEST(hardlink_outside) {
        assert_refused((const Ent[]) { { "h", 0, NULL, "../outside/victim" } }, 1, -EPERM, "h");
        assert_refused((const Ent[]) { { "h", 0, NULL, "/etc/passwd" } }, 1, -EPERM, "h");
        assert_refused((const Ent[]) { { "h", 0, NULL, "missing" } }, 1, -ENOENT, "missing");
}

TEST(overwrite_symlink_and_hardlink_does_not_write_through) {
        _cleanup_free_ char *msg = NULL, *buf = NULL;
        char victim[128];
        struct stat st;
        Sandbox s;

        sandbox_new(&s);
        snprintf(victim, sizeof(victim), "%s/outside/victim", s.dir);
        ASSERT_OK(unpack(&s, make_archive((const Ent[]) {
                        { "sym", AE_IFLNK, NULL, victim },
                        { "sym", AE_IFREG, "replaced" },
                        { "f", AE_IFREG, "original" },
                        { "h", 0, NULL, "f" },
                        { "h", AE_IFREG, "new" },
                }, 5, ARCHIVE_FILTER_NONE), 0, &msg));
        assert_outside_untouched(&s);

        ASSERT_OK(fstatat(s.tree_fd, "sym", &st, AT_SYMLINK_NOFOLLOW));
        ASSERT_TRUE(S_ISREG(st.st_mode));
        ASSERT_OK(read_full_file_at(s.tree_fd, "f", 64, &buf, NULL));
        ASSERT_STREQ(buf, "original");
        free(buf);
        ASSERT_OK(read_full_file_at(s.tree_fd, "h", 64, &buf, NULL));
        ASSERT_STREQ(buf, "new");
        sandbox_free(&s);
}

TEST(names_too_long) {
        char component[300], path[5000];

        memset(component, 'a', 256);
        component[256] = 0;
        assert_refused((const Ent[]) { { component, AE_IFREG, "x" } }, 1, -ENAMETOOLONG, NULL);

        for (size_t i = 0; i < 4500; i += 2)
                memcpy(path + i, "a/", 2);
        memcpy(path + 4500, "f", 2);
        assert_refused((const Ent[]) { { path, AE_IFREG, "x" } }, 1, -ENAMETOOLONG, NULL);
}

TEST(replace_nonempty_directory_refused) {
        assert_refused((const Ent[]) {
                        { "d", AE_IFDIR },
                        { "d/f", AE_IFREG, "x" },
                        { "d", AE_IFLNK, NULL, "/tmp" },
                }, 3, -ENOTEMPTY, "d");
}

TEST(truncated_archive) {
        _cleanup_free_ char *msg = NULL, *big = NULL;
        Sandbox s;
        int fd;

        big = malloc(10001);
        ASSERT_TRUE(big);
        memset(big, 'b', 10000);
        big[10000] = 0;
        fd = make_archive((const Ent[]) { { "d", AE_IFDIR }, { "d/big", AE_IFREG, big } }, 2,
                          ARCHIVE_FILTER_NONE);
        /* Cut in the middle of the file's data. */
        ASSERT_OK(ftruncate(fd, 3 * 512 + 4000));

        sandbox_new(&s);
        ASSERT_EQ(unpack(&s, fd, 0, &msg), -EBADMSG);
        ASSERT_TRUE(strstr(msg, "d/big"));
        assert_outside_untouched(&s);
        sandbox_free(&s);
}

static int memfd_with(const void *data, size_t size) {
        int fd = memfd_create("data", MFD_CLOEXEC);

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(loop_write(fd, data, size));
        ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

static void assert_bad_input(const void *data, size_t size, int expected) {
        _cleanup_free_ char *msg = NULL;
        Sandbox s;

        sandbox_new(&s);
        ASSERT_EQ(unpack(&s, memfd_with(data, size), 0, &msg), expected);
        ASSERT_TRUE(msg);
        assert_outside_untouched(&s);
        sandbox_free(&s);
}

TEST(bogus_inputs) {
        static const uint8_t gzip_garbage[] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff,
                                               1, 2, 3 };
        static const uint8_t xz_garbage[] = { 0xfd, '7', 'z', 'X', 'Z', 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
        static const uint8_t zstd_garbage[] = { 0x28, 0xb5, 0x2f, 0xfd, 9, 9, 9, 9, 9, 9, 9, 9 };
        static const uint8_t lz4[] = { 0x04, 0x22, 0x4d, 0x18, 0, 0 };
        char text[2048];

        assert_bad_input("", 0, -EBADMSG);
        memset(text, 'x', sizeof(text));
        assert_bad_input(text, sizeof(text), -EBADMSG);
        assert_bad_input(gzip_garbage, sizeof(gzip_garbage), -EBADMSG);
        assert_bad_input(xz_garbage, sizeof(xz_garbage), -EBADMSG);
        assert_bad_input(zstd_garbage, sizeof(zstd_garbage), -EBADMSG);
        assert_bad_input(lz4, sizeof(lz4), -EPROTONOSUPPORT);
}

static size_t read_all(int fd, uint8_t **ret) {
        struct stat st;
        uint8_t *buf;

        ASSERT_OK(fstat(fd, &st));
        buf = malloc((size_t) st.st_size + 1);
        ASSERT_TRUE(buf);
        ASSERT_EQ(pread(fd, buf, (size_t) st.st_size, 0), st.st_size);
        *ret = buf;
        return (size_t) st.st_size;
}

static const Ent simple[] = {
        { "./", AE_IFDIR, .perm = 0755 },
        { "./etc", AE_IFDIR },
        { "./etc/hostname", AE_IFREG, "machine\n" },
        { "./usr/bin/tool", AE_IFREG, "#!/bin/sh\n", .perm = 0755 },
};

TEST(truncated_and_damaged_compression) {
        static const int filters[] = { ARCHIVE_FILTER_GZIP, ARCHIVE_FILTER_XZ, ARCHIVE_FILTER_ZSTD,
                                      ARCHIVE_FILTER_BZIP2 };

        for (size_t i = 0; i < ELEMENTSOF(filters); i++) {
                _cleanup_free_ uint8_t *buf = NULL;
                int fd = make_archive(simple, ELEMENTSOF(simple), filters[i]);
                size_t n = read_all(fd, &buf);

                safe_close(fd);
                printf("# filter %i: %zu bytes\n", filters[i], n);
                /* Cut off the end (the checksum and part of the data). */
                assert_bad_input(buf, n / 2, -EBADMSG);
                if (filters[i] == ARCHIVE_FILTER_GZIP) {
                        /* A flipped byte in the trailer's CRC. */
                        buf[n - 6] ^= 0xff;
                        assert_bad_input(buf, n, -EBADMSG);
                        buf[n - 6] ^= 0xff;
                        /* Garbage after the stream. */
                        uint8_t *more = malloc(n + 4);
                        ASSERT_TRUE(more);
                        memcpy(more, buf, n);
                        memcpy(more + n, "junk", 4);
                        assert_bad_input(more, n + 4, -EBADMSG);
                        free(more);
                }
        }
}

static void sha256_hex(const void *p, size_t n, char ret[65]) {
        uint8_t md[32];
        unsigned len = 0;

        ASSERT_TRUE(EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) == 1);
        for (size_t i = 0; i < 32; i++)
                sprintf(ret + 2 * i, "%02x", md[i]);
}

TEST(every_compression_from_file_and_pipe) {
        static const int filters[] = {
                ARCHIVE_FILTER_NONE, ARCHIVE_FILTER_GZIP, ARCHIVE_FILTER_XZ, ARCHIVE_FILTER_ZSTD,
                ARCHIVE_FILTER_BZIP2,
        };
        static const Compression expected[] = {
                COMPRESSION_NONE, COMPRESSION_GZIP, COMPRESSION_XZ, COMPRESSION_ZSTD, COMPRESSION_BZIP2,
        };

        for (size_t i = 0; i < ELEMENTSOF(filters); i++)
                for (int pipe_it = 0; pipe_it < 2; pipe_it++) {
                        _cleanup_free_ uint8_t *buf = NULL;
                        _cleanup_free_ char *msg = NULL, *content = NULL;
                        int fd = make_archive(simple, ELEMENTSOF(simple), filters[i]);
                        size_t n = read_all(fd, &buf);
                        TarUnpackStats stats;
                        char sha[65];
                        struct stat st;
                        Sandbox s;

                        if (pipe_it) {
                                int p[2];
                                pid_t pid;

                                ASSERT_OK(pipe2(p, O_CLOEXEC));
                                pid = fork();
                                ASSERT_TRUE(pid >= 0);
                                if (pid == 0) {
                                        /* Dribble it in small pieces. */
                                        for (size_t k = 0; k < n; k += 100)
                                                if (loop_write(p[1], buf + k, MIN((size_t) 100, n - k)) < 0)
                                                        _exit(1);
                                        _exit(0);
                                }
                                safe_close(p[1]);
                                safe_close(fd);
                                fd = p[0];
                        }

                        sandbox_new(&s);
                        ASSERT_OK(tar_unpack(fd, s.tree_fd, 0, n, NULL, &stats, &msg));
                        safe_close(fd);
                        ASSERT_EQ((int) stats.compression, (int) expected[i]);
                        ASSERT_EQ(stats.entries, 4U);
                        ASSERT_EQ(stats.bytes_in, n);
                        sha256_hex(buf, n, sha);
                        ASSERT_STREQ(stats.sha256, sha);

                        ASSERT_OK(read_full_file_at(s.tree_fd, "etc/hostname", 64, &content, NULL));
                        ASSERT_STREQ(content, "machine\n");
                        ASSERT_OK(fstatat(s.tree_fd, "usr/bin/tool", &st, 0));
                        ASSERT_EQ(st.st_mode & 07777, 0755U);
                        ASSERT_EQ(st.st_mtime, 1700000003);
                        /* A parent the archive did not list was made. */
                        ASSERT_OK(fstatat(s.tree_fd, "usr/bin", &st, 0));
                        ASSERT_TRUE(S_ISDIR(st.st_mode));
                        ASSERT_OK(fstatat(s.tree_fd, "etc", &st, 0));
                        ASSERT_EQ(st.st_mtime, 1700000001);
                        sandbox_free(&s);
                }
}

TEST(zstd_skippable_frame) {
        static const uint8_t skippable_garbage[] = { 0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4,
                                                    9, 9, 9, 9, 9, 9, 9, 9 };
        _cleanup_free_ uint8_t *zst = NULL, *buf = NULL;
        _cleanup_free_ char *msg = NULL, *content = NULL;
        TarUnpackStats stats;
        size_t n;
        Sandbox s;
        int fd;

        /* As pzstd writes it: a skippable frame (magic 0x184D2A5x) with the size of the frame after it. */
        fd = make_archive(simple, ELEMENTSOF(simple), ARCHIVE_FILTER_ZSTD);
        n = read_all(fd, &zst);
        safe_close(fd);
        buf = malloc(n + 12);
        ASSERT_TRUE(buf);
        memcpy(buf, (const uint8_t[]) { 0x5a, 0x2a, 0x4d, 0x18, 4, 0, 0, 0 }, 8);
        buf[8] = (uint8_t) n;
        buf[9] = (uint8_t) (n >> 8);
        buf[10] = buf[11] = 0;
        memcpy(buf + 12, zst, n);

        sandbox_new(&s);
        fd = memfd_with(buf, n + 12);
        ASSERT_OK(tar_unpack(fd, s.tree_fd, 0, 0, NULL, &stats, &msg));
        safe_close(fd);
        ASSERT_EQ((int) stats.compression, (int) COMPRESSION_ZSTD);
        ASSERT_EQ(stats.entries, 4U);
        ASSERT_OK(read_full_file_at(s.tree_fd, "etc/hostname", 64, &content, NULL));
        ASSERT_STREQ(content, "machine\n");
        sandbox_free(&s);

        /* A skippable frame followed by no zstd frame is still damaged zstd data. */
        assert_bad_input(skippable_garbage, sizeof(skippable_garbage), -EBADMSG);
}

/* One gzip member of the n bytes at in, written by libarchive's gzip filter over its raw format. */
static size_t gzip_member(const void *in, size_t n, uint8_t *out, size_t out_size) {
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        size_t used = 0;

        ASSERT_NOT_NULL(a);
        ASSERT_NOT_NULL(e);
        ASSERT_EQ(archive_write_add_filter_gzip(a), ARCHIVE_OK);
        ASSERT_EQ(archive_write_set_format_raw(a), ARCHIVE_OK);
        ASSERT_EQ(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);
        ASSERT_EQ(archive_write_open_memory(a, out, out_size, &used), ARCHIVE_OK);
        archive_entry_set_pathname(e, "member");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, (la_int64_t) n);
        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
        ASSERT_EQ(archive_write_data(a, in, n), (la_ssize_t) n);
        archive_entry_free(e);
        ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        return used;
}

TEST(multi_member_gzip) {
        _cleanup_free_ uint8_t *tar = NULL, *gz = NULL;
        _cleanup_free_ char *msg = NULL, *content = NULL;
        int fd = make_archive(simple, ELEMENTSOF(simple), ARCHIVE_FILTER_NONE);
        size_t n = read_all(fd, &tar), first, m;
        Sandbox s;

        safe_close(fd);
        gz = malloc(2 * n + 1024);
        ASSERT_TRUE(gz);
        /* As pigz or a concatenation of gzip files makes them, plus zero padding. */
        first = gzip_member(tar, n / 3, gz, n + 512);
        m = first + gzip_member(tar + n / 3, n - n / 3, gz + first, n + 512);
        ASSERT_TRUE(first > 18 && m > first + 18);
        ASSERT_TRUE(gz[0] == 0x1f && gz[1] == 0x8b && gz[first] == 0x1f && gz[first + 1] == 0x8b);
        memset(gz + m, 0, 512);
        m += 512;

        sandbox_new(&s);
        ASSERT_OK(unpack(&s, memfd_with(gz, m), 0, &msg));
        ASSERT_OK(read_full_file_at(s.tree_fd, "etc/hostname", 64, &content, NULL));
        ASSERT_STREQ(content, "machine\n");
        sandbox_free(&s);
}

TEST(strip_top) {
        _cleanup_free_ char *msg = NULL;
        struct stat st;
        Sandbox s;

        sandbox_new(&s);
        ASSERT_OK(unpack(&s, make_archive((const Ent[]) {
                        { "rootfs/", AE_IFDIR, .perm = 0711 },
                        { "rootfs/etc/", AE_IFDIR },
                        { "rootfs/etc/f", AE_IFREG, "x" },
                        { "rootfs/l", 0, NULL, "rootfs/etc/f" },
                }, 4, ARCHIVE_FILTER_NONE), TAR_UNPACK_STRIP_TOP, &msg));
        ASSERT_OK(fstatat(s.tree_fd, "etc/f", &st, 0));
        ASSERT_EQ(st.st_nlink, 2U);
        ASSERT_OK(fstat(s.tree_fd, &st));
        ASSERT_EQ(st.st_mode & 07777, 0711U);
        sandbox_free(&s);

        sandbox_new(&s);
        ASSERT_EQ(unpack(&s, make_archive((const Ent[]) {
                        { "one/f", AE_IFREG, "x" },
                        { "two/f", AE_IFREG, "x" },
                }, 2, ARCHIVE_FILTER_NONE), TAR_UNPACK_STRIP_TOP, &msg), -EBADMSG);
        ASSERT_TRUE(strstr(msg, "two/f"));
        sandbox_free(&s);
}

TEST(metadata) {
        _cleanup_free_ char *msg = NULL;
        struct archive *a = archive_write_new();
        struct archive_entry *e;
        /* A valid VFS_CAP_REVISION_2 capability set: cap_net_bind_service (10) permitted+effective. */
        static const uint8_t cap[20] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00 };
        static const char data[] = "payload";
        int fd = memfd_create("archive", MFD_CLOEXEC);
        uint8_t buf[64];
        struct stat st;
        Sandbox s;

        if (geteuid() != 0)
                test_skip("needs root for ownership and devices");

        ASSERT_EQ(archive_write_set_format_pax(a), ARCHIVE_OK);
        ASSERT_EQ(archive_write_open_fd(a, fd), ARCHIVE_OK);

        e = archive_entry_new();
        archive_entry_set_pathname(e, "bin/ping");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 04755);
        archive_entry_set_uid(e, 1234);
        archive_entry_set_gid(e, 5678);
        archive_entry_set_size(e, sizeof(data) - 1);
        archive_entry_set_mtime(e, 1600000000, 123456789);
        archive_entry_xattr_add_entry(e, "security.capability", cap, sizeof(cap));
        archive_entry_xattr_add_entry(e, "user.note", "hello", 5);
        archive_entry_acl_add_entry(e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, ARCHIVE_ENTRY_ACL_READ,
                                    ARCHIVE_ENTRY_ACL_USER, 4242, "u4242");
        archive_entry_acl_add_entry(e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS,
                                    ARCHIVE_ENTRY_ACL_READ|ARCHIVE_ENTRY_ACL_EXECUTE, ARCHIVE_ENTRY_ACL_MASK,
                                    -1, NULL);
        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
        archive_write_data(a, data, sizeof(data) - 1);
        archive_entry_free(e);

        e = archive_entry_new();
        archive_entry_set_pathname(e, "dev/null");
        archive_entry_set_filetype(e, AE_IFCHR);
        archive_entry_set_perm(e, 0666);
        archive_entry_set_rdevmajor(e, 1);
        archive_entry_set_rdevminor(e, 3);
        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
        archive_entry_free(e);

        e = archive_entry_new();
        archive_entry_set_pathname(e, "run/fifo");
        archive_entry_set_filetype(e, AE_IFIFO);
        archive_entry_set_perm(e, 0600);
        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
        archive_entry_free(e);

        e = archive_entry_new();
        archive_entry_set_pathname(e, "tmp");
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 01777);
        archive_entry_set_mtime(e, 1500000000, 0);
        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
        archive_entry_free(e);

        e = archive_entry_new();
        archive_entry_set_pathname(e, "tmp/sparse");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, 8 * 1024 * 1024);
        archive_entry_sparse_add_entry(e, 4 * 1024 * 1024, 4096);
        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
        memset(buf, 'S', sizeof(buf));
        for (size_t i = 0; i < 4096; i += sizeof(buf))
                archive_write_data(a, buf, sizeof(buf));
        archive_entry_free(e);

        archive_write_close(a);
        archive_write_free(a);
        ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);

        sandbox_new(&s);
        ASSERT_OK(unpack(&s, fd, 0, &msg));

        ASSERT_OK(fstatat(s.tree_fd, "bin/ping", &st, AT_SYMLINK_NOFOLLOW));
        ASSERT_EQ(st.st_uid, 1234U);
        ASSERT_EQ(st.st_gid, 5678U);
        ASSERT_EQ(st.st_mode & 07777, 04755U); /* the ACL's mask r-x is the group bits */
        ASSERT_EQ(st.st_mtim.tv_sec, 1600000000);
        ASSERT_EQ(st.st_mtim.tv_nsec, 123456789);
        ASSERT_EQ(getxattr(strjoina(s.dir, "/tree/bin/ping"), "security.capability", buf, sizeof(buf)),
                  (ssize_t) sizeof(cap));
        ASSERT_TRUE(memcmp(buf, cap, sizeof(cap)) == 0);
        ASSERT_EQ(getxattr(strjoina(s.dir, "/tree/bin/ping"), "user.note", buf, sizeof(buf)), 5);
        /* version 2, then USER_OBJ, USER 4242, GROUP_OBJ, MASK, OTHER */
        ASSERT_EQ(getxattr(strjoina(s.dir, "/tree/bin/ping"), "system.posix_acl_access", buf, sizeof(buf)),
                  4 + 5 * 8);

        ASSERT_OK(fstatat(s.tree_fd, "dev/null", &st, AT_SYMLINK_NOFOLLOW));
        ASSERT_TRUE(S_ISCHR(st.st_mode));
        ASSERT_EQ(st.st_rdev, makedev(1, 3));
        ASSERT_OK(fstatat(s.tree_fd, "run/fifo", &st, AT_SYMLINK_NOFOLLOW));
        ASSERT_TRUE(S_ISFIFO(st.st_mode));
        ASSERT_EQ(st.st_mode & 07777, 0600U);
        ASSERT_OK(fstatat(s.tree_fd, "tmp", &st, AT_SYMLINK_NOFOLLOW));
        ASSERT_EQ(st.st_mode & 07777, 01777U);
        ASSERT_EQ(st.st_mtime, 1500000000);
        ASSERT_OK(fstatat(s.tree_fd, "tmp/sparse", &st, AT_SYMLINK_NOFOLLOW));
        ASSERT_EQ(st.st_size, 8 * 1024 * 1024);
        ASSERT_TRUE(st.st_blocks * 512 < 1024 * 1024);
        sandbox_free(&s);
}

TEST(same_entry_twice_in_a_subdirectory) {
        _cleanup_free_ char *msg = NULL, *buf = NULL;
        Sandbox s;

        /* The later one wins (as with "tar -r"); replacing it goes through the cached parent. */
        sandbox_new(&s);
        ASSERT_OK(unpack(&s, make_archive((const Ent[]) {
                                { "d", AE_IFDIR },
                                { "d/f", AE_IFREG, "first" },
                                { "d/f", AE_IFREG, "second" },
                                { "d/l", AE_IFLNK, NULL, "f" },
                                { "d/l", AE_IFREG, "now a file" },
                        }, 5, ARCHIVE_FILTER_NONE), 0, &msg));
        ASSERT_OK(read_full_file_at(s.tree_fd, "d/f", 64, &buf, NULL));
        ASSERT_STREQ(buf, "second");
        buf = mfree(buf);
        ASSERT_OK(read_full_file_at(s.tree_fd, "d/l", 64, &buf, NULL));
        ASSERT_STREQ(buf, "now a file");
        sandbox_free(&s);
}

/* --- TAR_UNPACK_OVERLAY: layers of an OCI image ------------------------------------------------- */

static void layer(Sandbox *s, const Ent *ents, size_t n) {
        _cleanup_free_ char *msg = NULL;

        ASSERT_OK(unpack(s, make_archive(ents, n, ARCHIVE_FILTER_NONE), TAR_UNPACK_OVERLAY, &msg));
        ASSERT_NULL(msg);
}

static bool exists(Sandbox *s, const char *path) {
        struct stat st;
        return fstatat(s->tree_fd, path, &st, AT_SYMLINK_NOFOLLOW) >= 0;
}

static mode_t type_of(Sandbox *s, const char *path) {
        struct stat st;
        ASSERT_OK(fstatat(s->tree_fd, path, &st, AT_SYMLINK_NOFOLLOW));
        return st.st_mode & S_IFMT;
}

static void assert_content(Sandbox *s, const char *path, const char *expected) {
        _cleanup_free_ char *buf = NULL;
        ASSERT_OK(read_full_file_at(s->tree_fd, path, 4096, &buf, NULL));
        ASSERT_STREQ(buf, expected);
}

TEST(overlay_whiteouts) {
        Sandbox s;

        sandbox_new(&s);
        layer(&s, (const Ent[]) {
                { "etc", AE_IFDIR },
                { "etc/a", AE_IFREG, "a" },
                { "etc/b", AE_IFREG, "b" },
                { "opt", AE_IFDIR },
                { "opt/x", AE_IFDIR },
                { "opt/x/deep", AE_IFREG, "deep" },
                { "opt/y", AE_IFREG, "y" },
                { "link", AE_IFREG, "shared" },
        }, 8);
        layer(&s, (const Ent[]) {
                { "etc/.wh.a", AE_IFREG, "" },
                { ".wh.missing", AE_IFREG, "" },        /* nothing to hide: fine */
                { "nodir/.wh.x", AE_IFREG, "" },
                { "opt", AE_IFDIR },
                { "opt/.wh..wh..opq", AE_IFREG, "" },
                { "opt/new", AE_IFREG, "new" },
                { "opt/x", AE_IFDIR },                  /* in this layer: stays, but emptied */
                { "hard", 0, NULL, "link" },            /* a hardlink to a lower layer's file */
                { ".wh..wh.plnk", AE_IFDIR },            /* AUFS metadata: skipped */
                { "opt/y2", AE_IFREG, "y2" },
                { "etc/b", AE_IFREG, "b2" },            /* replaces a lower file in a subdirectory */
        }, 11);

        ASSERT_FALSE(exists(&s, "etc/a"));
        ASSERT_FALSE(exists(&s, "etc/.wh.a"));
        assert_content(&s, "etc/b", "b2");
        ASSERT_FALSE(exists(&s, "opt/.wh..wh..opq"));
        ASSERT_FALSE(exists(&s, "opt/y"));
        ASSERT_TRUE(exists(&s, "opt/x"));
        ASSERT_FALSE(exists(&s, "opt/x/deep"));
        assert_content(&s, "opt/new", "new");
        ASSERT_FALSE(exists(&s, ".wh..wh.plnk"));
        ASSERT_FALSE(exists(&s, "nodir/.wh.x"));

        struct stat a, b;
        ASSERT_OK(fstatat(s.tree_fd, "link", &a, 0));
        ASSERT_OK(fstatat(s.tree_fd, "hard", &b, 0));
        ASSERT_EQ(a.st_ino, b.st_ino);

        /* A whiteout hides lower layers only, never what its own layer adds: order does not matter. */
        layer(&s, (const Ent[]) {
                { "etc/c", AE_IFREG, "c" },
                { "etc/.wh.c", AE_IFREG, "" },
                { "etc/.wh..wh..opq", AE_IFREG, "" },
                { "etc/d", AE_IFREG, "d" },
        }, 4);
        assert_content(&s, "etc/c", "c");
        assert_content(&s, "etc/d", "d");
        ASSERT_FALSE(exists(&s, "etc/b"));
        assert_outside_untouched(&s);
        sandbox_free(&s);
}

TEST(overlay_empty_layer) {
        _cleanup_free_ char *msg = NULL;
        Sandbox s;

        /* Only the end-of-archive blocks: fine for a layer, not for a root file system archive. */
        sandbox_new(&s);
        layer(&s, NULL, 0);
        ASSERT_ERROR(unpack(&s, make_archive(NULL, 0, ARCHIVE_FILTER_GZIP), 0, &msg), EBADMSG);
        sandbox_free(&s);
}

TEST(overlay_type_replacement) {
        Sandbox s;

        sandbox_new(&s);
        layer(&s, (const Ent[]) {
                { "d2f", AE_IFDIR },
                { "d2f/sub", AE_IFDIR },
                { "d2f/sub/file", AE_IFREG, "x" },
                { "f2d", AE_IFREG, "file" },
                { "l2d", AE_IFLNK, NULL, "/etc" },
                { "merged", AE_IFDIR, .perm = 0700 },
                { "merged/old", AE_IFREG, "old" },
        }, 7);
        ASSERT_OK(setxattr(strjoina(s.dir, "/tree/merged"), "user.lower", "1", 1, 0));
        layer(&s, (const Ent[]) {
                { "d2f", AE_IFREG, "now a file" },      /* replaces a non-empty directory */
                { "f2d", AE_IFDIR },
                { "f2d/in", AE_IFREG, "in" },
                { "l2d", AE_IFDIR },
                { "merged", AE_IFDIR, .perm = 0751 },
                { "merged/new", AE_IFREG, "new" },
        }, 6);
        assert_content(&s, "d2f", "now a file");
        ASSERT_EQ(type_of(&s, "f2d"), (mode_t) S_IFDIR);
        assert_content(&s, "f2d/in", "in");
        ASSERT_EQ(type_of(&s, "l2d"), (mode_t) S_IFDIR);
        assert_content(&s, "merged/old", "old");
        assert_content(&s, "merged/new", "new");

        struct stat st;
        char v[4];
        ASSERT_OK(fstatat(s.tree_fd, "merged", &st, 0));
        ASSERT_EQ(st.st_mode & 07777, 0751U);
        /* The directory's entry says all about it: the lower layer's xattr is gone. */
        ASSERT_TRUE(getxattr(strjoina(s.dir, "/tree/merged"), "user.lower", v, sizeof(v)) < 0);
        assert_outside_untouched(&s);
        sandbox_free(&s);
}

TEST(overlay_lower_dir_times_kept) {
        struct stat before, after;
        Sandbox s;

        sandbox_new(&s);
        layer(&s, (const Ent[]) {
                { "d", AE_IFDIR },
                { "d/a", AE_IFREG, "a" },
        }, 2);
        ASSERT_OK(fstatat(s.tree_fd, "d", &before, 0));
        layer(&s, (const Ent[]) {
                { "d/.wh.a", AE_IFREG, "" },
                { "d/b", AE_IFREG, "b" },
        }, 2);
        ASSERT_OK(fstatat(s.tree_fd, "d", &after, 0));
        ASSERT_FALSE(exists(&s, "d/a"));
        ASSERT_EQ(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
        ASSERT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
        sandbox_free(&s);
}

/* A hostile layer on top of a lower one that planted a symlink to outside: refused, outside intact. */
static void assert_layer_refused(const Ent *lower, size_t n_lower, const Ent *upper, size_t n_upper,
                                 int expected, const char *in_message) {
        _cleanup_free_ char *msg = NULL;
        Sandbox s;

        sandbox_new(&s);
        if (n_lower > 0)
                layer(&s, lower, n_lower);
        ASSERT_OK(symlinkat(strjoina(s.dir, "/outside"), s.tree_fd, "escape"));
        ASSERT_EQ(unpack(&s, make_archive(upper, n_upper, ARCHIVE_FILTER_NONE), TAR_UNPACK_OVERLAY, &msg),
                  expected);
        ASSERT_TRUE(msg);
        ASSERT_TRUE(strstr(msg, in_message));
        assert_outside_untouched(&s);
        sandbox_free(&s);
}

TEST(overlay_hostile) {
        static const Ent lower[] = {
                { "dir", AE_IFDIR },
                { "sym", AE_IFLNK, NULL, "/" },
        };

        /* ".wh..." would remove "..". */
        assert_layer_refused(lower, 2, (const Ent[]) { { "dir/.wh...", AE_IFREG, "" } }, 1, -EPERM,
                             "invalid whiteout");
        assert_layer_refused(lower, 2, (const Ent[]) { { ".wh.", AE_IFREG, "" } }, 1, -EPERM,
                             "invalid whiteout");
        assert_layer_refused(lower, 2, (const Ent[]) { { "../.wh.outside", AE_IFREG, "" } }, 1, -EPERM,
                             "'..'");
        /* A whiteout through a symlink a lower layer (or the test) planted. */
        assert_layer_refused(lower, 2, (const Ent[]) { { "escape/.wh.victim", AE_IFREG, "" } }, 1, -ELOOP,
                             "symlink");
        assert_layer_refused(lower, 2, (const Ent[]) { { "escape/.wh..wh..opq", AE_IFREG, "" } }, 1,
                             -ELOOP, "symlink");
        assert_layer_refused(lower, 2, (const Ent[]) { { "sym/.wh.etc", AE_IFREG, "" } }, 1, -ELOOP,
                             "symlink");
        /* Writing through a symlink of a lower layer. */
        assert_layer_refused(lower, 2, (const Ent[]) { { "escape/victim", AE_IFREG, "evil" } }, 1, -ELOOP,
                             "symlink");
        /* umoci CVE-2021-29136: the top of the tree made a symlink. */
        assert_layer_refused(lower, 2, (const Ent[]) { { ".", AE_IFLNK, NULL, "/" } }, 1, -EBADMSG,
                             "must be a directory");
        /* A hardlink to a file behind a symlink. */
        assert_layer_refused(lower, 2, (const Ent[]) { { "h", 0, NULL, "escape/victim" } }, 1, -ELOOP,
                             "symlink");
}

/* A gzip bomb: one file of `size` zero bytes, which compresses about a thousandfold. */
static int make_bomb(uint64_t size) {
        static const char zeros[1024 * 1024];
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        int fd = memfd_create("bomb", MFD_CLOEXEC);

        ASSERT_TRUE(a && e && fd >= 0);
        ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        ASSERT_EQ(archive_write_add_filter(a, ARCHIVE_FILTER_GZIP), ARCHIVE_OK);
        ASSERT_EQ(archive_write_open_fd(a, fd), ARCHIVE_OK);
        archive_entry_set_pathname(e, "zeros");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (int64_t) size);
        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
        for (uint64_t done = 0; done < size; done += sizeof(zeros))
                ASSERT_EQ(archive_write_data(a, zeros, (size_t) MIN(size - done, sizeof(zeros))),
                          (la_ssize_t) MIN(size - done, sizeof(zeros)));
        archive_entry_free(e);
        archive_write_close(a);
        archive_write_free(a);
        ASSERT_TRUE(lseek(fd, 0, SEEK_END) < (off_t) (size / 100));
        ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

TEST(size_limit) {
        const uint64_t size = 64U * 1024U * 1024U, limit = 4U * 1024U * 1024U;
        TarUnpackStats stats;
        struct stat st;
        Sandbox s;

        /* Over the limit: refused while reading, before more than the limit was written. */
        sandbox_new(&s);
        {
                _cleanup_free_ char *msg = NULL;
                _cleanup_close_ int fd = make_bomb(size);

                ASSERT_ERROR(tar_unpack_with(fd, s.tree_fd, 0, 0, NULL,
                                             &(TarUnpackOptions) { .max_bytes = limit }, NULL, &msg), EFBIG);
                printf("# %s\n", msg);
                ASSERT_STREQ(msg, "The unpacked data exceeds the size limit of 4.0M.");
                if (fstatat(s.tree_fd, "zeros", &st, AT_SYMLINK_NOFOLLOW) >= 0)
                        ASSERT_TRUE((uint64_t) st.st_size <= limit &&
                                    (uint64_t) st.st_blocks * 512 <= limit);
                assert_outside_untouched(&s);
        }
        sandbox_free(&s);

        /* Within the limit: unpacked, and the decompressed bytes counted. */
        sandbox_new(&s);
        {
                _cleanup_close_ int fd = make_bomb(size);

                ASSERT_OK(tar_unpack_with(fd, s.tree_fd, 0, 0, NULL,
                                          &(TarUnpackOptions) { .max_bytes = 2 * size }, &stats, NULL));
                ASSERT_TRUE(stats.bytes_out >= size && stats.bytes_out < size + 64 * 1024);
                ASSERT_OK(fstatat(s.tree_fd, "zeros", &st, AT_SYMLINK_NOFOLLOW));
                ASSERT_EQ((uint64_t) st.st_size, size);
        }
        sandbox_free(&s);

        /* By default the limit is the free space less a reserve: a reserve beyond the free space leaves
         * nothing, and says so. */
        sandbox_new(&s);
        {
                _cleanup_free_ char *msg = NULL;
                _cleanup_close_ int fd = make_bomb(size);

                ASSERT_ERROR(tar_unpack_with(fd, s.tree_fd, 0, 0, NULL,
                                             &(TarUnpackOptions) { .reserve_bytes = UINT64_C(1) << 60 },
                                             NULL, &msg), EFBIG);
                printf("# %s\n", msg);
                ASSERT_NOT_NULL(strstr(msg, "exceeds the size limit of 0B (the free space of the target "
                                       "file system less a reserve of 1.0E)"));
                assert_outside_untouched(&s);
        }
        sandbox_free(&s);
}

typedef struct Xattr {
        const char *name;
        const void *value;
        size_t size;            /* 0: strlen(value) */
} Xattr;

/* x with the given extended attributes (up to one with a NULL name) and an ACL, as a pax archive. */
static int make_xattr_archive(const Xattr *xattrs) {
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        int fd = memfd_create("archive", MFD_CLOEXEC);

        ASSERT_TRUE(a && e && fd >= 0);
        ASSERT_EQ(archive_write_set_format_pax(a), ARCHIVE_OK);
        ASSERT_EQ(archive_write_open_fd(a, fd), ARCHIVE_OK);
        archive_entry_set_pathname(e, "x");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0755);
        archive_entry_set_size(e, 0);
        for (const Xattr *x = xattrs; x->name; x++)
                archive_entry_xattr_add_entry(e, x->name, x->value, x->size ?: strlen(x->value));
        archive_entry_acl_add_entry(e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, ARCHIVE_ENTRY_ACL_READ,
                                    ARCHIVE_ENTRY_ACL_USER, 4242, "u4242");
        archive_entry_acl_add_entry(e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, ARCHIVE_ENTRY_ACL_READ,
                                    ARCHIVE_ENTRY_ACL_MASK, -1, NULL);
        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
        archive_entry_free(e);
        archive_write_close(a);
        archive_write_free(a);
        ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

static bool has_xattr(Sandbox *s, const char *name) {
        return lgetxattr(strjoina(s->dir, "/tree/x"), name, NULL, 0) >= 0;
}

TEST(xattrs_limited) {
        /* A valid VFS_CAP_REVISION_2 capability set: cap_net_bind_service permitted+effective. */
        static const uint8_t cap[20] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00 };
        static const Xattr xattrs[] = {
                { "user.x", "kept" },
                { "trusted.x", "dropped" },
                { "trusted.overlay.opaque", "y" },
                { "security.selinux", "system_u:object_r:shadow_t:s0" },
                { "security.ima", "\x03\x02\x04" },
                { "security.capability", cap, sizeof(cap) },
                {}
        };
        _cleanup_free_ char *msg = NULL;
        Sandbox s;
        int fd;

        if (geteuid() != 0)
                test_skip("needs root for trusted.* and security.* xattrs");

        ASSERT_TRUE(tar_xattr_is_safe("user.mime_type"));
        ASSERT_TRUE(tar_xattr_is_safe("security.capability"));
        ASSERT_TRUE(tar_xattr_is_safe("system.posix_acl_access"));
        ASSERT_FALSE(tar_xattr_is_safe("trusted.overlay.redirect"));
        ASSERT_FALSE(tar_xattr_is_safe("security.selinux"));
        ASSERT_FALSE(tar_xattr_is_safe("security.ima"));
        ASSERT_FALSE(tar_xattr_is_safe("system.nfs4_acl"));
        ASSERT_FALSE(tar_xattr_is_safe("user"));

        /* By default: user.x, security.capability and the ACL only. */
        sandbox_new(&s);
        fd = make_xattr_archive(xattrs);
        ASSERT_OK(unpack(&s, fd, 0, &msg));
        ASSERT_TRUE(has_xattr(&s, "user.x"));
        ASSERT_TRUE(has_xattr(&s, "security.capability"));
        ASSERT_TRUE(has_xattr(&s, "system.posix_acl_access"));
        ASSERT_FALSE(has_xattr(&s, "trusted.x"));
        ASSERT_FALSE(has_xattr(&s, "trusted.overlay.opaque"));
        ASSERT_FALSE(has_xattr(&s, "security.ima"));
        /* (A host with SELinux labels every new file itself: only the archive's label must not be it.) */
        {
                char label[128] = {};
                if (lgetxattr(strjoina(s.dir, "/tree/x"), "security.selinux", label, sizeof(label) - 1) >= 0)
                        ASSERT_FALSE(streq(label, "system_u:object_r:shadow_t:s0"));
        }
        sandbox_free(&s);

        /* Asked for all of them: trusted.* too. */
        sandbox_new(&s);
        fd = make_xattr_archive(xattrs);
        ASSERT_OK(tar_unpack_with(fd, s.tree_fd, 0, 0, NULL, &(TarUnpackOptions) { .all_xattrs = true },
                                  NULL, NULL));
        safe_close(fd);
        ASSERT_TRUE(has_xattr(&s, "user.x"));
        ASSERT_TRUE(has_xattr(&s, "trusted.x"));
        ASSERT_TRUE(has_xattr(&s, "system.posix_acl_access"));
        sandbox_free(&s);
}

/* Raw tar blocks, for what libarchive's writer does not write: several pax headers before one entry, a
 * pax path that is not UTF-8, ACLs that name users and groups without ids (older star archives). */
typedef struct Raw {
        uint8_t buf[64 * 1024];
        size_t n;
} Raw;

static void raw_append(Raw *r, const void *data, size_t n) {
        ASSERT_TRUE(r->n + n + 512 <= sizeof(r->buf));
        memcpy(r->buf + r->n, data, n);
        r->n += n;
        if (r->n % 512 != 0) {
                memset(r->buf + r->n, 0, 512 - r->n % 512);
                r->n += 512 - r->n % 512;
        }
}

static void raw_header_link(Raw *r, const char *name, char type, size_t size, const char *link) {
        char h[512] = {};
        unsigned sum = 0;

        ASSERT_TRUE(strlen(name) < 100 && strlen(link) < 100);
        memcpy(h, name, strlen(name));
        memcpy(h + 157, link, strlen(link));
        memcpy(h + 100, "0000644", 8);
        memcpy(h + 108, "0000000", 8);
        memcpy(h + 116, "0000000", 8);
        ASSERT_EQ(snprintf(h + 124, 12, "%011zo", size), 11);
        memcpy(h + 136, "14524770400", 12);     /* 1700000000 */
        memset(h + 148, ' ', 8);
        h[156] = type;
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        for (size_t i = 0; i < sizeof(h); i++)
                sum += (uint8_t) h[i];
        ASSERT_EQ(snprintf(h + 148, 8, "%06o", sum), 6);
        raw_append(r, h, sizeof(h));
}

static void raw_header(Raw *r, const char *name, char type, size_t size) {
        raw_header_link(r, name, type, size, "");
}

static void raw_file(Raw *r, const char *name, const char *data) {
        raw_header(r, name, '0', strlen(data));
        raw_append(r, data, strlen(data));
}

/* A pax header ('x') with one record. */
static void raw_pax(Raw *r, const char *key, const char *value) {
        char rec[1024];
        size_t body = strlen(key) + strlen(value) + 3, len = body + 1;
        int k;

        /* The length counts its own digits. */
        while ((size_t) snprintf(NULL, 0, "%zu", len) + body != len)
                len = (size_t) snprintf(NULL, 0, "%zu", len) + body;
        k = snprintf(rec, sizeof(rec), "%zu %s=%s\n", len, key, value);
        ASSERT_EQ((size_t) k, len);
        raw_header(r, "PaxHeader/x", 'x', len);
        raw_append(r, rec, len);
}

static int raw_finish(Raw *r) {
        static const uint8_t zero[1024] = {};

        ASSERT_TRUE(r->n + sizeof(zero) <= sizeof(r->buf));
        memcpy(r->buf + r->n, zero, sizeof(zero));
        r->n += sizeof(zero);
        return memfd_with(r->buf, r->n);
}

static void assert_file(Sandbox *s, const char *path, const char *expected) {
        _cleanup_free_ char *content = NULL;

        ASSERT_OK(read_full_file_at(s->tree_fd, path, 4096, &content, NULL));
        ASSERT_STREQ(content, expected);
}

TEST(format_irregularities_accepted) {
        _cleanup_free_ char *msg = NULL;
        _cleanup_free_ Raw *r = NULL;
        TarUnpackStats stats;
        Sandbox s;
        int fd, r2;

        /* Two pax headers before one entry: the last one's path, as GNU tar takes it. */
        r = calloc(1, sizeof(Raw));
        ASSERT_TRUE(r);
        raw_pax(r, "mtime", "1700000001.5");
        raw_pax(r, "path", "long/name");
        raw_file(r, "short", "hello\n");
        raw_file(r, "plain", "more\n");
        fd = raw_finish(r);
        sandbox_new(&s);
        ASSERT_OK(tar_unpack(fd, s.tree_fd, 0, 0, NULL, &stats, &msg));
        safe_close(fd);
        ASSERT_EQ(stats.entries, 2U);
        assert_file(&s, "long/name", "hello\n");
        assert_file(&s, "plain", "more\n");
        ASSERT_EQ(faccessat(s.tree_fd, "short", F_OK, AT_SYMLINK_NOFOLLOW), -1);
        /* The caller hears of it. */
        printf("# note: %s\n", stats.note);
        ASSERT_EQ(stats.notes, 1U);
        ASSERT_TRUE(strstr(stats.note, "'long/name'"));
        sandbox_free(&s);

        /* A pax path that is not UTF-8: its bytes, as GNU tar extracts it. */
        memset(r, 0, sizeof(Raw));
        raw_pax(r, "path", "caf\xe9");
        raw_file(r, "cafe", "latin1\n");
        fd = raw_finish(r);
        sandbox_new(&s);
        ASSERT_OK(tar_unpack(fd, s.tree_fd, 0, 0, NULL, &stats, &msg));
        safe_close(fd);
        assert_file(&s, "caf\xe9", "latin1\n");
        ASSERT_EQ(stats.notes, 1U);
        ASSERT_TRUE(strstr(stats.note, "UTF-8"));
        sandbox_free(&s);

        /* …and a link target. */
        memset(r, 0, sizeof(Raw));
        raw_pax(r, "path", "caf\xe9");
        raw_file(r, "cafe", "latin1\n");
        raw_pax(r, "linkpath", "caf\xe9");
        raw_header_link(r, "hard", '1', 0, "cafe");
        raw_pax(r, "linkpath", "caf\xe9");
        raw_header_link(r, "sym", '2', 0, "cafe");
        fd = raw_finish(r);
        sandbox_new(&s);
        r2 = tar_unpack(fd, s.tree_fd, 0, 0, NULL, &stats, &msg);
        printf("# %s\n", strna(msg));
        ASSERT_OK(r2);
        safe_close(fd);
        assert_file(&s, "hard", "latin1\n");
        {
                char target[16] = {};
                ASSERT_EQ(readlinkat(s.tree_fd, "sym", target, sizeof(target) - 1), 4);
                ASSERT_STREQ(target, "caf\xe9");
        }
        ASSERT_EQ(stats.notes, 3U);
        sandbox_free(&s);

        /* A regular archive has nothing to note. */
        sandbox_new(&s);
        fd = make_archive(simple, ELEMENTSOF(simple), ARCHIVE_FILTER_NONE);
        ASSERT_OK(tar_unpack(fd, s.tree_fd, 0, 0, NULL, &stats, &msg));
        safe_close(fd);
        ASSERT_EQ(stats.notes, 0U);
        ASSERT_STREQ(stats.note, "");
        sandbox_free(&s);
}

/* An accepted irregularity does not loosen the checks of the entry, and other warnings stay fatal. */
static void assert_raw_refused(Raw *r, int expected, const char *in_message) {
        _cleanup_free_ char *msg = NULL;
        Sandbox s;

        sandbox_new(&s);
        ASSERT_EQ(unpack(&s, raw_finish(r), 0, &msg), expected);
        ASSERT_TRUE(msg);
        ASSERT_TRUE(strstr(msg, in_message));
        assert_outside_untouched(&s);
        sandbox_free(&s);
        memset(r, 0, sizeof(Raw));
}

TEST(format_irregularities_still_checked) {
        _cleanup_free_ Raw *r = calloc(1, sizeof(Raw));

        ASSERT_TRUE(r);
        raw_pax(r, "mtime", "1700000001");
        raw_pax(r, "path", "../outside/victim");
        raw_file(r, "short", "overwritten");
        assert_raw_refused(r, -EPERM, "'..' refused");

        raw_pax(r, "path", "../caf\xe9");
        raw_file(r, "cafe", "x");
        assert_raw_refused(r, -EPERM, "'..' refused");

        raw_pax(r, "linkpath", "/etc/shadow\xe9");
        raw_header_link(r, "link", '1', 0, "x");
        assert_raw_refused(r, -EPERM, "absolute hardlink target");

        /* More special headers than libarchive follows (it gives up after 32, and the warning it ends
         * with is one of those otherwise accepted): an entry without a header, refused as malformed. */
        for (size_t i = 0; i < 40; i++)
                raw_pax(r, i == 35 ? "path" : "comment", i == 35 ? "hidden" : "again");
        raw_file(r, "f", "x");
        assert_raw_refused(r, -EBADMSG, "Malformed archive");
}

static size_t acl_of(Sandbox *s, const char *path, const char *xattr, uint8_t *buf, size_t size) {
        ssize_t n = lgetxattr(strjoina(s->dir, "/tree/", path), xattr, buf, size);

        if (n < 0) {
                ASSERT_EQ(errno, ENODATA);
                return 0;
        }
        return (size_t) n;
}

/* Whether the kernel's ACL blob has an entry of that tag (2: user, 8: group) and id. */
static bool acl_has(const uint8_t *buf, size_t n, uint16_t tag, uint32_t id) {
        for (size_t i = 4; i + 8 <= n; i += 8) {
                uint16_t t;
                uint32_t x;

                memcpy(&t, buf + i, 2);
                memcpy(&x, buf + i + 4, 4);
                if (le16toh(t) == tag && le32toh(x) == id)
                        return true;
        }
        return false;
}

TEST(acl_names_without_ids) {
        static const char acl[] =
                "user::rw-,user:nobody:r--,group::r--,group:nogroup:r-x,mask::r-x,other::r--";
        _cleanup_free_ char *msg = NULL;
        _cleanup_free_ Raw *r = NULL;
        TarUnpackStats stats;
        uint8_t buf[256];
        Sandbox s;
        int fd, r2;

        if (geteuid() != 0)
                test_skip("needs root for ownership");

        /* No /etc/passwd in the tree (yet): the ACL is left out, the mode stays, the caller hears of it. */
        r = calloc(1, sizeof(Raw));
        ASSERT_TRUE(r);
        raw_pax(r, "SCHILY.acl.access", acl);
        raw_file(r, "f", "data\n");
        fd = raw_finish(r);
        sandbox_new(&s);
        ASSERT_OK(tar_unpack(fd, s.tree_fd, 0, 0, NULL, &stats, &msg));
        safe_close(fd);
        assert_file(&s, "f", "data\n");
        ASSERT_EQ(acl_of(&s, "f", "system.posix_acl_access", buf, sizeof(buf)), 0U);
        printf("# note: %s\n", stats.note);
        ASSERT_EQ(stats.notes, 1U);
        ASSERT_TRUE(strstr(stats.note, "'nobody'"));
        sandbox_free(&s);

        /* The tree's etc/passwd and etc/group, unpacked before, name them: their ids. A directory's
         * default ACL too. */
        memset(r, 0, sizeof(Raw));
        raw_file(r, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/sbin/nologin\n");
        raw_file(r, "etc/group", "root:x:0:\nnogroup:x:65533:\n");
        raw_pax(r, "SCHILY.acl.access", acl);
        raw_file(r, "f", "data\n");
        raw_pax(r, "SCHILY.acl.default", acl);
        raw_header(r, "d/", '5', 0);
        fd = raw_finish(r);
        sandbox_new(&s);
        r2 = tar_unpack(fd, s.tree_fd, 0, 0, NULL, &stats, &msg);
        printf("# %s\n", strna(msg));
        ASSERT_OK(r2);
        safe_close(fd);
        ASSERT_EQ(stats.notes, 0U);
        size_t n = acl_of(&s, "f", "system.posix_acl_access", buf, sizeof(buf));
        ASSERT_EQ(n, 4U + 6 * 8);
        ASSERT_TRUE(acl_has(buf, n, 2, 65534));
        ASSERT_TRUE(acl_has(buf, n, 8, 65533));
        n = acl_of(&s, "d", "system.posix_acl_default", buf, sizeof(buf));
        ASSERT_EQ(n, 4U + 6 * 8);
        ASSERT_TRUE(acl_has(buf, n, 2, 65534));
        sandbox_free(&s);

        /* etc/passwd a symlink to the host's, etc/group a FIFO: neither read (nor waited for), the ACLs
         * are left out. */
        for (int fifo = 0; fifo < 2; fifo++) {
                memset(r, 0, sizeof(Raw));
                raw_header(r, "etc/", '5', 0);
                raw_header(r, "etc/group", '6', 0);
                raw_header_link(r, "etc/passwd", '2', 0, "/etc/passwd");
                raw_pax(r, "SCHILY.acl.access", fifo ? "user::rw-,group::r--,group:root:r--,other::r--" :
                                                       "user::rw-,user:root:r--,group::r--,other::r--");
                raw_file(r, "f", "data\n");
                fd = raw_finish(r);
                sandbox_new(&s);
                r2 = tar_unpack(fd, s.tree_fd, 0, 0, NULL, &stats, &msg);
                printf("# %s\n", strna(msg));
                ASSERT_OK(r2);
                safe_close(fd);
                ASSERT_EQ(acl_of(&s, "f", "system.posix_acl_access", buf, sizeof(buf)), 0U);
                ASSERT_EQ(stats.notes, 1U);
                ASSERT_TRUE(strstr(stats.note, fifo ? "group 'root'" : "user 'root'"));
                sandbox_free(&s);
        }
}

DEFINE_TEST_MAIN
