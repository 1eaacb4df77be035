/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* True if s is usable as a single path component: non-empty, not "." or "..", no '/', no NUL, and at
 * most NAME_MAX bytes. */
bool filename_is_valid(const char *s);

/* True if p is a relative path whose every component is a valid file name (no "..", no absolute
 * path, no empty component except that a trailing '/' and "./" components are tolerated). */
bool path_is_safe_relative(const char *p);

/* True if p is an absolute, normalized path (no "." or ".." components, no "//"). */
bool path_is_normalized_absolute(const char *p);
