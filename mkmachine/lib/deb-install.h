/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* Installing packages into a new tree: unpacking a .deb's contents ourselves (to get a working dpkg
 * and shell into an empty tree), and the layout dpkg expects. Running dpkg and other programs inside the
 * tree is build-env.h's. */

/* Unpacks the data.tar.* member of the .deb deb_fd into tree_fd, following the tree's own symlinks
 * (a merged /usr) but never leaving the tree, and registers it in the tree's dpkg
 * database as `dpkg --unpack` would for a package not installed before, so that dpkg only has to
 * configure it: its control files as NAME.FILE and its file list NAME.list in info_fd (the tree's
 * var/lib/dpkg/info), conffiles in place (not as .dpkg-new: their hashes are recorded instead). The
 * package's status paragraph goes into the file out_name in out_dir_fd, after a line with its name in
 * the info database ("NAME" or "NAME:ARCH"), and its non-directory paths, one per line, into
 * out_name.paths; merging those into var/lib/dpkg/status (and triggers/) is the caller's. package and
 * version are what the (verified) index says the package is; the control file must agree.
 *
 * Returns 1 if registered, 0 if only unpacked because the package needs something of dpkg this does not
 * do (conffile flags, a conffile that is not a regular file): then dpkg --unpack must install it. A
 * negative errno (with *reterr_message for a malformed package) on failure. */
int deb_unpack_register(int deb_fd, int tree_fd, int info_fd, const char *package, const char *version,
                        int out_dir_fd, const char *out_name, char **reterr_message);

/* Lays out an empty tree for dpkg: a merged /usr (bin, sbin, lib, lib64 as symlinks into usr/),
 * dpkg's database directories, and a policy-rc.d that keeps services from starting while packages
 * are installed. */
int tree_prepare(int tree_fd, const char *architecture);

/* Prepares a finished tree (a copy of a built one) for more packages, as tree_prepare() an empty one. */
int tree_resume(int tree_fd);

/* Undoes what only the build needed (policy-rc.d). */
int tree_finish(int tree_fd);
