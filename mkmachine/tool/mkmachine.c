/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fd-util.h"
#include "log.h"
#include "machine-file.h"
#include "machine-glue.h"
#include "macro.h"
#include "progress.h"
#include "bootstrap.h"
#include "recipe.h"
#include "store.h"
#include "strv.h"
#include "string-util.h"
#include "tar-pack.h"
#include "tar-unpack.h"

static const char *arg_image_root = MKMACHINE_IMAGE_ROOT;
static bool arg_json = false;
static bool arg_quiet = false;
static bool arg_force = false;
static bool arg_strip_top = false;
static const char *arg_name = NULL;
static const char *arg_mirror = NULL;
static const char *arg_keyring = NULL;
static const char *arg_recipe = NULL;
static const char *arg_cache_dir = MKMACHINE_CACHE_DIR;
static char **arg_include = NULL;
static char **arg_exclude = NULL;
static bool arg_no_verify = false;
static bool arg_fresh = false;
static const char *arg_format = NULL;

typedef struct Verb {
        const char *name;
        int min_args;   /* not counting the verb */
        int max_args;   /* -1: unbounded */
        int (*run)(int argc, char *argv[]);
} Verb;

static int help(void) {
        printf("mkmachine [OPTIONS…] COMMAND …\n\n"
               "Build and manage systemd-nspawn machines.\n\n"
               "Commands:\n"
               "  bootstrap RECIPE            Build a machine from a recipe (also: mkmachine RECIPE)\n"
               "  import-tar FILE|- NAME      Create machine NAME from a tar archive\n"
               "  list                        List the machines in the store\n"
               "  show NAME                   Show a machine and its origin\n"
               "  remove NAME                 Remove a machine, its settings and its enablement\n"
               "  set NAME                    Change the settings of a machine (see below)\n"
               "  start NAME                  Start a machine (systemd-nspawn@NAME.service)\n"
               "  stop NAME                   Stop a machine\n"
               "  export NAME FILE|-          Write a machine's tree to a tar archive\n"
               "  rename OLD NEW              Rename a machine\n"
               "  clone SOURCE NAME           Copy a machine\n"
               "  help                        Show this help\n"
               "\nOptions:\n"
               "  -h --help                   Show this help\n"
               "     --version                Show package version\n"
               "     --image-root=DIR         Machine store (default: %s)\n"
               "     --json                   Print data as JSON\n"
               "  -q --quiet                  No progress output\n"
               "     --force                  Replace an existing machine; remove: stop it first;\n"
               "                              export: also a running machine\n"
               "     --strip-top              Unpack the archive's single top-level directory\n"
               "     --name=NAME              Name of the machine to bootstrap (default: the recipe's)\n"
               "     --recipe=FILE            Bootstrap from this recipe file\n"
               "     --mirror=URL             Archive to bootstrap from\n"
               "     --keyring=FILE           Keys the archive's Release must be signed with\n"
               "     --include=PKG,…          Install these packages too\n"
               "     --exclude=PKG,…          Never install these packages\n"
               "     --no-verify              Accept an unsigned archive (dangerous)\n"
               "     --fresh                  Bootstrap anew, not from the cached tree of the recipe\n"
               "     --cache-dir=DIR          Package cache (default: %s)\n"
               "     --format=FORMAT          export: tar, tar.gz, tar.zst or tar.xz (default: from\n"
               "                              the file name)\n",
               MKMACHINE_IMAGE_ROOT, MKMACHINE_CACHE_DIR);
        machine_glue_help();
        return 0;
}

static int verb_help(int argc, char *argv[]) {
        return help();
}

static int open_store(bool create, Store *ret) {
        int r;

        r = store_open(arg_image_root, create, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to open the machine store '%s': %m", arg_image_root);
        return 0;
}

static const char* machines_dir(void) {
        return getenv("MKMACHINE_MACHINES_DIR") ?: MACHINE_FILE_DIR_DEFAULT;
}

static int check_machine_name(const char *name) {
        if (!machine_name_is_valid(name))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "Invalid machine name '%s': use a valid host name (letters, "
                                       "digits and '-', labels separated by '.', at most %u characters).",
                                       name, MACHINE_NAME_MAX);
        return 0;
}

/* For verbs from one machine to another: both names valid and different. */
static int open_store_for_two(const char *a, const char *b, Store *ret) {
        int r;

        r = check_machine_name(a);
        if (r >= 0)
                r = check_machine_name(b);
        if (r < 0)
                return r;
        if (streq(a, b))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "'%s' given twice: the names must differ.",
                                       a);
        return open_store(false, ret);
}

