/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "apt-repo.h"

typedef struct ResolveOptions {
        DebPriority priority;           /* every package of this priority or more important: "required"
                                         * for minbase, "standard" for the standard variant;
                                         * _DEB_PRIORITY_INVALID for the Essential packages alone */
        char * const *include;          /* more packages (or virtual packages) to install */
        char * const *exclude;          /* packages never to install */
} ResolveOptions;

/* Chooses the packages to install from repo: every Essential package, every package of at least the
 * given priority, the included ones, and the closure of their Pre-Depends and Depends, honouring
 * version constraints, alternatives (the first that can be satisfied, unless another one already is)
 * and Provides, and never an excluded package.
 *
 * Returns 0 and a new array of the chosen packages, sorted by name (the pointers point into repo).
 * -ENOENT if an included package does not exist, -ESRCH if a dependency cannot be satisfied; both with
 * a sentence in *reterr_message naming the dependency and the chain of packages that led to it
 * ("… needed by systemd, needed by systemd-sysv (included)"). Never logs above debug level. */
int deb_resolve(const AptRepo *repo, const ResolveOptions *options, DebPackage ***ret, size_t *ret_n,
                char **reterr_message);
