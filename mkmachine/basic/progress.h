/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "time-util.h"

/* A one-line progress display on stderr: label, bytes done, rate and ETA. It draws only when stderr is a
 * terminal and progress_set_enabled(false) was not called; otherwise every call is a cheap no-op, so the
 * library may call it unconditionally. Updates are rate-limited. The label is shown escaped
 * (str_escape_terminal()), so it may hold a name from an image. */
typedef struct Progress {
        const char *label;
        uint64_t total;         /* 0: unknown */
        uint64_t done;
        usec_t start;
        usec_t last_draw;
        bool active;
} Progress;

void progress_set_enabled(bool b);
void progress_begin(Progress *p, const char *label, uint64_t total);
void progress_update(Progress *p, uint64_t done);
void progress_end(Progress *p);
/* Erases a progress line currently drawn, so that a log message starts on a clean line. */
void progress_clear_line(void);
/* After a child process drew progress (and may have been killed before it erased its line): the next
 * progress_clear_line() erases the line, if progress is shown at all. */
void progress_assume_drawn(void);
