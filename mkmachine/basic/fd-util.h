/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <dirent.h>
#include <stdio.h>
#include <unistd.h>

#include "macro.h"

/* Closes fd if valid, keeps errno, returns -EBADF so that "fd = safe_close(fd);" is always safe. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -EBADF;
}

static inline void closep(int *fd) {
        *fd = safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void close_pairp(int (*p)[2]) {
        (*p)[0] = safe_close((*p)[0]);
        (*p)[1] = safe_close((*p)[1]);
}
#define _cleanup_close_pair_ _cleanup_(close_pairp)

DEFINE_POINTER_CLEANUP_RENAME(FILE*, fclose, fclosep);
#define _cleanup_fclose_ _cleanup_(fclosep)

DEFINE_POINTER_CLEANUP_RENAME(DIR*, closedir, closedirp);
#define _cleanup_closedir_ _cleanup_(closedirp)

/* A DIR* over a duplicate of the directory fd (so that closedir() leaves fd open), positioned at the
 * start. NULL with errno set on failure. */
DIR* opendir_dup(int fd);

/* Reads exactly nbytes unless EOF comes first; returns the number read or -errno. */
ssize_t loop_read(int fd, void *buf, size_t nbytes);
/* Writes all of buf; returns 0 or -errno. */
int loop_write(int fd, const void *buf, size_t nbytes);

/* Opens a file relative to dir_fd for reading the whole of it into a NUL-terminated buffer of at most
 * max_size bytes; -E2BIG if larger. */
int read_full_file_at(int dir_fd, const char *path, size_t max_size, char **ret, size_t *ret_size);
/* The same for the rest of an open file (or pipe), from its current offset. */
int read_full_fd(int fd, size_t max_size, char **ret, size_t *ret_size);

/* Atomically replaces dir_fd/name (name must be a plain file name) with the given contents
 * (temporary file + fsync + rename). */
int write_file_atomic_at(int dir_fd, const char *name, const void *data, size_t size, mode_t mode);
