/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bootstrap.h"
#include "build-env.h"
#include "config.h"
#include "copy.h"
#include "digest.h"
#include "process-util.h"
#include "random-util.h"
#include "deb-install.h"
#include "download.h"
#include "error-util.h"
#include "fd-util.h"
#include "deb822.h"
#include "dpkg-db.h"
#include "hashmap.h"
#include "fs-util.h"
#include "log.h"
#include "resolve.h"
#include "string-util.h"
#include "strv.h"

#define DOWNLOAD_PARALLEL 8U
#define DEBS_IN_TREE "var/cache/mkmachine-debs"

static void step(const BootstrapOptions *o, const char *what) {
        log_debug("%s", what);
        if (o->step)
                o->step(what, o->userdata);
}

BootstrapPlan* bootstrap_plan_free(BootstrapPlan *p) {
        if (!p)
                return NULL;
        free(p->trees_dir);
        free(p->tree_name);
        free(p->base_tree_name);
        if (p->install != p->packages)
                free(p->install);
        free(p->packages);
        free(p->essential);
        free(p->debs_dir);
        free(p->mirror);
        free(p->security_mirror);
        apt_repo_free(p->repo);
        return mfree(p);
}

static char* deb_file_name(const DebPackage *p) {
        char *s;

        if (asprintf(&s, "%s.deb", p->sha256) < 0)
                return NULL;
        return s;
}

static bool in_list(DebPackage * const *list, size_t n, const DebPackage *p) {
        for (size_t i = 0; i < n; i++)
                if (list[i] == p)
                        return true;
        return false;
}

/* Downloads what of plan->install the cache lacks (or holds damaged), the essential packages first;
 * done (may be NULL) is called for each package as soon as it is in place, and for those that were. */
static int download_packages(const BootstrapPlan *plan, int debs_fd,
                             void (*done)(const DownloadItem *item, void *userdata), void *userdata,
                             char **reterr_message) {
        _cleanup_free_ DownloadItem *items = NULL;
        char **urls = NULL, **names = NULL;
        size_t n = 0, k = 0;
        int r = 0;

        items = calloc(MAX(plan->n_install, (size_t) 1), sizeof(DownloadItem));
        urls = calloc(plan->n_install + 1, sizeof(char*));
        names = calloc(plan->n_install + 1, sizeof(char*));
        if (!items || !urls || !names) {
                r = -ENOMEM;
                goto finish;
        }

        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < plan->n_install; i++) {
                        const DebPackage *p = plan->install[i];
                        char *name;

                        if (in_list(plan->essential, plan->n_essential, p) != (pass == 0))
                                continue;
                        name = deb_file_name(p);
                        if (!name) {
                                r = -ENOMEM;
                                goto finish;
                        }
                        names[k] = name;
                        if (asprintf(&urls[k], "%s/%s", p->mirror ?: plan->mirror, p->filename) < 0) {
                                r = -ENOMEM;
                                goto finish;
                        }
                        DownloadItem item = {
                                .url = urls[k],
                                .dir_fd = debs_fd,
                                .name = name,
                                .size = p->size,
                                .sha256 = p->sha256,
                                .done = done,
                                .userdata = userdata,
                        };
                        k++;
                        /* Cached by digest, checked again before use: a warm cache downloads nothing. */
                        if (file_verify_at(debs_fd, name, p->size, p->sha256) >= 0) {
                                if (done)
                                        done(&item, userdata);
                                continue;
                        }
                        items[n++] = item;
                }

        if (n > 0) {
                step(plan->options, "Downloading packages");
                r = download_many(items, n, DOWNLOAD_PARALLEL, plan->options->progress, NULL,
                                  reterr_message);
        }

finish:
        for (size_t i = 0; i < plan->n_install && urls && names; i++) {
                free(urls[i]);
                free(names[i]);
        }
        free(urls);
        free(names);
        return r;
}

/* A digest of everything that decides what the tree of recipe becomes (with the command line's
 * packages if with_options: a base recipe's tree is what it makes without them). */
static int tree_cache_key(const BootstrapPlan *plan, const Recipe *recipe, bool with_options,
                          const char *keyring, char ret[static 65]) {
        const BootstrapOptions *o = plan->options;
        char * const *o_include = with_options ? o->include : NULL;
        char * const *o_exclude = with_options ? o->exclude : NULL;
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, "mkmachine-tree-1 %s\n", PACKAGE_VERSION);
        fprintf(f, "distribution=%s\nsuite=%s\narchitecture=%s\nmirror=%s\nkeyring=%s\nverify=%i\n",
                distribution_to_string(recipe->distribution), recipe->suite, plan->repo->architecture,
                plan->mirror, strna(keyring), !o->no_verify);
        fprintf(f, "variant=%s\nhostname=%s\nlocale=%s\ntimezone=%s\nroot-locked=%i\n",
                variant_to_string(recipe->variant), strna(recipe->hostname), strna(recipe->locale),
                strna(recipe->timezone), recipe->root_locked);
        STRV_FOREACH(s, recipe->components)
                fprintf(f, "component=%s\n", *s);
        /* Every suite's verified Release: a new one (a security fix) makes a new tree. */
        for (size_t i = 0; i < plan->repo->n_updates; i++)
                fprintf(f, "update=%s %s %s\n", plan->repo->updates[i].suite, plan->repo->updates[i].mirror,
                        plan->repo->updates[i].release_sha256);
        fprintf(f, "sources-format=%s\n",
                recipe->sources_format == SOURCES_FORMAT_DEB822 ? "deb822" : "one-line");
        STRV_FOREACH(s, recipe->include)
                fprintf(f, "include=%s\n", *s);
        STRV_FOREACH(s, o_include)
                fprintf(f, "include=%s\n", *s);
        STRV_FOREACH(s, recipe->exclude)
                fprintf(f, "exclude=%s\n", *s);
        STRV_FOREACH(s, o_exclude)
                fprintf(f, "exclude=%s\n", *s);
        STRV_FOREACH(s, recipe->enable_services)
                fprintf(f, "enable=%s\n", *s);
        STRV_FOREACH(s, recipe->commands)
                fprintf(f, "run=%s\n", *s);
        for (size_t i = 0; i < recipe->n_files; i++) {
                _cleanup_free_ char *content = NULL;
                size_t n = 0;
                char h[65];

                if (read_full_file_at(AT_FDCWD, recipe->files[i].source, 64 * 1024 * 1024, &content,
                                      &n) < 0) {
                        fclose(f);
                        return -ENOENT;
                }
                if (sha256_hex(content, n, h) < 0) {
                        fclose(f);
                        return -EIO;
                }
                fprintf(f, "file=%s %s\n", recipe->files[i].target, h);
        }
        fprintf(f, "release=%s\n", plan->repo->release_sha256);
        if (fclose(f) != 0)
                return -ENOMEM;

        return sha256_hex(text, size, ret);
}

/* The name of the cached tree of recipe in *ret (NULL if a file to add is missing: the install will
 * say so); returns whether it exists. */