/* Says what the store's error codes mean, naming the machine (see store.h). */
static int log_store_error(int r, const char *action, const char *name, Store *s) {
        switch (r) {
        case -EBUSY:
                return log_error_errno(r, "Machine '%s' is in use: it is running, or another mkmachine or "
                                       "machinectl is changing it.", name);
        case -EEXIST:
                return log_error_errno(r, "Machine '%s' already exists%s.", name,
                                       streq(action, "rename") ? "" : " (use --force to replace it)");
        case -ENOENT:
                return log_error_errno(r, "No machine '%s' in '%s'.", name, s->root);
        case -ENOTDIR:
                return log_error_errno(r, "'%s/%s' exists and is not a machine directory.", s->root, name);
        case -EINTR:
                return log_error_errno(r, "Interrupted; removed the unfinished machine '%s'.", name);
        case -ECHILD:
                return log_error_errno(r, "Building '%s' crashed; removed the unfinished machine.", name);
        default:
                return log_error_errno(r, "Failed to %s machine '%s': %m", action, name);
        }
}

static char* format_time(char *buf, size_t size, usec_t t) {
        time_t sec = (time_t) (t / USEC_PER_SEC);
        struct tm tm;

        if (t == 0 || !localtime_r(&sec, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                return strcpy(buf, "-");
        return buf;
}

/* The origin record as a JSON object (a new reference), or NULL. */
static json_object* origin_json(const MachineInfo *i) {
        json_object *j;

        if (!i->origin)
                return NULL;
        j = json_tokener_parse(i->origin);
        if (j && !json_object_is_type(j, json_type_object)) {
                json_object_put(j);
                return NULL;
        }
        return j;
}

static const char* origin_string(json_object *o, const char *key) {
        json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static json_object* machine_info_to_json(const MachineInfo *i) {
        json_object *j = json_object_new_object(), *o = origin_json(i);
        char t[64];

        if (!j) {
                json_object_put(o);
                return NULL;
        }
        json_object_object_add(j, "name", json_object_new_string(i->name));
        json_object_object_add(j, "type", json_object_new_string(machine_type_to_string(i->type)));
        json_object_object_add(j, "path", json_object_new_string(
                        strjoina(arg_image_root, "/", i->name, i->type == MACHINE_RAW ? ".raw" : "")));
        json_object_object_add(j, "usage", json_object_new_uint64(i->usage));
        json_object_object_add(j, "created_usec", json_object_new_uint64(i->created));
        json_object_object_add(j, "created", i->created > 0 ?
                               json_object_new_string(format_time(t, sizeof(t), i->created)) : NULL);
        json_object_object_add(j, "in_use", json_object_new_boolean(i->in_use));
        json_object_object_add(j, "origin", o);
        return j;
}

static int print_json(json_object *j) {
        if (!j)
                return log_oom();
        puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY|JSON_C_TO_STRING_SPACED|
                                               JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(j);
        return fflush(stdout) == 0 ? 0 : log_error_errno(errno, "Failed to write output: %m");
}

static const char* origin_summary(json_object *o, char *buf, size_t size) {
        const char *src = origin_string(o, "source"), *from = origin_string(o, "cloned_from");

        if (from) {
                (void) snprintf(buf, size, "clone of %s", from);
                return buf;
        }
        return src ?: "-";
}

static int verb_list(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        MachineInfo *l = NULL;
        size_t n = 0, w = 4;
        int r;

        r = open_store(false, &s);
        if (r < 0)
                return r;
        r = store_list(&s, true, &l, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to list machines in '%s': %m", s.root);

        if (arg_json) {
                json_object *a = json_object_new_array();

                for (size_t i = 0; a && i < n; i++)
                        json_object_array_add(a, machine_info_to_json(l + i));
                r = print_json(a);
        } else {
                for (size_t i = 0; i < n; i++)
                        w = MAX(w, strlen(l[i].name));
                printf("%-*s %-9s %7s %-23s %s\n", (int) w, "NAME", "TYPE", "USAGE", "CREATED", "SOURCE");
                for (size_t i = 0; i < n; i++) {
                        char u[FORMAT_BYTES_MAX], t[64], src[PATH_MAX];
                        json_object *o = origin_json(l + i);

                        printf("%-*s %-9s %7s %-23s %s\n", (int) w, l[i].name,
                               machine_type_to_string(l[i].type),
                               format_bytes(u, sizeof(u), l[i].usage), format_time(t, sizeof(t),
                                                                                   l[i].created),
                               origin_summary(o, src, sizeof(src)));
                        json_object_put(o);
                }
        }

        for (size_t i = 0; i < n; i++)
                machine_info_done(l + i);
        free(l);
        return r;
}

static int show_machine(Store *s, const char *name) {
        _cleanup_(machine_info_done) MachineInfo i = {};
        json_object *o;
        char u[FORMAT_BYTES_MAX], t[64];
        int r;

        r = store_get(s, name, true, &i);
        if (r == -EINVAL)
                return log_error_errno(r, "Invalid machine name '%s'.", name);
        if (r == -ENOENT)
                return log_error_errno(r, "No machine '%s' in '%s'.", name, s->root);
        if (r < 0)
                return log_error_errno(r, "Failed to look up machine '%s': %m", name);

        if (arg_json) {
                json_object *j = machine_info_to_json(&i);

                if (!j)
                        return log_oom();
                r = machine_glue_show(name, j);
                if (r < 0) {
                        json_object_put(j);
                        return r;
                }
                return print_json(j);
        }

        o = origin_json(&i);
        printf("       Name: %s\n"
               "       Path: %s/%s%s\n"
               "       Type: %s\n"
               "      Usage: %s\n"
               "    Created: %s\n"
               "      State: %s\n",
               i.name, s->root, i.name, i.type == MACHINE_RAW ? ".raw" : "",
               machine_type_to_string(i.type), format_bytes(u, sizeof(u), i.usage),
               format_time(t, sizeof(t),
                           i.created), i.in_use ? "in use (running or being changed)" : "idle");
        if (o) {
                static const char *const keys[][2] = {
                        { "type", "Source type" },
                        { "source", "Source" },
                        { "compression", "Compression" },
                        { "sha256", "SHA256" },
                        { "cloned_from", "Cloned from" },
                        { "tool", "Made by" },
                };

                for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                        const char *v = origin_string(o, keys[k][0]);
                        if (v)
                                printf("%11s: %s\n", keys[k][1], v);
                }
                json_object_put(o);
        } else
                printf("     Source: unknown (not made by mkmachine)\n");
        return machine_glue_show(name, NULL);
}

static int verb_show(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        int r;

        r = open_store(false, &s);
        if (r < 0)
                return r;
        return show_machine(&s, argv[1]);
}

/* Completes an origin record (time, tool), stores it on the tree's root and frees it. Best effort:
 * a file system without xattrs costs only the record. */
static void origin_write(int tree_fd, json_object *o, const char *what) {
        usec_t now = now_usec(CLOCK_REALTIME);
        char when[64];
        const char *j;

        json_object_object_add(o, "created_usec", json_object_new_uint64(now));
        json_object_object_add(o, "created", json_object_new_string(format_time(when, sizeof(when), now)));
        json_object_object_add(o, "tool", json_object_new_string("mkmachine " PACKAGE_VERSION));

        j = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN|JSON_C_TO_STRING_NOSLASHESCAPE);
        if (fsetxattr(tree_fd, ORIGIN_XATTR, j, strlen(j), 0) < 0)
                log_warning_errno(errno,
                                  "Failed to record the origin of '%s' (no xattr support?), ignoring: %m",
                                  what);
        json_object_put(o);
}

typedef struct ImportTar {
        int fd;
        const char *source;
        uint64_t size;
} ImportTar;

static int import_tar_fill(int tree_fd, void *userdata) {
        ImportTar *t = userdata;
        _cleanup_free_ char *msg = NULL;
        TarUnpackStats stats;
        Progress progress = {};
        json_object *o;
        int r;

        r = tar_unpack(t->fd, tree_fd, arg_strip_top ? TAR_UNPACK_STRIP_TOP : 0, t->size, &progress,
                       &stats, &msg);
        if (r < 0) {
                progress_clear_line();
                return log_error_errno(r, "Failed to import '%s': %s", t->source, msg ?: strerror(-r));
        }

        o = json_object_new_object();
        if (!o)
                return log_oom();
        json_object_object_add(o, "type", json_object_new_string("tar"));
        json_object_object_add(o, "source", json_object_new_string(t->source));
        json_object_object_add(o, "compression",
                               json_object_new_string(compression_to_string(stats.compression)));
        json_object_object_add(o, "sha256", json_object_new_string(stats.sha256));
        json_object_object_add(o, "size", json_object_new_uint64(stats.bytes_in));
        json_object_object_add(o, "entries", json_object_new_uint64(stats.entries));
        origin_write(tree_fd, o, t->source);

        if (!arg_quiet)
                log_info("Unpacked %" PRIu64 " entries from %s (%s, sha256 %s).", stats.entries, t->source,
                         compression_to_string(stats.compression), stats.sha256);
        return 0;
}

static int run_import_tar(const char *file, const char *name) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *abs = NULL;
        ImportTar t = {};
        struct stat st;
        int r;

        r = check_machine_name(name);
        if (r < 0)
                return r;

        if (streq(file, "-")) {
                fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return log_error_errno(errno, "Failed to duplicate standard input: %m");
                t.source = "stdin";
        } else {
                fd = open(file, O_RDONLY|O_CLOEXEC|O_NOCTTY);
                if (fd < 0)
                        return log_error_errno(errno, "Failed to open '%s': %m", file);
                abs = realpath(file, NULL);
                t.source = abs ?: file;
        }
        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "Failed to stat '%s': %m", file);
        if (S_ISDIR(st.st_mode))
                return log_error_errno(SYNTHETIC_ERRNO(EISDIR), "'%s' is a directory, not an archive.",
                                       file);
        t.fd = fd;
        t.size = S_ISREG(st.st_mode) ? (uint64_t) st.st_size : 0;

        r = machine_glue_prepare(name, true);
        if (r < 0)
                return r;
        r = open_store(true, &s);
        if (r < 0)
                return r;
        r = store_install(&s, name, arg_force ? STORE_INSTALL_FORCE : 0, import_tar_fill, &t, NULL);
        if (r == -ECANCELED)
                return r;       /* import_tar_fill() said why */
        if (r < 0)
                return log_store_error(r, "import", name, &s);
        r = machine_glue_commit(name, arg_quiet || arg_json);
        if (r < 0)
                return r;

        if (arg_json)
                return show_machine(&s, name);
        return 0;
}

