/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* import-tar and import-oci, and the origin record and install steps that every new machine shares. */

#include <sys/stat.h>

#include "config.h"
#include "fd-util.h"
#include "log.h"
#include "machine-glue.h"
#include "progress-bar.h"
#include "string-util.h"
#include "strv.h"
#include "tool.h"

/* Completes an origin record (time, tool, update policy), stores it on the tree's root and frees it. Best
 * effort: a file system without xattrs costs only the record. */
void origin_record(int tree_fd, MachineOrigin *o, const char *what) {
        _cleanup_(origin_freep) MachineOrigin *origin = o;
        usec_t now = now_usec(CLOCK_REALTIME);
        char when[64];
        int r;

        origin->created_usec = now;
        r = origin_set_string(&origin->created, format_time(when, sizeof(when), now));
        if (r >= 0)
                r = origin_set_string(&origin->tool, "mkmachine " PACKAGE_VERSION);
        if (r >= 0 && arg_auto_update > AUTO_UPDATE_NO)
                origin->auto_update = arg_auto_update;
        if (r >= 0 && !isempty(arg_health_cmd))
                r = origin_set_string(&origin->health_cmd, arg_health_cmd);
        if (r >= 0)
                r = origin_write(tree_fd, origin);
        if (r < 0)
                log_warning_errno(r, "Failed to record the origin of '%s' (no xattr support?), ignoring: %m",
                                  what);
}

typedef struct ImportTar {
        int fd;
        const char *source;
        uint64_t size;
} ImportTar;

/* Creates machine name (replacing it with --force) by running fill in store_install()'s child, then
 * writes its settings (--port, --enable, …). Logs; -ECANCELED: fill has said why. */
int install_machine(Store *s, const char *action, const char *name, StoreFillFunc fill,
                    void *userdata) {
        int r;

        r = store_install(s, name, arg_force ? STORE_INSTALL_FORCE : 0, fill, userdata, NULL);
        if (r == -ECANCELED)
                return r;
        if (r < 0)
                return log_store_error(r, action, name, s);
        return machine_glue_commit(name, arg_quiet || arg_json);
}

static int import_tar_fill(int tree_fd, void *userdata) {
        ImportTar *t = userdata;
        _cleanup_free_ char *msg = NULL;
        TarUnpackStats stats;
        Progress progress = PROGRESS_BAR;
        MachineOrigin *o;
        int r;

        r = tar_unpack_with(t->fd, tree_fd, arg_strip_top ? TAR_UNPACK_STRIP_TOP : 0, t->size, &progress,
                            &arg_unpack, &stats, &msg);
        if (r < 0) {
                progress_bar_clear();
                return log_error_errno(r, "Failed to import '%s': %s", t->source, msg ?: strerror(-r));
        }

        o = origin_new();
        if (!o)
                return log_oom();
        o->type = ORIGIN_TAR;
        o->size = stats.bytes_in;
        o->entries = stats.entries;
        if (origin_set_string(&o->source, t->source) < 0 ||
            origin_set_string(&o->compression, compression_to_string(stats.compression)) < 0 ||
            origin_set_string(&o->sha256, stats.sha256) < 0) {
                origin_free(o);
                return log_oom();
        }
        origin_record(tree_fd, o, t->source);

        if (!arg_quiet)
                log_info("Unpacked %" PRIu64 " entries from %s (%s, sha256 %s).", stats.entries, t->source,
                         compression_to_string(stats.compression), stats.sha256);
        if (stats.notes > 0)
                log_warning("%s: %" PRIu64 " irregularit%s accepted (see ARCHIVE IRREGULARITIES in "
                            "mkmachine(1)); the first: %s", t->source, stats.notes,
                            stats.notes == 1 ? "y" : "ies", stats.note);
        return 0;
}

