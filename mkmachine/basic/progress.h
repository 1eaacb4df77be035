/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "time-util.h"

/* How long work is getting on, reported by the library to whoever watches: the caller sets func (and
 * userdata) before handing the Progress to a library call, the library calls progress_begin(),
 * progress_update() and progress_end(), and func sees them. Drawing is the front end's business
 * (mkmachine/tool/progress-bar.h). Without a func, or with a NULL Progress, every call is a cheap
 * no-op, so the library may call them unconditionally. Updates reach func at most every 100 ms, the
 * first 100 ms after the beginning (work done by then shows nothing); the end always does, if anything
 * began. The label may hold a name from an image: func must escape it. */
typedef struct Progress Progress;

typedef enum ProgressEvent {
        PROGRESS_BEGIN,
        PROGRESS_UPDATE,
        PROGRESS_END,
        _PROGRESS_EVENT_MAX,
        _PROGRESS_EVENT_INVALID = -22,
} ProgressEvent;

typedef void (*ProgressFunc)(const Progress *p, ProgressEvent event, void *userdata);

struct Progress {
        ProgressFunc func;      /* set by the caller; kept by progress_begin() */
        void *userdata;
        const char *label;
        uint64_t total;         /* 0: unknown */
        uint64_t done;
        usec_t start;
        usec_t last_report;
        bool active;
        bool elsewhere;         /* ended by progress_end_after_child(): a child may have drawn */
};

void progress_begin(Progress *p, const char *label, uint64_t total);
void progress_update(Progress *p, uint64_t done);
void progress_end(Progress *p);
/* After a child process reported on p (it may have been killed before it ended p): ends p here, so
 * that the watcher can erase what the child may have drawn. */
void progress_end_after_child(Progress *p);
