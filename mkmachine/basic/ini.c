/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ini.h"
#include "string-util.h"
#include "strv.h"
#include "utf8.h"

static void ini_line_done(IniLine *l) {
        free(l->raw);
        free(l->section);
        free(l->key);
        free(l->value);
}

IniFile* ini_free(IniFile *ini) {
        if (!ini)
                return NULL;
        for (size_t i = 0; i < ini->n_lines; i++)
                ini_line_done(ini->lines + i);
        free(ini->lines);
        return mfree(ini);
}

int ini_new(IniFile **ret) {
        IniFile *ini;

        assert(ret);

        ini = calloc(1, sizeof(IniFile));
        if (!ini)
                return -ENOMEM;
        *ret = ini;
        return 0;
}

bool ini_name_is_valid(const char *s) {
        size_t n;

        if (isempty(s))
                return false;
        n = strlen(s);
        if (n > 256 || isspace((unsigned char) s[0]) || isspace((unsigned char) s[n - 1]))
                return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c < ' ' || *c == 127 || strchr("[]=", *c))
                        return false;
        return true;
}

/* systemd's WHITESPACE: what it strips around lines, keys and values. */
#define INI_WHITESPACE " \t\n\r"

int ini_value_check(const char *key, const char *value) {
        size_t n;

        assert(value);

        n = strlen(value);
        if ((key ? strlen(key) : 0) + 1 + n >= INI_LINE_MAX)
                return -E2BIG;
        if (n > 0 && (strchr(INI_WHITESPACE, value[0]) || strchr(INI_WHITESPACE, value[n - 1])))
                return -EINVAL;
        if (n > 0 && value[n - 1] == '\\')
                return -EINVAL;
        for (const char *c = value; *c; c++)
                if (((unsigned char) *c < ' ' && *c != '\t') || *c == 0x7f)
                        return -EINVAL;
        return utf8_is_valid(value) ? 0 : -EINVAL;
}

int ini_unit_value_check(const char *value, bool word) {
        int r;

        assert(value);

        r = ini_value_check(NULL, value);
        if (r < 0)
                return r;
        if (strchr(value, '%') || (word && (isempty(value) || strpbrk(value, INI_WHITESPACE "\"'\\$;"))))
                return -EINVAL;
        return 0;
}

static char* strip(char *s) {
        char *e;

        s += strspn(s, INI_WHITESPACE);
        e = s + strlen(s);
        while (e > s && strchr(INI_WHITESPACE, e[-1]))
                *--e = 0;
        return s;
}

/* Inserts an empty line at index at, returns it. */
static IniLine* ini_insert(IniFile *ini, size_t at) {
        IniLine *n;

        assert(at <= ini->n_lines);

        if (ini->n_lines >= INI_LINES_MAX)
                return NULL;
        n = realloc(ini->lines, sizeof(IniLine) * (ini->n_lines + 1));
        if (!n)
                return NULL;
        ini->lines = n;
        memmove(ini->lines + at + 1, ini->lines + at, sizeof(IniLine) * (ini->n_lines - at));
        ini->lines[at] = (IniLine) {};
        ini->n_lines++;
        return ini->lines + at;
}

static void ini_delete(IniFile *ini, size_t at) {
        assert(at < ini->n_lines);

        ini_line_done(ini->lines + at);
        memmove(ini->lines + at, ini->lines + at + 1, sizeof(IniLine) * (ini->n_lines - at - 1));
        ini->n_lines--;
}

/* The kinds of line end systemd's read_line() knows, as bits: a run of ends of different kinds
 * ("\r\n", "\n\r") is one end, a NUL ends a run. */
enum {
        EOL_LF  = 1 << 0,
        EOL_CR  = 1 << 1,
        EOL_NUL = 1 << 2,
};

static int eol_kind(char c) {
        return c == '\n' ? EOL_LF : c == '\r' ? EOL_CR : c == 0 ? EOL_NUL : 0;
}

