/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* Relationship fields (Debian Policy 7.1): Depends, Pre-Depends, Recommends, Suggests, Breaks,
 * Conflicts, Provides, Replaces, Build-Depends…
 *
 *   LIST   := [GROUP {"," GROUP}]
 *   GROUP  := RELATION {"|" RELATION}
 *   RELATION := NAME[":"ARCHQUAL] ["(" OP VERSION ")"] ["[" ARCH… "]"] {"<" PROFILE… ">"}
 *
 * White space (including newlines of a folded field) may stand between any two of these tokens;
 * "NAME:ARCHQUAL" is one token. */

typedef enum DebRelationOp {
        DEB_RELATION_ANY,       /* no version restriction */
        DEB_RELATION_LT,        /* << */
        DEB_RELATION_LE,        /* <=, and the obsolete < */
        DEB_RELATION_EQ,        /* = */
        DEB_RELATION_GE,        /* >=, and the obsolete > */
        DEB_RELATION_GT,        /* >> */
        _DEB_RELATION_OP_MAX,
        _DEB_RELATION_OP_INVALID = -EINVAL,
} DebRelationOp;

typedef struct DebRelation {
        char *name;
        char *arch_qualifier;   /* "any", "native", an architecture, or NULL */
        DebRelationOp op;
        char *version;          /* NULL if op is DEB_RELATION_ANY */
} DebRelation;

/* One element of the list: satisfied if any of its items is. */
typedef struct DebAlternatives {
        DebRelation *items;
        size_t n_items;
} DebAlternatives;

/* All of the groups must be satisfied. The strings and arrays are owned by the list and live in the
 * storage below, which only deb_relation_list_free() touches: do not free or reallocate parts. */
typedef struct DebRelationList {
        DebAlternatives *groups;
        size_t n_groups;

        DebRelation *relations;   /* private: all items, groups[].items point into it */
        char *strings;            /* private: all strings */
} DebRelationList;

DebRelationList* deb_relation_list_free(DebRelationList *l);
DEFINE_POINTER_CLEANUP(DebRelationList*, deb_relation_list_free);

/* "<<", "<=", "=", ">=", ">>" and "" for DEB_RELATION_ANY. from_string() does not know the obsolete
 * "<" and ">" (only the parser accepts them). */
const char* deb_relation_op_to_string(DebRelationOp op) _pure_;
DebRelationOp deb_relation_op_from_string(const char *s) _pure_;

/* Parses a relationship field's value s, for a system whose architecture is host_arch:
 *   - Package names are at least two characters of lowercase ASCII letters, digits and "+-.",
 *     starting with a letter or digit. An architecture qualifier is lowercase letters, digits and '-'.
 *   - A version must be valid (deb_version_is_valid()).
 *   - A relation with an architecture restriction ("[amd64 arm64]" or "[!i386 !armel]", not mixed) is
 *     kept only if it applies to host_arch. Architectures match exactly; the wildcards "any",
 *     "linux-any" and "any-HOSTARCH" match too, other wildcards never do. host_arch NULL keeps every
 *     relation whatever its architecture restriction.
 *   - Build profile restrictions ("<!nocheck>", "<stage1 !nocheck> <cross>") are evaluated with no
 *     profile active: a relation is kept if one of its "<…>" lists contains only negated profiles.
 *   - A group whose relations are all dropped is dropped.
 *   - An empty value (or only white space) gives an empty list; an empty group (",,", a trailing ',')
 *     or an empty alternative is an error.
 * Returns 0 and a new list in *ret, -EBADMSG on a syntax error, -ENOMEM. */
int deb_relation_list_parse(const char *s, const char *host_arch, DebRelationList **ret);

/* True if a candidate version that compares as cmp (deb_version_compare(candidate, r->version))
 * satisfies op. Always true for DEB_RELATION_ANY, false for an invalid op. */
bool deb_relation_op_satisfied(DebRelationOp op, int cmp) _pure_;

/* True if the package (or the provided virtual package) name in version satisfies r. version NULL
 * stands for an unversioned Provides, which satisfies only a relation without a version. The
 * architecture qualifier is not checked here. */
bool deb_relation_matches(const DebRelation *r, const char *name, const char *version) _pure_;
