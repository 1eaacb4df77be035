/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build-env.h"
#include "fd-util.h"
#include "fs-util.h"
#include "log.h"
#include "process-util.h"
#include "strv.h"

/* The path of the directory fd, as the kernel names it (for reopening it in another mount namespace). */
static int fd_path(int fd, char ret[static PATH_MAX]) {
        char link[64];
        ssize_t n;

        (void) snprintf(link, sizeof(link), "/proc/self/fd/%i", fd);
        n = readlink(link, ret, PATH_MAX - 1);
        if (n < 0)
                return -errno;
        if (n == 0 || ret[0] != '/')
                return -EBADF;  /* a tree unreachable by path ("(deleted)", another namespace's) */
        ret[n] = 0;
        return 0;
}

/* Opens path, a directory, and checks it is the one fd refers to (in another mount namespace), under the
 * same number as fd. */
static int reopen_dir(int fd, const char *path) {
        struct stat a, b;
        int new_fd;

        new_fd = open(path, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        if (new_fd < 0)
                return -errno;
        if (fstat(fd, &a) < 0 || fstat(new_fd, &b) < 0) {
                int r = -errno;
                safe_close(new_fd);
                return r;
        }
        if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
                safe_close(new_fd);
                return -ESTALE; /* renamed under us */
        }
        if (dup3(new_fd, fd, O_CLOEXEC) < 0) {
                int r = -errno;
                safe_close(new_fd);
                return r;
        }
        safe_close(new_fd);
        return 0;
}

/* Mounts on target in the tree, resolved there: packages made the tree, and none of its symlinks may
 * take a mount out of it. A read-only bind mount is bound, then remounted. */
static int mount_in_tree(int tree_fd, const char *source, const char *target, const char *type,
                         unsigned long flags, const char *options) {
        _cleanup_close_ int fd = -EBADF;
        char path[64];

        fd = openat_in_root(tree_fd, target, O_PATH|O_DIRECTORY, 0);
        if (fd < 0)
                return log_debug_errno(fd, "Failed to open %s in the tree: %m", target);
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%i", fd);
        if (mount(source, path, type, (flags & MS_BIND) ? MS_BIND : flags, options) < 0)
                return log_debug_errno(errno, "Failed to mount %s on %s: %m", type ?: source, target);
        if (!(flags & MS_BIND) || !(flags & MS_RDONLY))
                return 0;

        /* The fd is the directory under the new mount: the remount needs the mount itself. */
        fd = safe_close(fd);
        fd = openat_in_root(tree_fd, target, O_PATH|O_DIRECTORY, 0);
        if (fd < 0)
                return log_debug_errno(fd, "Failed to open %s in the tree: %m", target);
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%i", fd);
        if (mount(NULL, path, NULL, flags|MS_REMOUNT, NULL) < 0)
                return log_debug_errno(errno, "Failed to make %s read-only: %m", target);
        return 0;
}

static int loopback_up(void) {
        _cleanup_close_ int fd = -EBADF;
        struct ifreq ifr = {};

        fd = socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        strncpy(ifr.ifr_name, "lo", sizeof(ifr.ifr_name) - 1);
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        ifr.ifr_flags |= IFF_UP;
        /* The kernel gives an up loopback 127.0.0.1/8 and ::1 by itself. */
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                return -errno;
        return 0;
}