static int verb_import_tar(int argc, char *argv[]) {
        return run_import_tar(argv[1], argv[2]);
}

/* Where recipes are found: the administrator's first, then the installed ones, then (for a build
 * directory) the source tree's. */
static char* const recipe_dir_list[] = {
        (char*) "/etc/mkmachine/recipes",
        (char*) MKMACHINE_RECIPE_DIR,
        (char*) MKMACHINE_SOURCE_RECIPE_DIR,
        NULL,
};

static char** recipe_dirs(void) {
        return (char**) recipe_dir_list;
}

static bool recipe_exists(const char *name) {
        if (!recipe_name_is_valid(name))
                return false;
        STRV_FOREACH(d, recipe_dirs())
                if (access(strjoina(*d, "/", name, ".conf"), F_OK) >= 0)
                        return true;
        return false;
}

static void bootstrap_step(const char *what, void *userdata) {
        static usec_t start = 0;
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (start == 0)
                start = now;
        if (!arg_quiet)
                log_info("[%4.1fs] %s…", (double) (now - start) / USEC_PER_SEC, what);
}

typedef struct Bootstrap {
        BootstrapPlan *plan;
        const char *name;
} Bootstrap;

static int bootstrap_fill(int tree_fd, void *userdata) {
        Bootstrap *b = userdata;
        const BootstrapPlan *plan = b->plan;
        _cleanup_free_ char *msg = NULL;
        json_object *o;
        int r;

        r = bootstrap_install(plan, tree_fd, &msg);
        if (r < 0)
                return log_error_errno(r, "Failed to bootstrap '%s': %s", b->name, msg ?: strerror(-r));

        o = json_object_new_object();
        if (!o)
                return log_oom();
        json_object_object_add(o, "type", json_object_new_string("bootstrap"));
        json_object_object_add(o, "source", json_object_new_string(plan->recipe->path));
        json_object_object_add(o, "recipe", json_object_new_string(plan->recipe->name));
        json_object_object_add(o, "mirror", json_object_new_string(plan->mirror));
        json_object_object_add(o, "suite", json_object_new_string(plan->recipe->suite));
        json_object_object_add(o, "verified", json_object_new_boolean(!arg_no_verify));
        json_object_object_add(o, "packages", json_object_new_uint64(plan->n_packages));
        origin_write(tree_fd, o, b->name);
        return 0;
}

