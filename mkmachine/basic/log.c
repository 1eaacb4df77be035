/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "string-util.h"

static int log_max_level = LOG_INFO;
static void (*log_before_write)(void) = NULL;

void log_set_before_write(void (*hook)(void)) {
        log_before_write = hook;
}

static void (*log_writer)(int level, const char *text) = NULL;

void log_set_writer(void (*writer)(int level, const char *text)) {
        log_writer = writer;
}

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

/* str_escape_terminal(), or if that fails for want of memory, every byte that could be part of a control
 * sequence replaced by '?' in place. */
static char* escape_or_mangle(char *buf, char **ret_allocated) {
        *ret_allocated = str_escape_terminal(buf, SIZE_MAX);
        if (*ret_allocated)
                return *ret_allocated;
        for (char *p = buf; *p; p++)
                if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f)
                        *p = '?';
        return buf;
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) {
        int saved = errno;
        va_list ap;

        if (level <= log_max_level) {
                char buf[4096];
                _cleanup_free_ char *escaped = NULL;
                const char *text;

                /* %m prints the error we were handed, not whatever errno happens to hold. */
                errno = ERRNO_VALUE(error);
                va_start(ap, format);
                (void) vsnprintf(buf, sizeof(buf), format, ap);
                va_end(ap);
                text = escape_or_mangle(buf, &escaped);

                if (log_before_write)
                        log_before_write();
                if (log_writer)
                        log_writer(level, text);
                else if (level >= LOG_DEBUG)
                        (void) fprintf(stderr, "%s:%i: %s\n", file, line, text);
                else
                        (void) fprintf(stderr, "%s\n", text);
        }

        errno = saved;
        return error == 0 ? 0 : -ERRNO_VALUE(error);
}

void printl(const char *format, ...) {
        _cleanup_free_ char *buf = NULL, *escaped = NULL;
        va_list ap;
        int r;

        assert(endswith(format, "\n"));

        va_start(ap, format);
        r = vasprintf(&buf, format, ap);
        va_end(ap);
        if (r <= 0) {
                (void) puts("(out of memory)");
                return;
        }
        buf[r - 1] = 0;         /* the format's newline: written after the escaped text */
        (void) puts(escape_or_mangle(buf, &escaped));
}
