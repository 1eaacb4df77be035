/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "progress.h"

/* The front end's one-line progress display on stderr (label, bytes, rate, ETA), fed by the library's
 * Progress reports. It draws only when stderr is a terminal and progress_bar_set_enabled(false) was not
 * called; the label is shown escaped (str_escape_terminal()), as it may hold a name from an image. */
void progress_bar_draw(const Progress *p, ProgressEvent event, void *userdata);

/* A Progress that reports to the bar. */
#define PROGRESS_BAR { .func = progress_bar_draw }

void progress_bar_set_enabled(bool b);
/* Erases the line if one is drawn, so that a message starts on a clean line (the log hook). */
void progress_bar_clear(void);
