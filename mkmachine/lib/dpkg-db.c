/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dpkg-db.h"
#include "error-util.h"
#include "fd-util.h"
#include "macro.h"
#include "string-util.h"
#include "strv.h"

/* A NUL-terminated copy of size bytes of text: the input need not be a string. */
static char* copy_text(const char *text, size_t size) {
        char *p = malloc(size + 1);

        if (!p)
                return NULL;
        if (size > 0)
                memcpy(p, text, size);
        p[size] = 0;
        return p;
}

char* dpkg_info_name(const char *package, const char *architecture, bool multi_arch_same) {
        char *s;

        if (multi_arch_same && !streq(architecture, "all"))
                return asprintf(&s, "%s:%s", package, architecture) < 0 ? NULL : s;
        return strdup(package);
}

void dpkg_control_done(DpkgControl *c) {
        if (!c)
                return;
        free(c->package);
        free(c->version);
        free(c->architecture);
        free(c->info_name);
        free(c->fields);
        *c = (DpkgControl) {};
}

/* Field names as deb822 allows them: printable ASCII but ':', not starting with '#' or '-'. */
static size_t field_name_length(const char *line, size_t n) {
        size_t l = 0;

        if (n == 0 || line[0] == '#' || line[0] == '-')
                return 0;
        while (l < n && line[l] > ' ' && line[l] < 0x7f && line[l] != ':')
                l++;
        return l < n && line[l] == ':' ? l : 0;
}

