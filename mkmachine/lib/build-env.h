/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* The environment in which dpkg, the maintainer scripts and a recipe's commands build a new tree. They
 * are trusted to make the tree and nothing else, so they run with the tree as their root and in
 * namespaces of their own, where neither the host's processes, files, network nor hostname are in
 * reach:
 *
 * - once per build (build_env_setup()), the builder moves into new mount, IPC, UTS and network
 *   namespaces (only a loopback, up; the hostname set) and mounts the tree's /sys (read-only), /dev
 *   (a tmpfs with a few nodes and its own devpts) and /run;
 * - per command (build_env_run()), a new PID namespace whose PID 1 is ours: it takes mount and UTS
 *   namespaces of its own (so a command that renames its host renames it for itself), makes the tree
 *   its root with pivot_root() (the host's mounts are gone from there, not only out of sight as with
 *   chroot()), mounts that PID namespace's /proc (/proc/sys read-only), drops the capabilities that
 *   reach past namespaces from the bounding set, and runs the command with no descriptor but stdio.
 *   When the command ends, so does PID 1, and the kernel ends whatever the command left behind; if the
 *   builder dies, PID 1 is killed too.
 *
 * What runs there is root in the tree without a user namespace, on the host's kernel: see "TRUST" in
 * mkmachine.recipe(5) for what that leaves open. */

/* Turns the calling process (which must be a disposable child: it never gets its namespaces back) into
 * the builder of tree_fd, as described above, with hostname as the host name inside (at most 64 bytes),
 * and ro_dir (if non-NULL) bind-mounted read-only at ro_target in the tree. The tree is made a mount
 * of its own; tree_fd is replaced (same number) by one opened on it. Mount targets are resolved in the
 * tree (its symlinks never lead out). Nothing of it is visible outside, and it all goes away with the
 * process. Returns 0 or a negative errno. */
int build_env_setup(int tree_fd, const char *hostname, const char *ro_dir, const char *ro_target);

/* Unmounts what build_env_setup() mounted inside the tree (ro_target as given there, or NULL), so that
 * the tree can be copied and cleaned; the namespaces and the tree's own mount stay. Returns 0 or a
 * negative errno. */
/* The same, but with host_network the host's network namespace is kept: for apt's download steps of
 * an update, which run no package scripts. Everything else is as contained. */
int build_env_setup_network(int tree_fd, const char *hostname, const char *ro_dir, const char *ro_target,
                            bool host_network);

int build_env_teardown(int tree_fd, const char *ro_target);

/* Runs argv[0] (a path inside the tree) in the tree of the builder set up by build_env_setup(), as
 * described above, in a new session, with stdin /dev/null, stdout and stderr output_fd (if >= 0; else
 * /dev/null), fsync() and its relatives turned into no-ops, and a clean environment for maintainer
 * scripts (noninteractive debconf, C.UTF-8) plus extra_env (NULL-terminated "NAME=VALUE" strings, at
 * most 26; may be NULL). Returns its exit status (>= 0; 128 + signal if killed), or a negative errno if
 * it could not be started (-ENOENT: no argv[0] in the tree). */
int build_env_run(int tree_fd, char * const argv[], char * const extra_env[], int output_fd);
