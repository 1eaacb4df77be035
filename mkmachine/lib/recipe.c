/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fd-util.h"
#include "ini.h"
#include "log.h"
#include "path-util.h"
#include "recipe.h"
#include "string-util.h"
#include "strv.h"
#include "string-table.h"
#include "string-util.h"
#include "strv.h"

static const char* const distribution_table[_DISTRIBUTION_MAX] = {
        [DISTRIBUTION_DEBIAN] = "debian",
        [DISTRIBUTION_UBUNTU] = "ubuntu",
};
DEFINE_STRING_TABLE_LOOKUP(distribution, Distribution);

static const char* const variant_table[_VARIANT_MAX] = {
        [VARIANT_MINBASE]  = "minbase",
        [VARIANT_STANDARD] = "standard",
};
DEFINE_STRING_TABLE_LOOKUP(variant, Variant);

static const char* const sources_format_table[_SOURCES_FORMAT_MAX] = {
        [SOURCES_FORMAT_ONE_LINE] = "one-line",
        [SOURCES_FORMAT_DEB822]   = "deb822",
};
DEFINE_STRING_TABLE_LOOKUP(sources_format, SourcesFormat);

Recipe* recipe_free(Recipe *recipe) {
        if (!recipe)
                return NULL;

        free(recipe->name);
        free(recipe->path);
        free(recipe->description);
        free(recipe->base);
        recipe_free(recipe->base_recipe);
        free(recipe->suite);
        strv_free(recipe->components);
        strv_free(recipe->updates);
        free(recipe->security);
        free(recipe->architecture);
        free(recipe->mirror);
        free(recipe->keyring);
        strv_free(recipe->include);
        strv_free(recipe->exclude);
        free(recipe->hostname);
        free(recipe->locale);
        free(recipe->timezone);
        strv_free(recipe->enable_services);
        for (size_t i = 0; i < recipe->n_files; i++) {
                free(recipe->files[i].source);
                free(recipe->files[i].target);
        }
        free(recipe->files);
        strv_free(recipe->commands);
        return mfree(recipe);
}

bool recipe_name_is_valid(const char *s) {
        if (isempty(s) || strlen(s) > 64 || s[0] == '.' || s[0] == '-')
                return false;
        for (const char *c = s; *c; c++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", *c))
                        return false;
        return true;
}

/* A word of a package name, service name, component or architecture: no white space, printable,
 * none of the characters that would change meaning in a path or a shell. */
static bool word_is_valid(const char *s) {
        if (isempty(s) || strlen(s) > 256)
                return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c <= ' ' || *c == 127 || strchr("/\\'\"`$;&|<>(){}*?", *c))
                        return false;
        return true;
}

