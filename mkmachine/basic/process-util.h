/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <signal.h>
#include <sys/types.h>

/* Waits for the child pid to terminate (again after EINTR) and reaps it; its siginfo into *ret (may be
 * NULL). 0 or -errno. */
int wait_for_child(pid_t pid, siginfo_t *ret);

/* What a terminated child's siginfo says, as a shell says it: its exit status (0…255), or 128 + the
 * signal that killed it. */
int child_exit_status(const siginfo_t *si);