static int tree_cache_find(const BootstrapPlan *plan, const Recipe *recipe, bool with_options,
                           const char *keyring, char **ret) {
        char key[65];
        struct stat st;
        int r;

        *ret = NULL;
        r = tree_cache_key(plan, recipe, with_options, keyring, key);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (asprintf(ret, "%s-%.16s", recipe->name, key) < 0)
                return -ENOMEM;
        return stat(strjoina(plan->trees_dir, "/", *ret), &st) >= 0 && S_ISDIR(st.st_mode);
}

static int tree_cache_lookup(BootstrapPlan *plan, const char *keyring) {
        int r;

        if (asprintf(&plan->trees_dir, "%s/trees", plan->options->cache_dir) < 0)
                return -ENOMEM;
        r = tree_cache_find(plan, plan->recipe, true, keyring, &plan->tree_name);
        if (r < 0)
                return r;
        plan->tree_cached = r > 0;
        if (plan->tree_cached || plan->options->fresh)
                return 0;

        /* The nearest base whose tree is cached. The base's own setup is part of that tree; only the
         * command line's packages are not (they are this build's). */
        for (const Recipe *b = plan->recipe->base_recipe; b; b = b->base_recipe) {
                _cleanup_free_ char *name = NULL;

                r = tree_cache_find(plan, b, false, keyring, &name);
                if (r < 0)
                        return r;
                if (r > 0) {
                        plan->base_tree_name = TAKE_PTR(name);
                        plan->base_recipe = b;
                        return 0;
                }
        }
        return 0;
}

typedef struct InstalledSet {
        char **names;
} InstalledSet;

static int installed_add(const Deb822Paragraph *p, void *userdata) {
        InstalledSet *set = userdata;
        const char *name = deb822_paragraph_get(p, "Package"), *status = deb822_paragraph_get(p, "Status");

        if (!name || !status || !streq(status, "install ok installed"))
                return 0;
        return strv_extend(&set->names, name);
}

/* Narrows plan->install to what the base tree lacks; if the base tree has a package this build would
 * not install (an Exclude=, another choice among alternatives), the base can't be used: returns 0 and
 * leaves the plan as it was. */
static int base_tree_delta(BootstrapPlan *plan) {
        _cleanup_free_ char *status = NULL;
        _cleanup_free_ DebPackage **delta = NULL;
        InstalledSet set = {};
        size_t size = 0, n = 0, matched = 0;
        int r;

        r = read_full_file_at(AT_FDCWD, strjoina(plan->trees_dir, "/", plan->base_tree_name,
                                                 "/var/lib/dpkg/status"),
                              256U * 1024U * 1024U, &status, &size);
        if (r < 0)
                return r;
        r = deb822_parse_buffer(status, size, installed_add, &set, NULL);
        if (r < 0) {
                strv_free(set.names);
                return r;
        }

        delta = calloc(MAX(plan->n_packages, (size_t) 1), sizeof(DebPackage*));
        if (!delta) {
                strv_free(set.names);
                return -ENOMEM;
        }
        for (size_t i = 0; i < plan->n_packages; i++)
                if (strv_contains(set.names, plan->packages[i]->name))
                        matched++;
                else
                        delta[n++] = plan->packages[i];
        r = matched == strv_length(set.names);
        strv_free(set.names);
        if (!r) {
                plan->base_tree_name = mfree(plan->base_tree_name);
                plan->base_recipe = NULL;
                return 0;
        }
        plan->install = TAKE_PTR(delta);
        plan->n_install = n;
        return 1;
}

static bool url_is_http(const char *s) {
        return startswith(s, "http://") || startswith(s, "https://");
}

/* Where the recipe's Security= suite is: the options', the host's apt sources' entry for that suite,
 * else the convention of /debian-security beside /debian. */
static int find_security_mirror(BootstrapPlan *plan, const Recipe *recipe, const BootstrapOptions *o,
                                char **reterr_message) {
        int r;

        if (o->security_mirror) {
                plan->security_mirror = strdup(o->security_mirror);
                if (!plan->security_mirror)
                        return -ENOMEM;
        } else {
                r = host_apt_suite_mirror("/", recipe->security, &plan->security_mirror);
                if (r == -ENOENT) {
                        r = apt_security_mirror_beside(plan->mirror, &plan->security_mirror);
                        if (r == -EINVAL)
                                return error_message(reterr_message, -ENOENT,
                                                     "Recipe '%s' takes %s, which the host's apt sources do "
                                                     "not name, and mirror %s does not end in /debian (the "
                                                     "security archive would be beside it): pass "
                                                     "--security-mirror=URL.", recipe->name,
                                                     recipe->security, plan->mirror);
                }
                if (r < 0)
                        return error_message(reterr_message, r, "Failed to find the mirror of %s: %s",
                                             recipe->security, strerror(-r));
        }
        if (!url_is_http(plan->security_mirror))
                return error_message(reterr_message, -EINVAL,
                                     "Security mirror '%s' is not an http:// or https:// URL.",
                                     plan->security_mirror);
        while (endswith(plan->security_mirror, "/"))
                plan->security_mirror[strlen(plan->security_mirror) - 1] = 0;
        return 0;
}

