/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fd-util.h"
#include "fuzz-util.h"
#include "nspawn-settings.h"
#include "string-util.h"
#include "strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The encoder cannot be steered: arbitrary values for the command, the environment, the working
 * directory and the user are written into a .nspawn file, which is then read back by an oracle that
 * follows systemd's own rules (conf-parser.c's line handling, config_parse_strv()'s words), not by our
 * ini.c. Either the writer refuses, or the oracle finds exactly the keys written, with exactly the
 * values given: never another key, another section, or a changed word. */

typedef struct Assignment {
        char *section, *key, *value;
} Assignment;

static bool ws(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static char* stripped(const char *s, size_t n) {
        while (n > 0 && ws(*s))
                s++, n--;
        while (n > 0 && ws(s[n - 1]))
                n--;
        return strndup(s, n);
}

/* conf-parser.c: lines end at \n, \r or NUL; comment lines are skipped (in a continuation too); an odd
 * number of trailing backslashes continues the line, the last one becoming a space. */
static size_t oracle_parse(const char *buf, size_t size, Assignment *out, size_t max) {
        char *section = NULL, *cont = NULL;
        size_t n = 0, i = 0;

        while (i <= size && n < max) {
                size_t start = i, len;
                char *line, *p, *eq;
                bool odd = false;

                if (i == size && !cont)
                        break;
                while (i < size && buf[i] != '\n' && buf[i] != '\r' && buf[i] != 0)
                        i++;
                len = i - start;
                if (i < size) {
                        char first = buf[i++];
                        if (first != 0 && i < size && buf[i] != first && (buf[i] == '\n' || buf[i] == '\r'))
                                i++;
                } else
                        i++;

                line = strndup(buf + start, len);
                assert(line);
                p = line + strspn(line, " \t\n\r");
                if (*p == '#' || *p == ';') {
                        free(line);
                        continue;
                }
                if (cont) {
                        char *j = malloc(strlen(cont) + strlen(line) + 1);
                        assert(j);
                        strcpy(stpcpy(j, cont), line);
                        free(cont);
                        free(line);
                        line = j;
                        cont = NULL;
                }
                for (p = line; *p; p++)
                        odd = odd ? false : *p == '\\';
                if (odd && i <= size) {
                        line[strlen(line) - 1] = ' ';
                        cont = line;
                        continue;
                }

                p = stripped(line, strlen(line));
                free(line);
                assert(p);
                if (*p == '[') {
                        size_t k = strlen(p);
                        assert(p[k - 1] == ']');
                        free(section);
                        section = strndup(p + 1, k - 2);
                } else if (*p) {
                        eq = strchr(p, '=');
                        assert(eq);
                        assert(section);
                        out[n].section = strdup(section);
                        out[n].key = stripped(p, (size_t) (eq - p));
                        out[n].value = stripped(eq + 1, strlen(eq + 1));
                        n++;
                }
                free(p);
        }
        free(cont);
        free(section);
        return n;
}

/* extract_first_word(EXTRACT_UNQUOTE|EXTRACT_RETAIN_ESCAPE): the words of one value, appended to *l. */
static void oracle_words(const char *v, char ***l) {
        for (;;) {
                char *w = malloc(strlen(v) + 1), q = 0;
                size_t n = 0;

                assert(w);
                while (ws(*v))
                        v++;
                if (!*v) {
                        free(w);
                        return;
                }
                for (; *v && (q || !ws(*v)); v++) {
                        if (q && *v == q)
                                q = 0;
                        else if (!q && (*v == '"' || *v == '\''))
                                q = *v;
                        else
                                w[n++] = *v;
                }
                assert(q == 0);
                w[n] = 0;
                assert(strv_push(l, w) == 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(ini_freep) IniFile *ini = NULL;
        _cleanup_free_ char *input = NULL, *out = NULL;
        _cleanup_strv_free_ char **params = NULL, **env = NULL;
        NspawnSettings s;
        Assignment got[64];
        size_t n_got, out_size = 0, n_params;
        const char *p, *end;
        unsigned i = 0;
        FILE *f;

        if (size < 1 || size > 16 * 1024)
                return 0;
        input = fuzz_string(data, size);
        if (!input)
                return 0;

        /* The first byte says how many values are the command; the values are separated by NUL. */
        n_params = data[0] % 8;
        nspawn_settings_init(&s);
        s.boot = 0;
        for (p = input + 1, end = input + size; p <= end; p += strlen(p) + 1, i++) {
                if (i == 0)
                        s.working_directory = strdup(p);
                else if (i == 1)
                        s.user = strdup(p);
                else if (i < 2 + n_params)
                        assert(strv_extend(&s.parameters, p) == 0);
                else
                        assert(strv_extend(&s.environment, p) == 0);
                if (p == end)
                        break;
        }
        if (isempty(s.working_directory))
                s.working_directory = mfree(s.working_directory);
        if (isempty(s.user))
                s.user = mfree(s.user);
        if (!s.parameters)
                assert(strv_extend(&s.parameters, "/bin/true") == 0);

        assert(ini_new(&ini) == 0);
        /* One line each: keep within what the oracle collects. */
        if (strv_length(s.environment) + 8 > ELEMENTSOF(got) || nspawn_settings_apply(&s, ini) < 0) {
                nspawn_settings_done(&s);
                return 0;
        }

        f = open_memstream(&out, &out_size);
        assert(f);
        assert(ini_write(ini, f) == 0);
        fclose(f);

        n_got = oracle_parse(out, out_size, got, ELEMENTSOF(got));
        for (size_t k = 0; k < n_got; k++) {
                assert(streq(got[k].section, "Exec"));
                if (streq(got[k].key, "Boot"))
                        assert(streq(got[k].value, "no"));
                else if (streq(got[k].key, "Parameters"))
                        oracle_words(got[k].value, &params);
                else if (streq(got[k].key, "Environment"))
                        oracle_words(got[k].value, &env);
                else if (streq(got[k].key, "WorkingDirectory"))
                        assert(streq_ptr(got[k].value, s.working_directory));
                else if (streq(got[k].key, "User"))
                        assert(streq_ptr(got[k].value, s.user));
                else
                        assert(!"a key nobody wrote");
                free(got[k].section);
                free(got[k].key);
                free(got[k].value);
        }
        assert(strv_length(params) == strv_length(s.parameters));
        for (size_t k = 0; params && params[k]; k++)
                assert(streq(params[k], s.parameters[k]));
        assert(strv_length(env) == strv_length(s.environment));
        for (size_t k = 0; env && env[k]; k++)
                assert(streq(env[k], s.environment[k]));

        nspawn_settings_done(&s);
        return 0;
}
