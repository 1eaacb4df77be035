/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The length of the UTF-8 sequence at s (at most n bytes available): 1–4 for a valid, shortest-form
 * encoding of a Unicode scalar value (no surrogates, nothing above U+10FFFF), 0 for anything else. */
size_t utf8_sequence_length(const char *s, size_t n);

/* True if the n bytes at s are valid UTF-8 (a NUL byte is valid: callers that must refuse it check). */
bool utf8_is_valid_n(const char *s, size_t n);
bool utf8_is_valid(const char *s);
