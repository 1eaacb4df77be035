/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deb-install.h"
#include "fd-util.h"
#include "fs-util.h"
#include "log.h"
#include "string-util.h"
#include "tar-unpack.h"

#define MEMBER_SIZE_MAX (UINT64_C(4) << 30)

static int copy_member(struct archive *a, int fd) {
        for (;;) {
                const void *buf;
                size_t size;
                la_int64_t offset;
                int r;

                r = archive_read_data_block(a, &buf, &size, &offset);
                if (r == ARCHIVE_EOF)
                        return 0;
                if (r != ARCHIVE_OK)
                        return -EBADMSG;
                if ((uint64_t) offset + size > MEMBER_SIZE_MAX)
                        return -E2BIG;
                if (pwrite(fd, buf, size, offset) != (ssize_t) size)
                        return errno > 0 ? -errno : -EIO;
        }
}

int deb_extract_data(int deb_fd, int tree_fd, char **reterr_message) {
        _cleanup_close_ int data = -EBADF;
        struct archive *a;
        struct archive_entry *e;
        bool binary = false;
        int r;

        a = archive_read_new();
        if (!a)
                return -ENOMEM;
        if (archive_read_support_format_ar(a) != ARCHIVE_OK ||
            archive_read_open_fd(a, deb_fd, 64 * 1024) != ARCHIVE_OK) {
                r = -EBADMSG;
                goto finish;
        }

        for (;;) {
                const char *name;

                r = archive_read_next_header(a, &e);
                if (r == ARCHIVE_EOF)
                        break;
                if (r != ARCHIVE_OK) {
                        r = -EBADMSG;
                        goto finish;
                }
                name = archive_entry_pathname(e);
                if (streq_ptr(name, "debian-binary")) {
                        char v[16] = {};
                        if (archive_read_data(a, v, sizeof(v) - 1) < 4 || !startswith(v, "2.")) {
                                r = -EBADMSG;
                                goto finish;
                        }
                        binary = true;
                } else if (name && startswith(name, "data.tar")) {
                        if (!binary) {
                                r = -EBADMSG;
                                goto finish;
                        }
                        data = memfd_create("data.tar", MFD_CLOEXEC);
                        if (data < 0) {
                                r = -errno;
                                goto finish;
                        }
                        r = copy_member(a, data);
                        if (r < 0)
                                goto finish;
                        break;
                }
        }
        if (data < 0) {
                r = -EBADMSG;
                goto finish;
        }
        if (lseek(data, 0, SEEK_SET) < 0) {
                r = -errno;
                goto finish;
        }
        r = tar_unpack(data, tree_fd, TAR_UNPACK_SYMLINKS_IN_TREE, 0, NULL, NULL, reterr_message);

finish:
        if (r == -EBADMSG && reterr_message && !*reterr_message)
                *reterr_message = strdup(archive_error_string(a) ?: "not a Debian binary package");
        archive_read_free(a);
        return r;
}

static int write_at(int dir_fd, const char *path, const char *content, mode_t mode) {
        _cleanup_close_ int fd = -EBADF;

        fd = openat(dir_fd, path, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC|O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode) < 0)
                return -errno;
        return loop_write(fd, content, strlen(content));
}

int tree_prepare(int tree_fd, const char *architecture) {
        static const char *const dirs[] = {
                "usr/bin", "usr/sbin", "usr/lib", "etc", "var/lib/dpkg/info", "var/lib/dpkg/updates",
                "var/lib/dpkg/triggers", "var/cache/mkmachine-debs", "proc", "sys", "dev", "run", "tmp",
        };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                r = mkdir_p_at(tree_fd, dirs[i], 0755, 0755);
                if (r < 0)
                        return r;
        }
        if (fchmodat(tree_fd, "tmp", 01777, 0) < 0)
                return -errno;

        /* Merged /usr, as debootstrap makes it and usr-is-merged insists on. */
        static const char *const links[][2] = {
                { "bin", "usr/bin" }, { "sbin", "usr/sbin" }, { "lib", "usr/lib" },
        };
        for (size_t i = 0; i < ELEMENTSOF(links); i++)
                if (symlinkat(links[i][1], tree_fd, links[i][0]) < 0 && errno != EEXIST)
                        return -errno;
        if (streq(architecture, "amd64")) {
                r = mkdir_p_at(tree_fd, "usr/lib64", 0755, 0755);
                if (r < 0)
                        return r;
                if (symlinkat("usr/lib64", tree_fd, "lib64") < 0 && errno != EEXIST)
                        return -errno;
        }

        r = write_at(tree_fd, "var/lib/dpkg/status", "", 0644);
        if (r >= 0)
                r = write_at(tree_fd, "var/lib/dpkg/available", "", 0644);
        if (r >= 0)
                r = write_at(tree_fd, "var/lib/dpkg/arch", strjoina(architecture, "\n"), 0644);
        if (r >= 0)
                /* 101: "action forbidden by policy" — no service starts while we install. */
                r = write_at(tree_fd, "usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0755);
        return r;
}

