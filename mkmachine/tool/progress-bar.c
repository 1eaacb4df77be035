/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "macro.h"
#include "progress-bar.h"
#include "string-util.h"

static int enabled = -1; /* -1: decide by isatty() on first use */
static bool drawn = false;

void progress_bar_set_enabled(bool b) {
        enabled = b;
}

static bool is_enabled(void) {
        if (enabled < 0)
                enabled = isatty(STDERR_FILENO) > 0;
        return enabled > 0;
}

void progress_bar_clear(void) {
        if (!drawn)
                return;
        (void) fputs("\r\033[K", stderr);
        drawn = false;
}

static void draw(const Progress *p) {
        char done[FORMAT_BYTES_MAX], total[FORMAT_BYTES_MAX], rate[FORMAT_BYTES_MAX];
        _cleanup_free_ char *label = str_escape_terminal(p->label, 64);
        double secs = (double) (now_usec(CLOCK_MONOTONIC) - p->start) / USEC_PER_SEC;
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
        drawn = true;
}

void progress_bar_draw(const Progress *p, ProgressEvent event, void *userdata) {
        if (!is_enabled())
                return;
        switch (event) {
        case PROGRESS_BEGIN:
                /* The first line comes with the first update, 100 ms in: work that is over by then shows
                 * no flash of a line, and a drawn line always has a rate to show. */
                break;
        case PROGRESS_UPDATE:
                draw(p);
                break;
        case PROGRESS_END:
                if (p->elsewhere)
                        drawn = true;   /* a child process may have left its line */
                progress_bar_clear();
                break;
        default:
                break;
        }
}
