/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "archive-util.h"
#include "error-util.h"
#include "fd-util.h"
#include "process-util.h"
#include "string-util.h"
#include "tar-pack.h"


int tar_pack_compression_from_filename(const char *filename, Compression *ret) {
        static const struct {
                const char *suffix;
                Compression c;
        } table[] = {
                { ".tar",      COMPRESSION_NONE },
                { ".tar.gz",   COMPRESSION_GZIP },
                { ".tgz",      COMPRESSION_GZIP },
                { ".tar.zst",  COMPRESSION_ZSTD },
                { ".tzst",     COMPRESSION_ZSTD },
                { ".tar.xz",   COMPRESSION_XZ   },
                { ".txz",      COMPRESSION_XZ   },
        };

        assert(ret);

        for (size_t i = 0; filename && i < ELEMENTSOF(table); i++)
                if (endswith(filename, table[i].suffix) && strlen(filename) > strlen(table[i].suffix)) {
                        *ret = table[i].c;
                        return 0;
                }
        return -EINVAL;
}

/* libarchive's errors, translated once: its errno if it has one, else EIO. */
static int archive_errno_or_eio(struct archive *a) {
        int e = archive_errno(a);
        return e > 0 ? -e : -EIO;
}

/* Drops one xattr from an entry (libarchive has no call for that: rebuild the list). */
static void entry_drop_xattr(struct archive_entry *e, const char *drop) {
        struct saved {
                char *name;
                void *value;
                size_t size;
        } *l = NULL;
        size_t n = 0, i;
        const char *name;
        const void *value;
        size_t size;
        int count = archive_entry_xattr_reset(e);

        if (count <= 0)
                return;
        l = calloc(count, sizeof(*l));
        if (!l)
                return;
        while (n < (size_t) count && archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
                l[n].name = strdup(name);
                l[n].value = malloc(size ?: 1);
                if (!l[n].name || !l[n].value)
                        goto finish;
                memcpy(l[n].value, value, size);
                l[n++].size = size;
        }
        archive_entry_xattr_clear(e);
        for (i = 0; i < n; i++)
                if (!streq(l[i].name, drop))
                        archive_entry_xattr_add_entry(e, l[i].name, l[i].value, l[i].size);
finish:
        for (i = 0; i < (size_t) count; i++) {
                free(l[i].name);
                free(l[i].value);
        }
        free(l);
}

static int copy_data(struct archive *disk, struct archive *out, struct archive_entry *e,
                     const volatile sig_atomic_t *interrupted, Progress *progress, TarPackStats *stats,
                     char **reterr_message) {
        static const char zeros[64 * 1024];
        int64_t done = 0, offset;
        const void *buf;
        size_t n;
        int k;

        /* archive_read_data_block() skips holes (offset jumps); the pax writer wants the whole logical
         * content and drops what its sparse map marks as holes, so holes are fed as zeros (memory only:
         * nothing of them reaches the archive). */
        while ((k = archive_read_data_block(disk, &buf, &n, &offset)) == ARCHIVE_OK) {
                if (interrupted && *interrupted)
                        return -EINTR;
                while (offset > done) {
                        size_t z = (size_t) MIN((int64_t) sizeof(zeros), offset - done);

                        if (archive_write_data(out, zeros, z) < 0)
                                return error_message(reterr_message, archive_errno_or_eio(out),
                                                     "Failed to write: %s", archive_error_string(out));
                        done += z;
                }
                if (n > 0 && archive_write_data(out, buf, n) < 0)
                        return error_message(reterr_message, archive_errno_or_eio(out),
                                             "Failed to write: %s", archive_error_string(out));
                done += n;
                stats->bytes += n;
                if (progress)
                        progress_update(progress, stats->bytes);
        }
        if (k != ARCHIVE_EOF)
                return error_message(reterr_message, archive_errno_or_eio(disk), "Failed to read '%s': %s",
                                     archive_entry_pathname(e), archive_error_string(disk));
        /* A file ending in a hole. */
        while (done < archive_entry_size(e)) {
                size_t z = (size_t) MIN((int64_t) sizeof(zeros), archive_entry_size(e) - done);

                if (archive_write_data(out, zeros, z) < 0)
                        return error_message(reterr_message, archive_errno_or_eio(out),
                                             "Failed to write: %s", archive_error_string(out));
                done += z;
        }
        return 0;
}

