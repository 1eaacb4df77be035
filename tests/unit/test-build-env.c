/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The build environment, as root: a small tree with the host's busybox (and the libraries it needs) in
 * it, a builder process that sets the environment up, and shell commands run inside that try to reach
 * the host. Skipped without root or busybox unless MKMACHINE_MUST_WORK=1. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "build-env.h"
#include "fd-util.h"
#include "fs-util.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"

#define HOSTNAME_INSIDE "mkm-test-sandbox"

typedef struct Scratch {
        char dir[PATH_MAX];     /* the test's directory: tree/ and the host's files */
        char tree[PATH_MAX];
        char secret[PATH_MAX];  /* a host file outside the tree */
} Scratch;

static void require(void) {
        bool must = getenv("MKMACHINE_MUST_WORK") && streq(getenv("MKMACHINE_MUST_WORK"), "1");

        if (geteuid() != 0) {
                if (must)
                        _test_fail("not root (MKMACHINE_MUST_WORK=1)");
                test_skip("needs root");
        }
        if (access("/bin/busybox", X_OK) < 0) {
                if (must)
                        _test_fail("no /bin/busybox (MKMACHINE_MUST_WORK=1)");
                test_skip("needs /bin/busybox");
        }
}

static void write_file(const char *path, const char *content) {
        _cleanup_close_ int fd = open(path, O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0644);

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(loop_write(fd, content, strlen(content)));
}

static void copy_into_tree(const Scratch *s, const char *path) {
        _cleanup_free_ char *data = NULL;
        _cleanup_close_ int tree_fd = -EBADF, fd = -EBADF;
        size_t size;
        char *dir, *slash;

        ASSERT_OK(read_full_file_at(AT_FDCWD, path, 64U << 20, &data, &size));
        tree_fd = open(s->tree, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(tree_fd >= 0);
        dir = strdupa(path + 1);
        slash = strrchr(dir, '/');
        ASSERT_NOT_NULL(slash);
        *slash = 0;
        ASSERT_OK(mkdir_p_at(tree_fd, dir, 0755, 0755));
        fd = openat(tree_fd, path + 1, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0755);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(loop_write(fd, data, size));
}

/* A tree with busybox at /bin/busybox, the libraries ldd names for it, and what build_env_setup()
 * mounts on; a secret file next to it (outside). */
static void scratch_make(Scratch *s) {
        char line[PATH_MAX + 64];
        FILE *f;

        strcpy(s->dir, "/tmp/test-build-env.XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(s->dir));
        (void) snprintf(s->tree, sizeof(s->tree), "%s/tree", s->dir);
        (void) snprintf(s->secret, sizeof(s->secret), "%s/secret", s->dir);
        ASSERT_OK(mkdir_p_at(AT_FDCWD, strjoina(s->tree, "/bin"), 0755, 0755));
        const char *dirs[] = { "proc", "sys", "dev", "run", "tmp", "etc", "var/cache/ro" };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                ASSERT_OK(mkdir_p_at(AT_FDCWD, strjoina(s->tree, "/", dirs[i]), 0755, 0755));
        write_file(s->secret, "secret\n");
        write_file(strjoina(s->tree, "/etc/tree-marker"), "tree\n");

        /* Static or not: ldd lists the libraries of a dynamic one, fails for a static one. */
        copy_into_tree(s, "/bin/busybox");
        const char *applets[] = {
                "cat", "cut", "grep", "hostname", "kill", "ls", "nc", "readlink", "setsid", "sh", "sleep",
                "stat", "tail", "timeout", "tr", "wc",
        };
        for (size_t i = 0; i < ELEMENTSOF(applets); i++)
                ASSERT_OK(RET_NERRNO(symlink("busybox", strjoina(s->tree, "/bin/", applets[i]))));
        f = popen("ldd /bin/busybox", "re");
        ASSERT_NOT_NULL(f);
        while (fgets(line, sizeof(line), f)) {
                char *p = strchr(line, '/'), *end;

                if (!p)
                        continue;
                end = p + strcspn(p, " \n");
                *end = 0;
                copy_into_tree(s, p);
        }
        (void) pclose(f);
}

static void scratch_done(Scratch *s) {
        (void) rm_rf_at(AT_FDCWD, s->dir);
}

/* Runs script with busybox sh in the build environment of s's tree, set up in a builder child (the
 * namespaces are its, not ours), with the scratch directory bind-mounted read-only at /var/cache/ro.
 * Returns what build_env_run() returned (as the builder's exit status: 200 + -errno for errors); the
 * output in *ret_output. */
static int sandbox_run(const Scratch *s, const char *script, char **ret_output) {
        _cleanup_close_ int out = -EBADF;
        int status;
        pid_t pid;

        out = memfd_create("output", MFD_CLOEXEC);
        ASSERT_TRUE(out >= 0);
        fflush(stdout);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                _cleanup_close_ int tree_fd = -EBADF;
                int r;

                tree_fd = open(s->tree, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
                if (tree_fd < 0)
                        _exit(250);
                r = build_env_setup(tree_fd, HOSTNAME_INSIDE, s->dir, "var/cache/ro");
                if (r < 0) {
                        fprintf(stderr, "build_env_setup: %s\n", strerror(-r));
                        _exit(251);
                }
                r = build_env_run(tree_fd, STRV_MAKE("/bin/busybox", "sh", "-c", script), NULL, out);
                if (r < 0)
                        fprintf(stderr, "build_env_run: %s\n", strerror(-r));
                r = r < 0 ? 200 + MIN(-r, 49) : MIN(r, 199);
                if (build_env_teardown(tree_fd, "var/cache/ro") < 0)
                        _exit(252);
                _exit(r);
        }
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_TRUE(lseek(out, 0, SEEK_SET) == 0);
        ASSERT_OK(read_full_fd(out, 1U << 20, ret_output, NULL));
        printf("# script: %s\n", script);
        ASSERT_NOT_NULL(*ret_output);
        for (const char *l = *ret_output ?: ""; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] == '\n')) {
                int n = (int) strcspn(l, "\n");
                fputs("# output: ", stdout);
                fwrite(l, 1, (size_t) n, stdout);
                fputc('\n', stdout);
        }
        return WEXITSTATUS(status);
}

