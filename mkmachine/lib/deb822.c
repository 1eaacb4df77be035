/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>
#include <strings.h>

#include "deb822.h"

/* Printable US-ASCII without ':' (the name ends at the first one); Policy also rules out a leading '-'
 * and '#', and '#' lines never get here. */
static bool field_name_is_valid(const char *s, size_t n) {
        if (n == 0 || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] <= ' ' || (unsigned char) s[i] >= 127)
                        return false;
        return true;
}

static int emit(Deb822Field *fields, size_t n_fields, unsigned line, Deb822ParagraphFunc cb,
                void *userdata) {
        Deb822Paragraph p = {
                .fields = fields,
                .n_fields = n_fields,
                .line = line,
        };

        if (n_fields == 0)
                return 0;
        return cb(&p, userdata);
}

int deb822_parse_buffer(char *buf, size_t size, Deb822ParagraphFunc cb, void *userdata,
                        unsigned *reterr_line) {
        _cleanup_free_ Deb822Field *fields = NULL;
        size_t n_allocated = 0, n_fields = 0;
        char *p = buf, *end = buf + size;
        /* The value of the last field is written (compacted) from value_start to value_end; it gets its
         * NUL only when the field ends, since continuation lines may still be appended. value_end is
         * NULL while no field is open. Writing never overtakes reading: each appended line loses at
         * least its first character and gives one back as "\n". */
        char *value_start = NULL, *value_end = NULL;
        unsigned line = 0, paragraph_line = 0;
        int r;

        assert(buf);
        assert(buf[size] == 0);
        assert(cb);

        while (p < end) {
                char *eol, *next, *e, *colon, *v;

                line++;
                eol = memchr(p, '\n', (size_t) (end - p));
                next = eol ? eol + 1 : end;
                if (!eol)
                        eol = end;
                if (memchr(p, 0, (size_t) (eol - p)))
                        goto syntax_error;

                e = eol;
                while (e > p && IN_SET_CHAR(e[-1], ' ', '\t', '\r'))
                        e--;

                if (e == p) {
                        /* A blank line ends the paragraph. */
                        if (value_end)
                                *value_end = 0;
                        value_start = value_end = NULL;
                        r = emit(fields, n_fields, paragraph_line, cb, userdata);
                        if (r < 0)
                                return r;
                        n_fields = 0;
                        p = next;
                        continue;
                }

                if (*p == '#') {
                        p = next;
                        continue;
                }

                if (IN_SET_CHAR(*p, ' ', '\t')) {
                        /* A continuation line; e > p + 1 here, since the line is not blank. */
                        size_t n = (size_t) (e - p - 1);

                        if (!value_end)
                                goto syntax_error;
                        if (value_end != value_start)
                                *value_end++ = '\n';
                        else
                                /* The first line of the value is empty: strip this one like it. */
                                for (; IN_SET_CHAR(p[1], ' ', '\t'); p++)
                                        n--;
                        memmove(value_end, p + 1, n);
                        value_end += n;
                        p = next;
                        continue;
                }

                colon = memchr(p, ':', (size_t) (e - p));
                if (!colon || !field_name_is_valid(p, (size_t) (colon - p)))
                        goto syntax_error;

                if (value_end)
                        *value_end = 0;
                *colon = 0;

                for (size_t i = 0; i < n_fields; i++)
                        if (strcasecmp(fields[i].name, p) == 0)
                                goto syntax_error;
                if (n_fields >= DEB822_FIELDS_MAX) {
                        if (reterr_line)
                                *reterr_line = line;
                        return -E2BIG;
                }
                if (GREEDY_REALLOC(fields, n_allocated, n_fields + 1) < 0)
                        return -ENOMEM;

                v = colon + 1;
                while (v < e && IN_SET_CHAR(*v, ' ', '\t'))
                        v++;
                value_start = v;
                value_end = e;

                if (n_fields == 0)
                        paragraph_line = line;
                fields[n_fields++] = (Deb822Field) {
                        .name = p,
                        .value = value_start,
                };
                p = next;
        }

        if (value_end)
                *value_end = 0;
        return emit(fields, n_fields, paragraph_line, cb, userdata);

syntax_error:
        /* The one exit for syntax errors, so that each reports its line the same way. */
        if (reterr_line)
                *reterr_line = line;
        return -EBADMSG;
}

const char* deb822_paragraph_get(const Deb822Paragraph *p, const char *name) {
        assert(p);
        assert(name);

        for (size_t i = 0; i < p->n_fields; i++)
                if (strcasecmp(p->fields[i].name, name) == 0)
                        return p->fields[i].value;
        return NULL;
}

static bool is_hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                      (s[i] >= 'A' && s[i] <= 'F')))
                        return false;
        return true;
}

static int parse_uint64(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (!*s)
                return -EBADMSG;
        for (; *s; s++) {
                unsigned d;

                if (*s < '0' || *s > '9')
                        return -EBADMSG;
                d = (unsigned) (*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -EBADMSG;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

int deb822_parse_checksums(char *value, size_t hash_len, Deb822ChecksumFunc cb, void *userdata) {
        static const char ws[] = " \t\r";
        char *p = value;
        int r;

        assert(value);
        assert(hash_len > 0);
        assert(cb);

        while (*p) {
                char *eol = strchrnul(p, '\n'), *next = *eol ? eol + 1 : eol, *words[3];
                size_t n_words = 0;
                uint64_t size;

                *eol = 0;
                for (char *w = p + strspn(p, ws); *w; w += strspn(w, ws)) {
                        size_t n = strcspn(w, ws);

                        if (n_words >= ELEMENTSOF(words))
                                return -EBADMSG;
                        words[n_words++] = w;
                        w += n;
                        if (*w)
                                *w++ = 0;
                }
                p = next;

                if (n_words == 0)
                        continue;
                if (n_words != ELEMENTSOF(words) || strlen(words[0]) != hash_len ||
                    !is_hex(words[0], hash_len))
                        return -EBADMSG;
                r = parse_uint64(words[1], &size);
                if (r < 0)
                        return r;
                r = cb(words[0], size, words[2], userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}
