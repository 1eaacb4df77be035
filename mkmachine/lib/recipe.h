/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>

#include "macro.h"

/* A recipe says how to bootstrap a Debian or Ubuntu tree: a small systemd-style INI file
 * (recipes/NAME.conf, /etc/mkmachine/recipes/NAME.conf, or --recipe=FILE). See mkmachine.recipe(5). */

#define RECIPE_PACKAGES_MAX 4096U
#define RECIPE_BASE_DEPTH_MAX 8U

typedef enum Distribution {
        DISTRIBUTION_DEBIAN,
        DISTRIBUTION_UBUNTU,
        _DISTRIBUTION_MAX,
        _DISTRIBUTION_INVALID = -EINVAL,
} Distribution;

typedef enum Variant {
        VARIANT_MINBASE,        /* Essential + Priority: required, what debootstrap's minbase does */
        VARIANT_STANDARD,       /* … plus Priority: important and standard */
        _VARIANT_MAX,
        _VARIANT_INVALID = -EINVAL,
} Variant;

/* How the machine's own apt sources are written: as the release's installer writes them. */
typedef enum SourcesFormat {
        SOURCES_FORMAT_ONE_LINE,        /* /etc/apt/sources.list, "deb URL SUITE COMPONENTS…" */
        SOURCES_FORMAT_DEB822,          /* /etc/apt/sources.list.d/DISTRIBUTION.sources */
        _SOURCES_FORMAT_MAX,
        _SOURCES_FORMAT_INVALID = -EINVAL,
} SourcesFormat;

typedef struct RecipeFile {
        char *source;           /* absolute, resolved relative to the recipe's directory */
        char *target;           /* absolute path inside the machine */
} RecipeFile;

typedef struct Recipe {
        char *name;
        char *path;             /* where it was read from */
        char *description;
        char *base;             /* name of the recipe this one builds on, or NULL */

        Distribution distribution;
        char *suite;
        char **updates;         /* more suites from the same mirror (bookworm-updates, jammy-security) */
        char *security;         /* the security suite on a mirror of its own (bookworm-security), or NULL */
        SourcesFormat sources_format;   /* _SOURCES_FORMAT_INVALID: unset (one-line) */
        char **components;
        char *architecture;
        char *mirror;           /* NULL: from --mirror or the host's apt sources */
        char *keyring;

        Variant variant;
        char **include;
        char **exclude;

        char *hostname;
        char *locale;
        char *timezone;
        int root_locked;        /* -1 unset, else bool */
        char **enable_services;

        RecipeFile *files;
        size_t n_files;
        char **commands;

        /* After recipe_load() with Base=: the base, itself merged with its own bases. The first
         * n_base_commands of commands are the base's (the rest are this recipe's own). */
        struct Recipe *base_recipe;
        size_t n_base_commands;
} Recipe;

Recipe* recipe_free(Recipe *recipe);
DEFINE_POINTER_CLEANUP(Recipe*, recipe_free);

const char* distribution_to_string(Distribution d) _pure_;
Distribution distribution_from_string(const char *s) _pure_;
const char* variant_to_string(Variant v) _pure_;
Variant variant_from_string(const char *s) _pure_;
const char* sources_format_to_string(SourcesFormat f) _pure_;
SourcesFormat sources_format_from_string(const char *s) _pure_;

/* Parses a recipe from f; path is used to resolve [Files] sources and is recorded, name is the
 * recipe's name. Unknown sections and keys are errors (a typo must not silently drop a setting).
 *
 * Returns 0 and a new Recipe in *ret. On an error in the file returns -EBADMSG (syntax), -EINVAL (a
 * bad value) or -E2BIG (too many packages) with the 1-based line in *reterr_line (0 if the problem is
 * not on one line, e.g. a missing required key) and a static description in *reterr_what. Never logs
 * above debug level. */
int recipe_parse(FILE *f, const char *path, const char *name, Recipe **ret, unsigned *reterr_line,
                 const char **reterr_what);

/* Fills what base sets and recipe leaves unset; lists (Include=, Exclude=, EnableServices=, files,
 * commands) are appended, base first. */
int recipe_merge_base(Recipe *recipe, const Recipe *base);

/* Checks that everything needed for a bootstrap is set (after merging the base). -EINVAL and a
 * description of the missing setting otherwise. */
int recipe_verify(const Recipe *recipe, const char **reterr_what);

/* Loads a recipe by name from the first of dirs that has NAME.conf, or from a file if name_or_path
 * contains a '/' or ends in ".conf"; follows Base= (looked up in the directory of the recipe naming it
 * first, then in dirs; merging, with a depth limit against cycles; keeping the base in base_recipe) and
 * verifies the result. On failure returns a negative errno and a sentence in *reterr_message, with
 * "file:line: what" for errors in a file. Never logs above debug level. */
int recipe_load(const char *name_or_path, char * const *dirs, Recipe **ret, char **reterr_message);

/* True if s is a valid recipe name (same rules as machine names). */
bool recipe_name_is_valid(const char *s);
