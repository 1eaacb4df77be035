/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "string-util.h"

char* format_bytes(char *buf, size_t l, uint64_t t) {
        static const char suffixes[] = "BKMGTPE";
        unsigned i = 0;
        uint64_t scaled = t, rem = 0;

        assert(buf);

        while (scaled >= 1024 && i + 1 < sizeof(suffixes) - 1) {
                rem = scaled % 1024;
                scaled /= 1024;
                i++;
        }

        if (i == 0)
                (void) snprintf(buf, l, "%" PRIu64 "B", t);
        else if (scaled < 10)
                (void) snprintf(buf, l, "%" PRIu64 ".%" PRIu64 "%c", scaled, rem * 10 / 1024, suffixes[i]);
        else
                (void) snprintf(buf, l, "%" PRIu64 "%c", scaled, suffixes[i]);
        return buf;
}
