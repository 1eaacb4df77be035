/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "progress.h"

static int log_max_level = LOG_INFO;

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

int log_level_from_string(const char *s) {
        static const char *const names[] = {
                [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit", [LOG_ERR] = "err",
                [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info",
                [LOG_DEBUG] = "debug",
        };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcasecmp(s, names[i]) == 0)
                        return (int) i;
        if (strcasecmp(s, "error") == 0)
                return LOG_ERR;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == 0)
                return s[0] - '0';
        return -EINVAL;
}

void log_parse_environment(void) {
        int l = log_level_from_string(secure_getenv("MKMACHINE_LOG_LEVEL"));
        if (l >= 0)
                log_max_level = l;
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) {
        int saved = errno;
        va_list ap;

        if (level <= log_max_level) {
                char buf[4096];

                /* %m prints the error we were handed, not whatever errno happens to hold. */
                errno = ERRNO_VALUE(error);
                va_start(ap, format);
                (void) vsnprintf(buf, sizeof(buf), format, ap);
                va_end(ap);

                progress_clear_line();
                if (level >= LOG_DEBUG)
                        (void) fprintf(stderr, "%s:%i: %s\n", file, line, buf);
                else
                        (void) fprintf(stderr, "%s\n", buf);
        }

        errno = saved;
        return error == 0 ? 0 : -ERRNO_VALUE(error);
}
