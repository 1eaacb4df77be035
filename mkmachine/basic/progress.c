/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "progress.h"
#include "string-util.h"

static int progress_enabled = -1; /* -1: decide by isatty() on first use */
static bool progress_drawn = false;

void progress_set_enabled(bool b) {
        progress_enabled = b;
}

static bool progress_is_enabled(void) {
        if (progress_enabled < 0)
                progress_enabled = isatty(STDERR_FILENO) > 0;
        return progress_enabled > 0;
}

void progress_clear_line(void) {
        if (!progress_drawn)
                return;
        (void) fputs("\r\033[K", stderr);
        progress_drawn = false;
}

void progress_assume_drawn(void) {
        if (progress_is_enabled())
                progress_drawn = true;
}

static void progress_draw(Progress *p, usec_t n) {
        char done[FORMAT_BYTES_MAX], total[FORMAT_BYTES_MAX], rate[FORMAT_BYTES_MAX];
        _cleanup_free_ char *label = str_escape_terminal(p->label, 64);
        double secs = (double) (n - p->start) / USEC_PER_SEC;
        uint64_t bps = secs > 0.05 ? (uint64_t) ((double) p->done / secs) : 0;

        if (!label)
                return;
        format_bytes(done, sizeof(done), p->done);
        format_bytes(rate, sizeof(rate), bps);

        if (p->total > 0 && p->done <= p->total) {
                unsigned pct = (unsigned) (p->done * 100 / p->total);
                unsigned width = 24, fill = pct * width / 100;
                char bar[32];

                for (unsigned i = 0; i < width; i++)
                        bar[i] = i < fill ? '#' : '-';
                bar[width] = 0;
                format_bytes(total, sizeof(total), p->total);

                if (bps > 0) {
                        uint64_t eta = (p->total - p->done) / bps;
                        (void) fprintf(stderr,
                                       "\r\033[K%s [%s] %3u%% %s/%s %s/s ETA %" PRIu64
                                       ":%02" PRIu64,
                                       label, bar, pct, done, total, rate, eta / 60, eta % 60);
                } else
                        (void) fprintf(stderr, "\r\033[K%s [%s] %3u%% %s/%s",
                                       label, bar, pct, done, total);
        } else
                (void) fprintf(stderr, "\r\033[K%s %s %s/s", label, done, rate);

        (void) fflush(stderr);
        progress_drawn = true;
        p->last_draw = n;
}

void progress_begin(Progress *p, const char *label, uint64_t total) {
        usec_t n = now_usec(CLOCK_MONOTONIC);

        /* The first line is drawn 100 ms in, like every later one: work that is over by then shows no
         * flash of a line, and a drawn line always has a rate to show. */
        *p = (Progress) {
                .label = label,
                .total = total,
                .start = n,
                .last_draw = n,
                .active = progress_is_enabled(),
        };
}

void progress_update(Progress *p, uint64_t done) {
        usec_t n;

        if (!p || !p->active)
                return;
        p->done = done;
        n = now_usec(CLOCK_MONOTONIC);
        if (n - p->last_draw < 100 * USEC_PER_MSEC)
                return;
        progress_draw(p, n);
}

void progress_end(Progress *p) {
        if (!p || !p->active)
                return;
        progress_clear_line();
        p->active = false;
}