static int pack(struct archive *disk, struct archive *out, struct archive_entry_linkresolver *lr,
                const char *skip_root_xattr, const volatile sig_atomic_t *interrupted, Progress *progress,
                TarPackStats *stats, char **reterr_message) {
        int r;

        for (;;) {
                struct archive_entry *e = archive_entry_new(), *spare = NULL;
                bool data;

                if (!e)
                        return -ENOMEM;
                if (interrupted && *interrupted) {
                        archive_entry_free(e);
                        return -EINTR;
                }
                r = archive_read_next_header2(disk, e);
                if (r == ARCHIVE_EOF) {
                        archive_entry_free(e);
                        return 0;
                }
                if (r < ARCHIVE_WARN) {
                        r = error_message(reterr_message, archive_errno_or_eio(disk),
                                          "Failed to read the tree: %s", archive_error_string(disk));
                        archive_entry_free(e);
                        return r;
                }
                /* Warnings are about what could not be read (an ACL, an xattr): a silently poorer copy
                 * is not what "export" promises. */
                if (r == ARCHIVE_WARN) {
                        r = error_message(reterr_message, archive_errno_or_eio(disk),
                                          "Failed to read '%s': %s", archive_entry_pathname(e),
                                          archive_error_string(disk));
                        archive_entry_free(e);
                        return r;
                }

                if (streq(archive_entry_pathname(e), ".") && skip_root_xattr)
                        entry_drop_xattr(e, skip_root_xattr);
                /* Numeric ownership only: the machine's users are not the host's. */
                archive_entry_set_uname(e, NULL);
                archive_entry_set_gname(e, NULL);

                /* Descend (not into other file systems: ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS). */
                if (archive_read_disk_can_descend(disk))
                        (void) archive_read_disk_descend(disk);

                data = archive_entry_filetype(e) == AE_IFREG && archive_entry_size(e) > 0;
                archive_entry_linkify(lr, &e, &spare);
                if (e) {
                        /* A hardlink to an earlier entry carries no data of its own. */
                        if (archive_entry_hardlink(e))
                                data = false;
                        r = archive_write_header(out, e);
                        if (r < ARCHIVE_WARN) {
                                r = error_message(reterr_message, archive_errno_or_eio(out),
                                                  "Failed to write the entry of '%s': %s",
                                                  archive_entry_pathname(e), archive_error_string(out));
                                archive_entry_free(e);
                                archive_entry_free(spare);
                                return r;
                        }
                        if (data) {
                                r = copy_data(disk, out, e, interrupted, progress, stats, reterr_message);
                                if (r < 0) {
                                        archive_entry_free(e);
                                        archive_entry_free(spare);
                                        return r;
                                }
                        }
                        stats->entries++;
                        archive_entry_free(e);
                }
                /* For tar, the link resolver never defers an entry: spare stays NULL. */
                archive_entry_free(spare);
        }
}

/* The archiving itself, in the child process of tar_pack(): libarchive's disk reader walks by path from
 * the current directory and changes into the directories it reads (fchdir()), so it gets a process of
 * its own, whose working directory nobody else uses. */
static int pack_in_child(int tree_fd, int output_fd, Compression c, const char *skip_root_xattr,
                         const volatile sig_atomic_t *interrupted, Progress *progress,
                         TarPackStats *ret_stats, char **reterr_message) {
        _cleanup_(archive_read_freep) struct archive *disk = NULL;
        _cleanup_(archive_write_freep) struct archive *out = NULL;
        _cleanup_(archive_entry_linkresolver_freep) struct archive_entry_linkresolver *lr = NULL;
        TarPackStats stats = {};
        int r, k;

        disk = archive_read_disk_new();
        out = archive_write_new();
        lr = archive_entry_linkresolver_new();
        if (!disk || !out || !lr)
                return -ENOMEM;

        archive_entry_linkresolver_set_strategy(lr, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
        if (archive_write_set_format_pax(out) != ARCHIVE_OK)
                return error_message(reterr_message, -EIO, "libarchive: %s", archive_error_string(out));
        switch (c) {
        case COMPRESSION_NONE:
                k = ARCHIVE_OK;
                break;
        case COMPRESSION_GZIP:
                k = archive_write_add_filter_gzip(out);
                break;
        case COMPRESSION_ZSTD:
                k = archive_write_add_filter_zstd(out);
                break;
        case COMPRESSION_XZ:
                k = archive_write_add_filter_xz(out);
                break;
        default:
                return error_message(reterr_message, -EOPNOTSUPP, "Cannot write %s compression.",
                                     strna(compression_to_string(c)));
        }
        if (k != ARCHIVE_OK)
                return error_message(reterr_message, -EOPNOTSUPP, "libarchive cannot write %s: %s",
                                     compression_to_string(c), archive_error_string(out));
        /* No padding of the last block to 10 KiB: the archive ends where tar's end marker ends. */
        (void) archive_write_set_bytes_in_last_block(out, 1);
        if (archive_write_open_fd(out, output_fd) != ARCHIVE_OK)
                return error_message(reterr_message, archive_errno_or_eio(out),
                                     "Failed to start the archive: %s", archive_error_string(out));

        /* Physical walk (symlinks are archived as links), no atime restore games, no crossing of mount
         * points; xattrs, ACLs and sparse maps are read by default. No name lookups: numeric ids. */
        archive_read_disk_set_symlink_physical(disk);
        if (archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS) != ARCHIVE_OK)
                return error_message(reterr_message, -EIO, "libarchive: %s", archive_error_string(disk));

        /* libarchive walks by path: from inside the tree, as "./…", like "tar -C TREE -c .". */
        if (fchdir(tree_fd) < 0)
                return error_message(reterr_message, -errno, "Failed to enter the tree: %m");

        if (progress)
                progress_begin(progress, "Exporting", 0);
        if (archive_read_disk_open(disk, ".") != ARCHIVE_OK)
                r = error_message(reterr_message, archive_errno_or_eio(disk), "Failed to open the tree: %s",
                                  archive_error_string(disk));
        else
                r = pack(disk, out, lr, skip_root_xattr, interrupted, progress, &stats, reterr_message);
        if (r >= 0 && archive_write_close(out) != ARCHIVE_OK)
                r = error_message(reterr_message, archive_errno_or_eio(out),
                                  "Failed to finish the archive: %s", archive_error_string(out));
        if (progress)
                progress_end(progress);
        (void) archive_read_close(disk);
        if (r < 0)
                return r;

        *ret_stats = stats;
        return 0;
}