static bool package_name_ok(const char *s) {
        if (strlen(s) < 2 || !strchr("abcdefghijklmnopqrstuvwxyz0123456789", s[0]))
                return false;
        return s[strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+-.")] == 0;
}

static bool word_ok(const char *s, const char *allowed) {
        return !isempty(s) && s[strspn(s, allowed)] == 0;
}

/* A single-line value, without the blanks around it. */
static char* value_dup(const char *v, size_t n) {
        while (n > 0 && (*v == ' ' || *v == '\t'))
                v++, n--;
        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                n--;
        return strndup(v, n);
}

int dpkg_control_parse(const char *input, size_t size, DpkgControl *ret, char **reterr_message) {
        _cleanup_(dpkg_control_done) DpkgControl c = {};
        _cleanup_free_ char *fields = NULL, *text = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        char *seen[64];
        size_t fields_size = 0, n_seen = 0;
        bool skipping = false, ended = false, multiline = false;
        unsigned line_no = 0;
        int r = 0;

        assert(input || size == 0);
        assert(ret);

        text = copy_text(input, size);
        if (!text)
                return -ENOMEM;
        if (strlen(text) != size)
                return error_message(reterr_message, -EBADMSG, "control: contains a NUL byte");

        f = open_memstream(&fields, &fields_size);
        if (!f)
                return -ENOMEM;

        for (size_t pos = 0; pos < size;) {
                const char *line = text + pos, *nl = memchr(line, '\n', size - pos);
                size_t n = nl ? (size_t) (nl - line) : size - pos, l;

                pos += n + 1;
                line_no++;

                if (n == 0) {
                        ended = true;   /* only more blank lines may follow */
                        continue;
                }
                if (ended) {
                        r = error_message(reterr_message, -EBADMSG, "control:%u: more than one paragraph",
                                          line_no);
                        break;
                }
                if (line[0] == ' ' || line[0] == '\t') {
                        if (line_no == 1 || !multiline) {
                                r = error_message(reterr_message, -EBADMSG,
                                                  "control:%u: continuation line without a field", line_no);
                                break;
                        }
                        if (!skipping)
                                fprintf(f, "%.*s\n", (int) n, line);
                        continue;
                }

                l = field_name_length(line, n);
                if (l == 0) {
                        r = error_message(reterr_message, -EBADMSG, "control:%u: not a field: '%.*s'",
                                          line_no,
                                          (int) MIN(n, (size_t) 64), line);
                        break;
                }
                for (size_t i = 0; i < n_seen; i++)
                        if (strlen(seen[i]) == l && strncasecmp(seen[i], line, l) == 0) {
                                r = error_message(reterr_message, -EBADMSG,
                                                  "control:%u: field %.*s given twice",
                                                  line_no, (int) l, line);
                                break;
                        }
                if (r < 0)
                        break;
                if (n_seen >= ELEMENTSOF(seen)) {
                        r = error_message(reterr_message, -EBADMSG, "control:%u: too many fields", line_no);
                        break;
                }
                seen[n_seen] = strndup(line, l);
                if (!seen[n_seen]) {
                        r = -ENOMEM;
                        break;
                }
                n_seen++;
                multiline = true;

#define FIELD_IS(name) (l == strlen(name) && strncasecmp(line, name, l) == 0)
                skipping = FIELD_IS("Package") || FIELD_IS("Status") || FIELD_IS("Conffiles") ||
                           FIELD_IS("Config-Version");
                if (!skipping)
                        fprintf(f, "%.*s\n", (int) n, line);

                if (FIELD_IS("Package"))
                        c.package = value_dup(line + l + 1, n - l - 1);
                else if (FIELD_IS("Version"))
                        c.version = value_dup(line + l + 1, n - l - 1);
                else if (FIELD_IS("Architecture"))
                        c.architecture = value_dup(line + l + 1, n - l - 1);
                else if (FIELD_IS("Multi-Arch")) {
                        _cleanup_free_ char *v = value_dup(line + l + 1, n - l - 1);

                        if (!v) {
                                r = -ENOMEM;
                                break;
                        }
                        c.multi_arch_same = strcasecmp(v, "same") == 0;
                }
#undef FIELD_IS
        }
        for (size_t i = 0; i < n_seen; i++)
                free(seen[i]);
        if (r < 0)
                return r;
        if (fflush(f) != 0 || ferror(f) || fclose(TAKE_PTR(f)) != 0)
                return -ENOMEM;

        if (!c.package || !package_name_ok(c.package))
                return error_message(reterr_message, -EBADMSG, "control: missing or invalid Package field");
        if (!c.version || !word_ok(c.version, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789.+~-:"))
                return error_message(reterr_message, -EBADMSG, "control: missing or invalid Version field");
        if (!c.architecture || !word_ok(c.architecture, "abcdefghijklmnopqrstuvwxyz0123456789-"))
                return error_message(reterr_message, -EBADMSG,
                                     "control: missing or invalid Architecture field");
        if (c.multi_arch_same && streq(c.architecture, "all"))
                c.multi_arch_same = false;      /* dpkg ignores it there */

        c.info_name = dpkg_info_name(c.package, c.architecture, c.multi_arch_same);
        if (!c.info_name)
                return -ENOMEM;
        c.fields = TAKE_PTR(fields);
        *ret = c;
        c = (DpkgControl) {};
        return 0;
}

int dpkg_conffiles_parse(const char *input, size_t size, char ***ret_paths) {
        _cleanup_strv_free_ char **paths = NULL;
        _cleanup_free_ char *text = NULL;
        int r;

        assert(input || size == 0);
        assert(ret_paths);

        text = copy_text(input, size);
        if (!text)
                return -ENOMEM;
        if (strlen(text) != size)
                return -EBADMSG;

        for (size_t pos = 0; pos < size;) {
                const char *line = text + pos, *nl = memchr(line, '\n', size - pos);
                size_t n = nl ? (size_t) (nl - line) : size - pos;
                char *p;

                pos += n + 1;
                while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
                        n--;
                if (n == 0)
                        continue;
                if (line[0] != '/')
                        /* "remove-on-upgrade /etc/x" and other flags: dpkg's business. */
                        return memchr(line, '/', n) && memchr(line, ' ', n) ? -EOPNOTSUPP : -EBADMSG;
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char) line[i] <= ' ' || line[i] == 0x7f)
                                return -EBADMSG;        /* can't go into the status file */
                p = strndup(line, n);
                if (!p)
                        return -ENOMEM;
                r = strv_push(&paths, p);
                if (r < 0) {
                        free(p);
                        return r;
                }
        }
        *ret_paths = TAKE_PTR(paths);
        return 0;
}

int dpkg_status_paragraph(const DpkgControl *c, char * const *conffiles, char * const *hashes, char **ret) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;

        assert(c);
        assert(ret);

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, "Package: %s\nStatus: install ok unpacked\n%s", c->package, c->fields);
        if (conffiles && conffiles[0]) {
                fputs("Conffiles:\n", f);
                for (size_t i = 0; conffiles[i]; i++)
                        fprintf(f, " %s %s\n", conffiles[i], hashes[i]);
        }
        if (fflush(f) != 0 || ferror(f) || fclose(TAKE_PTR(f)) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

static bool trigger_name_ok(const char *name) {
        /* Printable ASCII without blanks, as dpkg wants; a name that is no path becomes a file name. */
        for (const char *p = name; *p; p++)
                if (*p <= ' ' || *p >= 0x7f)
                        return false;
        if (isempty(name))
                return false;
        if (name[0] == '/')
                return true;
        return !strchr(name, '/') && name[0] != '.' && !streq(name, "File") && !streq(name, "Lock") &&
               !streq(name, "Unincorp");
}

int dpkg_triggers_parse(const char *input, size_t size, DpkgTriggerFunc func, void *userdata,
                        char **reterr_message) {
        static const struct {
                const char *directive;
                DpkgTriggerKind kind;
        } table[] = {
                { "interest",           DPKG_TRIGGER_INTEREST },
                { "interest-await",     DPKG_TRIGGER_INTEREST },
                { "interest-noawait",   DPKG_TRIGGER_INTEREST_NOAWAIT },
                { "activate",           DPKG_TRIGGER_ACTIVATE },
                { "activate-await",     DPKG_TRIGGER_ACTIVATE },
                { "activate-noawait",   DPKG_TRIGGER_ACTIVATE_NOAWAIT },
        };
        _cleanup_free_ char *text = NULL;
        unsigned line_no = 0;
        int r;

        assert(input || size == 0);
        assert(func);

        text = copy_text(input, size);
        if (!text)
                return -ENOMEM;
        if (strlen(text) != size)
                return error_message(reterr_message, -EBADMSG, "triggers: contains a NUL byte");

        for (size_t pos = 0; pos < size;) {
                const char *line = text + pos, *nl = memchr(line, '\n', size - pos);
                size_t n = nl ? (size_t) (nl - line) : size - pos, dl, i;
                _cleanup_free_ char *copy = NULL;
                char *name, *end;

                pos += n + 1;
                line_no++;
                copy = strndup(line, n);
                if (!copy)
                        return -ENOMEM;

                name = copy + strspn(copy, " \t");
                if (*name == 0 || *name == '#')
                        continue;
                dl = strcspn(name, " \t");
                for (i = 0; i < ELEMENTSOF(table); i++)
                        if (strlen(table[i].directive) == dl && strncmp(name, table[i].directive, dl) == 0)
                                break;
                if (i >= ELEMENTSOF(table))
                        return error_message(reterr_message, -EBADMSG,
                                             "triggers:%u: unknown directive '%.*s'",
                                             line_no, (int) MIN(dl, (size_t) 64), name);
                name += dl;
                name += strspn(name, " \t");
                end = name + strcspn(name, " \t\r");
                if (end[strspn(end, " \t\r")] != 0)
                        return error_message(reterr_message, -EBADMSG,
                                             "triggers:%u: more than one trigger name",
                                             line_no);
                *end = 0;
                if (!trigger_name_ok(name))
                        return error_message(reterr_message, -EBADMSG,
                                             "triggers:%u: invalid trigger name '%.64s'",
                                             line_no, name);
                r = func(table[i].kind, name, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

bool dpkg_info_member_ok(const char *name) {
        return !isempty(name) && !streq(name, "control") && !streq(name, "list") && strlen(name) <= 50 &&
               name[strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")] == 0;
}
