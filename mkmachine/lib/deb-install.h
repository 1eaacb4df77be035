/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* Installing packages into a new tree: unpacking a .deb's contents ourselves (to get a working dpkg
 * and shell into an empty tree), and running dpkg and other programs inside the tree, chrooted, in a
 * private mount namespace with /proc, /sys and a minimal /dev. */

/* Unpacks the data.tar.* member of the .deb deb_fd into tree_fd, following the tree's own symlinks
 * (a merged /usr) but never leaving the tree. -EBADMSG with *reterr_message for a malformed
 * package. */
int deb_extract_data(int deb_fd, int tree_fd, char **reterr_message);

/* Lays out an empty tree for dpkg: a merged /usr (bin, sbin, lib, lib64 as symlinks into usr/),
 * dpkg's database directories, and a policy-rc.d that keeps services from starting while packages
 * are installed. */
int tree_prepare(int tree_fd, const char *architecture);

/* Prepares a finished tree (a copy of a built one) for more packages, as tree_prepare() an empty one. */
int tree_resume(int tree_fd);

/* Undoes what only the build needed (policy-rc.d). */
int tree_finish(int tree_fd);

/* Turns the calling process (which must be a disposable child) into the builder of tree_fd: a mount
 * namespace of its own, with proc, sysfs (read-only), a tmpfs /dev with the usual nodes and devpts
 * mounted in the tree, and ro_dir (if non-NULL) bind-mounted read-only at ro_target inside it. Nothing
 * of it is visible outside, and it all goes away with the process. tree_fd is replaced (same number) by
 * one opened in the new namespace. */
int build_namespace_setup(int tree_fd, const char *ro_dir, const char *ro_target);

/* Unmounts everything build_namespace_setup() mounted in the tree (the namespace stays). */
int build_namespace_teardown(int tree_fd);

/* Runs argv[0] (a path inside the tree) chrooted into it, with a clean environment for maintainer
 * scripts (noninteractive debconf, C.UTF-8), its output going to output_fd (if >= 0; else ours).
 * Returns its exit status (>= 0; 128 + signal if killed) or a negative errno. */
int tree_run(int tree_fd, char * const argv[], int output_fd);
