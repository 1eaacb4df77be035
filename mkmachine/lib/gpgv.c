/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "gpgv.h"
#include "log.h"
#include "process-util.h"
#include "string-util.h"

#define STATUS_MAX (64U * 1024U)

/* Moves fd to exactly the number want in the child (clearing O_CLOEXEC). */
static int move_fd(int fd, int want) {
        if (fd == want)
                return fcntl(fd, F_SETFD, 0) < 0 ? -errno : 0;
        return dup2(fd, want) < 0 ? -errno : 0;
}

static const char* status_find(const char *status, const char *keyword) {
        const char *p = status;

        for (;;) {
                p = strstr(p, "[GNUPG:] ");
                if (!p)
                        return NULL;
                p += strlen("[GNUPG:] ");
                if (startswith(p, keyword) && IN_SET_CHAR(p[strlen(keyword)], ' ', '\n', '\0'))
                        return p;
        }
}

/* "what (the status line)", for the error message. */
static char* explain(const char *what, const char *line) {
        char *s;

        if (asprintf(&s, "%s (%.*s)", what, (int) strcspn(line, "\n"), line) < 0)
                return NULL;
        return s;
}

int gpgv_verify(const char *keyring, int data_fd, int sig_fd, int output_fd, char **reterr_message) {
        _cleanup_close_ int status_fd = -EBADF, data = -EBADF, sig = -EBADF, out = -EBADF;
        _cleanup_free_ char *status = NULL;
        const char *p;
        siginfo_t si = {};
        struct stat st;
        ssize_t n;
        pid_t pid;
        int r;

        assert(keyring);
        assert(data_fd >= 0);

        if (stat(keyring, &st) < 0 || !S_ISREG(st.st_mode))
                return -ENOKEY;

        /* Everything the child needs at fixed numbers: status on 3, signed data on 4, signature on 5. */
        status_fd = memfd_create("gpgv-status", MFD_CLOEXEC);
        if (status_fd < 0)
                return -errno;
        data = fcntl(data_fd, F_DUPFD_CLOEXEC, 10);
        sig = sig_fd >= 0 ? fcntl(sig_fd, F_DUPFD_CLOEXEC, 10) : -EBADF;
        out = output_fd >= 0 ? fcntl(output_fd, F_DUPFD_CLOEXEC, 10) : -EBADF;
        if (data < 0 || (sig_fd >= 0 && sig < 0) || (output_fd >= 0 && out < 0))
                return -errno;
        if (lseek(data, 0, SEEK_SET) < 0 || (sig >= 0 && lseek(sig, 0, SEEK_SET) < 0))
                return -errno;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR|O_CLOEXEC);

                if (null < 0 ||
                    move_fd(status_fd, 3) < 0 || move_fd(data, 4) < 0 ||
                    (sig >= 0 && move_fd(sig, 5) < 0) ||
                    move_fd(out >= 0 ? out : null, STDOUT_FILENO) < 0 ||
                    move_fd(null, STDIN_FILENO) < 0 ||
                    /* Our messages say what went wrong; the status output (debug log) has the rest. */
                    move_fd(null, STDERR_FILENO) < 0)
                        _exit(127);

                /* SHA-1 signatures are refused, as apt does. */
                if (sig >= 0)
                        execlp("gpgv", "gpgv", "--quiet", "--status-fd", "3", "--weak-digest", "SHA1",
                               "--keyring", keyring, "/dev/fd/5", "/dev/fd/4", (char*) NULL);
                else
                        execlp("gpgv", "gpgv", "--quiet", "--status-fd", "3", "--weak-digest", "SHA1",
                               "--keyring", keyring, "--output", "-", "/dev/fd/4", (char*) NULL);
                _exit(errno == ENOENT ? 126 : 127);
        }

        r = wait_for_child(pid, &si);
        if (r < 0)
                return r;
        if (si.si_code == CLD_EXITED && si.si_status == 126)
                return -ENOENT;

        status = malloc(STATUS_MAX + 1);
        if (!status)
                return -ENOMEM;
        n = pread(status_fd, status, STATUS_MAX, 0);
        if (n < 0)
                return -errno;
        status[n] = 0;
        log_debug("gpgv status:\n%s", status);

        /* gpgv's exit status and a VALIDSIG, and none of the bad ones. */
        if ((p = status_find(status, "BADSIG"))) {
                if (reterr_message)
                        *reterr_message = explain("bad signature", p);
                return -EBADMSG;
        }
        if ((p = status_find(status, "NO_PUBKEY")) || (p = status_find(status, "ERRSIG"))) {
                if (reterr_message)
                        *reterr_message = explain("signed by a key not in the keyring", p);
                return -EBADMSG;
        }
        if ((p = status_find(status, "EXPKEYSIG")) || (p = status_find(status, "REVKEYSIG"))) {
                if (reterr_message)
                        *reterr_message = explain("signed by an expired or revoked key", p);
                return -EBADMSG;
        }
        if (si.si_code != CLD_EXITED || si.si_status != 0 || !status_find(status, "VALIDSIG") ||
            !status_find(status, "GOODSIG")) {
                if (reterr_message)
                        *reterr_message = strdup(status_find(status, "NODATA") ?
                                                 "not signed (no OpenPGP signature found)" :
                                                 "signature not verified by gpgv");
                return -EBADMSG;
        }
        return 0;
}
