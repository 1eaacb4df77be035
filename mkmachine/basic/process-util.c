/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <sys/wait.h>

#include "process-util.h"

int wait_for_child(pid_t pid, siginfo_t *ret) {
        siginfo_t si = {};

        while (waitid(P_PID, (id_t) pid, &si, WEXITED) < 0)
                if (errno != EINTR)
                        return -errno;
        if (ret)
                *ret = si;
        return 0;
}

int child_exit_status(const siginfo_t *si) {
        return si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
}
