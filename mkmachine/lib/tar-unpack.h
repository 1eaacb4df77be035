/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "progress.h"

typedef enum TarUnpackFlags {
        /* Drop the single top-level directory all entries share ("rootfs/…"); error if there is not
         * exactly one. */
        TAR_UNPACK_STRIP_TOP = 1 << 0,
} TarUnpackFlags;

typedef struct TarUnpackStats {
        uint64_t entries;
        uint64_t bytes_in;      /* compressed bytes read from input */
        uint64_t bytes_out;     /* uncompressed tar bytes */
} TarUnpackStats;

/* Upper bounds on what an archive may ask of us. */
#define TAR_PATH_MAX      4096U
#define TAR_DEPTH_MAX     256U
#define TAR_XATTR_SIZE_MAX (64U * 1024U)

/* Unpacks the tar stream read from input_fd (a file or a pipe; compression none/gzip/xz/zstd/bzip2
 * detected from content) into the directory tree_fd, which should be empty.
 *
 * Every path operation is resolved beneath tree_fd: absolute paths, "..", symlinks (also ones planted
 * by earlier entries) and hardlinks leading out of the tree are refused, never followed. Ownership is
 * numeric, modes (incl. setuid/sticky), mtimes, xattrs, ACLs, devices, FIFOs and sparse files are kept.
 *
 * input_size is the size of the input if known (0 if not), for progress only. progress may be NULL.
 * Returns 0 and fills *ret_stats (if non-NULL) on success. On failure returns a negative errno
 * (-EBADMSG for a malformed archive, -EPERM/-EXDEV/-ENAMETOOLONG/-ELOOP for refused entries) and, if
 * reterr_entry is non-NULL and an entry was involved, a newly allocated copy of that entry's name. The
 * tree may hold a partial result on failure: the caller removes it. Never logs above debug level. */
int tar_unpack(int input_fd, int tree_fd, TarUnpackFlags flags, uint64_t input_size, Progress *progress,
               TarUnpackStats *ret_stats, char **reterr_entry);
