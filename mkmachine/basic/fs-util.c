/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "string-util.h"

#define RM_RF_DEPTH_MAX 4096U

static int rm_rf_children_internal(int fd, dev_t dev, unsigned depth);

static int rm_rf_entry(int dir_fd, const char *name, dev_t dev, unsigned depth) {
        struct stat st;

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;

        if (S_ISDIR(st.st_mode)) {
                _cleanup_close_ int fd = -EBADF;
                int r;

                if (st.st_dev != dev)
                        return -EBUSY;
                if (depth >= RM_RF_DEPTH_MAX)
                        return -ELOOP;

                fd = openat(dir_fd, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC|O_NOATIME);
                if (fd < 0 && errno == EPERM)
                        fd = openat(dir_fd, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
                if (fd < 0)
                        return -errno;

                /* Directories without write or search permission for us would make unlinking
                 * their children fail with EACCES if we were not root; as root it does not
                 * matter, so don't touch modes. */
                r = rm_rf_children_internal(fd, dev, depth + 1);
                if (r < 0)
                        return r;

                if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                        return -errno;
                return 0;
        }

        if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static int rm_rf_children_internal(int fd, dev_t dev, unsigned depth) {
        _cleanup_closedir_ DIR *d = NULL;
        int r = 0;

        d = opendir_dup(fd);
        if (!d)
                return -errno;

        for (;;) {
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return -errno;
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;

                RET_GATHER(r, rm_rf_entry(dirfd(d), de->d_name, dev, depth));
        }
        return r;
}

int mkdir_p_at(int dir_fd, const char *path, mode_t parent_mode, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                if (s[1] == 0)          /* a trailing slash */
                        break;
                *s = 0;
                if (mkdirat(dir_fd, p, parent_mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdirat(dir_fd, p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int rm_rf_children(int fd) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        return rm_rf_children_internal(fd, st.st_dev, 0);
}

int rm_rf_at(int dir_fd, const char *name) {
        struct stat st;

        assert(name);

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        return rm_rf_entry(dir_fd, name, st.st_dev, 0);
}

int openat2_fd(int dir_fd, const char *path, int flags, mode_t mode, uint64_t resolve) {
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .mode = (flags & (O_CREAT|O_TMPFILE)) ? mode : 0,
                .resolve = resolve,
        };
        long fd;

        fd = syscall(SYS_openat2, dir_fd, path, &how, sizeof(how));
        if (fd < 0)
                return -errno;
        return (int) fd;
}

int openat_in_root(int root_fd, const char *path, int flags, mode_t mode) {
        return openat2_fd(root_fd, path, flags, mode, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS);
}

/* The directory of path, opened with openat_in_root(), and its last component in *ret_leaf. */
static int open_parent_in_root(int root_fd, const char *path, const char **ret_leaf) {
        const char *slash = strrchr(path, '/');
        char *parent;

        if (!slash) {
                *ret_leaf = path;
                return openat_in_root(root_fd, ".", O_PATH|O_DIRECTORY, 0);
        }
        if (isempty(slash + 1))
                return -EINVAL;
        parent = strndupa(path, (size_t) (slash - path));
        *ret_leaf = slash + 1;
        return openat_in_root(root_fd, isempty(parent) ? "." : parent, O_PATH|O_DIRECTORY, 0);
}

int unlinkat_in_root(int root_fd, const char *path, int flags) {
        _cleanup_close_ int fd = -EBADF;
        const char *leaf;

        fd = open_parent_in_root(root_fd, path, &leaf);
        if (fd < 0)
                return fd;
        return RET_NERRNO(unlinkat(fd, leaf, flags));
}

int symlinkat_in_root(const char *target, int root_fd, const char *path) {
        _cleanup_close_ int fd = -EBADF;
        const char *leaf;

        fd = open_parent_in_root(root_fd, path, &leaf);
        if (fd < 0)
                return fd;
        return RET_NERRNO(symlinkat(target, fd, leaf));
}

int rename_noreplace(int old_dir_fd, const char *old_name, int new_dir_fd, const char *new_name) {
        return RET_NERRNO(renameat2(old_dir_fd, old_name, new_dir_fd, new_name, RENAME_NOREPLACE));
}

int rename_exchange(int old_dir_fd, const char *old_name, int new_dir_fd, const char *new_name) {
        return RET_NERRNO(renameat2(old_dir_fd, old_name, new_dir_fd, new_name, RENAME_EXCHANGE));
}
