/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* export (to a tar archive or an OCI layout) and push (to a registry). */

#include <sys/stat.h>

#include "config.h"
#include "digest.h"
#include "download.h"
#include "fd-util.h"
#include "fs-util.h"
#include "log.h"
#include "machine-glue.h"
#include "oci-push.h"
#include "progress-bar.h"
#include "string-util.h"
#include "tar-pack.h"
#include "tool.h"

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

/* The tree of machine name (locked by the caller, of the type it found), for reading; raw images are
 * refused: only directory machines can be what (exported, pushed). */
static int open_machine_tree(Store *s, const char *name, MachineType type, const char *what) {
        int fd;

        if (type != MACHINE_DIRECTORY)
                return log_error_errno(SYNTHETIC_ERRNO(EOPNOTSUPP), "Machine '%s' is a raw disk image: only "
                                       "directory machines can be %s.", name, what);
        fd = openat(s->root_fd, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open machine '%s': %m", name);
        return fd;
}

int verb_export(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(image_lock_release) ImageLock lock = { .local = LOCK_FILE_INIT, .global = LOCK_FILE_INIT };
        _cleanup_close_ int tree_fd = -EBADF, out_fd = -EBADF;
        _cleanup_(machine_info_done) MachineInfo info = {};
        _cleanup_free_ char *tmp = NULL, *msg = NULL;
        const char *name = argv[1], *file = argv[2];
        struct sigaction sa = { .sa_handler = export_on_signal }, old[3];
        static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
        bool to_stdout = streq(file, "-");
        Progress progress = PROGRESS_BAR;
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
        tree_fd = open_machine_tree(&s, name, type, "exported");
        if (tree_fd < 0)
                return tree_fd;

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
                progress_bar_clear();
                return log_error_errno(r, "Failed to export machine '%s' to '%s': %s", name, file,
                                       msg ?: strerror(-r));
        }
        if (!arg_quiet && !to_stdout)
                log_info("Exported '%s' to %s: %" PRIu64 " entries, %s compression.", name, file,
                         stats.entries, compression_to_string(c));
        return 0;
}

static volatile sig_atomic_t push_signal = 0;

static void push_on_signal(int sig) {
        push_signal = sig;
}

