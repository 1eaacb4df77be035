/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "string-util.h"
#include "utf8.h"

char* format_bytes(char *buf, size_t l, uint64_t t) {
        static const char suffixes[] = "BKMGTPE";
        unsigned i = 0;
        uint64_t scaled = t, rem = 0;

        assert(buf);

        while (scaled >= 1024 && i + 1 < sizeof(suffixes) - 1) {
                rem = scaled % 1024;
                scaled /= 1024;
                i++;
        }

        if (i == 0)
                (void) snprintf(buf, l, "%" PRIu64 "B", t);
        else if (scaled < 10)
                (void) snprintf(buf, l, "%" PRIu64 ".%" PRIu64 "%c", scaled, rem * 10 / 1024, suffixes[i]);
        else
                (void) snprintf(buf, l, "%" PRIu64 "%c", scaled, suffixes[i]);
        return buf;
}

/* Code points that are valid UTF-8 but act on the terminal or the reading order instead of being text:
 * the C1 controls (U+0080–U+009F, which some terminals take as CSI and the like in UTF-8 form too), the
 * line and paragraph separators and the bidirectional overrides and isolates. */
static bool codepoint_is_control(uint32_t cp) {
        return (cp >= 0x80 && cp <= 0x9f) ||
                cp == 0x200e || cp == 0x200f ||
                (cp >= 0x2028 && cp <= 0x202e) ||
                (cp >= 0x2066 && cp <= 0x2069);
}

/* Writes the escaped form of the character at s[*i] to out (if not NULL), advances *i past it and
 * returns the number of bytes it takes in the output. */
static size_t escape_one(const unsigned char *s, size_t n, size_t *i, char *out) {
        static const char hex[] = "0123456789abcdef";
        static const char short_escapes[] = {
                ['\a'] = 'a', ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\v'] = 'v', ['\f'] = 'f',
                ['\r'] = 'r', ['\\'] = '\\',
        };
        unsigned char c = s[*i];
        uint32_t cp;
        size_t l;

        if (c < sizeof(short_escapes) && short_escapes[c]) {
                if (out) {
                        out[0] = '\\';
                        out[1] = short_escapes[c];
                }
                (*i)++;
                return 2;
        }
        if (c >= 0x20 && c < 0x7f) {
                if (out)
                        out[0] = (char) c;
                (*i)++;
                return 1;
        }
        l = c >= 0x80 ? utf8_decode((const char*) s + *i, n - *i, &cp) : 0;
        if (l > 0 && !codepoint_is_control(cp)) {
                if (out)
                        memcpy(out, s + *i, l);
                *i += l;
                return l;
        }
        /* A control byte, a byte that is not valid UTF-8, or each byte of a control code point. */
        l = MAX(l, (size_t) 1);
        if (out)
                for (size_t k = 0; k < l; k++) {
                        out[4 * k] = '\\';
                        out[4 * k + 1] = 'x';
                        out[4 * k + 2] = hex[s[*i + k] >> 4];
                        out[4 * k + 3] = hex[s[*i + k] & 15];
                }
        *i += l;
        return 4 * l;
}

char* str_escape_terminal(const char *s, size_t max_len) {
        static const char ellipsis[] = "\xe2\x80\xa6"; /* … */
        const unsigned char *u = (const unsigned char*) (s ?: "");
        size_t n = strlen((const char*) u), total = 0, budget, o = 0;
        char *out;

        for (size_t i = 0; i < n;)
                total += escape_one(u, n, &i, NULL);

        budget = total;
        if (total > max_len)
                /* Room for the ellipsis, if there is any. */
                budget = max_len >= strlen(ellipsis) ? max_len - strlen(ellipsis) : max_len;

        out = malloc(MIN(total, max_len) + 1);
        if (!out)
                return NULL;

        for (size_t i = 0; i < n;) {
                size_t j = i, l = escape_one(u, n, &j, NULL);

                if (o + l > budget)
                        break;
                o += escape_one(u, n, &i, out + o);
        }
        if (total > max_len && max_len >= strlen(ellipsis))
                o = stpcpy(out + o, ellipsis) - out;
        out[o] = 0;
        return out;
}

char* json_text_escape_terminal(const char *json) {
        const unsigned char *u = (const unsigned char*) json;
        size_t n = strlen(json);
        char *out, *o;

        /* Each input byte grows to at most 6 output bytes ("\u007f"; "\ufffd"; a 2-byte C1 → 6). */
        if (n > (SIZE_MAX - 1) / 6)
                return NULL;
        out = o = malloc(n * 6 + 1);
        if (!out)
                return NULL;

        for (size_t i = 0; i < n;) {
                uint32_t cp;
                size_t l;

                if (u[i] < 0x7f) {
                        *o++ = (char) u[i++];
                        continue;
                }
                l = u[i] >= 0x80 ? utf8_decode((const char*) u + i, n - i, &cp) : 0;
                if (l > 0 && !codepoint_is_control(cp)) {
                        o = mempcpy(o, u + i, l);
                        i += l;
                        continue;
                }
                /* DEL or a control code point as a \u escape (the same text to a JSON reader), a byte that
                 * is not UTF-8 (which JSON text cannot hold) as U+FFFD. */
                o += sprintf(o, "\\u%04" PRIx32, l > 0 ? cp : u[i] == 0x7f ? 0x7f : 0xfffd);
                i += MAX(l, (size_t) 1);
        }
        *o = 0;
        return out;
}

int parse_boolean(const char *v) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" },
                *const no[] = { "0", "no", "n", "false", "f", "off" };

        if (!v)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(v, yes[i]) == 0)
                        return 1;
                if (strcasecmp(v, no[i]) == 0)
                        return 0;
        }
        return -EINVAL;
}

int parse_size(const char *s, uint64_t *ret) {
        static const char suffixes[] = "KMGT";
        unsigned long long v;
        const char *p;
        char *end;

        assert(s);

        if (!(s[0] >= '0' && s[0] <= '9'))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0)
                return -errno;

        if (*end) {
                p = strchr(suffixes, end[0] & ~0x20);
                if (!p || end[1] != 0)
                        return -EINVAL;
                for (unsigned k = 0; k <= (unsigned) (p - suffixes); k++) {
                        if (v > UINT64_MAX / 1024)
                                return -ERANGE;
                        v *= 1024;
                }
        }
        *ret = v;
        return 0;
}