/* A zoneinfo name such as "Europe/Berlin": a safe relative path of plain characters. */
static bool timezone_is_valid(const char *s) {
        if (!path_is_safe_relative(s) || strlen(s) > 64 || s[0] == '.' || strstr(s, "/."))
                return false;
        for (const char *c = s; *c; c++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_+-", *c))
                        return false;
        return true;
}

static int set_string(char **field, const char *value) {
        char *c = NULL;

        if (!isempty(value)) {
                c = strdup(value);
                if (!c)
                        return -ENOMEM;
        }
        free(*field);
        *field = c;
        return 0;
}

/* Space-separated words, appended; an empty value resets the list, as in systemd unit files. */
static int append_words(char ***list, const char *value) {
        const char *p = value;

        if (isempty(value)) {
                *list = strv_free(*list);
                return 0;
        }

        while (*p) {
                _cleanup_free_ char *w = NULL;
                size_t n;
                int r;

                p += strspn(p, " \t");
                n = strcspn(p, " \t");
                if (n == 0)
                        break;
                w = strndup(p, n);
                if (!w)
                        return -ENOMEM;
                if (!word_is_valid(w))
                        return -EINVAL;
                if (strv_length(*list) >= RECIPE_PACKAGES_MAX)
                        return -E2BIG;
                if (!strv_contains(*list, w)) {
                        r = strv_push(list, w);
                        if (r < 0)
                                return r;
                        TAKE_PTR(w);
                }
                p += n;
        }
        return 0;
}

static int add_file(Recipe *recipe, const char *dir, const char *value) {
        _cleanup_free_ char *source = NULL, *target = NULL;
        const char *colon = strchr(value, ':');
        RecipeFile *n;

        if (isempty(value)) {
                for (size_t i = 0; i < recipe->n_files; i++) {
                        free(recipe->files[i].source);
                        free(recipe->files[i].target);
                }
                recipe->files = mfree(recipe->files);
                recipe->n_files = 0;
                return 0;
        }
        if (!colon)
                return -EINVAL;

        source = strndup(value, (size_t) (colon - value));
        target = strdup(colon + 1);
        if (!source || !target)
                return -ENOMEM;
        if (!path_is_normalized_absolute(target) || streq(target, "/"))
                return -EINVAL;
        if (source[0] != '/') {
                char *a;

                if (!path_is_safe_relative(source))
                        return -EINVAL;
                if (asprintf(&a, "%s/%s", dir, source) < 0)
                        return -ENOMEM;
                free(source);
                source = a;
        } else if (!path_is_normalized_absolute(source))
                return -EINVAL;

        if (recipe->n_files >= RECIPE_PACKAGES_MAX)
                return -E2BIG;
        n = realloc(recipe->files, sizeof(RecipeFile) * (recipe->n_files + 1));
        if (!n)
                return -ENOMEM;
        recipe->files = n;
        recipe->files[recipe->n_files++] = (RecipeFile) {
                .source = TAKE_PTR(source),
                .target = TAKE_PTR(target),
        };
        return 0;
}

static int recipe_assign(Recipe *recipe, const char *dir, const char *section, const char *key,
                         const char *value, const char **reterr_what) {
        int r;

#define KEY(s, k) (streq(section, s) && streq(key, k))
        if (KEY("Recipe", "Description"))
                return set_string(&recipe->description, value);
        if (KEY("Recipe", "Base")) {
                if (!isempty(value) && !recipe_name_is_valid(value)) {
                        *reterr_what = "Base= is not a valid recipe name";
                        return -EINVAL;
                }
                return set_string(&recipe->base, value);
        }
        if (KEY("Distribution", "Distribution")) {
                Distribution d = distribution_from_string(value);
                if (d < 0) {
                        *reterr_what = "Distribution= must be 'debian' or 'ubuntu'";
                        return -EINVAL;
                }
                recipe->distribution = d;
                return 0;
        }
        if (KEY("Distribution", "Suite")) {
                if (!word_is_valid(value)) {
                        *reterr_what = "Suite= is not a valid suite name";
                        return -EINVAL;
                }
                return set_string(&recipe->suite, value);
        }
        if (KEY("Distribution", "Updates")) {
                r = append_words(&recipe->updates, value);
                if (r == -EINVAL)
                        *reterr_what = "Updates= holds an invalid suite name";
                return r;
        }
        if (KEY("Distribution", "Security")) {
                if (!isempty(value) && !word_is_valid(value)) {
                        *reterr_what = "Security= is not a valid suite name";
                        return -EINVAL;
                }
                return set_string(&recipe->security, value);
        }
        if (KEY("Distribution", "SourcesFormat")) {
                SourcesFormat f = isempty(value) ? _SOURCES_FORMAT_INVALID :
                                                   sources_format_from_string(value);
                if (!isempty(value) && f < 0) {
                        *reterr_what = "SourcesFormat= must be 'one-line' or 'deb822'";
                        return -EINVAL;
                }
                recipe->sources_format = f;
                return 0;
        }
        if (KEY("Distribution", "Components")) {
                r = append_words(&recipe->components, value);
                if (r == -EINVAL)
                        *reterr_what = "Components= holds an invalid component name";
                return r;
        }
        if (KEY("Distribution", "Architecture")) {
                if (!word_is_valid(value)) {
                        *reterr_what = "Architecture= is not a valid architecture";
                        return -EINVAL;
                }
                return set_string(&recipe->architecture, value);
        }
        if (KEY("Distribution", "Mirror")) {
                if (!isempty(value) && !startswith(value, "http://") && !startswith(value, "https://") &&
                    !startswith(value, "file:/")) {
                        *reterr_what = "Mirror= must be an http://, https:// or file:/ URL";
                        return -EINVAL;
                }
                return set_string(&recipe->mirror, value);
        }
        if (KEY("Distribution", "Keyring")) {
                if (!isempty(value) && !path_is_normalized_absolute(value)) {
                        *reterr_what = "Keyring= must be an absolute path";
                        return -EINVAL;
                }
                return set_string(&recipe->keyring, value);
        }
        if (KEY("Packages", "Variant")) {
                Variant v = variant_from_string(value);
                if (v < 0) {
                        *reterr_what = "Variant= must be 'minbase' or 'standard'";
                        return -EINVAL;
                }
                recipe->variant = v;
                return 0;
        }
        if (KEY("Packages", "Include") || KEY("Packages", "Exclude")) {
                r = append_words(streq(key, "Include") ? &recipe->include : &recipe->exclude, value);
                if (r == -EINVAL)
                        *reterr_what = "invalid package name";
                else if (r == -E2BIG)
                        *reterr_what = "too many packages";
                return r;
        }
        if (KEY("Setup", "Hostname")) {
                if (!isempty(value) && !recipe_name_is_valid(value)) {
                        *reterr_what = "Hostname= is not a valid host name";
                        return -EINVAL;
                }
                return set_string(&recipe->hostname, value);
        }
        if (KEY("Setup", "Locale")) {
                if (!isempty(value) && !word_is_valid(value)) {
                        *reterr_what = "Locale= is not a valid locale";
                        return -EINVAL;
                }
                return set_string(&recipe->locale, value);
        }
        if (KEY("Setup", "Timezone")) {
                if (!isempty(value) && !timezone_is_valid(value)) {
                        *reterr_what = "Timezone= is not a valid time zone";
                        return -EINVAL;
                }
                return set_string(&recipe->timezone, value);
        }
        if (KEY("Setup", "RootLocked")) {
                r = parse_boolean(value);
                if (r < 0) {
                        *reterr_what = "RootLocked= must be a boolean";
                        return -EINVAL;
                }
                recipe->root_locked = r;
                return 0;
        }
        if (KEY("Setup", "EnableServices")) {
                r = append_words(&recipe->enable_services, value);
                if (r == -EINVAL)
                        *reterr_what = "EnableServices= holds an invalid unit name";
                return r;
        }
        if (KEY("Files", "Copy")) {
                r = add_file(recipe, dir, value);
                if (r == -EINVAL)
                        *reterr_what = "Copy= must be SOURCE:/ABSOLUTE/TARGET with a safe source path";
                return r;
        }
        if (KEY("Run", "Command")) {
                if (isempty(value)) {
                        recipe->commands = strv_free(recipe->commands);
                        return 0;
                }
                if (strv_length(recipe->commands) >= RECIPE_PACKAGES_MAX)
                        return -E2BIG;
                return strv_extend(&recipe->commands, value);
        }
#undef KEY

        *reterr_what = "unknown section or key";
        return -EBADMSG;
}

int recipe_parse(FILE *f, const char *path, const char *name, Recipe **ret, unsigned *reterr_line,
                 const char **reterr_what) {
        _cleanup_(recipe_freep) Recipe *recipe = NULL;
        _cleanup_(ini_freep) IniFile *ini = NULL;
        _cleanup_free_ char *dir = NULL;
        const char *what = NULL;
        unsigned line = 0;
        int r;

        assert(f);
        assert(path);
        assert(name);
        assert(ret);

        r = ini_parse(f, &ini, &line);
        if (r == -EBADMSG)
                what = "syntax error";
        if (r < 0)
                goto fail;

        recipe = calloc(1, sizeof(Recipe));
        if (!recipe)
                return -ENOMEM;
        recipe->distribution = _DISTRIBUTION_INVALID;
        recipe->variant = VARIANT_MINBASE;
        recipe->root_locked = -1;
        recipe->sources_format = _SOURCES_FORMAT_INVALID;
        recipe->name = strdup(name);
        recipe->path = strdup(path);
        if (!recipe->name || !recipe->path)
                return -ENOMEM;
        {
                _cleanup_free_ char *copy = strdup(path);
                if (!copy)
                        return -ENOMEM;
                dir = strdup(dirname(copy));    /* dirname() works in place */
                if (!dir)
                        return -ENOMEM;
        }

        INI_FOREACH(l, ini) {
                if (!l->key)
                        continue;
                r = recipe_assign(recipe, dir, l->section, l->key, l->value, &what);
                if (r < 0) {
                        line = l->line;
                        goto fail;
                }
        }

        *ret = TAKE_PTR(recipe);
        return 0;

fail:
        /* Every failure that is the file's fault reports where and what in the same way. */
        if (r == -ENOMEM)
                return r;
        if (reterr_line)
                *reterr_line = line;
        if (reterr_what)
                *reterr_what = what ?: "invalid value";
        return r;
}

static int merge_words(char ***dst, char * const *base) {
        _cleanup_strv_free_ char **l = NULL;
        int r;

        STRV_FOREACH(w, base) {
                r = strv_extend(&l, *w);
                if (r < 0)
                        return r;
        }
        STRV_FOREACH(w, *dst)
                if (!strv_contains(l, *w)) {
                        r = strv_extend(&l, *w);
                        if (r < 0)
                                return r;
                }
        strv_free(*dst);
        *dst = TAKE_PTR(l);
        return 0;
}

static int inherit_string(char **dst, const char *base) {
        return *dst || !base ? 0 : set_string(dst, base);
}

int recipe_merge_base(Recipe *recipe, const Recipe *base) {
        RecipeFile *files;
        int r;

        assert(recipe);
        assert(base);

        if (recipe->distribution < 0)
                recipe->distribution = base->distribution;
        if (recipe->root_locked < 0)
                recipe->root_locked = base->root_locked;
        if (recipe->sources_format < 0)
                recipe->sources_format = base->sources_format;

        char **strings[] = { &recipe->description, &recipe->suite, &recipe->security, &recipe->architecture,
                             &recipe->mirror, &recipe->keyring, &recipe->hostname, &recipe->locale,
                             &recipe->timezone };
        const char *bases[] = { base->description, base->suite, base->security, base->architecture,
                                base->mirror, base->keyring, base->hostname, base->locale, base->timezone };
        for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
                r = inherit_string(strings[i], bases[i]);
                if (r < 0)
                        return r;
        }

        recipe->n_base_commands = strv_length(base->commands);
        char ***lists[] = { &recipe->components, &recipe->updates, &recipe->include, &recipe->exclude,
                            &recipe->enable_services, &recipe->commands };
        char **base_lists[] = { base->components, base->updates, base->include, base->exclude,
                                base->enable_services, base->commands };
        for (size_t i = 0; i < ELEMENTSOF(lists); i++) {
                r = merge_words(lists[i], base_lists[i]);
                if (r < 0)
                        return r;
        }

        if (base->n_files > 0) {
                files = calloc(base->n_files + recipe->n_files, sizeof(RecipeFile));
                if (!files)
                        return -ENOMEM;
                for (size_t i = 0; i < base->n_files; i++) {
                        files[i].source = strdup(base->files[i].source);
                        files[i].target = strdup(base->files[i].target);
                        if (!files[i].source || !files[i].target) {
                                for (size_t j = 0; j <= i; j++) {
                                        free(files[j].source);
                                        free(files[j].target);
                                }
                                free(files);
                                return -ENOMEM;
                        }
                }
                if (recipe->n_files > 0)
                        memcpy(files + base->n_files, recipe->files, sizeof(RecipeFile) * recipe->n_files);
                free(recipe->files);
                recipe->files = files;
                recipe->n_files += base->n_files;
        }
        return 0;
}