TEST(exit_status) {
        _cleanup_free_ char *o1 = NULL, *o2 = NULL, *o3 = NULL, *o4 = NULL;
        Scratch s;

        require();
        scratch_make(&s);
        ASSERT_EQ(sandbox_run(&s, "echo hello; exit 3", &o1), 3);
        ASSERT_STREQ(o1, "hello\n");
        ASSERT_EQ(sandbox_run(&s, "kill -9 $$", &o2), 128 + SIGKILL);
        /* A program that is not in the tree (but is on the host): ENOENT, not an exit status. */
        ASSERT_EQ(sandbox_run(&s, "exec /usr/bin/env true", &o3), 127);
        ASSERT_EQ(sandbox_run(&s, "cat /etc/tree-marker /var/cache/ro/secret; echo x >/var/cache/ro/w",
                              &o4), 1);
        ASSERT_TRUE(startswith(o4, "tree\nsecret\n"));  /* the read-only bind mount, read-only */
        ASSERT_TRUE(access(strjoina(s.dir, "/w"), F_OK) < 0);
        scratch_done(&s);
}

TEST(missing_program) {
        _cleanup_close_ int tree_fd = -EBADF;
        Scratch s;
        int status;
        pid_t pid;

        require();
        scratch_make(&s);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                tree_fd = open(s.tree, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
                if (tree_fd < 0 || build_env_setup(tree_fd, HOSTNAME_INSIDE, NULL, NULL) < 0)
                        _exit(1);
                _exit(build_env_run(tree_fd, STRV_MAKE("/usr/bin/env"), NULL, -EBADF) == -ENOENT ? 0 : 2);
        }
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        scratch_done(&s);
}

TEST(pid_namespace) {
        _cleanup_free_ char *o = NULL, *script = NULL;
        Scratch s;

        require();
        scratch_make(&s);
        /* Builtins only: no process but PID 1 (ours) and the shell (2) exists in there. Our own PID (the
         * host's) is not. */
        ASSERT_TRUE(asprintf(&script,
                             "echo $$; n=0; l=;"
                             "for d in /proc/[0-9]*; do n=$((n+1)); l=\"$l${d#/proc/} \"; done;"
                             "echo $n; echo \"$l\"; [ -e /proc/%i ] && echo host || echo none",
                             (int) getpid()) >= 0);
        ASSERT_EQ(sandbox_run(&s, script, &o), 0);
        ASSERT_STREQ(o, "2\n2\n1 2 \nnone\n");
        scratch_done(&s);
}