/* What the child sends back: this, then message_size bytes of the message (no NUL). */
typedef struct PackResult {
        int r;
        uint32_t message_size;
        TarPackStats stats;
} PackResult;

#define PACK_MESSAGE_MAX (64U * 1024U)

/* Reads exactly size bytes from the child, or stops with -EINTR (having killed it) as soon as
 * *interrupted is set: the signal may have come to us alone (kill PID), not to the child too. 0 at a
 * short read (the child died). */
static int read_from_child(int fd, pid_t pid, const volatile sig_atomic_t *interrupted, void *buf,
                           size_t size) {
        size_t done = 0;

        while (done < size) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (interrupted && *interrupted) {
                        (void) kill(pid, SIGKILL);
                        return -EINTR;
                }
                if (poll(&pfd, 1, 100) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (pfd.revents == 0)
                        continue;
                n = read(fd, (uint8_t*) buf + done, size - done);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return 0;
                done += (size_t) n;
        }
        return 1;
}

int tar_pack_start(int tree_fd, int output_fd, Compression c, const char *skip_root_xattr,
                   const volatile sig_atomic_t *interrupted, Progress *progress, TarPackJob *ret) {
        _cleanup_close_ int rfd = -EBADF, wfd = -EBADF;
        pid_t pid, parent = getpid();
        int pipefd[2];

        assert(tree_fd >= 0);
        assert(output_fd >= 0);
        assert(ret);

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        rfd = pipefd[0];
        wfd = pipefd[1];

        /* Nothing buffered may be written twice, by us and by the child. */
        (void) fflush(stdout);
        (void) fflush(stderr);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                _cleanup_free_ char *msg = NULL;
                PackResult res = {};

                rfd = safe_close(rfd);
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(EXIT_FAILURE);
                res.r = pack_in_child(tree_fd, output_fd, c, skip_root_xattr, interrupted, progress,
                                      &res.stats, &msg);
                if (msg)
                        res.message_size = (uint32_t) MIN(strlen(msg), (size_t) PACK_MESSAGE_MAX);
                if (loop_write(wfd, &res, sizeof(res)) < 0 ||
                    (res.message_size > 0 && loop_write(wfd, msg, res.message_size) < 0))
                        _exit(EXIT_FAILURE);
                _exit(EXIT_SUCCESS);
        }
        *ret = (TarPackJob) { .pid = pid, .result_fd = TAKE_FD(rfd) };
        return 0;
}

int tar_pack_wait(TarPackJob *job, const volatile sig_atomic_t *interrupted, Progress *progress,
                  TarPackStats *ret_stats, char **reterr_message) {
        _cleanup_close_ int rfd = TAKE_FD(job->result_fd);
        _cleanup_free_ char *msg = NULL;
        PackResult res = {};
        pid_t pid = job->pid;
        int r;

        assert(pid > 0);
        job->pid = 0;

        r = read_from_child(rfd, pid, interrupted, &res, sizeof(res));
        if (r > 0 && (res.r > 0 || res.message_size > PACK_MESSAGE_MAX))
                r = -EPROTO;
        if (r > 0 && res.message_size > 0) {
                msg = calloc(1, res.message_size + 1);
                if (!msg)
                        r = -ENOMEM;
                else
                        r = read_from_child(rfd, pid, interrupted, msg, res.message_size);
        }
        if (r <= 0)
                (void) kill(pid, SIGKILL);      /* it may still be running (or have died already) */
        (void) wait_for_child(pid, NULL);
        progress_end_after_child(progress);
        if (r == 0)
                return error_message(reterr_message, -ECHILD, "The archiving process died.");
        if (r < 0)
                return r;
        if (res.r < 0) {
                if (msg && reterr_message && !*reterr_message)
                        *reterr_message = TAKE_PTR(msg);
                return res.r;
        }

        if (ret_stats)
                *ret_stats = res.stats;
        return 0;
}

int tar_pack(int tree_fd, int output_fd, Compression c, const char *skip_root_xattr,
             const volatile sig_atomic_t *interrupted, Progress *progress, TarPackStats *ret_stats,
             char **reterr_message) {
        TarPackJob job;
        int r;

        r = tar_pack_start(tree_fd, output_fd, c, skip_root_xattr, interrupted, progress, &job);
        if (r < 0)
                return r;
        return tar_pack_wait(&job, interrupted, progress, ret_stats, reterr_message);
}
