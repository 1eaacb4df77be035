/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>

#include "macro.h"

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
