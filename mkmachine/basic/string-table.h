/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <string.h>

#include "macro.h"

/* Generates name_to_string() and name_from_string() for an enum with a _NAME_MAX end marker and a
 * _NAME_INVALID = -EINVAL member. Unknown strings map to -EINVAL. */
#define DEFINE_STRING_TABLE_LOOKUP(name, type)                                  \
        const char* name##_to_string(type i) {                                  \
                if ((size_t) i >= ELEMENTSOF(name##_table))                     \
                        return NULL;                                            \
                return name##_table[i];                                         \
        }                                                                       \
        type name##_from_string(const char *s) {                                \
                if (!s)                                                         \
                        return (type) -EINVAL;                                  \
                for (size_t i = 0; i < ELEMENTSOF(name##_table); i++)           \
                        if (name##_table[i] && strcmp(name##_table[i], s) == 0) \
                                return (type) i;                                \
                return (type) -EINVAL;                                          \
        }