static int run_bootstrap(const char *recipe_name) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(recipe_freep) Recipe *recipe = NULL;
        _cleanup_(bootstrap_plan_freep) BootstrapPlan *plan = NULL;
        _cleanup_(machine_info_done) MachineInfo info = {};
        _cleanup_free_ char *msg = NULL;
        Progress progress = {};
        const char *name;
        int r;

        r = recipe_load(recipe_name, recipe_dirs(), &recipe, &msg);
        if (r < 0)
                return log_error_errno(r, "%s", msg ?: "Failed to load the recipe.");

        name = arg_name ?: recipe->name;
        r = check_machine_name(name);
        if (r < 0)
                return r;
        if (arg_no_verify)
                log_warning("--no-verify: the archive's signature is NOT checked; anyone on the path to %s "
                            "can "
                            "put anything into machine '%s'.", arg_mirror ?: strna(recipe->mirror), name);

        r = machine_glue_prepare(name, true);
        if (r < 0)
                return r;
        r = open_store(true, &s);
        if (r < 0)
                return r;
        /* Before any download: an existing machine is refused now, not after minutes of work. */
        if (!arg_force && store_get(&s, name, false, &info) >= 0)
                return log_store_error(-EEXIST, "bootstrap", name, &s);

        r = bootstrap_prepare(recipe, &(BootstrapOptions) {
                                      .mirror = arg_mirror,
                                      .keyring = arg_keyring,
                                      .include = arg_include,
                                      .exclude = arg_exclude,
                                      .no_verify = arg_no_verify,
                                      .cache_dir = arg_cache_dir,
                                      .hostname = name,
                                      .fresh = arg_fresh,
                                      .progress = &progress,
                                      .step = bootstrap_step,
                              }, &plan, &msg);
        if (r < 0) {
                progress_clear_line();
                return log_error_errno(r, "Failed to bootstrap '%s': %s", name, msg ?: strerror(-r));
        }
        if (!arg_quiet && !plan->tree_cached)
                log_info("%zu packages (%zu essential); %zu packages to download.",
                         plan->n_packages, plan->n_essential, plan->n_downloaded);
        else if (!arg_quiet)
                log_info("0 packages downloaded: the archive is unchanged since the cached tree was built.");

        r = store_install(&s, name, arg_force ? STORE_INSTALL_FORCE : 0, bootstrap_fill,
                          &(Bootstrap) { .plan = plan, .name = name }, NULL);
        if (r == -ECANCELED)
                return r;       /* bootstrap_fill() said why */
        if (r < 0)
                return log_store_error(r, "bootstrap", name, &s);
        r = machine_glue_commit(name, arg_quiet || arg_json);
        if (r < 0)
                return r;

        if (arg_json)
                return show_machine(&s, name);
        if (!arg_quiet)
                log_info("Machine '%s' is ready: machinectl start %s", name, name);
        return 0;
}

