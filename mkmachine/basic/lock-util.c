/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "lock-util.h"

static int ofd_lock(int fd, int operation) {
        struct flock fl = {
                .l_type = (operation & ~LOCK_NB) == LOCK_EX ? F_WRLCK : F_RDLCK,
                .l_whence = SEEK_SET,
        };

        for (;;) {
                if (fcntl(fd, (operation & LOCK_NB) ? F_OFD_SETLK : F_OFD_SETLKW, &fl) >= 0)
                        return 0;
                if (errno == EINTR)
                        continue;
                return errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
        }
}

int make_lock_file(const char *path, int operation, LockFile *ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *p = NULL;
        int r;

        assert(path);
        assert(ret);

        p = strdup(path);
        if (!p)
                return -ENOMEM;

        for (;;) {
                struct stat st;

                fd = open(p, O_CREAT|O_RDWR|O_NOFOLLOW|O_CLOEXEC|O_NOCTTY, 0600);
                if (fd < 0)
                        return -errno;

                r = ofd_lock(fd, operation);
                if (r < 0)
                        return r;

                /* The previous holder may have removed the file between our open() and the lock. */
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (st.st_nlink > 0)
                        break;
                fd = safe_close(fd);
        }

        *ret = (LockFile) {
                .path = TAKE_PTR(p),
                .fd = TAKE_FD(fd),
                .operation = operation,
        };
        return 0;
}

void release_lock_file(LockFile *f) {
        if (!f)
                return;

        if (f->path && f->fd >= 0) {
                /* Remove the file only if nobody else holds it: upgrade to exclusive, without waiting. */
                if ((f->operation & ~LOCK_NB) == LOCK_EX || ofd_lock(f->fd, LOCK_EX|LOCK_NB) >= 0)
                        (void) unlink(f->path);
        }

        f->path = mfree(f->path);
        f->fd = safe_close(f->fd);
        f->operation = 0;
}
