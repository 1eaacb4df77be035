/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>

#include "macro.h"

/* How an error travels in mkmachine
 * ==================================
 *
 * The value. A function that can fail returns an int: 0 (or a positive value its header documents) on
 * success, a negative errno on failure, never -1. That errno says what kind of failure it was and is
 * what callers branch on (-ENOENT: there is none, -EBUSY: someone holds the lock, …); each header lists
 * the ones that mean something particular. The error codes of other libraries become errnos in one
 * place each, at the boundary (bus_error_to_errno() for sd-bus, for example).
 *
 * The detail. Where the kind alone makes a poor message (which entry of an archive, which digest did
 * not match, what the server or dpkg said), a function takes a last parameter char **reterr_message
 * and fails through error_message() below, which writes a sentence for the user into it. It is
 * written only on failure, only if the caller asked (non-NULL), and only if no message is there yet:
 * the first, innermost and most specific one wins, and the layers above it just return r. The caller
 * owns the string and frees it. The sd-bus clients use sd_bus_error *reterr (bus_error_message()) in the
 * same role; other reterr_ parameters (reterr_line, reterr_step, reterr_fill) carry where it failed.
 * Such a message is a detail of the error, not a log record: the library formats it, it never prints
 * it.
 *
 * Who logs. The library (mkmachine/basic/ and mkmachine/lib/) never logs above debug level. It may
 * say log_debug() about what helps to debug it (a step it retries, an error it deliberately ignores,
 * the text of a foreign library's error it translates), but whatever a user must see is returned, as r
 * and the detail message. tests/check-style.sh fails on log_error/warning/notice/info() in the library.
 *
 * When, and how often. The front ends (mkmachine/tool/, machined-helpers/) log each failure once, where
 * it is decided that it ends the command or is ignored, in the statement that returns it:
 *
 *         _cleanup_free_ char *msg = NULL;
 *         …
 *         r = tar_pack(tree_fd, fd, compression, NULL, &arg_interrupted, &progress, &stats, &msg);
 *         if (r < 0)
 *                 return log_error_errno(r, "Failed to export '%s': %s", name, msg ?: strerror(-r));
 *
 * with %m in place of the detail when there is none. log_*_errno() (log.h) sets errno to the error it
 * is passed before it formats, so %m is that error and not whatever errno holds by then, and returns
 * it, negative; SYNTHETIC_ERRNO(E) marks one we made up ourselves. A failure that does not stop the
 * command is a warning ending in ", ignoring: %m". Callers further up do not log the same error again;
 * main() turns r < 0 into EXIT_FAILURE (and an interrupted store_install() into death by its signal,
 * store_interrupted_signal()).
 *
 * Escaping. Messages carry untrusted names and text raw: log_internal() escapes the whole line for the
 * terminal, once, as it writes it (see log.h). */

/* Fails with r (which must be < 0) and a message for the user: formats it into *reterr_message unless
 * reterr_message is NULL or *reterr_message already holds one, so that the first, innermost (most
 * specific) message wins. "%m" in format stands for r. Returns r, for
 * "return error_message(reterr_message, -EIO, …);".
 *
 * Untrusted text (names from archives and images, server responses) goes into the message raw: front
 * ends print messages only through log_*() or print_line(), which escape control characters for the
 * terminal (see log_internal()); escaping here too would show it twice. */
_printf_(3, 4)
int error_message(char **reterr_message, int r, const char *format, ...);
/* The same with a va_list, for the modules' own fail() helpers that keep their message in a struct. */
_printf_(3, 0)
int error_messagev(char **reterr_message, int r, const char *format, va_list ap);
