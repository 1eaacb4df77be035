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

/* Returns a newly allocated copy of s (NULL: "") that is safe to write to a terminal and unambiguous to
 * read, or NULL if out of memory. Printable ASCII and valid UTF-8 text are kept as they are; a backslash
 * is doubled; BEL, BS, TAB, LF, VT, FF and CR become \a, \b, \t, \n, \v, \f and \r; every other control
 * byte (below 0x20, and 0x7f), every byte that is not part of valid UTF-8, and each byte of a C1 control
 * (U+0080–U+009F), line/paragraph separator or bidirectional override or isolate in UTF-8 form becomes
 * \xNN (lower-case hex). So ESC starts no sequence, the output is one line, and it can be decoded back.
 *
 * The result is at most max_len bytes long (SIZE_MAX: no limit). A longer result is cut at a character
 * (never inside an escape or a UTF-8 sequence) and ends in "…" (3 bytes, included in max_len). */
char* str_escape_terminal(const char *s, size_t max_len);

/* For the text of a JSON document as json-c writes it (control characters below 0x20 already escaped, so
 * every byte from 0x7f up is inside a string): returns a newly allocated copy in which DEL and the code
 * points str_escape_terminal() shows escaped are \u escapes (the same string to a JSON reader, but inert
 * on a terminal), and each byte that is not valid UTF-8 is \ufffd, so that the document is valid JSON.
 * NULL if out of memory. */
char* json_text_escape_terminal(const char *json);

/* Parses a byte count: decimal digits with an optional K, M, G or T suffix (either case; powers of 1024).
 * Returns 0 and the value in *ret, -EINVAL if s is not such a count, -ERANGE if it exceeds 64 bits. */
int parse_size(const char *s, uint64_t *ret);
/* A boolean as systemd reads one (case does not matter): 1 for yes, y, true, t, on, 1; 0 for no, n, false,
 * f, off, 0; otherwise -EINVAL. */
int parse_boolean(const char *v);

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
