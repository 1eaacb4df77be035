/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>

#include "macro.h"

/* systemd-style INI files ("[Section]", "Key=Value", '#' and ';' comments, a trailing backslash
 * continues a line), kept line by line so that a file can be changed and written back without losing
 * what a person added by hand: comments, blank lines, unknown keys and their order all survive.
 *
 * Lines are read exactly as systemd's config parser reads them (src/shared/conf-parser.c): a line ends
 * at "\n", "\r", "\r\n" or a NUL byte; comment lines are dropped even inside a continuation; a line
 * continues only if it ends in an unescaped backslash (two do not continue); keys and values are
 * stripped of " \t\n\r"; a line that is not UTF-8 is an error. What ini_get() returns is what systemd
 * sees, and every value written passes ini_value_check(), so nothing written can change the file's
 * structure. */

#define INI_LINE_MAX  (64U * 1024U)
#define INI_LINES_MAX (64U * 1024U)

typedef struct IniLine {
        char *raw;              /* the physical lines as read, joined by "\n"; NULL for ours */
        char *section;          /* the section this line belongs to (NULL before the first) */
        char *key;              /* NULL for comments, blank lines and section headers */
        char *value;
        unsigned line;          /* 1-based line number in the source, 0 for lines we added */
        bool open_continuation; /* the file ended inside this line's continuation */
        bool ignored;           /* ini_parse_lenient(): a line systemd logs and skips (no "=", no key,
                                 * before the first section), kept as it is (key NULL) */
} IniLine;

typedef struct IniFile {
        IniLine *lines;
        size_t n_lines;
} IniFile;

IniFile* ini_free(IniFile *ini);
DEFINE_POINTER_CLEANUP(IniFile*, ini_free);

/* Returns an empty file. */
int ini_new(IniFile **ret);

/* Parses f. On a syntax error (a line that is neither a comment, a section header nor an assignment,
 * a bad section name, an over-long line, an assignment before any section, a line that is not UTF-8)
 * returns -EBADMSG and the 1-based line in *reterr_line. -E2BIG if the file has more than INI_LINES_MAX
 * lines. */
int ini_parse(FILE *f, IniFile **ret, unsigned *reterr_line);
/* ini_parse() for files systemd reads (.nspawn), as its config parser reads them: a line it skips with
 * a warning (no "=", an empty or invalid key, an assignment before any section) is kept as it is, with
 * ignored set; only what systemd refuses the file for (a bad section header or name, an over-long line,
 * a line that is not UTF-8) gives -EBADMSG. */
int ini_parse_lenient(FILE *f, IniFile **ret, unsigned *reterr_line);

/* The last value assigned to key in section, or NULL. *ret_line (if non-NULL) is its line. */
const char* ini_get(const IniFile *ini, const char *section, const char *key, unsigned *ret_line);

/* The one check every value passes before it is written (ini_set_strv() calls it): 0 if "key=value"
 * reads back as exactly that key with exactly that value; -EINVAL if value holds a byte systemd treats
 * as line structure or that no setting may hold (a control byte other than tab, DEL, invalid UTF-8),
 * begins or ends with white space (stripped on reading), or ends with a backslash (a continuation);
 * -E2BIG if the line would be longer than INI_LINE_MAX, which ini_parse() refuses. Quoting of the words
 * inside a value is the caller's (see nspawn_words_quote()). */
int ini_value_check(const char *key, const char *value);

/* For the unit files and drop-ins we write (systemd.unit(5) expands '%' specifiers in most settings,
 * ExecStart= also splits words, expands '$' and takes ';' as a command separator): 0 if value passes
 * ini_value_check() and holds no '%'; with word, also none of white space, quotes, '\\', '$' or ';', so
 * that it is one ExecStart= argument meaning itself. -EINVAL otherwise. */
int ini_unit_value_check(const char *value, bool word);

/* Replaces every assignment of key in section by the given values (one line each), at the place of
 * the first one; appended to the section (created at the end if missing) when there was none. An empty
 * or NULL values removes the key. Comments and other keys stay where they are. */
int ini_set_strv(IniFile *ini, const char *section, const char *key, char * const *values);
int ini_set(IniFile *ini, const char *section, const char *key, const char *value);

/* Writes the file: lines read keep their raw text, new lines are "Key=Value". */
int ini_write(const IniFile *ini, FILE *f);

/* True if s is a valid section or key name: non-empty, printable, no '[', ']', '=' or white space
 * at either end. */
bool ini_name_is_valid(const char *s);

/* (An empty file has lines == NULL: no pointer arithmetic on it.) */
#define INI_FOREACH(l, ini) for (IniLine *l = (ini)->lines; l && l < (ini)->lines + (ini)->n_lines; l++)
