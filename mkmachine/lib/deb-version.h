/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "macro.h"

/* Debian version strings (Debian Policy 5.6.12): [EPOCH:]UPSTREAM[-REVISION]. */

/* True if v is a well-formed version:
 *   - EPOCH, if there is a ':', is a non-empty string of decimal digits (any length: comparison does
 *     not convert it to an integer, so it cannot overflow);
 *   - UPSTREAM is non-empty and made of ASCII letters, digits and ". + ~ -"; Policy says it should
 *     start with a digit, but like dpkg (which only warns) we accept one that does not;
 *   - REVISION, after the last '-', is non-empty and made of ASCII letters, digits and ". + ~".
 * No white space anywhere, no second ':'. */
bool deb_version_is_valid(const char *v) _pure_;

/* Compares two versions the way dpkg does and returns -1, 0 or 1 like strcmp(): epochs numerically (a
 * missing epoch is 0), then the upstream versions, then the revisions (a missing revision is empty,
 * which compares equal to "0"). Upstream versions and revisions are compared in alternating runs:
 * first the non-digit prefixes character by character, where '~' sorts before everything, even the
 * end of the run, and letters sort before all other characters; then the digit runs numerically
 * (leading zeros ignored, any length). So "1.0~rc1" < "1.0" < "1.0a" < "1.0+b1" < "1.0.0", and "0:1"
 * == "1" == "1-0".
 *
 * Any string may be passed: one that is not valid is still ordered consistently (an invalid epoch
 * counts as part of the upstream version). */
int deb_version_compare(const char *a, const char *b) _pure_;