int recipe_verify(const Recipe *recipe, const char **reterr_what) {
        const char *what = NULL;

        assert(recipe);

        if (recipe->distribution < 0)
                what = "[Distribution] Distribution= is not set";
        else if (!recipe->suite)
                what = "[Distribution] Suite= is not set";
        else if (strv_length(recipe->components) == 0)
                what = "[Distribution] Components= is not set";

        if (what) {
                if (reterr_what)
                        *reterr_what = what;
                return -EINVAL;
        }
        return 0;
}

static int recipe_load_depth(const char *name_or_path, char * const *dirs, unsigned depth, Recipe **ret,
                             char **reterr_message) {
        _cleanup_(recipe_freep) Recipe *recipe = NULL, *base = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *path = NULL, *name = NULL;
        const char *what = NULL;
        unsigned line = 0;
        int r;

        if (depth > RECIPE_BASE_DEPTH_MAX) {
                if (asprintf(reterr_message, "Recipe '%s': Base= nested deeper than %u (a cycle?).",
                             name_or_path, RECIPE_BASE_DEPTH_MAX) < 0)
                        *reterr_message = NULL;
                return -ELOOP;
        }

        if (strchr(name_or_path, '/') || endswith(name_or_path, ".conf")) {
                /* A file given as such: its name is the file name without ".conf". */
                const char *b = strrchr(name_or_path, '/');
                b = b ? b + 1 : name_or_path;
                path = strdup(name_or_path);
                name = strndup(b, endswith(b, ".conf") ? strlen(b) - 5 : strlen(b));
                if (!path || !name)
                        return -ENOMEM;
                f = fopen(path, "re");
        } else {
                if (!recipe_name_is_valid(name_or_path)) {
                        if (asprintf(reterr_message, "Invalid recipe name '%s'.", name_or_path) < 0)
                                *reterr_message = NULL;
                        return -EINVAL;
                }
                name = strdup(name_or_path);
                if (!name)
                        return -ENOMEM;
                STRV_FOREACH(d, dirs) {
                        free(path);
                        if (asprintf(&path, "%s/%s.conf", *d, name_or_path) < 0)
                                return -ENOMEM;
                        f = fopen(path, "re");
                        if (f || errno != ENOENT)
                                break;
                }
        }
        if (!f) {
                r = -errno;
                if (r == -ENOENT && !strchr(name_or_path, '/')) {
                        _cleanup_free_ char *list = strv_join(dirs, ", ");
                        if (asprintf(reterr_message, "No recipe '%s' (looked in %s).", name_or_path,
                                     strna(list)) < 0)
                                *reterr_message = NULL;
                } else if (asprintf(reterr_message, "Failed to open recipe '%s': %s", path,
                                    strerror(-r)) < 0)
                        *reterr_message = NULL;
                return r;
        }

        r = recipe_parse(f, path, name, &recipe, &line, &what);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (asprintf(reterr_message, "%s:%u: %s", path, line, what) < 0)
                        *reterr_message = NULL;
                return r;
        }

        if (recipe->base) {
                _cleanup_strv_free_ char **base_dirs = NULL;
                _cleanup_free_ char *dir = strdup(path);

                /* Its base next to it first: a set of recipes kept together finds each other. */
                if (!dir)
                        return -ENOMEM;
                if (strrchr(dir, '/'))
                        *strrchr(dir, '/') = 0;
                else
                        (void) strcpy(dir, ".");
                r = strv_extend(&base_dirs, dir);
                STRV_FOREACH(d, dirs)
                        if (r >= 0 && !strv_contains(base_dirs, *d))
                                r = strv_extend(&base_dirs, *d);
                if (r < 0)
                        return r;

                r = recipe_load_depth(recipe->base, base_dirs, depth + 1, &base, reterr_message);
                if (r < 0)
                        return r;
                r = recipe_merge_base(recipe, base);
                if (r < 0)
                        return r;
                recipe->base_recipe = TAKE_PTR(base);
        }

        *ret = TAKE_PTR(recipe);
        return 0;
}

int recipe_load(const char *name_or_path, char * const *dirs, Recipe **ret, char **reterr_message) {
        const char *what = NULL;
        int r;

        assert(name_or_path);
        assert(ret);

        *reterr_message = NULL;
        r = recipe_load_depth(name_or_path, dirs, 0, ret, reterr_message);
        if (r < 0)
                return r;

        r = recipe_verify(*ret, &what);
        if (r < 0) {
                if (asprintf(reterr_message, "%s: %s", (*ret)->path, what) < 0)
                        *reterr_message = NULL;
                *ret = recipe_free(*ret);
                return r;
        }
        return 0;
}