static int dev_populate(int tree_fd) {
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
        static const char *const links[][2] = {
                { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
                { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
        };
        _cleanup_close_ int dev = -EBADF;
        int r;

        r = mount_in_tree(tree_fd, "tmpfs", "dev", "tmpfs", MS_NOSUID|MS_NOEXEC, "mode=0755,size=4m");
        if (r < 0)
                return r;
        dev = openat_in_root(tree_fd, "dev", O_RDONLY|O_DIRECTORY, 0);
        if (dev < 0)
                return dev;
        for (size_t i = 0; i < ELEMENTSOF(nodes); i++)
                if (mknodat(dev, nodes[i].name, nodes[i].mode,
                            makedev(nodes[i].major, nodes[i].minor)) < 0 ||
                    fchmodat(dev, nodes[i].name, nodes[i].mode & 07777, 0) < 0)
                        return -errno;
        for (size_t i = 0; i < ELEMENTSOF(links); i++)
                if (symlinkat(links[i][0], dev, links[i][1]) < 0)
                        return -errno;
        if (mkdirat(dev, "pts", 0755) < 0 || mkdirat(dev, "shm", 01777) < 0 ||
            fchmodat(dev, "shm", 01777, 0) < 0)
                return -errno;
        r = mount_in_tree(tree_fd, "devpts", "dev/pts", "devpts", MS_NOSUID|MS_NOEXEC,
                          "newinstance,ptmxmode=0666,mode=0620");
        if (r < 0)
                return r;
        if (symlinkat("pts/ptmx", dev, "ptmx") < 0)
                return -errno;
        return 0;
}

int build_env_setup(int tree_fd, const char *hostname, const char *ro_dir, const char *ro_target) {
        return build_env_setup_network(tree_fd, hostname, ro_dir, ro_target, false);
}

int build_env_setup_network(int tree_fd, const char *hostname, const char *ro_dir, const char *ro_target,
                            bool host_network) {
        char tree[PATH_MAX];
        int r;

        assert(tree_fd >= 0);
        assert(hostname);
        assert(!ro_dir || ro_target);

        r = fd_path(tree_fd, tree);
        if (r < 0)
                return r;

        if (unshare(CLONE_NEWNS|CLONE_NEWIPC|CLONE_NEWUTS|(host_network ? 0 : CLONE_NEWNET)) < 0)
                return log_debug_errno(errno, "Failed to create the build's namespaces: %m");
        /* Nothing we mount propagates back to the host. */
        if (mount(NULL, "/", NULL, MS_REC|MS_SLAVE, NULL) < 0)
                return -errno;
        /* pivot_root() wants the new root to be a mount: the tree becomes one, and the fd refers to the
         * tree as it is in the old namespace. Both are fixed by reopening it here, under the same number,
         * so the caller's fd is the one that works. */
        if (mount(tree, tree, NULL, MS_BIND, NULL) < 0)
                return log_debug_errno(errno, "Failed to bind-mount the tree on itself: %m");
        r = reopen_dir(tree_fd, tree);
        if (r < 0)
                return r;

        r = host_network ? 0 : loopback_up();
        if (r < 0)
                return log_debug_errno(r, "Failed to bring up the loopback: %m");
        if (sethostname(hostname, strlen(hostname)) < 0)
                return log_debug_errno(errno, "Failed to set the host name to '%s': %m", hostname);

        /* sysfs after the network namespace: it shows that namespace's interfaces. */
        r = mount_in_tree(tree_fd, "sysfs", "sys", "sysfs", MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL);
        if (r >= 0)
                r = dev_populate(tree_fd);
        if (r >= 0)
                r = mount_in_tree(tree_fd, "tmpfs", "run", "tmpfs", MS_NOSUID|MS_NODEV,
                                  "mode=0755,size=64m");
        if (r >= 0 && ro_dir)
                r = mount_in_tree(tree_fd, ro_dir, ro_target, NULL, MS_BIND|MS_RDONLY|MS_NOSUID|MS_NODEV,
                                  NULL);
        return r;
}

int build_env_teardown(int tree_fd, const char *ro_target) {
        const char *mounts[] = { ro_target, "dev/pts", "dev", "run", "sys" };

        for (size_t i = 0; i < ELEMENTSOF(mounts); i++) {
                _cleanup_close_ int fd = -EBADF;
                char path[64];

                if (!mounts[i])
                        continue;
                fd = openat_in_root(tree_fd, mounts[i], O_PATH|O_DIRECTORY, 0);
                if (fd == -ENOENT || fd == -ENOTDIR)
                        continue;
                if (fd < 0)
                        return fd;
                (void) snprintf(path, sizeof(path), "/proc/self/fd/%i", fd);
                if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL)
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

/* Capabilities nothing that installs packages needs, whose use reaches past the namespaces: out of the
 * bounding set, so that no program run inside gets them. CAP_DAC_READ_SEARCH allows open_by_handle_at(),
 * which opens any file of a file system given a descriptor of any other file on it (the tree is on the
 * host's); CAP_DAC_OVERRIDE, which stays, is enough for root's reading and writing. The others are
 * kernel modules, raw I/O, the clock, the kernel log, BPF and perf, MAC policy. */
static int capabilities_drop(void) {
        static const int caps[] = {
                CAP_DAC_READ_SEARCH, CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYS_PACCT, CAP_SYS_TIME,
                CAP_MAC_OVERRIDE, CAP_MAC_ADMIN, CAP_SYSLOG, CAP_WAKE_ALARM, CAP_BLOCK_SUSPEND,
                CAP_AUDIT_READ, CAP_PERFMON, CAP_BPF, CAP_CHECKPOINT_RESTORE,
        };

        for (size_t i = 0; i < ELEMENTSOF(caps); i++)
                if (prctl(PR_CAPBSET_DROP, caps[i], 0, 0, 0) < 0 && errno != EINVAL)
                        return -errno;  /* EINVAL: a kernel older than the capability */
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return -errno;
        return 0;
}

/* In PID 1 of the new PID namespace: mount and UTS namespaces of its own, the root the tree (found at
 * tree, the directory st is of) with the host's mounts detached from it, and this PID namespace's /proc. */
static int sandbox_enter(const char *tree, const struct stat *st) {
        static const char *const read_only[] = { "/proc/sys", "/proc/sysrq-trigger" };
        char hostname[HOST_NAME_MAX + 1] = {};
        _cleanup_close_ int fd = -EBADF;
        struct stat st_new;

        /* The host name as build_env_setup() set it, for this command alone: what one renames, the next
         * does not see. */
        if (gethostname(hostname, sizeof(hostname) - 1) < 0)
                return -errno;
        if (unshare(CLONE_NEWNS|CLONE_NEWUTS) < 0)
                return -errno;
        if (sethostname(hostname, strlen(hostname)) < 0)
                return -errno;
        fd = open(tree, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st_new) < 0)
                return -errno;
        if (st_new.st_dev != st->st_dev || st_new.st_ino != st->st_ino)
                return -ESTALE;
        /* The tree on top of the old root, which is then detached: above the tree there is nothing. */
        if (fchdir(fd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 ||
            chdir("/") < 0)
                return -errno;
        if (mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL) < 0)
                return -errno;

        /* Resolved inside the tree from here on: whatever its symlinks say, they stay in it. */
        if (mount("proc", "/proc", "proc", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL) < 0)
                return -errno;
        /* As systemd-nspawn does: most sysctls are the host's, not the namespace's. */
        for (size_t i = 0; i < ELEMENTSOF(read_only); i++) {
                if (mount(read_only[i], read_only[i], NULL, MS_BIND, NULL) < 0) {
                        if (errno == ENOENT)
                                continue;       /* no sysrq in this kernel */
                        return -errno;
                }
                if (mount(NULL, read_only[i], NULL,
                          MS_BIND|MS_REMOUNT|MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL) < 0)
                        return -errno;
        }
        return capabilities_drop();
}

/* Tells the builder why we could not go on (on the error pipe), and exits. */
static _noreturn_ void sandbox_fail(int error_fd, int r) {
        int e = -r;

        (void) write(error_fd, &e, sizeof(e));
        _exit(127);
}

/* The command (in PID 1's child): a new session, stdin /dev/null, stdout and stderr output_fd, nothing
 * else open but error_fd until the exec succeeds. */
static _noreturn_ void payload_exec(int error_fd, int output_fd, char * const argv[], char * const env[]) {
        sigset_t none;
        int null;

        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) signal(sig, SIG_DFL);
        if (setsid() < 0)
                sandbox_fail(error_fd, -errno);

        null = open("/dev/null", O_RDWR|O_CLOEXEC);
        if (null < 0)
                sandbox_fail(error_fd, -errno);
        if (output_fd < 0)
                output_fd = null;
        if (dup2(null, STDIN_FILENO) < 0 || dup2(output_fd, STDOUT_FILENO) < 0 ||
            dup2(output_fd, STDERR_FILENO) < 0)
                sandbox_fail(error_fd, -errno);
        /* error_fd is 3 (see sandbox_init()); close-on-exec, all others closed now. */
        if (close_range(4, ~0U, 0) < 0)
                sandbox_fail(error_fd, -errno);
        if (suppress_sync() < 0)
                sandbox_fail(error_fd, -errno);
        execve(argv[0], argv, env);
        sandbox_fail(error_fd, -errno);
}

/* PID 1 of the new PID namespace: enters the sandbox, runs the command, reaps whatever is orphaned in
 * there and exits with the command's status, which ends everything else in the namespace too. */
static _noreturn_ void sandbox_init(int builder_pidfd, int error_fd, int output_fd, const char *tree,
                                    const struct stat *st, char * const argv[], char * const env[]) {
        struct pollfd p = { .fd = builder_pidfd, .events = POLLIN };
        int r, e, o, null, root_fd;
        pid_t pid;

        /* If the builder is killed, so is this, and with it everything in the namespace. The builder may
         * have died before that took effect: its pidfd tells. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || poll(&p, 1, 0) != 0)
                _exit(127);

        /* Nothing of the builder's may be reachable from inside (a process there could ptrace() us):
         * error_fd becomes 3, output_fd 4, and everything else but stdio is closed. */
        e = fcntl(error_fd, F_DUPFD_CLOEXEC, 5);
        o = output_fd >= 0 ? fcntl(output_fd, F_DUPFD_CLOEXEC, 5) : -EBADF;
        if (e < 0 || (output_fd >= 0 && o < 0) || dup3(e, 3, O_CLOEXEC) < 0 ||
            (o >= 0 && dup3(o, 4, O_CLOEXEC) < 0))
                _exit(127);
        error_fd = 3;
        output_fd = o >= 0 ? 4 : -EBADF;
        if (close_range(5, ~0U, 0) < 0)
                sandbox_fail(error_fd, -errno);

        r = sandbox_enter(tree, st);
        if (r < 0)
                sandbox_fail(error_fd, r);
        /* Stdio the tree's /dev/null, not the builder's terminal or the host's /dev. */
        null = open("/dev/null", O_RDWR|O_CLOEXEC);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
            dup2(null, STDERR_FILENO) < 0)
                sandbox_fail(error_fd, -errno);
        null = safe_close(null);

        /* PID 1 itself moves its root to the tree's /proc and the command goes back to the tree's root:
         * /proc/1/root is then not the command's /, as in any chroot build (mmdebstrap's, debootstrap's),
         * and debianutils' ischroot says "chroot". Maintainer scripts skip what they do only on a booted
         * system (libc6's postinst: "telinit u; sleep 1"). Nothing of the host is reachable either way:
         * /proc/1/root is this namespace's proc. */
        root_fd = open("/", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        if (root_fd < 0 || chroot("/proc") < 0)
                sandbox_fail(error_fd, -errno);

        pid = fork();
        if (pid < 0)
                sandbox_fail(error_fd, -errno);
        if (pid == 0) {
                if (fchdir(root_fd) < 0 || chroot(".") < 0 || chdir("/") < 0)
                        sandbox_fail(error_fd, -errno);
                payload_exec(error_fd, output_fd, argv, env);
        }
        root_fd = safe_close(root_fd);

        for (;;) {
                siginfo_t si = {};

                if (waitid(P_ALL, 0, &si, WEXITED) < 0) {
                        if (errno == EINTR)
                                continue;
                        _exit(127);
                }
                if (si.si_pid == pid)
                        _exit(si.si_code == CLD_EXITED ? si.si_status & 0xff : 128 + si.si_status);
        }
}

int build_env_run(int tree_fd, char * const argv[], char * const extra_env[], int output_fd) {
        char *env[32] = {
                (char*) "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                (char*) "LC_ALL=C.UTF-8",
                (char*) "DEBIAN_FRONTEND=noninteractive",
                (char*) "DEBCONF_NONINTERACTIVE_SEEN=true",
                (char*) "HOME=/root",
        };
        _cleanup_close_ int pidns = -EBADF, self = -EBADF;
        _cleanup_close_pair_ int errors[2] = { -EBADF, -EBADF };
        char tree[PATH_MAX];
        siginfo_t si = {};
        struct stat st;
        size_t n = 5;
        ssize_t k;
        pid_t pid;
        int r, e;

        assert(tree_fd >= 0);
        assert(argv && argv[0]);

        STRV_FOREACH(x, extra_env) {
                if (n >= ELEMENTSOF(env) - 1)
                        return -E2BIG;
                env[n++] = *x;
        }

        r = fd_path(tree_fd, tree);
        if (r < 0)
                return r;
        if (fstat(tree_fd, &st) < 0)
                return -errno;
        pidns = open("/proc/self/ns/pid", O_RDONLY|O_CLOEXEC);
        if (pidns < 0)
                return -errno;
        self = pidfd_open(getpid(), 0);
        if (self < 0)
                return -errno;
        if (pipe2(errors, O_CLOEXEC) < 0)
                return -errno;

        fflush(stdout);
        fflush(stderr);
        /* Our next child is PID 1 of a new PID namespace; then back to ours for the children after. */
        if (unshare(CLONE_NEWPID) < 0)
                return -errno;
        pid = fork();
        if (pid == 0)
                sandbox_init(self, errors[1], output_fd, tree, &st, argv, env);
        r = pid < 0 ? -errno : 0;
        if (setns(pidns, CLONE_NEWPID) < 0) {
                RET_GATHER(r, -errno);
                if (pid > 0)
                        (void) kill(pid, SIGKILL);
        }
        if (pid < 0)
                return r;
        errors[1] = safe_close(errors[1]);

        k = wait_for_child(pid, &si);
        if (k < 0)
                return k;
        if (r < 0)
                return r;

        k = read(errors[0], &e, sizeof(e));
        if (k == (ssize_t) sizeof(e))
                return e > 0 && e < 4096 ? -e : -EIO;
        if (si.si_code != CLD_EXITED)
                return 128 + si.si_status;
        return si.si_status;
}
