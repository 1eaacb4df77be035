/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>

#include "macro.h"

/* systemd-style INI files ("[Section]", "Key=Value", '#' and ';' comments, a trailing backslash
 * continues a line), kept line by line so that a file can be changed and written back without losing
 * what a person added by hand: comments, blank lines, unknown keys and their order all survive. */

#define INI_LINE_MAX  (64U * 1024U)
#define INI_LINES_MAX (64U * 1024U)

typedef struct IniLine {
        char *raw;              /* the line as read (continuations joined by "\\\n"), NULL for ours */
        char *section;          /* the section this line belongs to (NULL before the first) */
        char *key;              /* NULL for comments, blank lines and section headers */
        char *value;
        unsigned line;          /* 1-based line number in the source, 0 for lines we added */
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
 * a bad section name, an over-long line, an assignment before any section) returns -EBADMSG and the
 * 1-based line in *reterr_line. -E2BIG if the file has more than INI_LINES_MAX lines. */
int ini_parse(FILE *f, IniFile **ret, unsigned *reterr_line);

/* The last value assigned to key in section, or NULL. *ret_line (if non-NULL) is its line. */
const char* ini_get(const IniFile *ini, const char *section, const char *key, unsigned *ret_line);

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