static int verb_bootstrap(int argc, char *argv[]) {
        if (argc < 2 && !arg_recipe)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "Which recipe? Give its name, a file or --recipe=FILE.");
        if (argc >= 2 && arg_recipe)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "Give either a recipe or --recipe=FILE, not both.");
        return run_bootstrap(argc >= 2 ? argv[1] : arg_recipe);
}

static int verb_remove(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        bool image_gone;
        int r;

        r = check_machine_name(argv[1]);
        if (r < 0)
                return r;
        r = open_store(false, &s);
        if (r < 0)
                return r;
        r = machine_glue_remove_begin(argv[1], arg_force);
        if (r < 0)
                return r;
        r = store_remove(&s, argv[1]);
        image_gone = r == -ENOENT;
        if (r < 0 && !image_gone)
                return log_store_error(r, "remove", argv[1], &s);

        /* Also when the image was gone already: a machine's leftovers are removed by its name. */
        r = machine_glue_remove_finish(argv[1]);
        if (r < 0)
                return r;
        if (image_gone && r == 0)
                return log_store_error(-ENOENT, "remove", argv[1], &s);
        if (image_gone && !arg_quiet)
                log_info("No machine '%s' in '%s'; removed its leftover settings.", argv[1], s.root);
        return 0;
}

static int verb_set(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(machine_info_done) MachineInfo info = {};
        int r;

        r = check_machine_name(argv[1]);
        if (r < 0)
                return r;
        r = open_store(false, &s);
        if (r < 0)
                return r;
        r = store_get(&s, argv[1], false, &info);
        if (r < 0)
                return log_store_error(r, "set", argv[1], &s);
        /* Its settings come from the .machine file (through the generator): a NAME.nspawn written here
         * would silently replace all of them. */
        if (access(strjoina(machines_dir(), "/", argv[1], MACHINE_FILE_SUFFIX), F_OK) >= 0)
                return log_error_errno(SYNTHETIC_ERRNO(EPERM), "Machine '%s' is declared in %s/%s"
                                       MACHINE_FILE_SUFFIX ": change its settings there, then run "
                                       "'systemctl daemon-reload'.", argv[1], machines_dir(), argv[1]);
        return machine_glue_set(argv[1], arg_quiet);
}

static int verb_start(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(machine_info_done) MachineInfo info = {};
        int r;

        r = check_machine_name(argv[1]);
        if (r < 0)
                return r;
        r = open_store(false, &s);
        if (r < 0)
                return r;
        r = store_get(&s, argv[1], false, &info);
        if (r < 0)
                return log_store_error(r, "start", argv[1], &s);
        return machine_glue_start(argv[1]);
}

static int verb_stop(int argc, char *argv[]) {
        int r;

        r = check_machine_name(argv[1]);
        if (r < 0)
                return r;
        return machine_glue_stop(argv[1]);
}

static int verb_unit_helper(int argc, char *argv[]) {
        int r;

        r = check_machine_name(argv[2]);
        if (r < 0)
                return r;
        return machine_glue_unit_helper(argv[1], argv[2]);
}

static int verb_rename(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        int r;

        r = open_store_for_two(argv[1], argv[2], &s);
        if (r < 0)
                return r;
        r = store_rename(&s, argv[1], argv[2]);
        if (r < 0)
                /* Which name: the new one is taken, the old one is missing, either may be locked. */
                return log_store_error(r, "rename", r == -EEXIST ? argv[2] : argv[1], &s);
        return 0;
}

static int verb_clone(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        int r;

        r = open_store_for_two(argv[1], argv[2], &s);
        if (r < 0)
                return r;
        r = machine_glue_prepare(argv[2], true);
        if (r < 0)
                return r;
        r = store_clone(&s, argv[1], argv[2], arg_force ? STORE_INSTALL_FORCE : 0);
        if (r == -EOPNOTSUPP)
                return log_error_errno(r, "Machine '%s' is a raw disk image; cloning those is not "
                                       "supported yet.", argv[1]);
        if (r < 0)
                return log_store_error(r, "clone", r == -ENOENT || r == -EBUSY ? argv[1] : argv[2], &s);
        r = machine_glue_commit(argv[2], arg_quiet || arg_json);
        if (r < 0)
                return r;
        if (arg_json)
                return show_machine(&s, argv[2]);
        return 0;
}

