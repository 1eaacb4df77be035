/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "copy.h"
#include "fd-util.h"
#include "string-util.h"

#define COPY_DEPTH_MAX 1024U
#define COPY_BUFFER_SIZE (256U * 1024U)

typedef struct HardlinkEntry {
        dev_t dev;
        ino_t ino;
        char *path;     /* of the first copy, relative to the destination root */
} HardlinkEntry;

typedef struct CopyContext {
        int dst_root_fd;
        dev_t dev;
        HardlinkEntry *links;
        size_t n_links, n_links_allocated;
        uint64_t bytes;
        bool no_reflink;                /* FICLONE failed once: the file system can't */
        char *error_path;
} CopyContext;

static int copy_fail(CopyContext *c, int r, const char *path) {
        if (!c->error_path)
                c->error_path = strdup(path);
        return r;
}

/* Names a file we cannot open (symlink, device) for the l*xattr() calls, through its directory fd. */
static void proc_path(char *buf, size_t size, int dir_fd, const char *name) {
        (void) snprintf(buf, size, "/proc/self/fd/%i/%s", dir_fd, name);
}

/* Copies all extended attributes. With fds for both if they could be opened, else by /proc paths. */
static int copy_xattrs(int src_fd, const char *src_path, int dst_fd, const char *dst_path) {
        _cleanup_free_ char *names = NULL, *value = NULL;
        size_t value_size = 0;
        ssize_t n;

        for (size_t size = 1024;; size *= 2) {
                char *p = realloc(names, size);
                if (!p)
                        return -ENOMEM;
                names = p;
                n = src_path ? llistxattr(src_path, names, size) : flistxattr(src_fd, names, size);
                if (n >= 0)
                        break;
                if (errno == EOPNOTSUPP)
                        return 0;
                if (errno != ERANGE || size > 1024 * 1024)
                        return -errno;
        }

        for (char *name = names; name < names + n; name += strlen(name) + 1) {
                ssize_t v;

                for (;;) {
                        v = src_path ? lgetxattr(src_path, name, value, value_size) :
                                       fgetxattr(src_fd, name, value, value_size);
                        if (v >= 0 && value_size > 0)
                                break;
                        if (v < 0 && errno != ERANGE)
                                return -errno;
                        /* Ask for the size, then grow the buffer. */
                        v = src_path ? lgetxattr(src_path, name, NULL, 0) : fgetxattr(src_fd, name, NULL, 0);
                        if (v < 0)
                                return -errno;
                        char *p = realloc(value, (size_t) v + 1);
                        if (!p)
                                return -ENOMEM;
                        value = p;
                        value_size = (size_t) v + 1;
                }

                if ((dst_path ? lsetxattr(dst_path, name, value, (size_t) v, 0) :
                                fsetxattr(dst_fd, name, value, (size_t) v, 0)) < 0)
                        return -errno;
        }
        return 0;
}

/* The errors with which FICLONE says "not here" rather than "failed". */
#define IN_SET_ERRNO_NO_REFLINK(e) \
        ((e) == EOPNOTSUPP || (e) == ENOTTY || (e) == EXDEV || (e) == EINVAL || (e) == ENOSYS)

