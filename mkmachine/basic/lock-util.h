/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/file.h>

/* Lock files with open file description locks, taken and released the way systemd does it
 * (make_lock_file()), so that both see each other's locks: the file is created if missing, re-checked
 * after locking (it may have been removed by the last holder meanwhile), and removed on release when
 * nobody else holds it. */
typedef struct LockFile {
        char *path;
        int fd;
        int operation;
} LockFile;

#define LOCK_FILE_INIT { .fd = -EBADF }

/* operation: LOCK_EX or LOCK_SH, optionally | LOCK_NB (then -EBUSY if held elsewhere). */
int make_lock_file(const char *path, int operation, LockFile *ret);
void release_lock_file(LockFile *f);