static volatile sig_atomic_t export_signal = 0;

static void export_on_signal(int sig) {
        export_signal = sig;
}

/* The compression of the export: --format, else the file name's, else (stdout) none. */
static int export_compression(const char *file, Compression *ret) {
        if (arg_format) {
                if (tar_pack_compression_from_filename(strjoina("x.", arg_format), ret) < 0 ||
                    strchr(arg_format, '.') != strrchr(arg_format, '.') || !startswith(arg_format, "tar"))
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Invalid --format='%s': use tar, "
                                               "tar.gz, tar.zst or tar.xz.", arg_format);
                return 0;
        }
        if (streq(file, "-")) {
                *ret = COMPRESSION_NONE;
                return 0;
        }
        if (tar_pack_compression_from_filename(file, ret) < 0)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Cannot tell the format from the name '%s': "
                                       "end it in .tar, .tar.gz, .tar.zst or .tar.xz, or give --format=.",
                                       file);
        return 0;
}

static int verb_export(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(image_lock_release) ImageLock lock = { .local = LOCK_FILE_INIT, .global = LOCK_FILE_INIT };
        _cleanup_close_ int tree_fd = -EBADF, out_fd = -EBADF;
        _cleanup_(machine_info_done) MachineInfo info = {};
        _cleanup_free_ char *tmp = NULL, *msg = NULL;
        const char *name = argv[1], *file = argv[2];
        struct sigaction sa = { .sa_handler = export_on_signal }, old[3];
        static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
        bool to_stdout = streq(file, "-");
        Progress progress = {};
        TarPackStats stats;
        MachineType type;
        Compression c;
        mode_t mask;
        int r;

        r = check_machine_name(name);
        if (r < 0)
                return r;
        r = export_compression(file, &c);
        if (r < 0)
                return r;
        if (to_stdout && isatty(STDOUT_FILENO))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "Refusing to write an archive to a terminal: redirect standard "
                                       "output or give a file name.");
        r = open_store(false, &s);
        if (r < 0)
                return r;

        /* A shared lock: other readers (clone, another export) may run too, but nothing that changes
         * the machine. A running machine holds the lock exclusively (systemd-nspawn takes it so): its
         * tree changes while it is read, so that needs --force (machinectl export-tar does it anyway). */
        r = store_lock_machine(&s, name, LOCK_SH|LOCK_NB, &lock, &type);
        if (r == -EBUSY && arg_force) {
                log_warning("Machine '%s' is in use (running?): exporting it as it is, --force.", name);
                r = store_get(&s, name, false, &info) < 0 ? -ENOENT : 0;
                type = MACHINE_DIRECTORY;
        } else if (r == -EBUSY)
                return log_error_errno(r, "Machine '%s' is in use: it is running, or another mkmachine or "
                                       "machinectl is changing it. Stop it first, or use --force to export "
                                       "it as it is (its files may change while they are read).", name);
        if (r < 0)
                return log_store_error(r, "export", name, &s);
        if (type != MACHINE_DIRECTORY)
                return log_error_errno(SYNTHETIC_ERRNO(EOPNOTSUPP), "Machine '%s' is a raw disk image; "
                                       "exporting those is not supported.", name);
        tree_fd = openat(s.root_fd, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        if (tree_fd < 0)
                return log_error_errno(errno, "Failed to open machine '%s': %m", name);

        if (to_stdout)
                out_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        else {
                /* Next to the destination (same file system, for the rename), hidden from globs. */
                if (asprintf(&tmp, "%s.XXXXXX.tmp", file) < 0)
                        return log_oom();
                out_fd = mkostemps(tmp, 4, O_CLOEXEC);
                if (out_fd < 0) {
                        tmp = mfree(tmp);
                        return log_error_errno(errno, "Failed to create '%s': %m", file);
                }
                mask = umask(0);
                umask(mask);
                (void) fchmod(out_fd, 0666 & ~mask);
        }
        if (out_fd < 0)
                return log_error_errno(errno, "Failed to duplicate standard output: %m");

        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                (void) sigaction(sigs[i], &sa, old + i);
        r = tar_pack(tree_fd, out_fd, c, ORIGIN_XATTR, &export_signal, &progress, &stats, &msg);
        if (r >= 0 && !to_stdout && fsync(out_fd) < 0)
                r = -errno;
        if (r >= 0 && !to_stdout && rename(tmp, file) < 0)
                r = -errno;
        if (r < 0 && tmp)
                (void) unlink(tmp);
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                (void) sigaction(sigs[i], old + i, NULL);

        if (export_signal > 0) {
                log_error("Interrupted; removed the unfinished '%s'.", file);
                /* Die by the signal, as the caller expects of an interrupted command. */
                (void) signal(export_signal, SIG_DFL);
                (void) raise(export_signal);
                return -EINTR;
        }
        if (r < 0) {
                progress_clear_line();
                return log_error_errno(r, "Failed to export machine '%s' to '%s': %s", name, file,
                                       msg ?: strerror(-r));
        }
        if (!arg_quiet && !to_stdout)
                log_info("Exported '%s' to %s: %" PRIu64 " entries, %s compression.", name, file,
                         stats.entries, compression_to_string(c));
        return 0;
}