static int copy_data(CopyContext *c, int src, int dst, const struct stat *st) {
        _cleanup_free_ uint8_t *buf = NULL;
        off_t pos = 0;

        if (st->st_size == 0)
                return 0;

        /* Shares the data blocks on btrfs, XFS and the like: instant, and no extra space. */
        if (!c->no_reflink) {
                if (ioctl(dst, FICLONE, src) >= 0) {
                        c->bytes += (uint64_t) st->st_size;
                        return 0;
                }
                if (IN_SET_ERRNO_NO_REFLINK(errno))
                        c->no_reflink = true;
        }

        /* Holes are looked for only where there can be some: fewer blocks than bytes. */
        bool sparse = (uint64_t) st->st_blocks * 512 < (uint64_t) st->st_size;

        while (pos < st->st_size) {
                off_t data = pos, hole = st->st_size;

                if (sparse) {
                        data = lseek(src, pos, SEEK_DATA);
                        if (data < 0) {
                                if (errno == ENXIO)     /* only a hole is left */
                                        break;
                                return -errno;
                        }
                        hole = lseek(src, data, SEEK_HOLE);
                        if (hole < 0)
                                return -errno;
                }

                while (data < hole) {
                        off_t in = data, out = data;
                        ssize_t n;

                        n = copy_file_range(src, &in, dst, &out, (size_t) (hole - data), 0);
                        if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
                                      errno == EOPNOTSUPP)) {
                                if (!buf) {
                                        buf = malloc(COPY_BUFFER_SIZE);
                                        if (!buf)
                                                return -ENOMEM;
                                }
                                n = pread(src, buf, MIN((size_t) (hole - data), COPY_BUFFER_SIZE), data);
                                if (n > 0 && pwrite(dst, buf, (size_t) n, data) != n)
                                        return errno > 0 ? -errno : -EIO;
                        }
                        if (n < 0)
                                return -errno;
                        if (n == 0)
                                return -EIO; /* shrunk under us */
                        data += n;
                        c->bytes += (uint64_t) n;
                }
                pos = hole;
        }

        /* A file ending in a hole: the size is not there yet. */
        if (sparse && ftruncate(dst, st->st_size) < 0)
                return -errno;
        return 0;
}

/* Ownership first (chown clears setuid bits and security.capability), then mode, xattrs, times. */
static int copy_metadata_fd(int src, int dst, const struct stat *st, bool times) {
        int r;

        if (fchown(dst, st->st_uid, st->st_gid) < 0)
                return -errno;
        if (fchmod(dst, st->st_mode & 07777) < 0)
                return -errno;
        r = copy_xattrs(src, NULL, dst, NULL);
        if (r < 0)
                return r;
        if (times && futimens(dst, (struct timespec[2]) { st->st_atim, st->st_mtim }) < 0)
                return -errno;
        return 0;
}

static int hardlink_find(CopyContext *c, const struct stat *st, const char **ret) {
        for (size_t i = 0; i < c->n_links; i++)
                if (c->links[i].dev == st->st_dev && c->links[i].ino == st->st_ino) {
                        *ret = c->links[i].path;
                        return 1;
                }
        return 0;
}

static int hardlink_remember(CopyContext *c, const struct stat *st, const char *path) {
        if (GREEDY_REALLOC(c->links, c->n_links_allocated, c->n_links + 1) < 0)
                return -ENOMEM;
        c->links[c->n_links] = (HardlinkEntry) { .dev = st->st_dev, .ino = st->st_ino,
                                                .path = strdup(path) };
        if (!c->links[c->n_links].path)
                return -ENOMEM;
        c->n_links++;
        return 0;
}

static int copy_dir_contents(CopyContext *c, int src_fd, int dst_fd, const char *rel, unsigned depth);