/* Splits off the next physical line of buf (n bytes, from *pos) the way systemd reads them: returns its
 * length and sets *ret_start, or SIZE_MAX at the end. */
static size_t next_physical_line(const char *buf, size_t n, size_t *pos, const char **ret_start) {
        size_t i = *pos, len;
        int seen = 0;

        if (i >= n)
                return SIZE_MAX;
        *ret_start = buf + i;
        while (i < n && eol_kind(buf[i]) == 0)
                i++;
        len = (size_t) (buf + i - *ret_start);
        while (i < n) {
                int k = eol_kind(buf[i]);

                if (k == 0 || (seen & EOL_NUL) || (seen & k))
                        break;
                seen |= k;
                i++;
        }
        *pos = i;
        return len;
}

/* True if the line ends in an unescaped backslash: systemd counts "\\\\" as an escaped backslash. */
static bool ends_in_continuation(const char *s) {
        bool escaped = false;

        for (; *s; s++)
                escaped = escaped ? false : *s == '\\';
        return escaped;
}

/* Whether the n bytes at s (no line end among them) are a comment line. */
static bool is_comment(const char *s, size_t n) {
        size_t i = 0;

        while (i < n && strchr(INI_WHITESPACE, s[i]))
                i++;
        return i < n && IN_SET_CHAR(s[i], '#', ';');
}

static int append(char **s, size_t *len, const char *add, size_t n) {
        char *p;

        if (*len + n + 2 > INI_LINE_MAX)
                return -EBADMSG;
        p = realloc(*s, *len + n + 2);
        if (!p)
                return -ENOMEM;
        memcpy(p + *len, add, n);
        *len += n;
        p[*len] = 0;
        *s = p;
        return 0;
}

#define UTF8_BOM "\xef\xbb\xbf"

typedef struct IniReader {
        const char *buf;
        size_t size, pos;
        unsigned line;          /* physical lines read so far */
        bool bom_seen;
} IniReader;

/* Reads one logical line as systemd's config parser does: comment lines are dropped (also in the
 * middle of a continuation), a line ending in an unescaped backslash continues with the next one (the
 * backslash becoming a space), the first line that starts with a byte order mark loses it. *ret_raw gets
 * the physical lines joined by "\n" (comments included), *ret_logical what systemd parses (NULL for a
 * comment line), *ret_open whether the file ended inside the continuation. Returns 1, or 0 at the end. */
static int read_logical_line(IniReader *rd, char **ret_raw, char **ret_logical, unsigned *ret_first,
                             bool *ret_open) {
        _cleanup_free_ char *raw = NULL, *logical = NULL;
        size_t raw_len = 0, log_len = 0;
        bool cont = false;
        int r;

        for (;;) {
                const char *start;
                size_t n;

                n = next_physical_line(rd->buf, rd->size, &rd->pos, &start);
                if (n == SIZE_MAX)
                        break;
                rd->line++;
                if (!raw)
                        *ret_first = rd->line;

                if (raw) {
                        r = append(&raw, &raw_len, "\n", 1);
                        if (r < 0)
                                return r;
                }
                r = append(&raw, &raw_len, start, n);
                if (r < 0)
                        return r;

                /* A comment line: on its own it is a line of its own, in a continuation it is skipped. */
                if (is_comment(start, n)) {
                        if (cont)
                                continue;
                        break;
                }

                if (!rd->bom_seen && n >= 3 && memcmp(start, UTF8_BOM, 3) == 0) {
                        start += 3;
                        n -= 3;
                        rd->bom_seen = true;
                }
                r = append(&logical, &log_len, start, n);
                if (r < 0)
                        return r;

                cont = ends_in_continuation(logical);
                if (!cont)
                        break;
                logical[log_len - 1] = ' ';
        }

        if (!raw)
                return 0;
        *ret_open = cont;
        *ret_raw = TAKE_PTR(raw);
        *ret_logical = TAKE_PTR(logical);
        return 1;
}