/* "mkmachine VERB ARG NAME" for the sources that other verbs handle, in a child (the ensure lock stays
 * held meanwhile). */
static int run_self(const char *verb, const char *arg, const char *name) {
        char *argv[] = { (char*) "mkmachine", strjoina("--image-root=", arg_image_root), (char*) verb,
                         (char*) arg, (char*) name, NULL };
        int status;
        pid_t pid;

        pid = fork();
        if (pid < 0)
                return log_error_errno(errno, "Failed to fork: %m");
        if (pid == 0) {
                execv("/proc/self/exe", argv);
                log_error_errno(errno, "Failed to run 'mkmachine %s': %m", verb);
                _exit(EXIT_FAILURE);
        }
        if (waitpid(pid, &status, 0) < 0)
                return log_error_errno(errno, "Failed to wait for 'mkmachine %s': %m", verb);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return log_error_errno(SYNTHETIC_ERRNO(EIO), "'mkmachine %s %s %s' failed.", verb, arg,
                                       name);
        return 0;
}

/* The hidden verb of mkmachine-build@NAME.service (see mkmachine-generator): builds machine NAME from
 * its .machine file unless it is in the store already. Two at once: the second waits for the first and
 * then finds the machine there. */
static int verb_ensure(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(machine_file_freep) MachineFile *m = NULL;
        _cleanup_(machine_info_done) MachineInfo info = {};
        _cleanup_(release_lock_file) LockFile lock = LOCK_FILE_INIT;
        _cleanup_free_ char *lock_path = NULL;
        const char *name = argv[1], *reason = NULL;
        unsigned line = 0;
        int r;

        r = check_machine_name(name);
        if (r < 0)
                return r;
        r = machine_file_load(machines_dir(), name, &m, &line, &reason);
        if (r == -ENOENT)
                return log_error_errno(r, "No %s/%s" MACHINE_FILE_SUFFIX ": nothing declares machine '%s'.",
                                       machines_dir(), name, name);
        if (r == -EBADMSG && line > 0)
                return log_error_errno(r, "%s/%s" MACHINE_FILE_SUFFIX ":%u: %s.", machines_dir(), name, line,
                                       reason);
        if (r == -EBADMSG)
                return log_error_errno(r, "%s/%s" MACHINE_FILE_SUFFIX ": %s.", machines_dir(), name, reason);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s/%s" MACHINE_FILE_SUFFIX ": %m", machines_dir(),
                                       name);

        r = open_store(true, &s);
        if (r < 0)
                return r;
        if (asprintf(&lock_path, "%s/.#%s.ensure.lck", streq(s.root, "/") ? "" : s.root, name) < 0)
                return log_oom();
        r = make_lock_file(lock_path, LOCK_EX, &lock);
        if (r < 0)
                return log_error_errno(r, "Failed to lock '%s': %m", lock_path);

        if (store_get(&s, name, false, &info) >= 0) {
                if (!arg_quiet)
                        log_info("Machine '%s' is in the store already.", name);
                return 0;
        }
        if (!arg_quiet)
                log_info("Machine '%s' is missing: building it from %s (%s).", name, m->source,
                         machine_source_type_to_string(m->source_type));

        switch (m->source_type) {
        case MACHINE_SOURCE_RECIPE:
                arg_name = name;
                return run_bootstrap(m->source);
        case MACHINE_SOURCE_TAR:
                return run_import_tar(m->source, name);
        case MACHINE_SOURCE_PULL:
                return run_self("pull", m->source, name);
        case MACHINE_SOURCE_OCI:
                return run_self("import-oci", m->source + strlen("oci:"), name);
        default:
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Unknown source type.");
        }
}

static const Verb verbs[] = {
        { "bootstrap",  0, 1, verb_bootstrap  },
        { "import-tar", 2, 2, verb_import_tar },
        { "list",       0, 0, verb_list       },
        { "show",       1, 1, verb_show       },
        { "remove",     1, 1, verb_remove     },
        { "rename",     2, 2, verb_rename     },
        { "clone",      2, 2, verb_clone      },
        { "export",     2, 2, verb_export     },
        { "set",        1, 1, verb_set        },
        { "start",      1, 1, verb_start      },
        { "stop",       1, 1, verb_stop       },
        /* Called by the restart drop-in (machine-config.h), not by people: not in --help. */
        { "__unit-helper", 2, 2, verb_unit_helper },
        /* Called by mkmachine-build@NAME.service (mkmachine-generator), not by people. */
        { "__ensure",   1, 1, verb_ensure     },
        { "help",       0, 0, verb_help       },
};