static int copy_entry(CopyContext *c, int src_dir, int dst_dir, const char *name, const char *rel,
                      unsigned depth) {
        char sp[PATH_MAX], dp[PATH_MAX];
        struct stat st;
        int r;

        if (fstatat(src_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return copy_fail(c, -errno, rel);
        if (st.st_dev != c->dev)
                return copy_fail(c, -EXDEV, rel);

        if (S_ISDIR(st.st_mode)) {
                _cleanup_close_ int s = -EBADF, d = -EBADF;

                if (depth >= COPY_DEPTH_MAX)
                        return copy_fail(c, -ELOOP, rel);
                s = openat(src_dir, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
                if (s < 0)
                        return copy_fail(c, -errno, rel);
                if (mkdirat(dst_dir, name, 0700) < 0)
                        return copy_fail(c, -errno, rel);
                d = openat(dst_dir, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
                if (d < 0)
                        return copy_fail(c, -errno, rel);
                r = copy_dir_contents(c, s, d, rel, depth + 1);
                if (r < 0)
                        return r;
                r = copy_metadata_fd(s, d, &st, true);
                return r < 0 ? copy_fail(c, r, rel) : 0;
        }

        if (S_ISREG(st.st_mode)) {
                _cleanup_close_ int s = -EBADF, d = -EBADF;
                const char *first;

                if (st.st_nlink > 1 && hardlink_find(c, &st, &first) > 0) {
                        if (linkat(c->dst_root_fd, first, dst_dir, name, 0) < 0)
                                return copy_fail(c, -errno, rel);
                        return 0;
                }

                s = openat(src_dir, name, O_RDONLY|O_NOFOLLOW|O_CLOEXEC);
                if (s < 0)
                        return copy_fail(c, -errno, rel);
                d = openat(dst_dir, name, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0600);
                if (d < 0)
                        return copy_fail(c, -errno, rel);
                r = copy_data(c, s, d, &st);
                if (r >= 0)
                        r = copy_metadata_fd(s, d, &st, true);
                if (r < 0)
                        return copy_fail(c, r, rel);
                if (st.st_nlink > 1) {
                        r = hardlink_remember(c, &st, rel);
                        if (r < 0)
                                return r;
                }
                return 0;
        }

        if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX];
                ssize_t n;

                n = readlinkat(src_dir, name, target, sizeof(target) - 1);
                if (n < 0)
                        return copy_fail(c, -errno, rel);
                target[n] = 0;
                if (symlinkat(target, dst_dir, name) < 0)
                        return copy_fail(c, -errno, rel);
        } else if (mknodat(dst_dir, name, st.st_mode & (S_IFMT|07777), st.st_rdev) < 0)
                return copy_fail(c, -errno, rel);

        if (fchownat(dst_dir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                return copy_fail(c, -errno, rel);
        if (!S_ISLNK(st.st_mode) && fchmodat(dst_dir, name, st.st_mode & 07777, 0) < 0)
                return copy_fail(c, -errno, rel);
        proc_path(sp, sizeof(sp), src_dir, name);
        proc_path(dp, sizeof(dp), dst_dir, name);
        r = copy_xattrs(-EBADF, sp, -EBADF, dp);
        if (r < 0)
                return copy_fail(c, r, rel);
        if (utimensat(dst_dir, name, (struct timespec[2]) { st.st_atim, st.st_mtim },
                      AT_SYMLINK_NOFOLLOW) < 0)
                return copy_fail(c, -errno, rel);
        return 0;
}

static int copy_dir_contents(CopyContext *c, int src_fd, int dst_fd, const char *rel, unsigned depth) {
        _cleanup_closedir_ DIR *d = NULL;

        d = opendir_dup(src_fd);
        if (!d)
                return -errno;

        for (;;) {
                struct dirent *de;
                _cleanup_free_ char *child = NULL;
                int r;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return copy_fail(c, -errno, rel);
                        return 0;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;

                if (asprintf(&child, "%s%s%s", rel, isempty(rel) ? "" : "/", de->d_name) < 0)
                        return -ENOMEM;
                r = copy_entry(c, dirfd(d), dst_fd, de->d_name, child, depth);
                if (r < 0)
                        return r;
        }
}

int copy_tree_at(int src_fd, int dst_fd, uint64_t *ret_bytes, char **reterr_path) {
        CopyContext c = { .dst_root_fd = dst_fd };
        struct stat st;
        int r;

        if (fstat(src_fd, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        c.dev = st.st_dev;

        r = copy_dir_contents(&c, src_fd, dst_fd, "", 0);
        if (r >= 0) {
                r = copy_metadata_fd(src_fd, dst_fd, &st, true);
                if (r < 0)
                        r = copy_fail(&c, r, ".");
        }

        for (size_t i = 0; i < c.n_links; i++)
                free(c.links[i].path);
        free(c.links);

        if (r < 0) {
                if (reterr_path)
                        *reterr_path = TAKE_PTR(c.error_path);
                free(c.error_path);
                return r;
        }
        free(c.error_path);
        if (ret_bytes)
                *ret_bytes = c.bytes;
        return 0;
}