static int read_all(FILE *f, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;

        for (;;) {
                size_t k;
                char *p;

                /* A file of INI_LINES_MAX lines of INI_LINE_MAX bytes is far beyond anything we read:
                 * cap the whole at a quarter of that. */
                if (size >= (size_t) INI_LINES_MAX * INI_LINE_MAX / 4)
                        return -E2BIG;
                p = realloc(buf, size + 64 * 1024 + 1);
                if (!p)
                        return -ENOMEM;
                buf = p;
                k = fread(buf + size, 1, 64 * 1024, f);
                size += k;
                if (k < 64 * 1024) {
                        if (ferror(f))
                                return -EIO;
                        break;
                }
        }
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

static int parse_internal(FILE *f, bool lenient, IniFile **ret, unsigned *reterr_line) {
        _cleanup_(ini_freep) IniFile *ini = NULL;
        _cleanup_free_ char *section = NULL, *buf = NULL;
        IniReader rd = {};
        unsigned start = 1;
        int r;

        assert(f);
        assert(ret);

        r = ini_new(&ini);
        if (r < 0)
                return r;

        r = read_all(f, &buf, &rd.size);
        if (r < 0)
                return r;
        rd.buf = buf;

        for (;;) {
                _cleanup_free_ char *raw = NULL, *logical = NULL;
                bool open = false;
                IniLine *l;
                char *s, *eq;

                r = read_logical_line(&rd, &raw, &logical, &start, &open);
                if (r == -EBADMSG)
                        goto syntax_error;
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                l = ini_insert(ini, ini->n_lines);
                if (!l)
                        return ini->n_lines >= INI_LINES_MAX ? -E2BIG : -ENOMEM;
                l->line = start;
                l->raw = TAKE_PTR(raw);
                l->open_continuation = open;

                s = logical ? strip(logical) : NULL;
                if (!s || s[0] == 0) {
                        if (section) {
                                l->section = strdup(section);
                                if (!l->section)
                                        return -ENOMEM;
                        }
                        continue;
                }

                /* systemd refuses the whole file for a line that is not UTF-8. */
                if (!utf8_is_valid(s))
                        goto syntax_error;

                if (s[0] == '[') {
                        size_t n = strlen(s);
                        char *name;

                        if (n < 3 || s[n - 1] != ']')
                                goto syntax_error;
                        s[n - 1] = 0;
                        name = s + 1;
                        if (!ini_name_is_valid(name))
                                goto syntax_error;
                        free(section);
                        section = strdup(name);
                        l->section = strdup(name);
                        if (!section || !l->section)
                                return -ENOMEM;
                        continue;
                }

                /* As systemd's config parser: a line without "=", without a key or outside a section
                 * is skipped ("Missing '=', ignoring line."), not a reason to refuse the file. */
                eq = strchr(s, '=');
                if (eq)
                        *eq = 0;
                if (!eq || !section || !ini_name_is_valid(strip(s))) {
                        if (!lenient)
                                goto syntax_error;
                        l->ignored = true;
                        if (section) {
                                l->section = strdup(section);
                                if (!l->section)
                                        return -ENOMEM;
                        }
                        continue;
                }
                l->key = strdup(strip(s));
                l->value = strdup(strip(eq + 1));
                l->section = strdup(section);
                if (!l->key || !l->value || !l->section)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(ini);
        return 0;

syntax_error:
        /* One exit for every syntax error so that reterr_line is set the same way: the first physical
         * line of the logical line at fault. */
        if (reterr_line)
                *reterr_line = start;
        return -EBADMSG;
}

int ini_parse(FILE *f, IniFile **ret, unsigned *reterr_line) {
        return parse_internal(f, /* lenient= */ false, ret, reterr_line);
}

int ini_parse_lenient(FILE *f, IniFile **ret, unsigned *reterr_line) {
        return parse_internal(f, /* lenient= */ true, ret, reterr_line);
}

const char* ini_get(const IniFile *ini, const char *section, const char *key, unsigned *ret_line) {
        const IniLine *found = NULL;

        assert(ini);
        assert(section);
        assert(key);

        INI_FOREACH(l, ini)
                if (l->key && streq(l->section, section) && streq(l->key, key))
                        found = l;

        if (!found)
                return NULL;
        if (ret_line)
                *ret_line = found->line;
        return found->value;
}

static int ini_line_fill(IniLine *l, const char *section, const char *key, const char *value) {
        l->section = strdup(section);
        l->key = key ? strdup(key) : NULL;
        l->value = value ? strdup(value) : NULL;
        if (!l->section || (key && !l->key) || (value && !l->value))
                return -ENOMEM;
        return 0;
}

int ini_set_strv(IniFile *ini, const char *section, const char *key, char * const *values) {
        size_t at = SIZE_MAX, section_end = SIZE_MAX;
        int r;

        assert(ini);

        if (!ini_name_is_valid(section) || !ini_name_is_valid(key))
                return -EINVAL;
        STRV_FOREACH(v, values) {
                r = ini_value_check(key, *v);
                if (r < 0)
                        return r;
        }

        /* Drop the old assignments, remembering where the first one was. */
        for (size_t i = 0; i < ini->n_lines; ) {
                IniLine *l = ini->lines + i;

                if (l->key && streq(l->section, section) && streq(l->key, key)) {
                        if (at == SIZE_MAX)
                                at = i;
                        ini_delete(ini, i);
                        continue;
                }
                /* The end of the section's last assignment or header: new keys go there, before
                 * any comments that introduce the next section. */
                if (streq_ptr(l->section, section) &&
                    (l->key || !l->raw || l->raw[strspn(l->raw, " \t")] == '['))
                        section_end = i + 1;
                i++;
        }

        if (strv_length((char**) values) == 0)
                return 0;

        if (at == SIZE_MAX && section_end == SIZE_MAX) {
                IniLine *h;

                /* A new section at the end, separated by a blank line. */
                if (ini->n_lines > 0) {
                        h = ini_insert(ini, ini->n_lines);
                        if (!h)
                                return -ENOMEM;
                        h->raw = strdup("");
                        if (!h->raw)
                                return -ENOMEM;
                        if (ini->n_lines >= 2 && ini->lines[ini->n_lines - 2].section) {
                                h->section = strdup(ini->lines[ini->n_lines - 2].section);
                                if (!h->section)
                                        return -ENOMEM;
                        }
                }
                h = ini_insert(ini, ini->n_lines);
                if (!h)
                        return -ENOMEM;
                r = ini_line_fill(h, section, NULL, NULL);
                if (r < 0)
                        return r;
                h->raw = malloc(strlen(section) + 3);
                if (!h->raw)
                        return -ENOMEM;
                (void) sprintf(h->raw, "[%s]", section);
                at = ini->n_lines;
        } else if (at == SIZE_MAX)
                at = section_end;

        STRV_FOREACH(v, values) {
                IniLine *l = ini_insert(ini, at++);
                if (!l)
                        return -ENOMEM;
                r = ini_line_fill(l, section, key, *v);
                if (r < 0)
                        return r;
        }
        return 0;
}

int ini_set(IniFile *ini, const char *section, const char *key, const char *value) {
        char *v[2] = { (char*) value, NULL };
        return ini_set_strv(ini, section, key, value ? v : NULL);
}

int ini_write(const IniFile *ini, FILE *f) {
        assert(ini);
        assert(f);

        INI_FOREACH(l, ini) {
                if (l->raw) {
                        fputs(l->raw, f);
                        /* A continuation that ran into the end of the file would swallow a line we
                         * put after it: an empty line ends it. */
                        if (l->open_continuation && l + 1 < ini->lines + ini->n_lines)
                                fputc('\n', f);
                } else if (l->key)
                        fprintf(f, "%s=%s", l->key, l->value);
                fputc('\n', f);
        }
        return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}