enum {
        ARG_VERSION = 0x100,
        ARG_IMAGE_ROOT,
        ARG_JSON,
        ARG_FORCE,
        ARG_STRIP_TOP,
        ARG_NAME,
        ARG_RECIPE,
        ARG_MIRROR,
        ARG_KEYRING,
        ARG_INCLUDE,
        ARG_EXCLUDE,
        ARG_NO_VERIFY,
        ARG_CACHE_DIR,
        ARG_FRESH,
        ARG_FORMAT,
};

static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help",       no_argument,       NULL, 'h'            },
                { "version",    no_argument,       NULL, ARG_VERSION    },
                { "image-root", required_argument, NULL, ARG_IMAGE_ROOT },
                { "json",       no_argument,       NULL, ARG_JSON       },
                { "quiet",      no_argument,       NULL, 'q'            },
                { "force",      no_argument,       NULL, ARG_FORCE      },
                { "strip-top",  no_argument,       NULL, ARG_STRIP_TOP  },
                { "name",       required_argument, NULL, ARG_NAME       },
                { "recipe",     required_argument, NULL, ARG_RECIPE     },
                { "mirror",     required_argument, NULL, ARG_MIRROR     },
                { "keyring",    required_argument, NULL, ARG_KEYRING    },
                { "include",    required_argument, NULL, ARG_INCLUDE    },
                { "exclude",    required_argument, NULL, ARG_EXCLUDE    },
                { "no-verify",  no_argument,       NULL, ARG_NO_VERIFY  },
                { "cache-dir",  required_argument, NULL, ARG_CACHE_DIR  },
                { "fresh",      no_argument,       NULL, ARG_FRESH      },
                { "format",     required_argument, NULL, ARG_FORMAT     },
                MACHINE_GLUE_OPTIONS,
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "hq" MACHINE_GLUE_SHORT_OPTIONS, options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("mkmachine %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_IMAGE_ROOT:
                        arg_image_root = optarg;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case 'q':
                        arg_quiet = true;
                        break;
                case ARG_FORCE:
                        arg_force = true;
                        break;
                case ARG_STRIP_TOP:
                        arg_strip_top = true;
                        break;
                case ARG_NAME:
                        arg_name = optarg;
                        break;
                case ARG_RECIPE:
                        arg_recipe = optarg;
                        break;
                case ARG_MIRROR:
                        arg_mirror = optarg;
                        break;
                case ARG_KEYRING:
                        arg_keyring = optarg;
                        break;
                case ARG_INCLUDE:
                case ARG_EXCLUDE:
                        /* "a,b c": commas and spaces separate, as in the recipe's Include=. */
                        for (const char *p = optarg; *p;) {
                                size_t n = strcspn(p, ", ");
                                if (n > 0) {
                                        _cleanup_free_ char *w = strndup(p, n);
                                        if (!w || strv_extend(c == ARG_INCLUDE ? &arg_include : &arg_exclude,
                                                              w) < 0)
                                                return log_oom();
                                }
                                p += n;
                                p += strspn(p, ", ");
                        }
                        break;
                case ARG_NO_VERIFY:
                        arg_no_verify = true;
                        break;
                case ARG_CACHE_DIR:
                        arg_cache_dir = optarg;
                        break;
                case ARG_FRESH:
                        arg_fresh = true;
                        break;
                case ARG_FORMAT:
                        arg_format = optarg;
                        break;
                case '?':
                        return -EINVAL;
                default: {
                        int r = machine_glue_parse_option(c, optarg);
                        if (r < 0)
                                return r;
                        assert(r > 0);
                }
                }
        return 1;
}

static int dispatch_verb(int argc, char *argv[]) {
        const char *name = argc > 0 ? argv[0] : "help";

        if (argc == 0 && arg_recipe)
                return run_bootstrap(arg_recipe);

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                const Verb *v = verbs + i;
                int n = argc > 0 ? argc - 1 : 0;

                if (!streq(v->name, name))
                        continue;
                if (n < v->min_args)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Too few arguments for '%s'.",
                                               name);
                if (v->max_args >= 0 && n > v->max_args)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Too many arguments for '%s'.",
                                               name);
                return v->run(argc, argv);
        }

        /* "mkmachine jammy": a recipe's name as the command. */
        if (recipe_exists(name))
                return run_bootstrap(name);

        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Unknown command '%s'. See 'mkmachine --help'.",
                               name);
}

int main(int argc, char *argv[]) {
        int r;

        log_parse_environment();

        r = machine_glue_split_argv(&argc, argv);
        if (r < 0)
                return EXIT_FAILURE;
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        if (arg_quiet)
                progress_set_enabled(false);

        r = dispatch_verb(argc - optind, argv + optind);
        machine_glue_done();
        if (r == -EINTR && store_interrupted_signal() > 0) {
                /* Die by the signal, as the caller expects of an interrupted command. */
                (void) signal(store_interrupted_signal(), SIG_DFL);
                (void) raise(store_interrupted_signal());
                return 128 + store_interrupted_signal();
        }
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
