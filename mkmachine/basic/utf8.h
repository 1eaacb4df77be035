/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length of the UTF-8 sequence at s (at most n bytes available): 1–4 for a valid, shortest-form
 * encoding of a Unicode scalar value (no surrogates, nothing above U+10FFFF), with the code point in
 * *ret_cp if non-NULL; 0 for anything else (a stray continuation byte, a truncated, overlong or
 * surrogate encoding). */
size_t utf8_decode(const char *s, size_t n, uint32_t *ret_cp);

/* True if the n bytes at s are valid UTF-8 (a NUL byte is valid: callers that must refuse it check). */
bool utf8_is_valid_n(const char *s, size_t n);
bool utf8_is_valid(const char *s);