int run_import_tar(const char *file, const char *name) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *abs = NULL;
        ImportTar t = {};
        struct stat st;
        int r;

        r = refuse_update_options("import-tar", _AUTO_UPDATE_POLICY_INVALID);
        if (r < 0)
                return r;

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
        r = install_machine(&s, "import", name, import_tar_fill, &t);
        if (r < 0)
                return r;

        if (arg_json)
                return show_machine(&s, name);
        return 0;
}

int verb_import_tar(int argc, char *argv[]) {
        return run_import_tar(argv[1], argv[2]);
}

/* What import-oci and pull share once the layers are applied (in store_install()'s child): the origin
 * record o (with the source's own fields) gets what the machine runs, and is written. */
int oci_fill_finish(int tree_fd, const OciImage *image, MachineOrigin *o, const char *name,
                    const char *platform, const char *what) {
        _cleanup_(origin_freep) MachineOrigin *origin = o;
        _cleanup_(nspawn_settings_done) NspawnSettings settings = {};
        _cleanup_free_ char *msg = NULL, *cmdline = NULL, *summary = NULL;
        OriginExec *x;
        bool boot, added_usr;
        int r;

        /* Not from the image: for systemd-nspawn, which refuses a tree without /usr. */
        r = oci_tree_make_runnable(tree_fd, &added_usr);
        if (r < 0)
                return log_error_errno(r, "Failed to create /usr in '%s': %m", name);
        boot = oci_tree_has_init(tree_fd);
        r = oci_config_to_nspawn_settings_full(image->config, boot,
                                               machine_glue_command_given() ? OCI_SETTINGS_COMMAND_GIVEN : 0,
                                               &settings, &msg);
        if (r < 0)
                return log_error_errno(r, "Failed to import '%s': %s", what, msg ?: strerror(-r));

        x = origin_exec_new(origin);
        if (!x)
                return log_oom();
        origin->layers = image->n_layers;
        if (added_usr)
                origin->added_usr = true;
        x->boot = boot;
        if (origin_set_string(&origin->platform, platform) < 0 ||
            origin_set_string(&origin->config_digest, image->config_digest) < 0 ||
            origin_set_strv(&x->parameters, settings.parameters) < 0 ||
            origin_set_strv(&x->environment, settings.environment) < 0 ||
            origin_set_string(&x->working_directory, settings.working_directory) < 0 ||
            origin_set_string(&x->user, settings.user) < 0 ||
            origin_set_strv(&x->exposed_ports, image->config->exposed_ports) < 0)
                return log_oom();

        if (boot)
                summary = strdup("boots its init");
        else if (nspawn_words_quote(settings.parameters, &cmdline) >= 0 &&
                 asprintf(&summary, "%s%s%s%s%s%s", cmdline, settings.user ? " (as " : "",
                          settings.user ?: "", settings.user ? ")" : "",
                          settings.working_directory ? " in " : "",
                          settings.working_directory ?: "") < 0)
                summary = NULL;
        if (summary)
                origin->exec_summary = TAKE_PTR(summary);
        origin_record(tree_fd, TAKE_PTR(origin), name);

        if (!arg_quiet)
                log_info("Applied %zu layers of %s (%s); the machine %s.", image->n_layers,
                         image->manifest_digest ?: image->config_digest, platform,
                         boot ? "boots its init" : "runs the image's entrypoint");
        return 0;
}

/* The image's settings, merged under the user's options in this process: oci_fill_finish() runs in
 * store_install()'s child, whose machine_glue_apply_image() does not reach machine_glue_commit() here. */
