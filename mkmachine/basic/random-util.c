/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "random-util.h"

uint64_t random_u64(void) {
        uint64_t v;
        ssize_t k;

        do
                k = getrandom(&v, sizeof(v), GRND_NONBLOCK);
        while (k < 0 && errno == EINTR);

        if (k != (ssize_t) sizeof(v)) {
                /* Early boot without entropy: names only need to be unlikely to collide. */
                struct timespec ts;
                (void) clock_gettime(CLOCK_MONOTONIC, &ts);
                v = ((uint64_t) ts.tv_nsec << 32) ^ (uint64_t) ts.tv_sec ^ ((uint64_t) getpid() << 16);
        }
        return v;
}
