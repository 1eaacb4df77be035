/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* "mkmachine auto-update" for machines with the policy "packages" (bootstrapped from a recipe): the
 * pending package upgrades of a machine, found and installed by the machine's own apt, always in a copy
 * of its tree (reflinked where the file system can), never in the tree itself and never booted. The
 * caller swaps the updated copy in like a new image (store_swap_in()), so that the previous tree stays
 * for a rollback. Nothing here logs above debug level. */

/* Upper bounds on apt's report, which comes from the machine's own apt and is not trusted. */
#define PACKAGE_UPGRADES_MAX     16384U
#define PACKAGE_UPGRADE_LINE_MAX 4096U

typedef struct PackageUpgrade {
        char *package;          /* as apt names it: NAME, or NAME:ARCH for a foreign architecture */
        char *installed;        /* the installed version; NULL for a package the upgrade newly installs */
        char *candidate;        /* the version it installs */
        char *architecture;     /* may be NULL */
} PackageUpgrade;

PackageUpgrade* package_upgrade_array_free(PackageUpgrade *a, size_t n);

/* Parses what "apt-get --simulate upgrade" prints (text of size bytes, need not be NUL-terminated): its
 * "Inst NAME [INSTALLED] (CANDIDATE RELEASE… [ARCH]) …" lines, one PackageUpgrade each; everything else
 * (Conf and Remv lines, messages) is skipped. Package names must be Debian package names (with an
 * optional ":ARCH"), versions valid Debian versions. 0 and the array in *ret, its length in *ret_n
 * (NULL for none); -EBADMSG for a malformed Inst line (*reterr_line, if non-NULL, gets its 1-based
 * number), -E2BIG beyond PACKAGE_UPGRADES_MAX upgrades or a line longer than PACKAGE_UPGRADE_LINE_MAX,
 * -ENOMEM. */
int package_upgrades_parse(const char *text, size_t size, PackageUpgrade **ret, size_t *ret_n,
                           unsigned *reterr_line);

typedef enum PackageUpdateMode {
        PACKAGE_UPDATE_CHECK,   /* refresh apt's lists and simulate the upgrade: what is pending */
        PACKAGE_UPDATE_INSTALL, /* that, then download the upgrades and install them */
        _PACKAGE_UPDATE_MODE_MAX,
        _PACKAGE_UPDATE_MODE_INVALID = -EINVAL,
} PackageUpdateMode;

/* Runs argv[0] (a path inside the tree) in tree_fd as tree_run() does, with the network (network) or in a
 * network namespace of its own that has none. The one place package updates run the machine's code: the
 * caller must have called build_namespace_setup() on tree_fd (it runs in a disposable child). Returns
 * the program's exit status (>= 0) or a negative errno. */
int package_update_run_in_tree(int tree_fd, bool network, char * const argv[], int output_fd);

/* The work of one update, for a store fill (store_prepare()): must run in a disposable child, which it
 * moves into a mount namespace of its own. Copies the machine source_fd (its tree, not running or
 * running: a running machine keeps writing to its own tree, which this never touches) into the empty
 * directory tree_fd, keeping every attribute, then in the copy, with the machine's own apt and sources:
 * "apt-get update" and "apt-get --simulate upgrade" (its output into report_fd, for
 * package_upgrades_parse()); with PACKAGE_UPDATE_INSTALL also "apt-get --download-only upgrade" with the
 * network (no package code runs there but apt's), then "apt-get --no-download upgrade" without any
 * network (maintainer scripts run there), and "apt-get clean". Services do not start meanwhile
 * (policy-rc.d). Everything apt prints goes to log_fd.
 *
 * 0 on success; -EPROTO if an apt step failed (its name in *reterr_step, if non-NULL, a static string;
 * the reason is in log_fd); other negative errnos (reterr_step says where). */
int package_update_tree(int source_fd, int tree_fd, PackageUpdateMode mode, int report_fd, int log_fd,
                        const char **reterr_step);