int import_oci_fill(int tree_fd, void *userdata) {
        ImportOci *t = userdata;
        _cleanup_free_ char *msg = NULL;
        Progress progress = PROGRESS_BAR;
        MachineOrigin *o;
        int r;

        r = oci_image_unpack(oci_source_blobs(t->source), t->image, tree_fd, &arg_unpack, &progress,
                             &msg);
        if (r < 0) {
                progress_bar_clear();
                return log_error_errno(r, "Failed to import '%s': %s", oci_source_path(t->source),
                                       msg ?: strerror(-r));
        }

        o = origin_new();
        if (!o)
                return log_oom();
        o->type = ORIGIN_OCI;
        if (origin_set_string(&o->source, oci_source_path(t->source)) < 0 ||
            origin_set_string(&o->source_kind, oci_source_kind_to_string(oci_source_kind(t->source))) < 0 ||
            origin_set_string(&o->reference, oci_source_reference(t->source)) < 0 ||
            origin_set_string(&o->manifest_digest, t->image->manifest_digest) < 0) {
                origin_free(o);
                return log_oom();
        }
        return oci_fill_finish(tree_fd, t->image, o, t->name, t->platform, oci_source_path(t->source));
}

/* Once the machine is in the store (in the parent: store_install() fills in a child), the image config
 * becomes the machine's settings, merged under the user's options, for machine_glue_commit() to write:
 * the entrypoint runs, or the init boots. */
static int oci_apply_settings(Store *s, const char *name, const OciImage *image) {
        _cleanup_(nspawn_settings_done) NspawnSettings settings = {};
        _cleanup_close_ int tree_fd = -EBADF;
        _cleanup_free_ char *msg = NULL;
        int r;

        tree_fd = openat(s->root_fd, name, O_RDONLY|O_DIRECTORY|O_CLOEXEC|O_NOFOLLOW);
        if (tree_fd < 0)
                return log_error_errno(errno, "Failed to open machine '%s': %m", name);
        r = oci_config_to_nspawn_settings_full(image->config, oci_tree_has_init(tree_fd),
                                               machine_glue_command_given() ? OCI_SETTINGS_COMMAND_GIVEN : 0,
                                               &settings, &msg);
        if (r < 0)
                return log_error_errno(r, "Machine '%s': %s", name, msg ?: strerror(-r));
        return machine_glue_apply_image(&settings);
}

/* For import-oci and pull: installs machine name, filled by fill (which says why it fails), and makes
 * the image config its settings. action as for log_store_error(). */
int oci_install(Store *s, const char *action, const char *name, const OciImage *image,
                StoreFillFunc fill, void *userdata) {
        int r;

        r = store_install(s, name, arg_force ? STORE_INSTALL_FORCE : 0, fill, userdata, NULL);
        if (r == -ECANCELED)
                return r;       /* fill() said why */
        if (r < 0)
                return log_store_error(r, action, name, s);
        return oci_apply_settings(s, name, image);
}

int verb_import_oci(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(oci_source_freep) OciSource *source = NULL;
        _cleanup_(oci_image_freep) OciImage *image = NULL;
        _cleanup_(oci_platform_done) OciPlatform want = {};
        _cleanup_free_ char *msg = NULL;
        char p[OCI_PLATFORM_STRING_MAX];
        const char *spec = argv[1], *name = argv[2];
        Progress progress = PROGRESS_BAR;
        int r;

        r = refuse_update_options("import-oci", AUTO_UPDATE_LOCAL);
        if (r < 0)
                return r;

        r = prepare_oci_machine("import", name, &want, &s);
        if (r < 0)
                return r;

        r = oci_source_open(spec, strjoina(arg_cache_dir, "/oci"), &progress, &source, &msg);
        if (r < 0) {
                progress_bar_clear();
                return log_error_errno(r, "%s", msg ?: strerror(-r));
        }
        r = oci_image_resolve(source, &want, &image, &msg);
        if (r < 0)
                return log_error_errno(r, "Failed to import '%s': %s", spec, msg ?: strerror(-r));

        r = oci_install(&s, "import", name, image, import_oci_fill,
                        &(ImportOci) {
                                .source = source,
                                .image = image,
                                .name = name,
                                .platform = oci_platform_format(&image->config->platform, p, sizeof(p)),
                        });
        if (r < 0)
                return r;
        return commit_and_show(&s, name);
}
