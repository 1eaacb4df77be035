/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <linux/openat2.h>
#include <stdint.h>

#include <sys/types.h>

/* Removes dir_fd/name and everything below it. Never follows symlinks and never crosses into another
 * file system (a mount point below is an error, -EBUSY). Missing is success. */
int rm_rf_at(int dir_fd, const char *name);

/* mkdir -p: creates path (relative to dir_fd, or absolute) and its missing parents, the parents with
 * parent_mode and the last component with mode (modes as mkdir() takes them, so the umask applies).
 * Existing directories are fine. */
int mkdir_p_at(int dir_fd, const char *path, mode_t parent_mode, mode_t mode);

/* Removes everything inside the directory fd, but not the directory itself. */
int rm_rf_children(int fd);

/* openat2() with the RESOLVE_* flags resolve, and O_CLOEXEC always (mode only with O_CREAT or
 * O_TMPFILE): the one wrapper of the raw syscall. Returns an fd or -errno. */
int openat2_fd(int dir_fd, const char *path, int flags, mode_t mode, uint64_t resolve);

/* openat2() with RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS: path is resolved as if root_fd were '/'.
 * Returns an fd or -errno. */
int openat_in_root(int root_fd, const char *path, int flags, mode_t mode);

/* unlinkat() and symlinkat() of path (relative) resolved as openat_in_root() does for its directory: its
 * last component is never followed, no other leaves the tree. Return 0 or -errno. */
int unlinkat_in_root(int root_fd, const char *path, int flags);
int symlinkat_in_root(const char *target, int root_fd, const char *path);

/* renameat2() with RENAME_NOREPLACE (-EEXIST if the target exists) or RENAME_EXCHANGE. */
int rename_noreplace(int old_dir_fd, const char *old_name, int new_dir_fd, const char *new_name);
int rename_exchange(int old_dir_fd, const char *old_name, int new_dir_fd, const char *new_name);
