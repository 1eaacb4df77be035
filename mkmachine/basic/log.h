/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdlib.h>
#include <syslog.h>

#include "macro.h"

/* Logging for the front ends; the library uses log_debug() at most. How errors travel between the two
 * (errno, the detail message, who logs when): the comment at the top of error-util.h. */

/* Marks an error code we made up ourselves (not from a failed call), so that the log record does not
 * claim an errno. The marker is stripped before the value is returned. */
#define SYNTHETIC_ERRNO(e) (1 << 30 | (e))
#define ERRNO_VALUE(e) (abs(e) & ~(1 << 30))

void log_set_max_level(int level);
int log_get_max_level(void);
/* Called before each message is written to stderr: the front end erases its progress line there. */
void log_set_before_write(void (*hook)(void));
/* Where messages go instead of stderr (the generator's journal and kmsg); text is escaped already. */
void log_set_writer(void (*writer)(int level, const char *text));
/* Reads MKMACHINE_LOG_LEVEL (debug, info, notice, warning, err) from the environment. */
void log_parse_environment(void);
/* Parses a level name or number; returns the level or -EINVAL. */
int log_level_from_string(const char *s);

/* Logs (if level is enabled) and returns -ERRNO_VALUE(error), so callers can write
 * "return log_error_errno(r, "Failed to frobnicate '%s': %m", path);". %m prints the error passed in.
 *
 * Every message is passed through str_escape_terminal() as a whole before it is written: this is the one
 * place where untrusted text in log messages (names and paths from images and archives, the detail
 * messages libmkmachine returns through error_message(), registry error bodies) is made safe for the
 * terminal. So callers pass such text raw, and the library never escapes what it puts into a message
 * (nothing is escaped twice). The messages we write ourselves contain no control characters or
 * backslashes, so escaping the whole line changes only the untrusted parts. */
int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full(level, ...) (void) log_full_errno((level), 0, __VA_ARGS__)

#define log_error_errno(error, ...)   log_full_errno(LOG_ERR, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_notice_errno(error, ...)  log_full_errno(LOG_NOTICE, error, __VA_ARGS__)
#define log_info_errno(error, ...)    log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_debug_errno(error, ...)   log_full_errno(LOG_DEBUG, error, __VA_ARGS__)

#define log_error(...)   log_full(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_full(LOG_DEBUG, __VA_ARGS__)

/* printf() of one line to stdout: format must end in its only newline; the formatted text before it is
 * passed through str_escape_terminal() as a whole, as log_internal() does. For output that includes
 * untrusted names and values (list, show, status, doctor). */
void printl(const char *format, ...) _printf_(1, 2);

#define log_oom() log_error_errno(SYNTHETIC_ERRNO(ENOMEM), "Out of memory.")