int tree_resume(int tree_fd) {
        if (mkdirat(tree_fd, "var/cache/mkmachine-debs", 0755) < 0 && errno != EEXIST)
                return -errno;
        return write_at(tree_fd, "usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0755);
}

int tree_finish(int tree_fd) {
        if (unlinkat(tree_fd, "usr/sbin/policy-rc.d", 0) < 0 && errno != ENOENT)
                return -errno;
        if (unlinkat(tree_fd, "var/cache/mkmachine-debs", AT_REMOVEDIR) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static int mount_at(int tree_fd, const char *source, const char *target, const char *type,
                    unsigned long flags,
                    const char *options) {
        char path[64];

        /* Through our own fd: the tree's path is not needed, and no symlink inside is followed. */
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%i/%s", tree_fd, target);
        if (mount(source, path, type, flags, options) < 0)
                return log_debug_errno(errno, "Failed to mount %s on %s: %m", type ?: source, target);
        return 0;
}

int build_namespace_setup(int tree_fd, const char *ro_dir, const char *ro_target) {
        static const struct {
                const char *name;
                mode_t mode;
                unsigned major, minor;
        } nodes[] = {
                { "null",    S_IFCHR|0666, 1, 3 },
                { "zero",    S_IFCHR|0666, 1, 5 },
                { "full",    S_IFCHR|0666, 1, 7 },
                { "random",  S_IFCHR|0666, 1, 8 },
                { "urandom", S_IFCHR|0666, 1, 9 },
                { "tty",     S_IFCHR|0666, 5, 0 },
        };
        _cleanup_close_ int dev = -EBADF;
        int r;

        char tree[PATH_MAX], link[64];
        ssize_t n;

        (void) snprintf(link, sizeof(link), "/proc/self/fd/%i", tree_fd);
        n = readlink(link, tree, sizeof(tree) - 1);
        if (n < 0)
                return -errno;
        tree[n] = 0;

        if (unshare(CLONE_NEWNS) < 0)
                return -errno;
        /* Nothing we mount propagates back to the host. */
        if (mount(NULL, "/", NULL, MS_REC|MS_SLAVE, NULL) < 0)
                return -errno;

        /* The fd still refers to the tree as mounted in the old namespace, where we can't mount:
         * reopen it here, under the same number, so the caller's fd is the one that works. */
        {
                int fd = open(tree, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                if (dup3(fd, tree_fd, O_CLOEXEC) < 0) {
                        safe_close(fd);
                        return -errno;
                }
                safe_close(fd);
        }

        r = mount_at(tree_fd, "proc", "proc", "proc", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL);
        if (r >= 0)
                r = mount_at(tree_fd, "sysfs", "sys", "sysfs", MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL);
        if (r >= 0)
                r = mount_at(tree_fd, "tmpfs", "dev", "tmpfs", MS_NOSUID|MS_NOEXEC, "mode=0755,size=4m");
        if (r >= 0)
                r = mount_at(tree_fd, "tmpfs", "run", "tmpfs", MS_NOSUID|MS_NODEV, "mode=0755,size=64m");
        if (r < 0)
                return r;

        dev = openat(tree_fd, "dev", O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        if (dev < 0)
                return -errno;
        for (size_t i = 0; i < ELEMENTSOF(nodes); i++)
                if (mknodat(dev, nodes[i].name, nodes[i].mode, makedev(nodes[i].major,
                                                                       nodes[i].minor)) < 0 ||
                    fchmodat(dev, nodes[i].name, nodes[i].mode & 07777, 0) < 0)
                        return -errno;
        if (symlinkat("/proc/self/fd", dev, "fd") < 0 || symlinkat("/proc/self/fd/0", dev, "stdin") < 0 ||
            symlinkat("/proc/self/fd/1", dev, "stdout") < 0 || symlinkat("/proc/self/fd/2", dev,
                                                                         "stderr") < 0 ||
            mkdirat(dev, "pts", 0755) < 0 || mkdirat(dev, "shm", 01777) < 0 || fchmodat(dev, "shm", 01777,
                                                                                        0) < 0)
                return -errno;
        r = mount_at(tree_fd, "devpts", "dev/pts", "devpts", MS_NOSUID|MS_NOEXEC,
                     "newinstance,ptmxmode=0666,mode=0620");
        if (r >= 0 && symlinkat("pts/ptmx", dev, "ptmx") < 0)
                r = -errno;
        if (r < 0)
                return r;

        if (ro_dir) {
                r = mount_at(tree_fd, ro_dir, ro_target, NULL, MS_BIND, NULL);
                if (r >= 0)
                        r = mount_at(tree_fd, NULL, ro_target, NULL, MS_BIND|MS_REMOUNT|MS_RDONLY, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

int build_namespace_teardown(int tree_fd) {
        static const char *const mounts[] = {
                "var/cache/mkmachine-debs", "dev/pts", "dev", "run", "sys", "proc",
        };
        char path[PATH_MAX];

        for (size_t i = 0; i < ELEMENTSOF(mounts); i++) {
                (void) snprintf(path, sizeof(path), "/proc/self/fd/%i/%s", tree_fd, mounts[i]);
                if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                        return log_debug_errno(errno, "Failed to unmount %s: %m", mounts[i]);
        }
        return 0;
}

/* The architecture whose system call numbers the filter below uses. */
#if defined(__x86_64__)
#  define AUDIT_ARCH_NATIVE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#  define AUDIT_ARCH_NATIVE AUDIT_ARCH_AARCH64
#endif

/* Makes fsync() and its relatives succeed without doing anything, as systemd-nspawn --suppress-sync does
 * (with a seccomp filter): dpkg syncs its database after every step of every package, and maintainer
 * scripts sync too, but the tree is a temporary that is thrown away on any failure and synced once as
 * a whole before it is installed. */
static int suppress_sync(void) {
#ifdef AUDIT_ARCH_NATIVE
        static const struct sock_filter filter[] = {
                BPF_STMT(BPF_LD|BPF_W|BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP|BPF_JEQ|BPF_K, AUDIT_ARCH_NATIVE, 1, 0),
                BPF_STMT(BPF_RET|BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD|BPF_W|BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP|BPF_JEQ|BPF_K, __NR_fsync, 5, 0),
                BPF_JUMP(BPF_JMP|BPF_JEQ|BPF_K, __NR_fdatasync, 4, 0),
                BPF_JUMP(BPF_JMP|BPF_JEQ|BPF_K, __NR_syncfs, 3, 0),
                BPF_JUMP(BPF_JMP|BPF_JEQ|BPF_K, __NR_sync, 2, 0),
                BPF_JUMP(BPF_JMP|BPF_JEQ|BPF_K, __NR_sync_file_range, 1, 0),
                BPF_STMT(BPF_RET|BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_RET|BPF_K, SECCOMP_RET_ERRNO | 0),
        };
        const struct sock_fprog prog = {
                .len = ELEMENTSOF(filter),
                .filter = (struct sock_filter*) filter,
        };

        return RET_NERRNO(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0));
#else
        return 0;
#endif
}

int tree_run(int tree_fd, char * const argv[], int output_fd) {
        static char *const env[] = {
                (char*) "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                (char*) "LC_ALL=C.UTF-8",
                (char*) "DEBIAN_FRONTEND=noninteractive",
                (char*) "DEBCONF_NONINTERACTIVE_SEEN=true",
                (char*) "HOME=/root",
                NULL,
        };
        siginfo_t si = {};
        pid_t pid;

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                /* If the builder is killed, so is this. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                        _exit(127);
                if (output_fd >= 0 && (dup2(output_fd, STDOUT_FILENO) < 0 || dup2(output_fd,
                                                                                  STDERR_FILENO) < 0))
                        _exit(127);
                if (fchdir(tree_fd) < 0 || chroot(".") < 0 || chdir("/") < 0)
                        _exit(127);
                if (suppress_sync() < 0)
                        _exit(127);
                execve(argv[0], argv, env);
                _exit(127);
        }
        if (waitid(P_PID, (id_t) pid, &si, WEXITED) < 0)
                return -errno;
        if (si.si_code != CLD_EXITED)
                return 128 + si.si_status;
        return si.si_status;
}
