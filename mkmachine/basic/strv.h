/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* NULL-terminated arrays of strings. A NULL strv is an empty one. */
char** strv_free(char **l);
DEFINE_POINTER_CLEANUP(char**, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)

size_t strv_length(char * const *l);
bool strv_contains(char * const *l, const char *s);
/* Appends a copy of s. Returns 0 or -ENOMEM; *l is unchanged on failure. */
int strv_extend(char ***l, const char *s);
/* Appends s itself, taking ownership on success only. */
int strv_push(char ***l, char *s);

/* Appends copies of all strings of other. */
int strv_extend_strv(char ***l, char * const *other);

/* A NULL-terminated array on the stack, for argv-style calls. */
#define STRV_MAKE(...) ((char**) ((const char*[]) { __VA_ARGS__, NULL }))

/* The strings joined with separator between them; "" for an empty list. */
char* strv_join(char * const *l, const char *separator);

#define STRV_FOREACH(s, l) for (char * const *s = (l); s && *s; s++)
