/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* import-tar and import-oci, and the origin record and install steps that every new machine shares. */

#include <sys/stat.h>
#include <sys/xattr.h>

#include "config.h"
#include "fd-util.h"
#include "log.h"
#include "machine-glue.h"
#include "progress-bar.h"
#include "string-util.h"
#include "strv.h"
#include "tool.h"

/* Completes an origin record (time, tool), stores it on the tree's root and frees it. Best effort:
 * a file system without xattrs costs only the record. */
void origin_write(int tree_fd, json_object *o, const char *what) {
        usec_t now = now_usec(CLOCK_REALTIME);
        char when[64];
        const char *j;

        json_object_object_add(o, "created_usec", json_object_new_uint64(now));
        json_object_object_add(o, "created", json_object_new_string(format_time(when, sizeof(when), now)));
        json_object_object_add(o, "tool", json_object_new_string("mkmachine " PACKAGE_VERSION));
        if (arg_auto_update > AUTO_UPDATE_NO)
                json_object_object_add(o, "auto_update", json_object_new_string(
                                               auto_update_policy_to_string(arg_auto_update)));
        if (!isempty(arg_health_cmd))
                json_object_object_add(o, "health_cmd", json_object_new_string(arg_health_cmd));

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
        json_object *o;
        int r;

        r = tar_unpack_with(t->fd, tree_fd, arg_strip_top ? TAR_UNPACK_STRIP_TOP : 0, t->size, &progress,
                            &arg_unpack, &stats, &msg);
        if (r < 0) {
                progress_bar_clear();
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

static json_object* strv_to_json(char * const *l) {
        json_object *a = json_object_new_array();

        STRV_FOREACH(i, l)
                json_object_array_add(a, json_object_new_string(*i));
        return a;
}

/* What import-oci and pull share once the layers are applied (in store_install()'s child): the origin
 * record o (with the source's own fields) gets what the machine runs, and is written. */
int oci_fill_finish(int tree_fd, const OciImage *image, json_object *o, const char *name,
                    const char *platform, const char *what) {
        _cleanup_(nspawn_settings_done) NspawnSettings settings = {};
        _cleanup_free_ char *msg = NULL, *cmdline = NULL, *summary = NULL;
        json_object *x;
        bool boot, added_usr;
        int r;

        /* Not from the image: for systemd-nspawn, which refuses a tree without /usr. */
        r = oci_tree_make_runnable(tree_fd, &added_usr);
        if (r < 0) {
                json_object_put(o);
                return log_error_errno(r, "Failed to create /usr in '%s': %m", name);
        }
        boot = oci_tree_has_init(tree_fd);
        r = oci_config_to_nspawn_settings_full(image->config, boot,
                                               machine_glue_command_given() ? OCI_SETTINGS_COMMAND_GIVEN : 0,
                                               &settings, &msg);
        if (r < 0) {
                json_object_put(o);
                return log_error_errno(r, "Failed to import '%s': %s", what, msg ?: strerror(-r));
        }

        x = json_object_new_object();
        if (!x) {
                json_object_put(o);
                return log_oom();
        }
        json_object_object_add(o, "platform", json_object_new_string(platform));
        json_object_object_add(o, "config_digest", json_object_new_string(image->config_digest));
        json_object_object_add(o, "layers", json_object_new_uint64(image->n_layers));
        if (added_usr)
                json_object_object_add(o, "added_usr", json_object_new_boolean(true));

        json_object_object_add(x, "boot", json_object_new_boolean(boot));
        if (settings.parameters)
                json_object_object_add(x, "parameters", strv_to_json(settings.parameters));
        if (settings.environment)
                json_object_object_add(x, "environment", strv_to_json(settings.environment));
        if (settings.working_directory)
                json_object_object_add(x, "working_directory",
                                       json_object_new_string(settings.working_directory));
        if (settings.user)
                json_object_object_add(x, "user", json_object_new_string(settings.user));
        if (image->config->exposed_ports)
                json_object_object_add(x, "exposed_ports", strv_to_json(image->config->exposed_ports));
        json_object_object_add(o, "exec", x);

        if (boot)
                summary = strdup("boots its init");
        else if (nspawn_words_quote(settings.parameters, &cmdline) >= 0 &&
                 asprintf(&summary, "%s%s%s%s%s%s", cmdline, settings.user ? " (as " : "",
                          settings.user ?: "", settings.user ? ")" : "",
                          settings.working_directory ? " in " : "",
                          settings.working_directory ?: "") < 0)
                summary = NULL;
        if (summary)
                json_object_object_add(o, "exec_summary", json_object_new_string(summary));
        origin_write(tree_fd, o, name);

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
        json_object *o;
        int r;

        r = oci_image_unpack(oci_source_blobs(t->source), t->image, tree_fd, &arg_unpack, &progress,
                             &msg);
        if (r < 0) {
                progress_bar_clear();
                return log_error_errno(r, "Failed to import '%s': %s", oci_source_path(t->source),
                                       msg ?: strerror(-r));
        }

        o = json_object_new_object();
        if (!o)
                return log_oom();
        json_object_object_add(o, "type", json_object_new_string("oci"));
        json_object_object_add(o, "source", json_object_new_string(oci_source_path(t->source)));
        json_object_object_add(o, "source_kind", json_object_new_string(
                                       oci_source_kind_to_string(oci_source_kind(t->source))));
        if (oci_source_reference(t->source))
                json_object_object_add(o, "reference",
                                       json_object_new_string(oci_source_reference(t->source)));
        if (t->image->manifest_digest)
                json_object_object_add(o, "manifest_digest",
                                       json_object_new_string(t->image->manifest_digest));
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
        r = machine_glue_commit(name, arg_quiet || arg_json);
        if (r < 0)
                return r;

        if (arg_json)
                return show_machine(&s, name);
        return 0;
}
