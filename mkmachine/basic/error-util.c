/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "error-util.h"

int error_messagev(char **reterr_message, int r, const char *format, va_list ap) {
        int saved = errno;

        assert(r < 0);

        if (reterr_message && !*reterr_message) {
                /* "%m" in the format is the error passed in, not whatever errno holds by now (the
                 * callers' -errno was evaluated before this call, but nothing guarantees errno still
                 * says the same). */
                errno = -r;
                if (vasprintf(reterr_message, format, ap) < 0)
                        *reterr_message = NULL;
        }
        errno = saved;
        return r;
}

int error_message(char **reterr_message, int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        r = error_messagev(reterr_message, r, format, ap);
        va_end(ap);
        return r;
}
