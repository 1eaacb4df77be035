/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pull (from a registry, through the blob cache) and prune (of that cache). */

#include <sys/stat.h>

#include "download.h"
#include "fd-util.h"
#include "fs-util.h"
#include "log.h"
#include "machine-glue.h"
#include "progress-bar.h"
#include "string-util.h"
#include "strv.h"
#include "tool.h"

int pull_fill(int tree_fd, void *userdata) {
        Pull *t = userdata;
        _cleanup_free_ char *msg = NULL, *dmsg = NULL;
        Progress progress = PROGRESS_BAR;
        char * const *blobs;
        MachineOrigin *o;
        int r;

        /* Here, in the child store_install() runs us in: threads do not survive a fork. */
        r = oci_pull_start(t->pull, t->image, arg_quiet ? NULL : &progress);
        if (r < 0)
                return log_error_errno(r, "Failed to start the downloads: %m");
        r = oci_image_unpack(oci_pull_blobs(t->pull), t->image, tree_fd, &arg_unpack, NULL, &msg);
        if (r < 0) {
                /* Say why the downloads failed, if they did: that is the cause. */
                if (oci_pull_finish(t->pull, &dmsg) < 0) {
                        progress_bar_clear();
                        return log_error_errno(r, "Failed to pull %s: %s", t->reference,
                                               dmsg ?: msg ?: strerror(-r));
                }
                progress_bar_clear();
                return log_error_errno(r, "Failed to pull %s: %s", t->reference, msg ?: strerror(-r));
        }
        r = oci_pull_finish(t->pull, &dmsg);
        if (r < 0)
                return log_error_errno(r, "Failed to pull %s: %s", t->reference, dmsg ?: strerror(-r));

        o = origin_new();
        if (!o)
                return log_oom();
        o->type = ORIGIN_REGISTRY;
        if (arg_tls_verify == 0)
                o->tls_verify = false;
        /* What the tag resolved to (an index for a multi-platform image), and the platform's manifest;
         * every blob of the image, for "prune" to keep. */
        blobs = oci_pull_digests(t->pull);
        if (origin_set_string(&o->reference, t->reference) < 0 ||
            origin_set_string(&o->registry, t->ref->registry) < 0 ||
            origin_set_string(&o->repository, t->ref->repository) < 0 ||
            origin_set_string(&o->tag, t->ref->tag) < 0 ||
            origin_set_string(&o->manifest_digest, t->root_digest) < 0 ||
            origin_set_string(&o->image_manifest_digest, t->image->manifest_digest) < 0 ||
            origin_set_strv(&o->blobs, blobs ?: (char *[]) { NULL }) < 0) {
                origin_free(o);
                return log_oom();
        }
        if (!arg_quiet) {
                char b[FORMAT_BYTES_MAX];
                log_info("Downloaded %s.", format_bytes(b, sizeof(b), oci_pull_downloaded(t->pull)));
        }
        return oci_fill_finish(tree_fd, t->image, o, t->name, t->platform, t->reference);
}

/* The blob cache, created if needed, with the lock that keeps "prune" away from pulls (shared) and
 * pulls away from "prune" (exclusive). */