int bootstrap_prepare(Recipe *recipe, const BootstrapOptions *o, BootstrapPlan **ret,
                      char **reterr_message) {
        _cleanup_(bootstrap_plan_freep) BootstrapPlan *plan = NULL;
        _cleanup_close_ int cache_fd = -EBADF, debs_fd = -EBADF;
        _cleanup_strv_free_ char **include = NULL, **exclude = NULL;
        const char *keyring;
        AptRepoOptions ao = {};
        int r;

        assert(recipe);
        assert(o);
        assert(ret);

        plan = calloc(1, sizeof(BootstrapPlan));
        if (!plan)
                return -ENOMEM;
        plan->recipe = recipe;
        plan->options = o;

        /* The mirror: given, in the recipe, or — for Debian only — what the host's apt uses. */
        if (o->mirror || recipe->mirror)
                plan->mirror = strdup(o->mirror ?: recipe->mirror);
        else if (recipe->distribution == DISTRIBUTION_DEBIAN) {
                r = host_apt_mirror("/", &plan->mirror);
                if (r == -ENOENT)
                        return error_message(reterr_message, r,
                                             "Recipe '%s' names no mirror and the host's apt sources "
                                             "have none: pass --mirror=URL.", recipe->name);
                if (r < 0)
                        return error_message(reterr_message, r, "Failed to read the host's apt sources: %s",
                                             strerror(-r));
        } else
                return error_message(reterr_message, -ENOENT,
                                     "Recipe '%s' (%s) names no mirror: pass --mirror=URL of an "
                                     "%s archive.", recipe->name,
                                     distribution_to_string(recipe->distribution),
                                     distribution_to_string(recipe->distribution));
        if (!plan->mirror)
                return -ENOMEM;
        if (!url_is_http(plan->mirror))
                return error_message(reterr_message, -EINVAL,
                                     "Mirror '%s' is not an http:// or https:// URL.",
                                     plan->mirror);

        if (!recipe->security && o->security_mirror)
                return error_message(reterr_message, -EINVAL,
                                     "Recipe '%s' takes no security suite from a mirror of its own (no "
                                     "Security=): --security-mirror does not apply.", recipe->name);

        keyring = o->keyring ?: recipe->keyring;
        if (!o->no_verify) {
                if (!keyring)
                        return error_message(reterr_message, -ENOKEY,
                                             "Recipe '%s' names no keyring: pass --keyring=FILE.",
                                             recipe->name);
                if (access(keyring, R_OK) < 0)
                        return error_message(reterr_message, -ENOKEY,
                                             "The keyring %s of recipe '%s' is missing: install %s, "
                                             "or pass --keyring=FILE.", keyring, recipe->name,
                                             recipe->distribution == DISTRIBUTION_UBUNTU ?
                                             "ubuntu-keyring (from Ubuntu)" :
                                             "debian-archive-keyring");
        }

        r = mkdir_p_at(AT_FDCWD, o->cache_dir, 0755, 0755);
        if (r < 0)
                return error_message(reterr_message, r, "Failed to create the cache %s: %s", o->cache_dir,
                                     strerror(-r));
        cache_fd = open(o->cache_dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        if (cache_fd < 0)
                return error_message(reterr_message, -errno, "Failed to open the cache %s: %m",
                                     o->cache_dir);

        step(o, "Fetching and verifying the Release");
        ao = (AptRepoOptions) {
                .keyring = keyring,
                .no_verify = o->no_verify,
                .cache_fd = cache_fd,
                .release_only = true,
        };
        r = apt_repo_load(plan->mirror, recipe->suite, recipe->components,
                          recipe->architecture ?: "amd64", &ao, &plan->repo, reterr_message);
        if (r < 0)
                return r;
        STRV_FOREACH(u, recipe->updates) {
                r = apt_repo_add_suite(plan->repo, *u, /* mirror= */ NULL, &ao, reterr_message);
                if (r < 0)
                        return r;
        }
        if (recipe->security) {
                r = find_security_mirror(plan, recipe, o, reterr_message);
                if (r < 0)
                        return r;
                r = apt_repo_add_suite(plan->repo, recipe->security, plan->security_mirror, &ao,
                                       reterr_message);
                if (r < 0)
                        return r;
        }

        /* The same recipe, options and archive state make the same tree: clone the cached one. */
        r = tree_cache_lookup(plan, keyring);
        if (r < 0)
                return error_message(reterr_message, r, "Failed to look up the tree cache: %s",
                                     strerror(-r));
        if (plan->tree_cached && !o->fresh) {
                step(o, "Using the cached tree of this recipe");
                *ret = TAKE_PTR(plan);
                return 0;
        }
        plan->tree_cached = false;

        step(o, "Fetching and verifying the package indexes");
        r = apt_repo_load_indexes(plan->repo, recipe->components, &ao, reterr_message);
        if (r < 0)
                return r;

        step(o, "Resolving packages");
        r = strv_extend_strv(&include, recipe->include);
        if (r >= 0)
                r = strv_extend_strv(&include, o->include);
        if (r >= 0)
                r = strv_extend_strv(&exclude, recipe->exclude);
        if (r >= 0)
                r = strv_extend_strv(&exclude, o->exclude);
        if (r < 0)
                return r;
        r = deb_resolve(plan->repo, &(ResolveOptions) {
                                .priority = recipe->variant == VARIANT_STANDARD ? DEB_PRIORITY_STANDARD :
                                                                                  DEB_PRIORITY_REQUIRED,
                                .include = include,
                                .exclude = exclude,
                        }, &plan->packages, &plan->n_packages, reterr_message);
        if (r < 0)
                return r;

        plan->install = plan->packages;
        plan->n_install = plan->n_packages;
        if (plan->base_tree_name) {
                r = base_tree_delta(plan);
                if (r < 0)
                        return error_message(reterr_message, r,
                                             "Failed to read the cached tree of recipe '%s': %s",
                                             plan->base_recipe->name, strerror(-r));
                if (r > 0)
                        step(o, "Starting from the cached tree of the base recipe");
        }

        /* What must be unpacked by hand before dpkg can run: the Essential packages and what they need. */
        r = deb_resolve(plan->repo, &(ResolveOptions) {
                                .priority = _DEB_PRIORITY_INVALID,
                                .exclude = exclude,
                        }, &plan->essential, &plan->n_essential, reterr_message);
        if (r < 0)
                return r;

        if (asprintf(&plan->debs_dir, "%s/debs", o->cache_dir) < 0)
                return -ENOMEM;
        if (mkdir(plan->debs_dir, 0755) < 0 && errno != EEXIST)
                return error_message(reterr_message, -errno, "Failed to create %s: %m", plan->debs_dir);
        debs_fd = open(plan->debs_dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        if (debs_fd < 0)
                return error_message(reterr_message, -errno, "Failed to open %s: %m", plan->debs_dir);

        /* Leftovers of killed runs; an hour is far longer than any download takes. */
        download_clean_stale(debs_fd, 3600);
        /* The downloads themselves are part of the install, where the essential packages are unpacked
         * as they arrive. Here only how many there will be (by size; the digests are checked there). */
        for (size_t i = 0; i < plan->n_install; i++) {
                _cleanup_free_ char *name = deb_file_name(plan->install[i]);
                struct stat st;

                if (!name)
                        return -ENOMEM;
                if (fstatat(debs_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
                    (uint64_t) st.st_size != plan->install[i]->size)
                        plan->n_downloaded++;
        }
        plan->bytes_downloaded += plan->repo->bytes_downloaded;

        *ret = TAKE_PTR(plan);
        return 0;
}

/* What dpkg and the maintainer scripts say goes into one log, log_fd (a memfd bootstrap_install() owns);
 * shown (the end of it) only on failure. */
static int tree_run_logged(int tree_fd, int log_fd, char * const argv[]) {
        return build_env_run(tree_fd, argv, /* extra_env= */ NULL, log_fd);
}

/* The last lines of the build log, for an error message. */
static char* build_log_tail(int log_fd) {
        char buf[4096];
        off_t end;
        ssize_t n;
        char *p;

        if (log_fd < 0)
                return NULL;
        end = lseek(log_fd, 0, SEEK_END);
        if (end < 0)
                return NULL;
        n = pread(log_fd, buf, sizeof(buf) - 1, MAX(end - (off_t) sizeof(buf) + 1, (off_t) 0));
        if (n <= 0)
                return NULL;
        buf[n] = 0;
        /* From the start of the 15th line from the end. */
        p = buf + n;
        for (unsigned lines = 0; p > buf && lines < 15; p--)
                if (p[-1] == '\n' && p != buf + n)
                        lines++;
        return strdup(p);
}

/* dpkg ACTION… /var/cache/mkmachine-debs/SHA.deb… for those of list that are essential (if essential
 * is true) or not (false), or all of them (-1), but those with skip[i] set (if skip is non-NULL). */
static int run_dpkg(int tree_fd, int log_fd, const BootstrapPlan *plan, DebPackage * const *list,
                    size_t n_list, const bool *skip, char * const *action, int essential,
                    char **reterr_message) {
        _cleanup_strv_free_ char **argv = NULL;
        size_t n = 0;
        int r;

        r = strv_extend(&argv, "/usr/bin/dpkg");
        if (r >= 0)
                r = strv_extend_strv(&argv, (char**) action);
        for (size_t i = 0; r >= 0 && i < n_list; i++) {
                const DebPackage *p = list[i];
                char *path;

                if (essential >= 0 && in_list(plan->essential, plan->n_essential, p) != essential)
                        continue;
                if (skip && skip[i])
                        continue;
                if (asprintf(&path, "/" DEBS_IN_TREE "/%s.deb", p->sha256) < 0)
                        return -ENOMEM;
                r = strv_push(&argv, path);
                if (r < 0)
                        free(path);
                n++;
        }
        if (r < 0)
                return r;
        if (n == 0)
                return 0;

        r = tree_run_logged(tree_fd, log_fd, argv);
        if (r < 0)
                return error_message(reterr_message, r, "Failed to run dpkg in the new tree: %s",
                                     strerror(-r));
        if (r != 0) {
                _cleanup_free_ char *cmd = strv_join((char**) action, " "), *tail = build_log_tail(log_fd);
                return error_message(reterr_message, -EPROTO,
                                     "dpkg %s failed (exit status %i) for %zu packages:\n%s",
                                     strna(cmd), r, n, strna(tail));
        }
        return 0;
}

static int write_file_in_tree(int tree_fd, const char *path, const char *content, mode_t mode) {
        _cleanup_close_ int fd = openat_in_root(tree_fd, path, O_WRONLY|O_CREAT|O_TRUNC, mode);

        if (fd < 0)
                return fd;
        return loop_write(fd, content, strlen(content));
}

static int copy_file_in_tree(int tree_fd, const RecipeFile *f) {
        _cleanup_free_ char *content = NULL;
        struct stat st;
        int r;

        if (stat(f->source, &st) < 0)
                return -errno;
        r = read_full_file_at(AT_FDCWD, f->source, 64 * 1024 * 1024, &content, NULL);
        if (r < 0)
                return r;
        return write_file_in_tree(tree_fd, f->target + 1, content, st.st_mode & 07777);
}

/* The machine's apt sources: every suite of the plan, as the release's installer writes them. One-line
 * (/etc/apt/sources.list): the suite, those of other mirrors (security), then the other suites of the
 * mirror. deb822 (/etc/apt/sources.list.d/DISTRIBUTION.sources, no sources.list): a paragraph per
 * mirror, signed by the recipe's keyring (where the distribution's keyring package puts it). */
static int write_apt_sources(const BootstrapPlan *plan, int tree_fd) {
        const Recipe *recipe = plan->recipe;
        const AptRepo *repo = plan->repo;
        _cleanup_free_ char *components = NULL, *text = NULL, *path = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        components = strv_join(recipe->components, " ");
        if (!components)
                return -ENOMEM;
        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;

        if (recipe->sources_format == SOURCES_FORMAT_DEB822) {
                _cleanup_strv_free_ char **mirrors = NULL;

                r = strv_extend(&mirrors, repo->mirror);
                for (size_t i = 0; r >= 0 && i < repo->n_updates; i++)
                        if (!strv_contains(mirrors, repo->updates[i].mirror))
                                r = strv_extend(&mirrors, repo->updates[i].mirror);
                if (r < 0) {
                        fclose(f);
                        return r;
                }
                STRV_FOREACH(m, mirrors) {
                        fprintf(f, "%sTypes: deb\nURIs: %s\nSuites:", m == mirrors ? "" : "\n", *m);
                        if (streq(*m, repo->mirror))
                                fprintf(f, " %s", repo->suite);
                        for (size_t i = 0; i < repo->n_updates; i++)
                                if (streq(repo->updates[i].mirror, *m))
                                        fprintf(f, " %s", repo->updates[i].suite);
                        fprintf(f, "\nComponents: %s\n", components);
                        if (recipe->keyring)
                                fprintf(f, "Signed-By: %s\n", recipe->keyring);
                }
                if (asprintf(&path, "etc/apt/sources.list.d/%s.sources",
                             distribution_to_string(recipe->distribution)) < 0) {
                        fclose(f);
                        return -ENOMEM;
                }
        } else {
                fprintf(f, "deb %s %s %s\n", repo->mirror, repo->suite, components);
                for (int same = 0; same < 2; same++)
                        for (size_t i = 0; i < repo->n_updates; i++)
                                if (streq(repo->updates[i].mirror, repo->mirror) == same)
                                        fprintf(f, "deb %s %s %s\n", repo->updates[i].mirror,
                                                repo->updates[i].suite, components);
                path = strdup("etc/apt/sources.list");
                if (!path) {
                        fclose(f);
                        return -ENOMEM;
                }
        }
        if (fflush(f) != 0 || ferror(f)) {
                fclose(f);
                return -ENOMEM;
        }
        if (fclose(f) != 0)
                return -ENOMEM;

        if (recipe->sources_format == SOURCES_FORMAT_DEB822) {
                _cleanup_close_ int apt_fd = -EBADF;

                r = unlinkat_in_root(tree_fd, "etc/apt/sources.list", 0);
                if (r < 0 && r != -ENOENT)
                        return r;
                apt_fd = openat_in_root(tree_fd, "etc/apt", O_RDONLY|O_DIRECTORY, 0);
                if (apt_fd < 0)
                        return apt_fd;
                if (mkdirat(apt_fd, "sources.list.d", 0755) < 0 && errno != EEXIST)
                        return -errno;
        }
        return write_file_in_tree(tree_fd, path, text, 0644);
}

static int setup(const BootstrapPlan *plan, int tree_fd, int log_fd, char **reterr_message) {
        const Recipe *recipe = plan->recipe;
        int r;

        /* apt inside works like on any installed system, its sources written as the installer does. */
        r = write_apt_sources(plan, tree_fd);
        if (r < 0)
                return error_message(reterr_message, r,
                                     "Failed to write the apt sources of the new tree: %s", strerror(-r));

        if (recipe->hostname) {
                r = write_file_in_tree(tree_fd, "etc/hostname", strjoina(recipe->hostname, "\n"), 0644);
                if (r < 0)
                        return error_message(reterr_message, r, "Failed to write /etc/hostname: %s",
                                             strerror(-r));
        } else
                /* systemd-nspawn then names the machine's host after the machine. */
                (void) unlinkat_in_root(tree_fd, "etc/hostname", 0);

        if (recipe->locale) {
                r = write_file_in_tree(tree_fd, "etc/default/locale", strjoina("LANG=", recipe->locale,
                                                                               "\n"), 0644);
                if (r < 0)
                        return error_message(reterr_message, r, "Failed to write /etc/default/locale: %s",
                                             strerror(-r));
        }

        if (recipe->timezone) {
                char target[PATH_MAX];

                (void) snprintf(target, sizeof(target), "/usr/share/zoneinfo/%s", recipe->timezone);
                (void) unlinkat_in_root(tree_fd, "etc/localtime", 0);
                r = symlinkat_in_root(target, tree_fd, "etc/localtime");
                if (r < 0)
                        return error_message(reterr_message, r, "Failed to link /etc/localtime: %s",
                                             strerror(-r));
                r = write_file_in_tree(tree_fd, "etc/timezone", strjoina(recipe->timezone, "\n"), 0644);
                if (r < 0)
                        return error_message(reterr_message, r, "Failed to write /etc/timezone: %s",
                                             strerror(-r));
        }

        if (recipe->root_locked != 0) {
                r = tree_run_logged(tree_fd, log_fd, STRV_MAKE("/usr/bin/passwd", "--lock", "root"));
                if (r != 0)
                        return error_message(reterr_message, r < 0 ? r : -EPROTO,
                                             "Failed to lock the root account.");
        }

        STRV_FOREACH(s, recipe->enable_services) {
                r = tree_run_logged(tree_fd, log_fd,
                                    STRV_MAKE("/usr/bin/systemctl", "enable", "--quiet", *s));
                if (r != 0)
                        return error_message(reterr_message, r < 0 ? r : -EPROTO,
                                             "Failed to enable %s in the new tree.", *s);
        }

        for (size_t i = 0; i < recipe->n_files; i++) {
                r = copy_file_in_tree(tree_fd, recipe->files + i);
                if (r < 0)
                        return error_message(reterr_message, r, "Failed to copy %s to %s: %s",
                                             recipe->files[i].source,
                                             recipe->files[i].target, strerror(-r));
        }

        /* Starting from the base's tree, the base's commands have run already. */
        char **own = recipe->commands && plan->base_tree_name ? recipe->commands + recipe->n_base_commands :
                                                                recipe->commands;
        STRV_FOREACH(c, own) {
                r = tree_run_logged(tree_fd, log_fd, STRV_MAKE("/bin/sh", "-c", *c));
                if (r != 0)
                        return error_message(reterr_message, r < 0 ? r : -EPROTO,
                                             "Command '%s' failed in the new tree "
                                             "(exit status %i).", *c, r);
        }
        return 0;
}

/* What must not be shared between machines made from the same tree. */
static int clean(int tree_fd) {
        static const char *const gone[] = {
                "var/lib/dbus/machine-id",
                "etc/ssh/ssh_host_rsa_key", "etc/ssh/ssh_host_rsa_key.pub",
                "etc/ssh/ssh_host_ecdsa_key", "etc/ssh/ssh_host_ecdsa_key.pub",
                "etc/ssh/ssh_host_ed25519_key", "etc/ssh/ssh_host_ed25519_key.pub",
                "var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin",
        };
        int r;

        /* Packages and their scripts made this tree: none of its symlinks may lead out of it. */
        for (size_t i = 0; i < ELEMENTSOF(gone); i++) {
                r = unlinkat_in_root(tree_fd, gone[i], 0);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        /* Empty, not missing: systemd then makes a fresh one at first boot. */
        r = write_file_in_tree(tree_fd, "etc/machine-id", "", 0444);
        if (r < 0)
                return r;
        return tree_finish(tree_fd);
}

/* Keeps a copy of the finished tree for the next machine from the same recipe, replacing older ones
 * of that recipe. Best effort: a failure costs only speed next time. */
static void tree_cache_save(const BootstrapPlan *plan, int tree_fd) {
        _cleanup_close_ int trees_fd = -EBADF, tmp_fd = -EBADF;
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_free_ char *tmp = NULL;
        int r;

        if (!plan->tree_name)
                return;
        if (mkdir(plan->trees_dir, 0700) < 0 && errno != EEXIST)
                return;
        trees_fd = open(plan->trees_dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        if (trees_fd < 0 || asprintf(&tmp, ".#%s.%016" PRIx64, plan->tree_name, random_u64()) < 0)
                return;
        if (mkdirat(trees_fd, tmp, 0755) < 0)
                return;
        tmp_fd = openat(trees_fd, tmp, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        r = tmp_fd < 0 ? -errno : copy_tree_at(tree_fd, tmp_fd, NULL, NULL);
        if (r >= 0)
                r = rename_noreplace(trees_fd, tmp, trees_fd, plan->tree_name);
        if (r < 0) {
                log_debug_errno(r, "Failed to cache the tree, ignoring: %m");
                (void) rm_rf_at(trees_fd, tmp);
                return;
        }

        /* Older trees of this recipe (an older Release, other options) and leftovers of killed runs. */
        d = opendir_dup(trees_fd);
        if (!d)
                return;
        for (struct dirent *de; (de = readdir(d));) {
                const char *rest = startswith(de->d_name, plan->recipe->name);
                bool ours = rest && rest[0] == '-' && strlen(rest) == 17;

                if ((ours || startswith(de->d_name, ".#")) && !streq(de->d_name, plan->tree_name) &&
                    !streq(de->d_name, tmp))
                        (void) rm_rf_at(trees_fd, de->d_name);
        }
}

/* Unpacks every package in parallel, as it arrives, and registers it in dpkg's database in the tree, so
 * that dpkg only has to configure them (see deb_unpack_register()): one process per CPU takes the index
 * of the next package from a pipe. They share no state but the tree, where creating a directory that
 * exists already is fine, and each writes files of its own into the info database and into
 * REGISTER_DIR, which register_merge() then merges. */
#define UNPACKERS_MAX 8U
#define REGISTER_NAME "mkmachine-register"
#define REGISTER_DIR "var/lib/dpkg/" REGISTER_NAME

typedef struct Unpackers {
        const BootstrapPlan *plan;
        pid_t pids[UNPACKERS_MAX];
        unsigned n;
        int queue[2];           /* package indices; we keep the read end open: no SIGPIPE */
        int errors[2];          /* the first error message */
} Unpackers;

static _noreturn_ void unpacker_run(Unpackers *u, int debs_fd, int tree_fd) {
        const BootstrapPlan *plan = u->plan;
        _cleanup_close_ int info_fd = -EBADF, register_fd = -EBADF;
        uint32_t i;

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        u->queue[1] = safe_close(u->queue[1]);

        /* Other workers may be unpacking already: nothing is resolved through the tree's symlinks. */
        info_fd = openat_in_root(tree_fd, "var/lib/dpkg/info", O_RDONLY|O_DIRECTORY, 0);
        register_fd = openat_in_root(tree_fd, REGISTER_DIR, O_RDONLY|O_DIRECTORY, 0);
        if (info_fd < 0 || register_fd < 0)
                _exit(EIO);

        while (read(u->queue[0], &i, sizeof(i)) == (ssize_t) sizeof(i)) {
                const DebPackage *p;
                _cleanup_free_ char *name = NULL, *msg = NULL, *line = NULL;
                _cleanup_close_ int fd = -EBADF;
                char out[16];
                int r;

                if (i == UINT32_MAX)    /* the end */
                        _exit(EXIT_SUCCESS);
                if (i >= plan->n_install)
                        _exit(EINVAL);
                p = plan->install[i];
                name = deb_file_name(p);
                if (!name)
                        _exit(ENOMEM);
                /* Checked once more, and unpacked from the very file that was checked: the cache is
                 * shared and may have been tampered with since. */
                fd = openat(debs_fd, name, O_RDONLY|O_NOFOLLOW|O_CLOEXEC);
                r = fd < 0 ? -errno : file_verify_fd(fd, p->size, p->sha256);
                if (r < 0)
                        (void) asprintf(&line, "Cached package %s/%s does not match its digest.",
                                        plan->debs_dir, name);
                else {
                        (void) snprintf(out, sizeof(out), "%" PRIu32, i);
                        r = deb_unpack_register(fd, tree_fd, info_fd, p->name, p->version, register_fd, out,
                                                &msg);
                        if (r < 0)
                                (void) asprintf(&line, "Failed to unpack %s: %s", p->name,
                                                msg ?: strerror(-r));
                }
                if (r < 0) {
                        if (line)
                                (void) loop_write(u->errors[1], line, strlen(line));
                        _exit(MIN(-r, 255));
                }
        }
        _exit(EIO);
}

static int unpackers_start(Unpackers *u, const BootstrapPlan *plan, int debs_fd, int tree_fd) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned n = (unsigned) MIN(MAX(cpus, 1L), (long) UNPACKERS_MAX);

        *u = (Unpackers) {
                .plan = plan,
                .queue = { -EBADF, -EBADF },
                .errors = { -EBADF, -EBADF },
        };
        if (mkdirat(tree_fd, REGISTER_DIR, 0700) < 0)
                return -errno;
        if (pipe2(u->queue, O_CLOEXEC) < 0 || pipe2(u->errors, O_CLOEXEC) < 0)
                return -errno;
        for (unsigned w = 0; w < n; w++) {
                pid_t pid = fork();

                if (pid < 0)
                        return -errno;
                if (pid == 0)
                        unpacker_run(u, debs_fd, tree_fd);
                u->pids[u->n++] = pid;
        }
        u->errors[1] = safe_close(u->errors[1]);
        return 0;
}

/* Queues package i (a write of 4 bytes to a pipe is atomic, each worker reads whole ones). */
static int unpackers_queue(Unpackers *u, uint32_t i) {
        return loop_write(u->queue[1], &i, sizeof(i));
}

static int unpackers_finish(Unpackers *u, bool kill_them, char **reterr_message) {
        int r = 0;

        for (unsigned w = 0; w < u->n; w++)
                if (kill_them)
                        (void) kill(u->pids[w], SIGKILL);
                else
                        RET_GATHER(r, unpackers_queue(u, UINT32_MAX));
        for (unsigned w = 0; w < u->n; w++) {
                siginfo_t si = {};

                int k = wait_for_child(u->pids[w], &si);

                if (k < 0)
                        RET_GATHER(r, k);
                else if (si.si_code != CLD_EXITED)
                        RET_GATHER(r, -ECHILD);
                else if (si.si_status != 0)
                        RET_GATHER(r, -si.si_status);
        }
        u->n = 0;
        if (r < 0 && !kill_them) {
                char buf[1024];
                ssize_t n = read(u->errors[0], buf, sizeof(buf) - 1);

                buf[MAX(n, (ssize_t) 0)] = 0;
                r = error_message(reterr_message, r, "%s", n > 0 ? buf : "Failed to unpack the packages.");
        }
        close_pairp(&u->queue);
        close_pairp(&u->errors);
        return r;
}

static void unpackers_downloaded(const DownloadItem *item, void *userdata) {
        Unpackers *u = userdata;

        for (size_t i = 0; i < u->plan->n_install; i++) {
                _cleanup_free_ char *name = deb_file_name(u->plan->install[i]);

                if (name && streq(name, item->name)) {
                        (void) unpackers_queue(u, (uint32_t) i);
                        return;
                }
        }
}

/* The name dpkg knows an installed package by: "NAME:ARCH" for Multi-Arch: same. */
static char* dpkg_name(const DebPackage *p) {
        return dpkg_info_name(p->name, p->architecture, p->multi_arch && streq(p->multi_arch, "same"));
}

/* Unregisters info_name: removes info_name.* from the info database (dpkg --unpack installs it then). */
static int unregister(int info_fd, const char *info_name) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        d = opendir_dup(info_fd);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                const char *rest = startswith(de->d_name, info_name);

                if (rest && rest[0] == '.' && !strchr(rest + 1, '.') &&
                    unlinkat(info_fd, de->d_name, 0) < 0)
                        return -errno;
        }
        return 0;
}

typedef struct TriggerInterests {
        int triggers_fd;
        FILE *file;             /* triggers/File */
        const char *info_name;
} TriggerInterests;

static int trigger_interest_add(DpkgTriggerKind kind, const char *name, void *userdata) {
        TriggerInterests *t = userdata;
        const char *noawait = kind == DPKG_TRIGGER_INTEREST_NOAWAIT ? "/noawait" : "";
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *line = NULL;

        /* Activations need no record: every interested package is unpacked, not configured, and dpkg
         * ignores activations for those (their postinst configure does the work). */
        if (kind != DPKG_TRIGGER_INTEREST && kind != DPKG_TRIGGER_INTEREST_NOAWAIT)
                return 0;
        if (name[0] == '/') {
                fprintf(t->file, "%s %s%s\n", name, t->info_name, noawait);
                return ferror(t->file) ? -ENOMEM : 0;
        }
        fd = openat(t->triggers_fd, name, O_WRONLY|O_CREAT|O_APPEND|O_NOFOLLOW|O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        if (asprintf(&line, "%s%s\n", t->info_name, noawait) < 0)
                return -ENOMEM;
        return loop_write(fd, line, strlen(line));
}

/* Merges what the unpackers registered into dpkg's status file and trigger interests. A package whose
 * files another package unpacked before it also has (it takes them over with Replaces, or dpkg refuses
 * it) is unregistered, for dpkg --unpack to handle. Sets registered[i] for each of plan->install. */
static int register_merge(const BootstrapPlan *plan, int dpkg_fd, bool *registered, char **reterr_message) {
        _cleanup_close_ int register_fd = -EBADF, info_fd = -EBADF, triggers_fd = -EBADF;
        _cleanup_(hashmap_freep) Hashmap *owners = NULL;
        _cleanup_free_ char *status = NULL, *file_triggers = NULL;
        _cleanup_strv_free_ char **buffers = NULL;
        _cleanup_fclose_ FILE *st = NULL, *ft = NULL;
        size_t status_size = 0, file_triggers_size = 0;
        int r;

        register_fd = openat(dpkg_fd, REGISTER_NAME, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        info_fd = openat(dpkg_fd, "info", O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        triggers_fd = openat(dpkg_fd, "triggers", O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        if (register_fd < 0 || info_fd < 0 || triggers_fd < 0)
                return error_message(reterr_message, -errno,
                                     "Failed to open dpkg's database in the new tree: %m");
        owners = hashmap_new();
        st = open_memstream(&status, &status_size);
        ft = open_memstream(&file_triggers, &file_triggers_size);
        if (!owners || !st || !ft)
                return -ENOMEM;

        for (size_t i = 0; i < plan->n_install; i++) {
                _cleanup_free_ char *entry = NULL, *paths = NULL, *triggers = NULL;
                char name[16], *paragraph, *line;
                bool taken = false;

                registered[i] = false;
                (void) snprintf(name, sizeof(name), "%" PRIu32, (uint32_t) i);
                r = read_full_file_at(register_fd, name, 16U << 20, &entry, NULL);
                if (r == -ENOENT)
                        continue;       /* left to dpkg */
                if (r >= 0)
                        r = read_full_file_at(register_fd, strjoina(name, ".paths"), 256U << 20, &paths,
                                              NULL);
                if (r < 0)
                        return error_message(reterr_message, r, "Failed to read what %s registered: %s",
                                             plan->install[i]->name, strerror(-r));
                paragraph = strchr(entry, '\n');
                if (!paragraph)
                        return -EBADMSG;
                *paragraph++ = 0;

                /* Has a package before it any of its files? */
                for (char *p = paths; p && *p; p = line) {
                        line = strchrnul(p, '\n');
                        if (*line)
                                *line++ = 0;
                        if (hashmap_get(owners, p)) {
                                log_debug("%s has %s of %s too: leaving it to dpkg.", plan->install[i]->name,
                                          p, (const char*) hashmap_get(owners, p));
                                taken = true;
                                break;
                        }
                }
                if (taken) {
                        r = unregister(info_fd, entry);
                        if (r < 0)
                                return error_message(reterr_message, r, "Failed to unregister %s: %s", entry,
                                                     strerror(-r));
                        continue;
                }
                for (char *p = paths; p && *p; p += strlen(p) + 1) {
                        r = hashmap_put(owners, p, (char*) plan->install[i]->name);
                        if (r < 0 && r != -EEXIST)
                                return r;
                }
                r = strv_push(&buffers, TAKE_PTR(paths));
                if (r < 0)
                        return r;

                fprintf(st, "%s\n", paragraph);
                r = read_full_file_at(info_fd, strjoina(entry, ".triggers"), 1U << 20, &triggers, NULL);
                if (r >= 0) {
                        TriggerInterests t = {
                                .triggers_fd = triggers_fd,
                                .file = ft,
                                .info_name = entry,
                        };
                        _cleanup_free_ char *msg = NULL;

                        r = dpkg_triggers_parse(triggers, strlen(triggers), trigger_interest_add, &t, &msg);
                        if (r < 0)
                                return error_message(reterr_message, r, "Package %s: %s",
                                                     plan->install[i]->name,
                                                     msg ?: strerror(-r));
                } else if (r != -ENOENT)
                        return error_message(reterr_message, r, "Failed to read %s.triggers: %s", entry,
                                             strerror(-r));
                registered[i] = true;
        }
        if (fflush(st) != 0 || ferror(st) || fclose(TAKE_PTR(st)) != 0 ||
            fflush(ft) != 0 || ferror(ft) || fclose(TAKE_PTR(ft)) != 0)
                return -ENOMEM;

        r = write_file_atomic_at(triggers_fd, "File", file_triggers, file_triggers_size, 0644);
        if (r >= 0)
                r = write_file_atomic_at(triggers_fd, "Unincorp", "", 0, 0644);
        if (r >= 0)
                r = write_file_atomic_at(dpkg_fd, "status", status, status_size, 0644);
        if (r < 0)
                return error_message(reterr_message, r,
                                     "Failed to write dpkg's database in the new tree: %s",
                                     strerror(-r));
        return 0;
}

/* Runs the preinst of each registered package of plan->install that is essential (or not), as dpkg
 * would before unpacking it: "preinst install", with dpkg's environment for maintainer scripts. */
static int run_preinsts(int tree_fd, int log_fd, int dpkg_fd, const BootstrapPlan *plan,
                        const bool *registered, bool essential,
                        char **reterr_message) {
        _cleanup_close_ int register_fd = -EBADF, info_fd = -EBADF;
        const DebPackage *dpkg = NULL;
        int r;

        register_fd = openat(dpkg_fd, REGISTER_NAME, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        info_fd = openat(dpkg_fd, "info", O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        if (register_fd < 0 || info_fd < 0)
                return -errno;

        for (size_t i = 0; i < plan->n_install; i++)
                if (streq(plan->install[i]->name, "dpkg"))
                        dpkg = plan->install[i];

        for (size_t i = 0; i < plan->n_install; i++) {
                const DebPackage *p = plan->install[i];
                _cleanup_free_ char *name = NULL, *script = NULL, *templates = NULL, *e_package = NULL,
                        *e_arch = NULL, *e_version = NULL;
                _cleanup_close_ int ci_fd = -EBADF;
                char number[16];

                if (!registered[i] || in_list(plan->essential, plan->n_essential, p) != essential)
                        continue;
                name = dpkg_name(p);
                if (!name || asprintf(&script, "%s.preinst", name) < 0 ||
                    asprintf(&templates, "%s.templates", name) < 0)
                        return -ENOMEM;
                if (faccessat(info_fd, script, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;

                /* dpkg runs it from var/lib/dpkg/tmp.ci/, with the control file and the debconf
                 * templates beside it, and debconf finds the package's name and templates there. */
                (void) rm_rf_at(dpkg_fd, "tmp.ci");
                if (mkdirat(dpkg_fd, "tmp.ci", 0755) < 0)
                        return -errno;
                ci_fd = openat(dpkg_fd, "tmp.ci", O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
                if (ci_fd < 0)
                        return -errno;
                (void) snprintf(number, sizeof(number), "%" PRIu32, (uint32_t) i);
                if (linkat(info_fd, script, ci_fd, "preinst", 0) < 0 ||
                    linkat(register_fd, strjoina(number, ".control"), ci_fd, "control", 0) < 0 ||
                    (linkat(info_fd, templates, ci_fd, "templates", 0) < 0 && errno != ENOENT))
                        return -errno;

                if (asprintf(&e_package, "DPKG_MAINTSCRIPT_PACKAGE=%s", p->name) < 0 ||
                    asprintf(&e_arch, "DPKG_MAINTSCRIPT_ARCH=%s", p->architecture) < 0 ||
                    asprintf(&e_version, "DPKG_RUNNING_VERSION=%s", dpkg ? dpkg->version : "") < 0)
                        return -ENOMEM;

                r = build_env_run(tree_fd, STRV_MAKE("/var/lib/dpkg/tmp.ci/preinst", "install"),
                                  STRV_MAKE(e_package, e_arch, e_version,
                                            "DPKG_MAINTSCRIPT_NAME=preinst",
                                            "DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT=1",
                                            "DPKG_MAINTSCRIPT_DEBUG=0",
                                            "DPKG_ADMINDIR=/var/lib/dpkg",
                                            "DPKG_ROOT="),
                                  log_fd);
                (void) rm_rf_at(dpkg_fd, "tmp.ci");
                if (r < 0)
                        return error_message(reterr_message, r, "Failed to run the preinst of %s: %s",
                                             p->name,
                                             strerror(-r));
                if (r != 0) {
                        _cleanup_free_ char *tail = build_log_tail(log_fd);
                        return error_message(reterr_message, -EPROTO,
                                             "The preinst of %s failed (exit status %i):\n%s", p->name, r,
                                             strna(tail));
                }
        }
        return 0;
}

/* The host name the build's commands see: the machine's, as it will be, if it is a valid one. */
static const char* build_hostname(const BootstrapPlan *plan) {
        const char *name = plan->recipe->hostname ?: plan->options->hostname;

        return name && !isempty(name) && strlen(name) <= HOST_NAME_MAX ? name : "localhost";
}

/* dpkg --configure --force-depends for the essential packages of plan->install. */
static int configure_essential(int tree_fd, int log_fd, const BootstrapPlan *plan, char **reterr_message) {
        _cleanup_strv_free_ char **argv = NULL;
        int r;

        r = strv_extend_strv(&argv, STRV_MAKE("/usr/bin/dpkg", "--configure", "--force-depends",
                                              "--force-unsafe-io"));
        for (size_t i = 0; r >= 0 && i < plan->n_install; i++) {
                char *name;

                if (!in_list(plan->essential, plan->n_essential, plan->install[i]))
                        continue;
                name = dpkg_name(plan->install[i]);
                if (!name)
                        return -ENOMEM;
                r = strv_push(&argv, name);
                if (r < 0)
                        free(name);
        }
        if (r < 0)
                return r;
        r = tree_run_logged(tree_fd, log_fd, argv);
        if (r != 0) {
                _cleanup_free_ char *tail = build_log_tail(log_fd);
                return error_message(reterr_message, r < 0 ? r : -EPROTO,
                                     "dpkg --configure of the essential packages failed:\n%s", strna(tail));
        }
        return 0;
}

int bootstrap_install(const BootstrapPlan *plan, int tree_fd, char **reterr_message) {
        _cleanup_close_ int debs_fd = -EBADF, dpkg_fd = -EBADF, log_fd = -EBADF;
        _cleanup_free_ bool *registered = NULL;
        int r;

        assert(plan);

        if (plan->tree_cached) {
                _cleanup_close_ int cached = -EBADF;
                _cleanup_free_ char *path = NULL;

                step(plan->options, "Copying the cached tree");
                cached = open(strjoina(plan->trees_dir, "/", plan->tree_name),
                              O_RDONLY|O_DIRECTORY|O_CLOEXEC);
                if (cached < 0)
                        return error_message(reterr_message, -errno, "Failed to open the cached tree: %m");
                r = copy_tree_at(cached, tree_fd, NULL, &path);
                if (r < 0)
                        return error_message(reterr_message, r, "Failed to copy the cached tree (%s): %s",
                                             strna(path),
                                             strerror(-r));
                return 0;
        }

        debs_fd = open(plan->debs_dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        if (debs_fd < 0)
                return error_message(reterr_message, -errno, "Failed to open %s: %m", plan->debs_dir);

        if (plan->base_tree_name) {
                _cleanup_close_ int base = -EBADF;
                _cleanup_free_ char *path = NULL;

                step(plan->options, "Copying the cached tree of the base recipe");
                base = open(strjoina(plan->trees_dir, "/", plan->base_tree_name),
                            O_RDONLY|O_DIRECTORY|O_CLOEXEC);
                if (base < 0)
                        return error_message(reterr_message, -errno,
                                             "Failed to open the cached tree of recipe '%s': %m",
                                             plan->base_recipe->name);
                r = copy_tree_at(base, tree_fd, NULL, &path);
                if (r < 0)
                        return error_message(reterr_message, r,
                                             "Failed to copy the cached tree of recipe '%s' (%s): %s",
                                             plan->base_recipe->name, strna(path), strerror(-r));
                r = tree_resume(tree_fd);
        } else
                r = tree_prepare(tree_fd, plan->repo->architecture);
        if (r < 0)
                return error_message(reterr_message, r, "Failed to prepare the new tree: %s", strerror(-r));

        if (plan->base_tree_name)
                r = download_packages(plan, debs_fd, NULL, NULL, reterr_message);
        else {
                Unpackers u;

                /* Every package is unpacked and registered while the others still download. */
                step(plan->options, "Unpacking the packages");
                registered = calloc(MAX(plan->n_install, (size_t) 1), sizeof(bool));
                if (!registered)
                        return -ENOMEM;
                r = unpackers_start(&u, plan, debs_fd, tree_fd);
                if (r >= 0)
                        r = download_packages(plan, debs_fd, unpackers_downloaded, &u, reterr_message);
                if (r < 0) {
                        (void) unpackers_finish(&u, true, NULL);
                        return r;
                }
                r = unpackers_finish(&u, false, reterr_message);
                if (r >= 0) {
                        /* Packages made the tree: nothing is resolved through its symlinks. */
                        dpkg_fd = openat_in_root(tree_fd, "var/lib/dpkg", O_RDONLY|O_DIRECTORY, 0);
                        if (dpkg_fd < 0)
                                return error_message(reterr_message, dpkg_fd,
                                                     "Failed to open dpkg's database in the new tree: %s",
                                                     strerror(-dpkg_fd));
                        r = register_merge(plan, dpkg_fd, registered, reterr_message);
                }
        }
        if (r < 0)
                return r;

        log_fd = memfd_create("build-log", MFD_CLOEXEC);
        if (log_fd < 0)
                return -errno;

        /* From here on, what runs in the tree runs contained (build-env.h), under the machine's name. */
        r = build_env_setup(tree_fd, build_hostname(plan), plan->debs_dir, DEBS_IN_TREE);
        if (r < 0)
                return error_message(reterr_message, r, "Failed to set up the build environment: %s",
                                     strerror(-r));

        /* As dpkg --install would do it, essential packages first: preinst, unpack (all that is done
         * already but for what dpkg must do itself), configure; then the others. No fsync() per file
         * (--force-unsafe-io): the tree is a temporary, thrown away on any failure. */
        if (!plan->base_tree_name) {
                step(plan->options, "Configuring the essential packages");
                r = run_preinsts(tree_fd, log_fd, dpkg_fd, plan, registered, true, reterr_message);
                if (r >= 0)
                        r = run_dpkg(tree_fd, log_fd, plan, plan->install, plan->n_install, registered,
                                     STRV_MAKE("--unpack", "--force-depends", "--force-unsafe-io"), true,
                                     reterr_message);
                if (r >= 0)
                        r = configure_essential(tree_fd, log_fd, plan, reterr_message);
                if (r >= 0)
                        r = run_preinsts(tree_fd, log_fd, dpkg_fd, plan, registered, false, reterr_message);
                if (r >= 0)
                        r = rm_rf_at(dpkg_fd, REGISTER_NAME);
                if (r < 0)
                        return r;
        }

        step(plan->options, "Configuring the other packages");
        r = run_dpkg(tree_fd, log_fd, plan, plan->install, plan->n_install, registered,
                     STRV_MAKE("--unpack", "--force-depends", "--force-unsafe-io"),
                     plan->base_tree_name ? -1 : false, reterr_message);
        if (r < 0)
                return r;
        r = tree_run_logged(tree_fd, log_fd, STRV_MAKE("/usr/bin/dpkg", "--configure", "--pending",
                                               "--force-unsafe-io"));
        if (r != 0) {
                _cleanup_free_ char *tail = build_log_tail(log_fd);
                return error_message(reterr_message, r < 0 ? r : -EPROTO,
                                     "dpkg --configure --pending failed:\n%s",
                                     strna(tail));
        }

        step(plan->options, "Setting up");
        r = setup(plan, tree_fd, log_fd, reterr_message);
        if (r < 0)
                return r;

        r = build_env_teardown(tree_fd, DEBS_IN_TREE);
        if (r < 0)
                return error_message(reterr_message, r, "Failed to unmount what the build mounted: %s",
                                     strerror(-r));
        r = clean(tree_fd);
        if (r < 0)
                return error_message(reterr_message, r, "Failed to clean up the new tree: %s", strerror(-r));

        tree_cache_save(plan, tree_fd);
        return 0;
}
