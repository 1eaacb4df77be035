/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ini.h"
#include "string-util.h"
#include "strv.h"

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

static char* strip(char *s) {
        char *e;

        while (isspace((unsigned char) *s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
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

/* Reads one logical line (joining backslash continuations) into *buf; returns its number of physical
 * lines, 0 at EOF, or -errno. The raw text keeps the continuations, the logical text replaces each
 * "\\\n" by a space, as systemd does. */
static int read_logical_line(FILE *f, char **ret_raw, char **ret_logical) {
        _cleanup_free_ char *raw = NULL, *logical = NULL;
        size_t raw_len = 0, log_len = 0;
        int n = 0;

        for (;;) {
                _cleanup_free_ char *buf = NULL;
                size_t sz = 0;
                ssize_t k;
                bool cont;
                char *p;

                errno = 0;
                k = getline(&buf, &sz, f);
                if (k < 0) {
                        if (errno != 0)
                                return -errno;
                        break;
                }
                n++;
                if (k > 0 && buf[k - 1] == '\n')
                        buf[--k] = 0;
                if (memchr(buf, 0, (size_t) k))
                        return -EBADMSG;
                if (raw_len + (size_t) k + 2 > INI_LINE_MAX)
                        return -EBADMSG;

                p = realloc(raw, raw_len + (size_t) k + 2);
                if (!p)
                        return -ENOMEM;
                raw = p;
                if (raw_len > 0)
                        raw[raw_len++] = '\n';
                memcpy(raw + raw_len, buf, (size_t) k + 1);
                raw_len += (size_t) k;

                cont = k > 0 && buf[k - 1] == '\\';
                if (cont)
                        buf[k - 1] = ' ';
                p = realloc(logical, log_len + (size_t) k + 1);
                if (!p)
                        return -ENOMEM;
                logical = p;
                memcpy(logical + log_len, buf, (size_t) k + 1);
                log_len += (size_t) k;

                /* Comment lines never continue. */
                if (!cont || IN_SET_CHAR(logical[strspn(logical, " \t")], '#', ';'))
                        break;
        }

        if (n > 0) {
                *ret_raw = TAKE_PTR(raw);
                *ret_logical = TAKE_PTR(logical);
        }
        return n;
}

int ini_parse(FILE *f, IniFile **ret, unsigned *reterr_line) {
        _cleanup_(ini_freep) IniFile *ini = NULL;
        _cleanup_free_ char *section = NULL;
        unsigned line = 0, start;
        int r;

        assert(f);
        assert(ret);

        r = ini_new(&ini);
        if (r < 0)
                return r;

        for (;;) {
                _cleanup_free_ char *raw = NULL, *logical = NULL;
                IniLine *l;
                char *s, *eq;

                start = line + 1;
                r = read_logical_line(f, &raw, &logical);
                if (r == -EBADMSG) {
                        line = start;
                        goto syntax_error;
                }
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                line += (unsigned) r;

                l = ini_insert(ini, ini->n_lines);
                if (!l)
                        return ini->n_lines >= INI_LINES_MAX ? -E2BIG : -ENOMEM;
                l->line = start;
                l->raw = TAKE_PTR(raw);

                s = strip(logical);
                if (IN_SET_CHAR(s[0], 0, '#', ';')) {
                        if (section) {
                                l->section = strdup(section);
                                if (!l->section)
                                        return -ENOMEM;
                        }
                        continue;
                }

                if (s[0] == '[') {
                        size_t n = strlen(s);
                        char *name;

                        if (n < 3 || s[n - 1] != ']')
                                goto syntax_error_at_start;
                        s[n - 1] = 0;
                        name = s + 1;
                        if (!ini_name_is_valid(name))
                                goto syntax_error_at_start;
                        free(section);
                        section = strdup(name);
                        l->section = strdup(name);
                        if (!section || !l->section)
                                return -ENOMEM;
                        continue;
                }

                eq = strchr(s, '=');
                if (!eq || !section)
                        goto syntax_error_at_start;
                *eq = 0;
                l->key = strdup(strip(s));
                l->value = strdup(strip(eq + 1));
                l->section = strdup(section);
                if (!l->key || !l->value || !l->section)
                        return -ENOMEM;
                if (!ini_name_is_valid(l->key))
                        goto syntax_error_at_start;
        }

        *ret = TAKE_PTR(ini);
        return 0;

syntax_error_at_start:
        line = start;
syntax_error:
        /* One exit for every syntax error so that reterr_line is set the same way. */
        if (reterr_line)
                *reterr_line = line;
        return -EBADMSG;
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
        STRV_FOREACH(v, values)
                if (strchr(*v, '\n'))
                        return -EINVAL;

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
                        size_t n = strlen(l->raw);

                        fputs(l->raw, f);
                        /* A continuation that ran into the end of the file would swallow a line we
                         * put after it: end it with an empty continuation line. */
                        if (n > 0 && l->raw[n - 1] == '\\' && l + 1 < ini->lines + ini->n_lines &&
                            !IN_SET_CHAR(l->raw[strspn(l->raw, " \t")], '#', ';'))
                                fputc('\n', f);
                } else if (l->key)
                        fprintf(f, "%s=%s", l->key, l->value);
                fputc('\n', f);
        }
        return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}
