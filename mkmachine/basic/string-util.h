/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <alloca.h>
#include <string.h>

#include "macro.h"

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

static inline bool isempty(const char *s) {
        return !s || !s[0];
}

/* Returns the rest of s after prefix, or NULL if s does not start with it. */
static inline const char* startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);
        return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

/* Returns a pointer to the suffix in s, or NULL if s does not end with it. */
static inline const char* endswith(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && memcmp(s + a - b, suffix, b) == 0 ? s + a - b : NULL;
}

static inline const char* strna(const char *s) {
        return s ?: "n/a";
}

/* Formats a byte count with a binary unit ("1.5G"); buf must hold at least FORMAT_BYTES_MAX. */
#define FORMAT_BYTES_MAX 16U
char* format_bytes(char *buf, size_t l, uint64_t t);

/* Concatenates strings on the stack; for short, bounded strings only. */
#define strjoina(a, ...)                                                        \
        ({                                                                      \
                const char *_parts_[] = { a, __VA_ARGS__ };                     \
                size_t _len_ = 1;                                               \
                char *_buf_, *_p_;                                              \
                for (size_t _i_ = 0; _i_ < ELEMENTSOF(_parts_); _i_++)          \
                        _len_ += strlen(_parts_[_i_]);                          \
                _buf_ = _p_ = alloca(_len_);                                    \
                for (size_t _i_ = 0; _i_ < ELEMENTSOF(_parts_); _i_++)          \
                        _p_ = stpcpy(_p_, _parts_[_i_]);                        \
                _buf_;                                                          \
        })