TEST(no_host_path) {
        _cleanup_free_ char *o = NULL, *script = NULL, *cwd = NULL;
        Scratch s;

        require();
        scratch_make(&s);
        /* Our cwd is the scratch directory: /proc/<our pid>/cwd would be a way there. */
        cwd = get_current_dir_name();
        ASSERT_OK(RET_NERRNO(chdir(s.dir)));
        ASSERT_TRUE(asprintf(&script,
                             "cat /proc/1/root%1$s /proc/self/root%1$s /proc/1/cwd%1$s 2>/dev/null &&"
                             "  echo LEAK1;"
                             "cat /proc/%2$i/cwd/secret 2>/dev/null && echo LEAK2;"
                             "(echo x >/proc/1/root%3$s/escaped1) 2>/dev/null;"
                             "(echo x >/proc/%2$i/cwd/escaped2) 2>/dev/null;"
                             "(echo x >/proc/self/root/../../../../escaped3) 2>/dev/null;"
                             "for p in /proc/[0-9]*; do cat $p/root%1$s 2>/dev/null && echo LEAK3; done;"
                             "cd /proc/1/root/../../..; pwd; ls /proc/1/root/etc 2>/dev/null;"
                             "[ -e /proc/1/root/self/status ] && echo proc; readlink /proc/1/root;"
                             /* What ischroot compares: the command is in a chroot, as in mmdebstrap. */
                             "[ \"$(stat -L -c %%d:%%i /proc/1/root)\" != \"$(stat -c %%d:%%i /)\" ] &&"
                             "  echo chroot",
                             s.secret, (int) getpid(), s.dir) >= 0);
        ASSERT_EQ(sandbox_run(&s, script, &o), 0);
        /* PID 1's root is the namespace's /proc: nothing of the tree's, nothing of the host's. */
        ASSERT_STREQ(o, "/\nproc\n/proc\nchroot\n");
        ASSERT_TRUE(access(strjoina(s.dir, "/escaped1"), F_OK) < 0);
        ASSERT_TRUE(access(strjoina(s.dir, "/escaped2"), F_OK) < 0);
        ASSERT_TRUE(access("/escaped3", F_OK) < 0);
        ASSERT_OK(RET_NERRNO(chdir(cwd)));
        scratch_done(&s);
}

TEST(read_only) {
        _cleanup_free_ char *o = NULL;
        Scratch s;

        require();
        scratch_make(&s);
        /* Not every kernel has sysrq. */
        ASSERT_EQ(sandbox_run(&s, "for m in /sys /proc/sys /proc/sysrq-trigger; do"
                                  "  [ -e $m ] || { echo ro; continue; };"
                                  "  grep \" $m \" /proc/mounts | cut -d' ' -f4 | cut -d, -f1;"
                                  "done;"
                                  "(echo 0 >/proc/sys/kernel/printk) 2>/dev/null && echo W1;"
                                  "[ -e /proc/sysrq-trigger ] &&"
                                  "  (echo h >/proc/sysrq-trigger) 2>/dev/null && echo W2;"
                                  "true", &o), 0);
        ASSERT_STREQ(o, "ro\nro\nro\n");
        scratch_done(&s);
}

TEST(network) {
        _cleanup_free_ char *o = NULL, *script = NULL;
        _cleanup_close_ int listener = -EBADF;
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        Scratch s;

        require();
        scratch_make(&s);
        /* A server on the host's loopback: unreachable from inside, where 127.0.0.1 is another. */
        listener = socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0);
        ASSERT_TRUE(listener >= 0);
        ASSERT_OK(RET_NERRNO(bind(listener, (struct sockaddr*) &a, sizeof(a))));
        ASSERT_OK(RET_NERRNO(listen(listener, 4)));
        ASSERT_OK(RET_NERRNO(getsockname(listener, (struct sockaddr*) &a, &len)));
        ASSERT_TRUE(asprintf(&script,
                             "ls /sys/class/net; echo $(( $(cat /sys/class/net/lo/flags) & 1 ));"
                             "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ';"
                             "nc -w 2 127.0.0.1 %u </dev/null 2>/dev/null && echo CONNECTED;"
                             /* Until the listener listens (a loaded machine may take its time). */
                             "nc -l -p 4242 >/tmp/got & i=0;"
                             "until echo ping | timeout 5 nc 127.0.0.1 4242 2>/dev/null; do"
                             "  i=$((i + 1)); [ $i -lt 100 ] || break; sleep 0.1;"
                             "done; wait; cat /tmp/got",
                             ntohs(a.sin_port)) >= 0);
        ASSERT_EQ(sandbox_run(&s, script, &o), 0);
        ASSERT_STREQ(o, "lo\n1\nlo\nping\n");
        ASSERT_TRUE(accept(listener, NULL, NULL) < 0 && errno == EAGAIN);
        scratch_done(&s);
}