int open_blob_cache(int lock_operation, LockFile *ret_lock, int *ret_fd) {
        const char *dir = strjoina(arg_cache_dir, "/blobs/sha256");
        const char *lock = strjoina(arg_cache_dir, "/blobs/.lock");
        int fd, r;

        r = mkdir_p_at(AT_FDCWD, dir, 0755, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create the blob cache %s: %m", dir);
        r = make_lock_file(lock, lock_operation, ret_lock);
        if (r == -EBUSY)
                return log_error_errno(r, "The blob cache %s is in use (a pull or prune runs); try again "
                                       "later.", dir);
        if (r < 0)
                return log_error_errno(r, "Failed to lock %s: %m", lock);
        fd = open(dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        if (fd < 0) {
                release_lock_file(ret_lock);
                return log_error_errno(errno, "Failed to open %s: %m", dir);
        }
        *ret_fd = fd;
        return 0;
}

int verb_pull(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(oci_reference_done) OciReference ref = {};
        _cleanup_(oci_platform_done) OciPlatform want = {};
        _cleanup_(release_lock_file) LockFile lock = LOCK_FILE_INIT;
        _cleanup_strv_free_ char **search = NULL;
        _cleanup_free_ char *name = NULL, *msg = NULL;
        _cleanup_close_ int cache_fd = -EBADF;
        char p[OCI_PLATFORM_STRING_MAX];
        int r;

        r = refuse_update_options("pull", AUTO_UPDATE_REGISTRY);
        if (r < 0)
                return r;

        r = oci_reference_parse(argv[1], &ref);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "Invalid image reference '%s': use "
                                       "[REGISTRY[:PORT]/]REPOSITORY[:TAG][@sha256:DIGEST] (lower-case "
                                       "repository names).", argv[1]);
        if (!ref.registry) {
                r = registries_search_list(&search, &msg);
                if (r < 0)
                        return log_error_errno(r, "%s", msg ?: strerror(-r));
                if (strv_length(search) == 0)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                               "'%s' is a short name and no registry to search is "
                                               "configured (unqualified-search-registries in %s): give "
                                               "the full reference, e.g. docker.io/library/%s.", argv[1],
                                               getenv("CONTAINERS_REGISTRIES_CONF") ?:
                                               CONTAINERS_REGISTRIES_CONF_DEFAULT, argv[1]);
        }

        if (argc > 2)
                name = strdup(argv[2]);
        else if (oci_reference_machine_name(&ref, &name) < 0)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Cannot make a machine name of '%s': give "
                                       "one.", argv[1]);
        if (!name)
                return log_oom();
        r = prepare_oci_machine("pull", name, &want, &s);
        if (r < 0)
                return r;

        r = open_blob_cache(LOCK_SH, &lock, &cache_fd);
        if (r < 0)
                return r;
        download_clean_stale(cache_fd, 24 * 3600);

        /* A short name: each search registry in turn, the first that has the image. */
        for (size_t k = 0; k < MAX(strv_length(search), 1U); k++) {
                _cleanup_(registry_client_freep) RegistryClient *client = NULL;
                _cleanup_(oci_pull_freep) OciPull *pull = NULL;
                _cleanup_(oci_image_freep) OciImage *image = NULL;
                _cleanup_free_ char *reference = NULL, *root = NULL;
                RegistryOptions o = { .tls_verify = arg_tls_verify };
                bool last = k + 1 >= strv_length(search);

                msg = mfree(msg);
                if (search) {
                        /* Anew for each registry: docker.io's "library/" is for docker.io only. */
                        oci_reference_done(&ref);
                        r = oci_reference_parse(argv[1], &ref);
                        if (r >= 0)
                                r = oci_reference_set_registry(&ref, search[k]);
                        if (r < 0)
                                return log_error_errno(r, "Invalid search registry '%s'.", search[k]);
                }
                r = oci_reference_format(&ref, &reference);
                if (r < 0)
                        return log_oom();

                r = registry_client_new(&ref, &o, &client, &msg);
                if (r == -ENOMEM)
                        return log_oom();
                if (r >= 0) {
                        r = oci_pull_new(client, cache_fd, &pull);
                        if (r < 0)
                                return log_oom();
                        r = oci_pull_resolve(pull, &ref, &want, &image, &root, &msg);
                }
                if (r < 0 && !last) {
                        log_info("%s: %s", reference, msg ?: strerror(-r));
                        continue;
                }
                if (r < 0)
                        return log_error_errno(r, "Failed to pull %s: %s", reference, msg ?: strerror(-r));

                if (!arg_quiet)
                        log_info("Pulling %s (%s) from %s.", reference, root, registry_client_url(client));
                r = oci_install(&s, "pull", name, image, pull_fill,
                                &(Pull) {
                                        .pull = pull,
                                        .image = image,
                                        .ref = &ref,
                                        .reference = reference,
                                        .root_digest = root,
                                        .name = name,
                                        .platform = oci_platform_format(&image->config->platform, p,
                                                                        sizeof(p)),
                                });
                if (r < 0)
                        return r;
                if (!arg_quiet)
                        log_info("Machine '%s' created from %s.", name, reference);
                break;
        }

        return commit_and_show(&s, name);
}

