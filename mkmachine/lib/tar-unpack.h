/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "decompress.h"
#include "progress.h"

typedef enum TarUnpackFlags {
        /* Drop the single top-level directory all entries share ("rootfs/…"); error if there is not
         * exactly one. */
        TAR_UNPACK_STRIP_TOP = 1 << 0,
        /* Follow symlinks already in the tree, as if it were the root directory (never out of it): for
         * package contents unpacked onto a tree with a merged /usr, where "bin/sh" goes to "usr/bin".
         * Without it every path through a symlink is refused. */
        TAR_UNPACK_SYMLINKS_IN_TREE = 1 << 1,
        /* The archive is a layer of an OCI/Docker image and the tree holds the layers below it: entries
         * replace what is there (a non-directory replaces even a non-empty directory; a directory over a
         * directory merges, taking the new owner, mode, xattrs and times), whiteouts are interpreted
         * instead of created (".wh.NAME" removes NAME, ".wh..wh..opq" empties its directory of what
         * lower layers put there; neither touches what this layer itself adds), other ".wh..wh.*"
         * (AUFS metadata) are skipped, and directories of lower layers that the layer changes keep
         * their times. A whiteout is resolved like any entry: beneath the tree, never through a
         * symlink. An archive without entries is fine (a layer that changes nothing). Memory use grows
         * with the layer's number of entries: their paths are remembered. */
        TAR_UNPACK_OVERLAY = 1 << 2,
} TarUnpackFlags;

typedef struct TarUnpackStats {
        uint64_t entries;
        uint64_t bytes_in;      /* raw bytes read from the input */
        uint64_t bytes_out;     /* decompressed bytes (the tar stream) read */
        Compression compression;
        char sha256[65];        /* of the raw input */
        /* Irregularities accepted (see "ARCHIVE IRREGULARITIES" in mkmachine(1)): a name or link target
         * in a pax header that is not UTF-8 (its bytes are used), several pax headers before one entry
         * (the last one counts), an ACL that names a user or group without an id which the tree's
         * etc/passwd or etc/group (as unpacked so far) does not know (that ACL is left out). How many,
         * and the first as a sentence naming the entry ("" if none): worth a warning to the user. */
        uint64_t notes;
        char note[256];
} TarUnpackStats;

/* Upper bounds on what an archive may ask of us. */
#define TAR_PATH_MAX       4096U
#define TAR_DEPTH_MAX      256U
#define TAR_XATTR_SIZE_MAX (64U * 1024U)

/* The free space an unpack leaves on the target file system by default: 1% of its size, within these. */
#define TAR_UNPACK_RESERVE_MIN (32U * 1024U * 1024U)
#define TAR_UNPACK_RESERVE_MAX (UINT64_C(1024) * 1024U * 1024U)

typedef struct TarUnpackOptions {
        /* At most this many decompressed bytes (the tar stream: headers and data) are read; more fail
         * with -EFBIG ("… exceeds the size limit of …") before they are written. 0: no limit but the
         * free space. */
        uint64_t max_bytes;
        /* Bytes already counted against max_bytes (by the layers before, for one image). */
        uint64_t bytes_before;
        /* The free space to leave on the target file system (0: the default reserve, see above). The
         * limit is never more than the free space at the start less the reserve (-EFBIG beyond it); and
         * the free space is checked as unpacking goes on, failing with -ENOSPC when it drops below the
         * reserve (small files take more room than their bytes, and others may be writing). */
        uint64_t reserve_bytes;
        /* Keep every extended attribute of the archive, not only those tar_xattr_is_safe() accepts. */
        bool all_xattrs;
} TarUnpackOptions;

/* Whether an archive's extended attribute is kept by default: user.*, security.capability and the POSIX
 * ACLs (system.posix_acl_access/_default; ACLs in the archive's own ACL records are kept anyway). Others
 * (trusted.*, security.selinux, security.ima, other system.*) are dropped, with a debug message: they
 * would make the host's kernel, overlayfs or security policy trust what the archive says. */
bool tar_xattr_is_safe(const char *name);

/* Unpacks the tar stream read from input_fd (a file or a pipe; compression none/gzip/xz/zstd/bzip2
 * detected from content) into the directory tree_fd, which should be empty.
 *
 * Every path operation is resolved beneath tree_fd and never through a symlink: absolute paths, "..",
 * writes through symlinks (also ones planted by earlier entries) and hardlinks to anything outside the
 * tree are refused. Ownership is numeric; modes (incl. setuid/sticky), mtimes, xattrs (by default only
 * those tar_xattr_is_safe() accepts, see tar_unpack_with()), POSIX ACLs,
 * devices, FIFOs, hardlinks and sparse files are kept (ACL entries that name a user or group without
 * an id get the id from the tree's etc/passwd or etc/group). Irregularities of form that GNU tar reads
 * past are accepted and counted in *ret_stats; damage and any other libarchive warning fail. Memory use
 * does not grow with the size of the archive, only (slightly) with its number of directories.
 *
 * input_size is the size of the input if known (0 if not), for progress only. progress may be NULL.
 * Returns 0 and fills *ret_stats (if non-NULL) on success. On failure returns a negative errno
 * (-EBADMSG for a malformed archive or compressed stream, -EPERM/-ELOOP/-ENAMETOOLONG/-ENOTDIR for
 * refused entries) and, if reterr_message is non-NULL, a newly allocated sentence naming the entry and
 * what is wrong with it. The tree may hold a partial result on failure: the caller removes it. Never
 * logs above debug level. */
int tar_unpack(int input_fd, int tree_fd, TarUnpackFlags flags, uint64_t input_size, Progress *progress,
               TarUnpackStats *ret_stats, char **reterr_message);

/* tar_unpack() with the bounds and choices in options (NULL: the defaults, which tar_unpack() and
 * tar_unpack_full() use: no limit but the free space less the default reserve, and only the extended
 * attributes tar_xattr_is_safe() accepts). */
int tar_unpack_with(int input_fd, int tree_fd, TarUnpackFlags flags, uint64_t input_size, Progress *progress,
                    const TarUnpackOptions *options, TarUnpackStats *ret_stats, char **reterr_message);

/* Called for every entry before it is unpacked (not for whiteouts and skipped sockets), with its path as
 * normalized ("" for the top of the tree, else relative, without "." components or a trailing '/') and
 * its type (S_IFDIR, S_IFREG, S_IFLNK, …; a hardlink is S_IFREG). A negative return stops unpacking with
 * that error. */
typedef int (*TarUnpackEntryFunc)(const char *path, mode_t type, void *userdata);

/* tar_unpack(), calling entry_func (if non-NULL) for each entry. */
int tar_unpack_full(int input_fd, int tree_fd, TarUnpackFlags flags, uint64_t input_size, Progress *progress,
                    TarUnpackEntryFunc entry_func, void *userdata, TarUnpackStats *ret_stats,
                    char **reterr_message);
