/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "apt-repo.h"
#include "progress.h"
#include "recipe.h"

/* A Debian or Ubuntu tree from a recipe, natively: the archive's signed Release and Packages indexes
 * (apt-repo.c), the package set (resolve.c), verified parallel downloads into a cache shared by all
 * builds, then dpkg inside the new tree. In two halves: bootstrap_prepare() does everything that needs
 * no tree (and so fails before anything is created), bootstrap_install() fills a tree (in the child
 * process store_install() runs it in).
 *
 * Built trees are cached too, keyed by everything that went into them (the recipe after merging its
 * bases, the options, the verified Release): a second machine from the same recipe while the archive
 * has not changed is a copy of that tree (reflinked where the file system can), made in seconds. A
 * recipe with Base= whose base's tree is cached starts from a copy of it and installs only what it
 * adds, then applies its own setup. */

typedef struct BootstrapOptions {
        const char *mirror;             /* overrides the recipe's */
        const char *security_mirror;    /* where the recipe's Security= suite is; NULL: the host's apt
                                         * sources' entry for it, else beside the mirror */
        const char *keyring;            /* overrides the recipe's */
        char * const *include;          /* added to the recipe's */
        char * const *exclude;
        bool no_verify;
        const char *cache_dir;          /* packages and indexes, by SHA256 */
        const char *hostname;           /* the machine's name, for /etc/hostname if the recipe sets none */
        bool fresh;                     /* don't use (but do refresh) the cached tree of this recipe */
        Progress *progress;
        /* Reports the start of each step ("Resolving packages", …); may be NULL. */
        void (*step)(const char *what, void *userdata);
        void *userdata;
} BootstrapOptions;

typedef struct BootstrapPlan {
        Recipe *recipe;                 /* borrowed */
        const BootstrapOptions *options;
        char *mirror;
        char *security_mirror;          /* of the recipe's Security= suite, or NULL if it has none */
        AptRepo *repo;
        DebPackage **packages;          /* everything to install, by name */
        size_t n_packages;
        DebPackage **essential;         /* the subset unpacked first to get dpkg running */
        size_t n_essential;
        char *debs_dir;                 /* cache directory holding the packages as SHA256.deb */
        char *trees_dir;                /* cache directory of built trees */
        char *tree_name;                /* RECIPE-KEY: the cached tree of recipe, options and Release */
        bool tree_cached;               /* … exists: clone it instead of installing */
        char *base_tree_name;           /* the cached tree of the recipe's Base= to start from, or NULL */
        const Recipe *base_recipe;      /* … the base that made it */
        DebPackage **install;           /* what dpkg installs: packages, or what the base tree lacks */
        size_t n_install;
        size_t n_downloaded;            /* packages that are not in the cache (downloaded by the install) */
        uint64_t bytes_downloaded;      /* indexes */
} BootstrapPlan;

BootstrapPlan* bootstrap_plan_free(BootstrapPlan *p);
DEFINE_POINTER_CLEANUP(BootstrapPlan*, bootstrap_plan_free);

/* Finds the mirror (options, recipe, else the host's apt sources for Debian) and the security suite's
 * (options, else the host's apt sources' entry for that suite, else /debian-security beside a mirror
 * ending in /debian), loads and verifies every suite of the archive (the highest version of a package
 * in any of them wins) and resolves the package set. On failure a negative errno and a sentence in
 * *reterr_message. */
int bootstrap_prepare(Recipe *recipe, const BootstrapOptions *options, BootstrapPlan **ret,
                      char **reterr_message);

/* Downloads what the cache lacks (unpacking the essential packages as they arrive), installs the plan
 * into the empty tree tree_fd and applies the recipe's setup, everything that runs inside the tree
 * contained (build-env.h). Must run in a disposable process (it moves into namespaces of its own). */
int bootstrap_install(const BootstrapPlan *plan, int tree_fd, char **reterr_message);