TEST(hostname) {
        _cleanup_free_ char *o = NULL;
        char before[HOST_NAME_MAX + 1] = {}, after[HOST_NAME_MAX + 1] = {};
        Scratch s;

        require();
        scratch_make(&s);
        ASSERT_OK(RET_NERRNO(gethostname(before, sizeof(before) - 1)));
        ASSERT_EQ(sandbox_run(&s, "hostname; hostname mkm-renamed && hostname", &o), 0);
        ASSERT_STREQ(o, HOSTNAME_INSIDE "\nmkm-renamed\n");
        ASSERT_OK(RET_NERRNO(gethostname(after, sizeof(after) - 1)));
        ASSERT_STREQ(before, after);
        scratch_done(&s);
}

TEST(capabilities) {
        _cleanup_free_ char *o = NULL;
        Scratch s;

        require();
        scratch_make(&s);
        /* Out of the bounding set: CAP_DAC_READ_SEARCH (2, open_by_handle_at()), CAP_SYS_MODULE (16),
         * CAP_SYS_RAWIO (17), CAP_SYS_TIME (25); kept: CAP_CHOWN (0), CAP_DAC_OVERRIDE (1), CAP_SETFCAP
         * (31). */
        ASSERT_EQ(sandbox_run(&s, "b=0x$(grep CapBnd /proc/self/status | cut -f2);"
                                  "for c in 2 16 17 25 0 1 31; do echo $(( (b >> c) & 1 )); done;"
                                  "grep Seccomp: /proc/self/status | cut -f2", &o), 0);
        /* … and the seccomp filter that makes fsync() a no-op is in place (mode 2: a filter). */
        ASSERT_STREQ(o, "0\n0\n0\n0\n1\n1\n1\n2\n");
        scratch_done(&s);
}

TEST(hostname_per_command) {
        _cleanup_close_ int out = -EBADF;
        char buf[256] = {};
        Scratch s;
        int status;
        pid_t pid;

        require();
        scratch_make(&s);
        out = memfd_create("output", MFD_CLOEXEC);
        ASSERT_TRUE(out >= 0);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                _cleanup_close_ int tree_fd = open(s.tree, O_RDONLY|O_DIRECTORY|O_CLOEXEC);

                if (tree_fd < 0 || build_env_setup(tree_fd, HOSTNAME_INSIDE, NULL, NULL) < 0)
                        _exit(1);
                /* What one command renames, the next does not see. */
                if (build_env_run(tree_fd, STRV_MAKE("/bin/hostname", "mkm-renamed"), NULL, out) != 0 ||
                    build_env_run(tree_fd, STRV_MAKE("/bin/hostname"), NULL, out) != 0)
                        _exit(2);
                _exit(0);
        }
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ASSERT_TRUE(pread(out, buf, sizeof(buf) - 1, 0) > 0);
        ASSERT_STREQ(buf, HOSTNAME_INSIDE "\n");
        scratch_done(&s);
}

TEST(namespaces) {
        _cleanup_free_ char *o = NULL;
        static const char *const kinds[] = { "pid", "net", "uts", "ipc", "mnt" };
        Scratch s;

        require();
        scratch_make(&s);
        ASSERT_EQ(sandbox_run(&s, "for n in pid net uts ipc mnt; do readlink /proc/self/ns/$n; done", &o),
                  0);
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                char link[64] = {};

                ASSERT_TRUE(readlink(strjoina("/proc/self/ns/", kinds[i]), link, sizeof(link) - 1) > 0);
                printf("# host: %s\n", link);
                ASSERT_NOT_NULL(strstr(o, strjoina(kinds[i], ":[")));
                ASSERT_NULL(strstr(o, link));
        }
        scratch_done(&s);
}

