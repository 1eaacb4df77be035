/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bootstrap, and a recipe's name as the command: a machine built from Debian packages. */

#include "bootstrap.h"
#include "config.h"
#include "log.h"
#include "progress-bar.h"
#include "string-util.h"
#include "strv.h"
#include "tool.h"

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

bool recipe_exists(const char *name) {
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

/* The state of the archive the machine was made from: each suite's verified Release (its Date:). */
static int origin_add_archive(MachineOrigin *o, const AptRepo *repo) {
        int r;

        r = origin_archive_add(o, repo->suite, repo->mirror, repo->date, repo->release_sha256);
        for (size_t i = 0; r >= 0 && i < repo->n_updates; i++) {
                const AptSuite *u = repo->updates + i;
                r = origin_archive_add(o, u->suite, u->mirror, u->date, u->release_sha256);
        }
        return r;
}

static int bootstrap_fill(int tree_fd, void *userdata) {
        Bootstrap *b = userdata;
        const BootstrapPlan *plan = b->plan;
        _cleanup_free_ char *msg = NULL;
        MachineOrigin *o;
        int r;

        r = bootstrap_install(plan, tree_fd, &msg);
        if (r < 0)
                return log_error_errno(r, "Failed to bootstrap '%s': %s", b->name, msg ?: strerror(-r));

        o = origin_new();
        if (!o)
                return log_oom();
        o->type = ORIGIN_BOOTSTRAP;
        o->verified = !arg_no_verify;
        o->packages = plan->n_packages;
        if (origin_set_string(&o->source, plan->recipe->path) < 0 ||
            origin_set_string(&o->recipe, plan->recipe->name) < 0 ||
            origin_set_string(&o->mirror, plan->mirror) < 0 ||
            origin_set_string(&o->suite, plan->recipe->suite) < 0 ||
            origin_add_archive(o, plan->repo) < 0) {
                origin_free(o);
                return log_oom();
        }
        origin_record(tree_fd, o, b->name);
        return 0;
}

int run_bootstrap(const char *recipe_name) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(recipe_freep) Recipe *recipe = NULL;
        _cleanup_(bootstrap_plan_freep) BootstrapPlan *plan = NULL;
        _cleanup_free_ char *msg = NULL;
        Progress progress = PROGRESS_BAR;
        const char *name;
        int r;

        r = refuse_update_options("bootstrap", AUTO_UPDATE_PACKAGES);
        if (r < 0)
                return r;

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

        r = prepare_new_machine("bootstrap", name, &s);
        if (r < 0)
                return r;

        r = bootstrap_prepare(recipe, &(BootstrapOptions) {
                                      .mirror = arg_mirror,
                                      .security_mirror = arg_security_mirror,
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
                progress_bar_clear();
                return log_error_errno(r, "Failed to bootstrap '%s': %s", name, msg ?: strerror(-r));
        }
        if (!arg_quiet && !plan->tree_cached)
                log_info("%zu packages (%zu essential); %zu packages to download.",
                         plan->n_packages, plan->n_essential, plan->n_downloaded);
        else if (!arg_quiet)
                log_info("0 packages downloaded: the archive is unchanged since the cached tree was built.");

        r = install_machine(&s, "bootstrap", name, bootstrap_fill,
                            &(Bootstrap) { .plan = plan, .name = name });
        if (r < 0)
                return r;

        if (arg_json)
                return show_machine(&s, name);
        if (!arg_quiet)
                log_info("Machine '%s' is ready: machinectl start %s", name, name);
        return 0;
}

int verb_bootstrap(int argc, char *argv[]) {
        if (argc < 2 && !arg_recipe)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "Which recipe? Give its name, a file or --recipe=FILE.");
        if (argc >= 2 && arg_recipe)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "Give either a recipe or --recipe=FILE, not both.");
        return run_bootstrap(argc >= 2 ? argv[1] : arg_recipe);
}