int verb_push(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(image_lock_release) ImageLock lock = { .local = LOCK_FILE_INIT, .global = LOCK_FILE_INIT };
        _cleanup_(oci_reference_done) OciReference ref = {};
        _cleanup_(oci_platform_done) OciPlatform platform = {};
        _cleanup_(nspawn_settings_done) NspawnSettings settings = {};
        _cleanup_(registry_client_freep) RegistryClient *client = NULL;
        _cleanup_free_ char *msg = NULL, *config = NULL, *manifest = NULL, *reference = NULL;
        _cleanup_close_ int tree_fd = -EBADF, layer_fd = -EBADF;
        const char *name = argv[1], *tmp_dir = strjoina(arg_cache_dir, "/push");
        char config_digest[OCI_DIGEST_STRING_MAX], hex[65], manifest_hex[65];
        OciPackedLayer layer;
        Progress progress = PROGRESS_BAR;
        MachineType type;
        unsigned line = 0;
        bool boot;
        int r;

        r = check_machine_name(name);
        if (r < 0)
                return r;
        r = oci_reference_parse(argv[2], &ref);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0 || !ref.registry || ref.digest)
                return log_error_errno(r < 0 ? r : SYNTHETIC_ERRNO(EINVAL), "Invalid reference to push to "
                                       "'%s': use REGISTRY[:PORT]/REPOSITORY[:TAG] (no digest).", argv[2]);
        r = oci_reference_format(&ref, &reference);
        if (r < 0)
                return log_oom();

        r = open_store(false, &s);
        if (r < 0)
                return r;
        r = store_lock_machine(&s, name, LOCK_SH|LOCK_NB, &lock, &type);
        if (r == -EBUSY)
                return log_error_errno(r, "Machine '%s' is running or being changed: stop it first, so that "
                                       "its tree is pushed as one consistent state.", name);
        if (r < 0)
                return log_store_error(r, "push", name, &s);
        tree_fd = open_machine_tree(&s, name, type, "pushed");
        if (tree_fd < 0)
                return tree_fd;

        r = machine_settings_load(getenv("MKMACHINE_NSPAWN_DIR") ?: MACHINE_NSPAWN_DIR_DEFAULT, name,
                                  &settings, NULL, &line);
        if (r < 0)
                return log_error_errno(r, "Failed to read the settings of '%s' (line %u): %m", name, line);
        boot = settings.boot > 0 || (settings.boot < 0 && oci_tree_has_init(tree_fd));
        if (!boot && !settings.parameters)
                log_warning("Machine '%s' neither boots nor has a command line (Parameters=): the image "
                            "will have no entrypoint.", name);
        r = oci_platform_host(&platform);
        if (r < 0)
                return log_error_errno(r, "Failed to determine the host's platform: %m");

        /* Ask for the registry before the work: a refusal (credentials) comes at once. */
        r = registry_client_new(&ref, &(RegistryOptions) { .tls_verify = arg_tls_verify, .push = true },
                                &client, &msg);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "Failed to push to %s: %s", reference, msg ?: strerror(-r));

        r = mkdir_p_at(AT_FDCWD, tmp_dir, 0755, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", tmp_dir);
        (void) signal(SIGINT, push_on_signal);
        (void) signal(SIGTERM, push_on_signal);
        if (!arg_quiet)
                log_info("Packing machine '%s' (%s)…", name, compression_to_string(arg_compress));
        r = oci_layer_pack(tree_fd, arg_compress, tmp_dir, &push_signal, &progress, &layer_fd, &layer, &msg);
        if (r < 0)
                return log_error_errno(r, "Failed to pack machine '%s': %s", name, msg ?: strerror(-r));

        r = oci_push_config_json(&platform, layer.diff_id, boot, &settings, &config);
        if (r < 0)
                return log_oom();
        r = sha256_hex(config, strlen(config), hex);
        if (r < 0)
                return log_error_errno(r, "Failed to hash the image config: %m");
        snprintf(config_digest, sizeof(config_digest), "sha256:%s", hex);
        r = oci_push_manifest_json(config_digest, strlen(config), &layer, &manifest);
        if (r < 0)
                return log_oom();

        r = registry_blob_exists(client, layer.digest, &msg);
        if (r == 0) {
                char b[FORMAT_BYTES_MAX];
                if (!arg_quiet)
                        log_info("Uploading the layer %s (%s)…", layer.digest,
                                 format_bytes(b, sizeof(b), layer.size));
                r = registry_blob_upload(client, layer.digest, layer_fd, layer.size, &msg);
        }
        if (r >= 0) {
                r = registry_blob_exists(client, config_digest, &msg);
                if (r == 0)
                        r = registry_blob_upload_data(client, config_digest, config, strlen(config), &msg);
        }
        if (r >= 0)
                r = registry_manifest_put(client, ref.tag, "application/vnd.oci.image.manifest.v1+json",
                                          manifest, strlen(manifest), &msg);
        if (r < 0)
                return log_error_errno(r, "Failed to push machine '%s' to %s: %s", name, reference,
                                       msg ?: strerror(-r));

        r = sha256_hex(manifest, strlen(manifest), manifest_hex);
        if (r < 0)
                return log_error_errno(r, "Failed to hash the manifest: %m");
        if (arg_json) {
                json_object *j = json_object_new_object();
                if (!j)
                        return log_oom();
                json_object_object_add(j, "name", json_object_new_string(name));
                json_object_object_add(j, "reference", json_object_new_string(reference));
                json_object_object_add(j, "manifest_digest",
                                       json_object_new_string(strjoina("sha256:", manifest_hex)));
                json_object_object_add(j, "layer_digest", json_object_new_string(layer.digest));
                json_object_object_add(j, "layer_size", json_object_new_uint64(layer.size));
                json_object_object_add(j, "boot", json_object_new_boolean(boot));
                return print_json(j);
        }
        if (!arg_quiet)
                log_info("Pushed machine '%s' to %s (sha256:%s).", name, reference, manifest_hex);
        return 0;
}