TEST(no_fd_leaks) {
        _cleanup_free_ char *o = NULL;
        Scratch s;
        int fd;

        require();
        scratch_make(&s);
        /* An fd of ours without O_CLOEXEC, on a host file, as a careless caller might have. */
        fd = open(s.secret, O_RDONLY);
        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(dup2(fd, 42) == 42);
        ASSERT_EQ(sandbox_run(&s, "for f in /proc/self/fd/*; do [ -e $f ] && echo ${f##*/}; done;"
                                  "readlink /proc/self/fd/0; ls /proc/1/fd | wc -l;"
                                  "for f in /proc/1/fd/*; do readlink $f; done |"
                                  "  grep -c -e secret -e test-build-env", &o), 1);
        /* PID 1 (ours, inside) keeps its stdio (/dev/null), the error pipe and the output; nothing
         * that leads to the host. */
        ASSERT_STREQ(o, "0\n1\n2\n/dev/null\n5\n0\n");
        close(fd);
        close(42);
        scratch_done(&s);
}

TEST(host_process) {
        _cleanup_free_ char *o = NULL, *script = NULL;
        Scratch s;
        pid_t victim;

        require();
        scratch_make(&s);
        victim = fork();
        ASSERT_TRUE(victim >= 0);
        if (victim == 0) {
                pause();
                _exit(0);
        }
        ASSERT_TRUE(asprintf(&script,
                             "kill -9 %1$i 2>/dev/null && echo KILLED; kill -9 -1 2>/dev/null; echo alive",
                             (int) victim) >= 0);
        /* kill -1: everything the shell may signal, which is only what is inside (not PID 1). */
        ASSERT_EQ(sandbox_run(&s, script, &o), 0);
        ASSERT_STREQ(o, "alive\n");
        ASSERT_EQ(waitpid(victim, NULL, WNOHANG), 0);
        ASSERT_OK(RET_NERRNO(kill(victim, SIGKILL)));
        ASSERT_EQ(waitpid(victim, NULL, 0), victim);
        scratch_done(&s);
}

/* How many processes of the host are in the PID namespace named by link ("pid:[N]"). */
static unsigned processes_in(const char *link) {
        _cleanup_closedir_ DIR *d = opendir("/proc");
        struct dirent *de;
        unsigned n = 0;

        ASSERT_NOT_NULL(d);
        while ((de = readdir(d))) {
                char path[300], l[64] = {};

                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                (void) snprintf(path, sizeof(path), "/proc/%s/ns/pid", de->d_name);
                if (readlink(path, l, sizeof(l) - 1) > 0 && streq(l, link))
                        n++;
        }
        return n;
}

TEST(builder_killed) {
        _cleanup_close_ int out = -EBADF;
        char buf[256] = {};
        Scratch s;
        pid_t pid;

        require();
        scratch_make(&s);
        out = memfd_create("output", MFD_CLOEXEC);
        ASSERT_TRUE(out >= 0);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                _cleanup_close_ int tree_fd = open(s.tree, O_RDONLY|O_DIRECTORY|O_CLOEXEC);

                if (tree_fd < 0 || build_env_setup(tree_fd, HOSTNAME_INSIDE, NULL, NULL) < 0)
                        _exit(1);
                /* Daemons, in a new session each, that nobody waits for. */
                (void) build_env_run(tree_fd,
                                     STRV_MAKE("/bin/busybox", "sh", "-c",
                                               "setsid sleep 1000 & setsid sleep 1000 & "
                                               "readlink /proc/self/ns/pid; sleep 1000; true"),
                                     NULL, out);
                _exit(2);
        }
        for (unsigned i = 0; i < 100 && pread(out, buf, sizeof(buf) - 1, 0) <= 0; i++)
                (void) usleep(50 * 1000);
        ASSERT_TRUE(startswith(buf, "pid:["));
        *strchrnul(buf, '\n') = 0;
        /* PID 1, the shell, the two daemons and the shell's sleep, once the daemons are forked. */
        for (unsigned i = 0; i < 100 && processes_in(buf) < 5; i++)
                (void) usleep(50 * 1000);
        ASSERT_EQ(processes_in(buf), 5U);

        ASSERT_OK(RET_NERRNO(kill(pid, SIGKILL)));
        ASSERT_EQ(waitpid(pid, NULL, 0), pid);
        for (unsigned i = 0; i < 100 && processes_in(buf) > 0; i++)
                (void) usleep(50 * 1000);
        ASSERT_EQ(processes_in(buf), 0U);
        scratch_done(&s);
}

DEFINE_TEST_MAIN;
