/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "decompress.h"
#include "progress.h"

/* Writing a machine's tree as a tar archive (pax format, which carries everything below). */

/* The compression a file name asks for: .tar, .tar.gz/.tgz, .tar.zst/.tzst, .tar.xz/.txz. -EINVAL
 * for any other name. */
int tar_pack_compression_from_filename(const char *filename, Compression *ret);

typedef struct TarPackStats {
        uint64_t entries;
        uint64_t bytes;         /* file data read from the tree */
} TarPackStats;

/* Archives everything below the directory tree_fd (as "./…") into output_fd with compression c
 * (COMPRESSION_NONE, _GZIP, _ZSTD or _XZ): modes, numeric ownership only (no user names), mtimes
 * with nanoseconds, extended attributes (security.capability too), POSIX ACLs, hardlinks, devices,
 * fifos, symlinks and sparse files as such. Mount points below are not crossed. The xattr named
 * skip_root_xattr (if non-NULL) is left out on the top directory (mkmachine's origin record, which
 * describes the machine, not its files). If *interrupted becomes non-zero (a signal handler) it stops
 * with -EINTR (also when only this process got the signal: the work runs in a child, which is killed).
 * progress may be NULL; it is drawn by the child. On failure returns a negative errno and a sentence in
 * *reterr_message (-ECHILD if the child died). The calling process's working directory is never
 * changed: libarchive's disk reader changes into the directories it reads, so it runs in a child
 * process. Never logs above debug. */
int tar_pack(int tree_fd, int output_fd, Compression c, const char *skip_root_xattr,
             const volatile sig_atomic_t *interrupted, Progress *progress, TarPackStats *ret_stats,
             char **reterr_message);

/* tar_pack() in two steps, for a caller that works on output_fd's other end in a thread of its own:
 * tar_pack_start() forks the child, tar_pack_wait() waits for it and gives tar_pack()'s result. Start
 * first, then the thread: a child forked while other threads run may inherit locks they hold (the
 * allocator's, OpenSSL's) and hang on them. After the start the caller may close its copy of
 * output_fd. */
typedef struct TarPackJob {
        pid_t pid;
        int result_fd;
} TarPackJob;

int tar_pack_start(int tree_fd, int output_fd, Compression c, const char *skip_root_xattr,
                   const volatile sig_atomic_t *interrupted, Progress *progress, TarPackJob *ret);
int tar_pack_wait(TarPackJob *job, const volatile sig_atomic_t *interrupted, Progress *progress,
                  TarPackStats *ret_stats, char **reterr_message);
