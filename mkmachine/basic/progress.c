/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stddef.h>

#include "progress.h"

void progress_begin(Progress *p, const char *label, uint64_t total) {
        usec_t n;

        if (!p)
                return;
        n = now_usec(CLOCK_MONOTONIC);
        *p = (Progress) {
                .func = p->func,
                .userdata = p->userdata,
                .label = label,
                .total = total,
                .start = n,
                .last_report = n,
                .active = p->func != NULL,
        };
        if (p->active)
                p->func(p, PROGRESS_BEGIN, p->userdata);
}

void progress_update(Progress *p, uint64_t done) {
        usec_t n;

        if (!p || !p->active)
                return;
        p->done = done;
        n = now_usec(CLOCK_MONOTONIC);
        if (n - p->last_report < 100 * USEC_PER_MSEC)
                return;
        p->last_report = n;
        p->func(p, PROGRESS_UPDATE, p->userdata);
}

void progress_end(Progress *p) {
        if (!p || !p->active)
                return;
        p->active = false;
        p->func(p, PROGRESS_END, p->userdata);
}

void progress_end_after_child(Progress *p) {
        if (!p || !p->func)
                return;
        p->active = p->elsewhere = true;
        progress_end(p);
}
