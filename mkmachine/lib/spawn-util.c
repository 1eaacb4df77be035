/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "process-util.h"
#include "spawn-util.h"

#define STDERR_MAX 4096U

/* Reads the whole memfd (at most max bytes) into a NUL-terminated string. */
static int read_memfd(int fd, size_t max, bool truncate, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        ssize_t n;

        if (fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t) st.st_size > max && !truncate)
                return -E2BIG;
        buf = malloc(MIN((size_t) st.st_size, max) + 1);
        if (!buf)
                return -ENOMEM;
        n = pread(fd, buf, MIN((size_t) st.st_size, max), 0);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = (size_t) n;
        return 0;
}

int spawn_capture(char * const *argv, usec_t timeout_usec, char **ret_output, size_t *ret_size,
                 char **reterr_stderr) {
        _cleanup_close_ int out = -EBADF, err = -EBADF, pidfd = -EBADF;
        siginfo_t si = {};
        usec_t deadline;
        pid_t pid;
        int r;

        assert(argv && argv[0]);
        assert(ret_output);

        /* Files, not pipes: nothing to pump while we wait, and the child never blocks on a full pipe. */
        out = memfd_create("spawn-stdout", MFD_CLOEXEC);
        err = memfd_create("spawn-stderr", MFD_CLOEXEC);
        if (out < 0 || err < 0)
                return -errno;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY|O_CLOEXEC);

                if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
                    dup2(err, STDERR_FILENO) < 0)
                        _exit(127);
                execvp(argv[0], argv);
                _exit(errno == ENOENT ? 126 : 127);
        }

        pidfd = pidfd_open(pid, 0);
        deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec;
        for (;;) {
                usec_t now = now_usec(CLOCK_MONOTONIC);
                struct pollfd p = { .fd = pidfd, .events = POLLIN };

                if (pidfd < 0)
                        break;  /* no pidfds (old kernel): wait without a timeout */
                if (now >= deadline) {
                        (void) kill(pid, SIGKILL);
                        (void) waitid(P_PID, (id_t) pid, &si, WEXITED);
                        return -ETIMEDOUT;
                }
                r = poll(&p, 1, (int) MIN((deadline - now + 999) / 1000, (usec_t) INT32_MAX));
                if (r < 0 && errno != EINTR) {
                        r = -errno;
                        (void) kill(pid, SIGKILL);
                        (void) waitid(P_PID, (id_t) pid, &si, WEXITED);
                        return r;
                }
                if (r > 0)
                        break;
        }
        r = wait_for_child(pid, &si);
        if (r < 0)
                return r;
        if (si.si_code == CLD_EXITED && si.si_status == 126)
                return -ENOENT;
        if (si.si_code != CLD_EXITED || si.si_status != 0) {
                log_debug("%s exited with status %d (code %d)", argv[0], si.si_status, si.si_code);
                if (reterr_stderr)
                        (void) read_memfd(err, STDERR_MAX, true, reterr_stderr, NULL);
                return -EPROTO;
        }
        return read_memfd(out, SPAWN_OUTPUT_MAX, false, ret_output, ret_size);
}
