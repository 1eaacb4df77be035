/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "macro.h"

/* Debian control data (Debian Policy 5.1): the paragraphs of Release and Packages files and of dpkg's
 * status file. A Packages index is tens of megabytes, so the parser works on a buffer in place and
 * copies nothing: names and values are NUL-terminated where they lie and the fields of a paragraph are
 * handed to a callback, in an array that is reused for the next paragraph.
 *
 * The syntax accepted:
 *   - Paragraphs are separated by one or more blank lines; a line of only spaces and tabs is blank.
 *   - A field is "Name: value". The name starts the line and is printable US-ASCII without ':'; it
 *     must not start with '-' (so an unexpected "-----BEGIN PGP SIGNED MESSAGE-----" is an error).
 *     Names compare case-insensitively and a name may appear only once per paragraph.
 *   - The value is the rest of the line with leading and trailing white space removed. Each
 *     continuation line (one starting with a space or a tab) adds "\n" and the line without its
 *     first character and without trailing white space. If the first line of the value is empty
 *     ("SHA256:" in a Release file), the value starts with the first continuation line, without a
 *     "\n" in front and without any of its leading white space, so that a value never starts or ends
 *     with white space. A continuation line " ." stays "." (Policy's empty line in a description):
 *     it is up to the caller to interpret it.
 *   - Lines starting with '#' are comments and are skipped anywhere (they neither end a paragraph
 *     nor a field).
 *   - Lines may end in "\r\n"; the last line need not end in a newline.
 *
 * A PGP clear-signed wrapper is not handled here; strip it first. */

/* More fields than this in one paragraph is refused (-E2BIG); real ones have about 30. It also bounds
 * the quadratic duplicate check. */
#define DEB822_FIELDS_MAX 1024U

typedef struct Deb822Field {
        const char *name;
        const char *value;
} Deb822Field;

typedef struct Deb822Paragraph {
        Deb822Field *fields;    /* in the order of the input */
        size_t n_fields;
        unsigned line;          /* 1-based line of the paragraph's first field */
} Deb822Paragraph;

/* Called for each paragraph. p and its fields are valid only during the call; the strings stay valid
 * as long as the buffer. A negative return stops parsing. */
typedef int (*Deb822ParagraphFunc)(const Deb822Paragraph *p, void *userdata);

/* Parses the control data in buf, which holds size bytes and must be NUL-terminated (buf[size] == 0);
 * the buffer is modified in place and the strings handed to cb point into it. Calls cb for every
 * paragraph (with at least one field), in order.
 *
 * Returns 0 after the last paragraph, or the first negative value cb returned. On a syntax error
 * (a line without ':', an empty or invalid field name, a continuation line before the first field of
 * a paragraph, a duplicate field, a NUL byte inside the data) returns -EBADMSG, on a paragraph with
 * more than DEB822_FIELDS_MAX fields -E2BIG, and then the 1-based line in *reterr_line if that is
 * non-NULL. -ENOMEM if the field array cannot grow. Paragraphs before the error have been passed to cb
 * already. */
int deb822_parse_buffer(char *buf, size_t size, Deb822ParagraphFunc cb, void *userdata,
                        unsigned *reterr_line);

/* The value of field name in p (case-insensitive), or NULL if the paragraph has none. */
const char* deb822_paragraph_get(const Deb822Paragraph *p, const char *name) _pure_;

/* Called for each line of a checksum list; the strings point into the parsed value. */
typedef int (*Deb822ChecksumFunc)(const char *hash, uint64_t size, const char *path, void *userdata);

/* Parses the value of a Release file's checksum field ("MD5Sum", "SHA256", …) as deb822_parse_buffer()
 * returns it: lines of "HASH SIZE PATH" separated by white space; empty lines are skipped. The hash
 * must have exactly hash_len hexadecimal digits (64 for SHA256; either case), the size is decimal and
 * must fit into 64 bits, the path is one non-empty word. value is modified in place (the three words
 * are NUL-terminated) and cb is called for each line in order.
 *
 * Returns 0, the first negative value cb returned, or -EBADMSG on a malformed line (lines before it
 * have been passed to cb). */
int deb822_parse_checksums(char *value, size_t hash_len, Deb822ChecksumFunc cb, void *userdata);