/* The blobs the machines' origin records list (pulled machines record every blob of their image). */
static int referenced_blobs(Store *s, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        MachineInfo *machines = NULL;
        size_t n = 0;
        int r;

        r = store_list(s, false, &machines, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to list the machines in %s: %m", s->root);
        for (size_t i = 0; i < n; i++) {
                _cleanup_(origin_freep) MachineOrigin *o = machine_info_origin(machines + i);

                STRV_FOREACH(d, o ? o->blobs : NULL)
                        if (!strv_contains(l, *d) && strv_extend(&l, *d) < 0) {
                                r = -ENOMEM;
                                goto finish;
                        }
        }
        r = 0;
        *ret = TAKE_PTR(l);
finish:
        for (size_t i = 0; i < n; i++)
                machine_info_done(machines + i);
        free(machines);
        return r < 0 ? log_oom() : 0;
}

int verb_prune(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(release_lock_file) LockFile lock = LOCK_FILE_INIT;
        _cleanup_strv_free_ char **keep = NULL;
        _cleanup_close_ int cache_fd = -EBADF;
        _cleanup_closedir_ DIR *d = NULL;
        json_object *removed = NULL;
        uint64_t freed = 0, kept = 0;
        char b[FORMAT_BYTES_MAX];
        int r;

        r = open_store(true, &s);
        if (r < 0)
                return r;
        r = open_blob_cache(LOCK_EX|LOCK_NB, &lock, &cache_fd);
        if (r < 0)
                return r;
        r = referenced_blobs(&s, &keep);
        if (r < 0)
                return r;

        d = fdopendir(cache_fd);
        if (!d)
                return log_error_errno(errno, "Failed to read the blob cache: %m");
        cache_fd = -EBADF;
        removed = json_object_new_array();
        if (!removed)
                return log_oom();
        for (struct dirent *de; (de = readdir(d));) {
                _cleanup_free_ char *digest = NULL;
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (asprintf(&digest, "sha256:%s", de->d_name) < 0) {
                        json_object_put(removed);
                        return log_oom();
                }
                /* Kept: the blobs of existing machines. Everything else goes, including the parts of
                 * interrupted downloads (no pull runs: we hold the lock). */
                if (de->d_name[0] != '.' && strv_contains(keep, digest)) {
                        kept++;
                        continue;
                }
                if (unlinkat(dirfd(d), de->d_name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0) {
                        log_warning_errno(errno, "Failed to remove %s from the blob cache, ignoring: %m",
                                          de->d_name);
                        continue;
                }
                freed += (uint64_t) st.st_size;
                if (de->d_name[0] != '.')
                        json_object_array_add(removed, json_object_new_string(digest));
        }

        if (arg_json) {
                json_object *o = json_object_new_object();
                if (!o) {
                        json_object_put(removed);
                        return log_oom();
                }
                json_object_object_add(o, "removed", removed);
                json_object_object_add(o, "kept", json_object_new_uint64(kept));
                json_object_object_add(o, "freed_bytes", json_object_new_uint64(freed));
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY|
                                                                JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(o);
                return 0;
        }
        if (!arg_quiet)
                log_info("Removed %zu blobs (%s) from the cache, kept %" PRIu64 " of existing machines.",
                         json_object_array_length(removed), format_bytes(b, sizeof(b), freed), kept);
        json_object_put(removed);
        return 0;
}
