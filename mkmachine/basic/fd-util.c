/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fd-util.h"
#include "path-util.h"
#include "random-util.h"

ssize_t loop_read(int fd, void *buf, size_t nbytes) {
        uint8_t *p = buf;
        size_t done = 0;

        assert(fd >= 0);

        while (done < nbytes) {
                ssize_t k = read(fd, p + done, nbytes - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                done += (size_t) k;
        }
        return (ssize_t) done;
}

int loop_write(int fd, const void *buf, size_t nbytes) {
        const uint8_t *p = buf;

        assert(fd >= 0);

        while (nbytes > 0) {
                ssize_t k = write(fd, p, nbytes);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EIO;
                p += k;
                nbytes -= (size_t) k;
        }
        return 0;
}

int read_full_file_at(int dir_fd, const char *path, size_t max_size, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;

        assert(path);

        fd = openat(dir_fd, path, O_RDONLY|O_CLOEXEC|O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_full_fd(fd, max_size, ret, ret_size);
}

int read_full_fd(int fd, size_t max_size, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated = 0;

        assert(fd >= 0);
        assert(ret);

        for (;;) {
                ssize_t k;

                if (allocated - size < 4096) {
                        size_t n = allocated ? allocated * 2 : 4096;
                        char *p;

                        if (n > max_size + 1)
                                n = max_size + 1;
                        if (n <= size)
                                return -E2BIG;
                        p = realloc(buf, n + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated = n;
                }

                k = read(fd, buf + size, allocated - size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                size += (size_t) k;
                if (size > max_size)
                        return -E2BIG;
        }

        if (!buf) {
                buf = malloc(1);
                if (!buf)
                        return -ENOMEM;
        }
        buf[size] = 0;
        if (ret_size)
                *ret_size = size;
        *ret = TAKE_PTR(buf);
        return 0;
}

int write_file_atomic_at(int dir_fd, const char *name, const void *data, size_t size, mode_t mode) {
        _cleanup_close_ int fd = -EBADF;
        char temp[NAME_MAX + 1];
        int r;

        assert(name);

        if (!filename_is_valid(name))
                return -EINVAL;

        r = snprintf(temp, sizeof(temp), ".#%.200s.%016" PRIx64, name, random_u64());
        if (r < 0 || (size_t) r >= sizeof(temp))
                return -ENAMETOOLONG;

        fd = openat(dir_fd, temp, O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC|O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;

        r = loop_write(fd, data, size);
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && renameat(dir_fd, temp, dir_fd, name) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dir_fd, temp, 0);
        return r;
}

DIR* opendir_dup(int fd) {
        DIR *d;
        int dfd;

        dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0)
                return NULL;
        d = fdopendir(dfd);
        if (!d) {
                safe_close(dfd);
                return NULL;
        }
        /* A duplicate shares the file position with the original. */
        rewinddir(d);
        return d;
}
