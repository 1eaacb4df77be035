/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "time-util.h"

/* Most output of a helper program we read (podman's JSON, systemd-nspawn --version). */
#define SPAWN_OUTPUT_MAX (16U * 1024U * 1024U)

/* Runs argv[0] (looked up in $PATH) with argv, standard input from /dev/null, and collects its
 * standard output (at most SPAWN_OUTPUT_MAX bytes, NUL-terminated); its standard error goes to
 * *reterr_stderr (if non-NULL; only on failure, at most 4 KiB). Gives up after timeout_usec and kills
 * the child: never hangs on a stuck program. Does not log above debug level.
 * Errors: -ENOENT (argv[0] not found), -ETIMEDOUT, -EPROTO (non-zero exit status or killed by a
 * signal), -E2BIG (too much output), or the errno of a failed memfd/fork/wait. */
int spawn_capture(char * const *argv, usec_t timeout_usec, char **ret_output, size_t *ret_size,
                  char **reterr_stderr);
