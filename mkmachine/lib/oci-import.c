/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "download.h"
#include "error-util.h"
#include "fd-util.h"
#include "fs-util.h"
#include "log.h"
#include "oci-import.h"
#include "string-table.h"
#include "string-util.h"
#include "strv.h"
#include "tar-unpack.h"

static const char* const oci_source_kind_table[_OCI_SOURCE_KIND_MAX] = {
        [OCI_SOURCE_LAYOUT]         = "oci-layout",
        [OCI_SOURCE_OCI_ARCHIVE]    = "oci-archive",
        [OCI_SOURCE_DOCKER_ARCHIVE] = "docker-archive",
};

DEFINE_STRING_TABLE_LOOKUP(oci_source_kind, OciSourceKind);

struct OciSource {
        OciSourceKind kind;
        char *path;
        char *reference;
        int dir_fd;             /* the layout, or the unpacked archive */
        int tmp_parent_fd;      /* the unpacked archive's parent, or -EBADF */
        char *tmp_name;
        OciBlobSource blobs;
        /* docker-archive: the files of the resolved image's layers, by their diff_id. */
        char **layer_digests;
        char **layer_paths;
};

/* Opens a regular file beneath dir_fd, never through a symlink: a layout or archive is input like any
 * other. The fd is opened with O_NONBLOCK, harmless for regular files, so that a FIFO in its place
 * cannot block us before we see what it is. */
static int open_beneath(int dir_fd, const char *path, int flags) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = openat2_fd(dir_fd, path, flags | O_NOCTTY | O_NONBLOCK, 0,
                        RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS);
        if (fd < 0)
                return fd;
        /* Only regular files: an archive may hold a FIFO (which would block us) or a device node. */
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        return TAKE_FD(fd);
}

static const char* open_strerror(int r) {
        return r == -EBADFD ? "not a regular file" : strerror(-r);
}

int oci_blob_read_verified(const OciBlobSource *s, const char *digest, uint64_t size, char **ret,
                           size_t *ret_size, char **reterr_message) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n;
        int r;

        r = oci_digest_parse(digest, NULL);
        if (r == -EOPNOTSUPP)
                return error_message(reterr_message, r, "Blob %.80s: only sha256 digests are supported.",
                                     digest);
        if (r < 0)
                return error_message(reterr_message, r, "Invalid digest '%.80s'.", digest);
        if (size > OCI_JSON_SIZE_MAX)
                return error_message(reterr_message, -E2BIG, "Blob %s: its descriptor says %" PRIu64 " "
                                     "bytes, more than the %u allowed for metadata.", digest, size,
                                     OCI_JSON_SIZE_MAX);

        r = s->open(s->userdata, digest, &fd);
        if (r == -ENOENT)
                return error_message(reterr_message, r, "Blob %s is missing from the image.", digest);
        if (r < 0)
                return error_message(reterr_message, r, "Failed to open blob %s: %s", digest,
                                     open_strerror(r));

        /* At most one byte more than promised: enough to tell a blob that is too long. */
        r = read_full_fd(fd, (size_t) size + 1, &buf, &n);
        if (r == -E2BIG || (r >= 0 && n != size))
                return error_message(reterr_message, -EBADMSG,
                                     "Blob %s has the wrong size (%s, descriptor says %" PRIu64 " bytes).",
                                     digest, r == -E2BIG || n > size ? "longer" : "shorter", size);
        if (r < 0)
                return error_message(reterr_message, r, "Failed to read blob %s: %s", digest, strerror(-r));
        if (oci_blob_verify(buf, n, digest, size) < 0)
                return error_message(reterr_message, -EBADMSG,
                                     "Blob %s does not match its digest: damaged or tampered with.", digest);

        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = n;
        return 0;
}

/* A layout's blobs: blobs/ALG/HEX. */
static int layout_blob_open(void *userdata, const char *digest, int *ret_fd) {
        OciSource *s = userdata;
        char hex[65];
        int fd, r;

        r = oci_digest_parse(digest, hex);
        if (r < 0)
                return r;
        fd = open_beneath(s->dir_fd, strjoina("blobs/sha256/", hex), O_RDONLY);
        if (fd < 0)
                return fd;
        *ret_fd = fd;
        return 0;
}

OciSource* oci_source_free(OciSource *s) {
        if (!s)
                return NULL;
        safe_close(s->dir_fd);
        if (s->tmp_parent_fd >= 0 && s->tmp_name) {
                (void) rm_rf_at(s->tmp_parent_fd, s->tmp_name);
                safe_close(s->tmp_parent_fd);
        }
        free(s->tmp_name);
        strv_free(s->layer_digests);
        strv_free(s->layer_paths);
        free(s->path);
        free(s->reference);
        return mfree(s);
}

OciSourceKind oci_source_kind(const OciSource *s) {
        return s->kind;
}

const OciBlobSource* oci_source_blobs(const OciSource *s) {
        return &s->blobs;
}

const char* oci_source_path(const OciSource *s) {
        return s->path;
}

const char* oci_source_reference(const OciSource *s) {
        return s->reference;
}

/* Splits "PATH[:TAG|@DIGEST]": a path that exists as given wins (paths may contain ':'). */
static int spec_split(const char *spec, char **ret_path, char **ret_ref) {
        _cleanup_free_ char *path = NULL, *ref = NULL;

        if (access(spec, F_OK) >= 0) {
                path = strdup(spec);
                if (!path)
                        return -ENOMEM;
                *ret_path = TAKE_PTR(path);
                *ret_ref = NULL;
                return 0;
        }

        /* The first ':' or '@' after which the rest is the reference and before which the path exists:
         * a docker-archive's tags have ':' and '/' of their own ("FILE:example/app:1"). */
        for (const char *c = spec; (c = strpbrk(c, ":@")); c++) {
                _cleanup_free_ char *prefix = strndup(spec, (size_t) (c - spec));

                if (!prefix)
                        return -ENOMEM;
                if (!isempty(prefix) && access(prefix, F_OK) >= 0) {
                        if (isempty(c + 1))
                                return -EINVAL;
                        ref = strdup(c + 1);
                        if (!ref)
                                return -ENOMEM;
                        *ret_path = TAKE_PTR(prefix);
                        *ret_ref = TAKE_PTR(ref);
                        return 0;
                }
        }

        /* Nothing exists: the whole is the path, for the error that names it. */
        path = strdup(spec);
        if (!path)
                return -ENOMEM;
        *ret_path = TAKE_PTR(path);
        *ret_ref = TAKE_PTR(ref);
        return 0;
}

static int detect_kind(int dir_fd, bool archive, OciSourceKind *ret) {
        struct stat st;

        if (fstatat(dir_fd, "oci-layout", &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISREG(st.st_mode)) {
                *ret = archive ? OCI_SOURCE_OCI_ARCHIVE : OCI_SOURCE_LAYOUT;
                return 0;
        }
        if (fstatat(dir_fd, "manifest.json", &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISREG(st.st_mode)) {
                *ret = OCI_SOURCE_DOCKER_ARCHIVE;
                return 0;
        }
        return -EMEDIUMTYPE;
}

static int check_oci_layout(OciSource *s, char **reterr_message) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n;
        int r;

        fd = open_beneath(s->dir_fd, "oci-layout", O_RDONLY);
        if (fd < 0)
                return error_message(reterr_message, fd, "%s: failed to open oci-layout: %s", s->path,
                                     open_strerror(fd));
        r = read_full_fd(fd, 4096, &buf, &n);
        if (r < 0)
                return error_message(reterr_message, r == -E2BIG ? -EBADMSG : r,
                                     "%s: failed to read oci-layout.", s->path);
        if (!strstr(buf, "\"imageLayoutVersion\"") || !strstr(buf, "\"1.0.0\""))
                return error_message(reterr_message, -EOPNOTSUPP,
                                     "%s: oci-layout is not of imageLayoutVersion 1.0.0.", s->path);
        return 0;
}

/* Creates path (0700) and its missing parents (0755). */
/* Removes unpacked archives of runs that were killed: those whose directory nobody holds locked. */
static void tmp_clean_stale(int dir_fd) {
        _cleanup_closedir_ DIR *d = opendir_dup(dir_fd);

        if (!d)
                return;
        for (struct dirent *de; (de = readdir(d));) {
                _cleanup_close_ int fd = -EBADF;

                if (!startswith(de->d_name, "oci-"))
                        continue;
                fd = openat(dirfd(d), de->d_name, O_RDONLY|O_DIRECTORY|O_CLOEXEC|O_NOFOLLOW);
                if (fd < 0 || flock(fd, LOCK_EX|LOCK_NB) < 0)
                        continue;
                log_debug("Removing '%s', left behind by an interrupted import.", de->d_name);
                (void) rm_rf_at(dirfd(d), de->d_name);
        }
}

int oci_source_open(const char *spec, const char *tmp_dir, Progress *progress, OciSource **ret,
                    char **reterr_message) {
        _cleanup_(oci_source_freep) OciSource *s = NULL;
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        s = calloc(1, sizeof(OciSource));
        if (!s)
                return -ENOMEM;
        s->dir_fd = s->tmp_parent_fd = -EBADF;
        s->blobs = (OciBlobSource) { .open = layout_blob_open, .userdata = s };

        r = spec_split(spec, &path, &s->reference);
        if (r == -EINVAL)
                return error_message(reterr_message, r, "Invalid image source '%s': use DIR, DIR:TAG, "
                                     "DIR@DIGEST, or the same with an archive file.", spec);
        if (r < 0)
                return r;
        s->path = realpath(path, NULL) ?: strdup(path);
        if (!s->path)
                return -ENOMEM;
        r = s->reference && (startswith(s->reference, "sha256:") || startswith(s->reference, "sha512:")) ?
                oci_digest_parse(s->reference, NULL) : 0;
        if (r < 0)
                return error_message(reterr_message, r == -EOPNOTSUPP ? r : -EINVAL,
                                     "'%s' is not a valid sha256 digest.", s->reference);

        fd = open(path, O_RDONLY|O_CLOEXEC|O_NOCTTY);
        if (fd < 0)
                return error_message(reterr_message, -errno, "Failed to open '%s': %m", path);
        if (fstat(fd, &st) < 0)
                return -errno;

        if (S_ISDIR(st.st_mode)) {
                s->dir_fd = TAKE_FD(fd);
                r = detect_kind(s->dir_fd, false, &s->kind);
                if (r < 0)
                        return error_message(reterr_message, r, "'%s' is neither an OCI image layout (no "
                                             "oci-layout file) nor an unpacked docker-archive (no "
                                             "manifest.json).", path);
        } else if (S_ISREG(st.st_mode)) {
                _cleanup_free_ char *msg = NULL;
                char name[] = "oci-XXXXXX";

                r = mkdir_p_at(AT_FDCWD, tmp_dir, 0755, 0700);
                if (r < 0)
                        return error_message(reterr_message, r, "Failed to create '%s': %s", tmp_dir,
                                             strerror(-r));
                s->tmp_parent_fd = open(tmp_dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
                if (s->tmp_parent_fd < 0)
                        return error_message(reterr_message, -errno, "Failed to open '%s': %m", tmp_dir);
                tmp_clean_stale(s->tmp_parent_fd);
                /* mkdtemp() wants a path; the name is made relative to tmp_dir. */
                _cleanup_free_ char *tmpl = NULL;
                if (asprintf(&tmpl, "%s/%s", tmp_dir, name) < 0)
                        return -ENOMEM;
                if (!mkdtemp(tmpl))
                        return error_message(reterr_message, -errno,
                                             "Failed to create a directory in '%s': %m", tmp_dir);
                s->tmp_name = strdup(strrchr(tmpl, '/') + 1);
                if (!s->tmp_name)
                        return -ENOMEM;
                s->dir_fd = openat(s->tmp_parent_fd, s->tmp_name, O_RDONLY|O_DIRECTORY|O_CLOEXEC|O_NOFOLLOW);
                if (s->dir_fd < 0)
                        return -errno;
                /* Held as long as we use it: a directory nobody holds was left by a killed run. */
                if (flock(s->dir_fd, LOCK_EX) < 0)
                        return -errno;

                r = tar_unpack(fd, s->dir_fd, 0, (uint64_t) st.st_size, progress, NULL, &msg);
                if (r < 0)
                        return error_message(reterr_message, r, "'%s' is not a readable image archive: %s",
                                             path, msg ?: strerror(-r));
                r = detect_kind(s->dir_fd, true, &s->kind);
                if (r < 0)
                        return error_message(reterr_message, r, "'%s' is neither an oci-archive (no "
                                             "oci-layout file) nor a docker-archive (no manifest.json).",
                                             path);
        } else
                return error_message(reterr_message, -EMEDIUMTYPE, "'%s' is neither a directory nor a file.",
                                     path);

        if (s->kind != OCI_SOURCE_DOCKER_ARCHIVE) {
                r = check_oci_layout(s, reterr_message);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(s);
        return 0;
}

OciImage* oci_image_free(OciImage *i) {
        if (!i)
                return NULL;
        free(i->manifest_digest);
        free(i->config_digest);
        oci_config_free(i->config);
        for (size_t k = 0; k < i->n_layers; k++) {
                free(i->layers[k].digest);
                free(i->layers[k].path);
        }
        free(i->layers);
        return mfree(i);
}

static int config_check(OciImage *img, const OciPlatform *want, char **reterr_message) {
        char w[OCI_PLATFORM_STRING_MAX], h[OCI_PLATFORM_STRING_MAX];

        if (!oci_platform_matches(want, &img->config->platform))
                return error_message(reterr_message, -ENOENT,
                                     "The image is for %s, not %s (choose with --platform=).",
                                     oci_platform_format(&img->config->platform, h, sizeof(h)),
                                     oci_platform_format(want, w, sizeof(w)));
        if (strv_length(img->config->diff_ids) != img->n_layers)
                return error_message(reterr_message, -EBADMSG,
                                     "The image config lists %zu layers (diff_ids), the manifest %zu.",
                                     strv_length(img->config->diff_ids), img->n_layers);
        return 0;
}

#define OCI_NESTING_MAX 4U

static int resolve_layout(OciSource *s, const OciPlatform *want, OciImage **ret, char **reterr_message) {
        _cleanup_free_ char *buf = NULL, *digest = NULL;
        OciMediaType type = _OCI_MEDIA_TYPE_INVALID;
        uint64_t size = 0;
        size_t n;
        int r;

        /* index.json has no descriptor: it is the entry point, trusted as far as it names digests. */
        {
                _cleanup_(oci_index_freep) OciIndex *idx = NULL;
                _cleanup_close_ int fd = open_beneath(s->dir_fd, "index.json", O_RDONLY);
                const OciDescriptor *d;

                if (fd < 0)
                        return error_message(reterr_message, fd, "%s: no index.json: %s", s->path,
                                             open_strerror(fd));
                r = read_full_fd(fd, OCI_JSON_SIZE_MAX, &buf, &n);
                if (r < 0)
                        return error_message(reterr_message, r, "%s: failed to read index.json: %s", s->path,
                                             strerror(-r));
                r = oci_index_parse(buf, n, _OCI_MEDIA_TYPE_INVALID, &idx, reterr_message);
                if (r < 0)
                        return r;

                if (s->reference && startswith(s->reference, "sha256:")) {
                        d = NULL;
                        for (size_t k = 0; k < idx->n_manifests; k++)
                                if (streq(idx->manifests[k].digest, s->reference))
                                        d = idx->manifests + k;
                        if (!d)
                                return error_message(reterr_message, -ENOENT,
                                                     "%s: index.json lists no image %s.", s->path,
                                                     s->reference);
                } else if (s->reference) {
                        r = oci_index_find_ref(idx, s->reference, &d);
                        if (r == -ENOENT)
                                return error_message(reterr_message, r, "%s: no image tagged '%s'.", s->path,
                                                     s->reference);
                        if (r < 0)
                                return error_message(reterr_message, r,
                                                     "%s: several different images are tagged '%s'.",
                                                     s->path, s->reference);
                } else {
                        r = oci_index_select(idx, want, &d, reterr_message);
                        if (r < 0 && idx->n_manifests > 1)
                                return error_message(reterr_message, r, "%s holds several images: name one "
                                                     "as %s:TAG or %s@DIGEST.", s->path, s->path, s->path);
                        if (r < 0)
                                return r;
                }
                type = d->media_type;
                size = d->size;
                digest = strdup(d->digest);
                if (!digest)
                        return -ENOMEM;
                buf = mfree(buf);
        }

        return oci_image_resolve_descriptor(&s->blobs, type, digest, size, want, ret, reterr_message);
}

int oci_image_resolve_descriptor(const OciBlobSource *blobs, OciMediaType type, const char *digest_in,
                                 uint64_t size, const OciPlatform *want, OciImage **ret,
                                 char **reterr_message) {
        _cleanup_(oci_image_freep) OciImage *img = NULL;
        _cleanup_(oci_manifest_freep) OciManifest *m = NULL;
        _cleanup_free_ char *buf = NULL, *digest = strdup(digest_in);
        size_t n = 0;
        int r;

        if (!digest)
                return -ENOMEM;

        /* Follow indexes (manifest lists) down to a manifest, each verified before it is parsed. */
        for (unsigned depth = 0;; depth++) {
                _cleanup_(oci_index_freep) OciIndex *idx = NULL;
                const OciDescriptor *d;

                if (!oci_media_type_is_index(type) && !oci_media_type_is_manifest(type))
                        return error_message(reterr_message, -EOPNOTSUPP, "%s is of media type '%s', "
                                             "neither an image index nor a manifest.", digest,
                                             strna(oci_media_type_to_string(type)));
                if (depth > OCI_NESTING_MAX)
                        return error_message(reterr_message, -ELOOP,
                                             "Image indexes nested more than %u deep.", OCI_NESTING_MAX);

                buf = mfree(buf);
                r = oci_blob_read_verified(blobs, digest, size, &buf, &n, reterr_message);
                if (r < 0)
                        return r;
                if (oci_media_type_is_manifest(type))
                        break;

                r = oci_index_parse(buf, n, type, &idx, reterr_message);
                if (r < 0)
                        return r;
                r = oci_index_select(idx, want, &d, reterr_message);
                if (r < 0)
                        return r;
                type = d->media_type;
                size = d->size;
                free(digest);
                digest = strdup(d->digest);
                if (!digest)
                        return -ENOMEM;
        }

        r = oci_manifest_parse(buf, n, type, &m, reterr_message);
        if (r < 0)
                return r;

        img = calloc(1, sizeof(OciImage));
        if (!img)
                return -ENOMEM;
        img->manifest_digest = TAKE_PTR(digest);
        img->config_digest = strdup(m->config.digest);
        img->layers = calloc(MAX(m->n_layers, 1U), sizeof(OciLayer));
        if (!img->config_digest || !img->layers)
                return -ENOMEM;
        for (size_t k = 0; k < m->n_layers; k++) {
                img->layers[k] = (OciLayer) {
                        .digest = strdup(m->layers[k].digest),
                        .size = m->layers[k].size,
                        .compression = oci_media_type_compression(m->layers[k].media_type),
                };
                img->n_layers++;
                if (!img->layers[k].digest)
                        return -ENOMEM;
                img->layers_size += m->layers[k].size;
        }

        buf = mfree(buf);
        r = oci_blob_read_verified(blobs, m->config.digest, m->config.size, &buf, &n, reterr_message);
        if (r < 0)
                return r;
        r = oci_config_parse(buf, n, &img->config, reterr_message);
        if (r < 0)
                return r;
        r = config_check(img, want, reterr_message);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(img);
        return 0;
}

/* The hex digest a docker-archive's file name carries ("HEX.json", "HEX.tar", "HEX/layer.tar",
 * "blobs/sha256/HEX"), or NULL. */
static const char* docker_name_digest(const char *path, char hex[static 65]) {
        const char *p = path, *b;
        size_t l;

        if (startswith(p, "blobs/sha256/"))
                p += strlen("blobs/sha256/");
        b = strrchr(p, '/');
        l = b ? (size_t) (b - p) : strcspn(p, ".");
        if (l != 64)
                return NULL;
        memcpy(hex, p, 64);
        hex[64] = 0;
        for (const char *c = hex; *c; c++)
                if (!strchr("0123456789abcdef", *c))
                        return NULL;
        return hex;
}

/* A docker-archive's layers, by the diff_id the resolved image's config gives them. */
static int docker_blob_open(void *userdata, const char *digest, int *ret_fd) {
        OciSource *s = userdata;
        int fd;

        for (size_t k = 0; s->layer_digests && s->layer_digests[k]; k++) {
                if (!streq(s->layer_digests[k], digest))
                        continue;
                fd = open_beneath(s->dir_fd, s->layer_paths[k], O_RDONLY);
                if (fd < 0)
                        return fd;
                *ret_fd = fd;
                return 0;
        }
        return -ENOENT;
}

static int resolve_docker_archive(OciSource *s, const OciPlatform *want, OciImage **ret,
                                  char **reterr_message) {
        _cleanup_(docker_archive_freep) DockerArchive *a = NULL;
        _cleanup_(oci_image_freep) OciImage *img = NULL;
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        const DockerArchiveImage *im = NULL;
        char hex[65];
        size_t n;
        int r;

        fd = open_beneath(s->dir_fd, "manifest.json", O_RDONLY);
        if (fd < 0)
                return error_message(reterr_message, fd, "%s: failed to open manifest.json: %s", s->path,
                                     open_strerror(fd));
        r = read_full_fd(fd, OCI_JSON_SIZE_MAX, &buf, &n);
        if (r < 0)
                return error_message(reterr_message, r, "%s: failed to read manifest.json: %s", s->path,
                                     strerror(-r));
        r = docker_archive_parse(buf, n, &a, reterr_message);
        if (r < 0)
                return r;

        if (s->reference) {
                for (size_t k = 0; k < a->n_images && !im; k++)
                        STRV_FOREACH(t, a->images[k].repo_tags) {
                                const char *colon = strrchr(*t, ':');
                                const char *e = endswith(*t, s->reference);
                                /* "docker.io/example/app:1" is found as itself, "example/app:1" or "1". */
                                if (streq(*t, s->reference) || (colon && streq(colon + 1, s->reference)) ||
                                    (e && e > *t && e[-1] == '/'))
                                        im = a->images + k;
                        }
                if (!im)
                        return error_message(reterr_message, -ENOENT, "%s: no image tagged '%s'.", s->path,
                                             s->reference);
        } else if (a->n_images == 1)
                im = a->images;
        else
                return error_message(reterr_message, -ENOTUNIQ, "%s holds %zu images: name one as %s:TAG.",
                                     s->path, a->n_images, s->path);

        /* The archive is not content-addressed as a whole; its config is, by its name, and the layers by
         * the config's diff_ids. */
        if (!docker_name_digest(im->config, hex))
                return error_message(reterr_message, -EBADMSG,
                                     "%s: the config '%s' is not named by its digest: cannot verify it.",
                                     s->path, im->config);

        img = calloc(1, sizeof(OciImage));
        if (!img || asprintf(&img->config_digest, "sha256:%s", hex) < 0)
                return -ENOMEM;
        {
                struct stat st;
                _cleanup_close_ int cfd = open_beneath(s->dir_fd, im->config, O_RDONLY);

                if (cfd < 0 || fstat(cfd, &st) < 0)
                        return error_message(reterr_message, -ENOENT, "%s: the config '%s' is missing.",
                                             s->path, im->config);
                buf = mfree(buf);
                r = read_full_fd(cfd, OCI_JSON_SIZE_MAX, &buf, &n);
                if (r < 0)
                        return error_message(reterr_message, r, "%s: failed to read '%s': %s", s->path,
                                             im->config, strerror(-r));
                if (oci_blob_verify(buf, n, img->config_digest, n) < 0)
                        return error_message(reterr_message, -EBADMSG, "%s: the config '%s' does not match "
                                             "its digest: damaged or tampered with.", s->path, im->config);
        }
        r = oci_config_parse(buf, n, &img->config, reterr_message);
        if (r < 0)
                return r;

        n = strv_length(im->layers);
        img->layers = calloc(MAX(n, 1U), sizeof(OciLayer));
        if (!img->layers)
                return -ENOMEM;
        for (size_t k = 0; k < n; k++) {
                img->layers[k] = (OciLayer) {
                        .digest = strdup(k < strv_length(img->config->diff_ids) ?
                                         img->config->diff_ids[k] : "sha256:"),
                        .size = UINT64_MAX,
                        /* diff_ids are of the uncompressed layer, so only such a layer can be checked. */
                        .compression = COMPRESSION_NONE,
                        .path = strdup(im->layers[k]),
                };
                img->n_layers++;
                if (!img->layers[k].digest || !img->layers[k].path ||
                    strv_extend(&s->layer_digests, img->layers[k].digest) < 0 ||
                    strv_extend(&s->layer_paths, img->layers[k].path) < 0)
                        return -ENOMEM;
        }
        s->blobs = (OciBlobSource) { .open = docker_blob_open, .userdata = s };
        r = config_check(img, want, reterr_message);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(img);
        return 0;
}

int oci_image_resolve(OciSource *s, const OciPlatform *want, OciImage **ret, char **reterr_message) {
        if (s->kind == OCI_SOURCE_DOCKER_ARCHIVE)
                return resolve_docker_archive(s, want, ret, reterr_message);
        return resolve_layout(s, want, ret, reterr_message);
}

int oci_image_unpack(const OciBlobSource *blobs, const OciImage *img, int tree_fd,
                     const TarUnpackOptions *options, Progress *progress, char **reterr_message) {
        TarUnpackOptions o = options ? *options : (TarUnpackOptions) {};
        uint64_t used = 0;
        int r;

        for (size_t k = 0; k < img->n_layers; k++) {
                const OciLayer *l = img->layers + k;
                _cleanup_free_ char *msg = NULL;
                _cleanup_close_ int fd = -EBADF;
                TarUnpackStats stats;
                char want[65];
                struct stat st;

                r = oci_digest_parse(l->digest, want);
                if (r < 0)
                        return error_message(reterr_message, r,
                                             "Layer %zu has an invalid or unsupported digest '%.80s'.",
                                             k + 1, l->digest);

                /* The same layer right again: applying a changeset onto its own result changes nothing
                 * (what it adds it adds again, its whiteouts spare what it adds itself, an opaque
                 * directory is emptied and filled the same way), so it is unpacked once. A repeat after
                 * other layers is applied again at its position: it may re-create what those deleted
                 * or undo what they changed (docker and podman, whose layer IDs are chained from the
                 * layers below, apply it there too). The total is bounded by the size limit anyway. */
                if (k > 0 && streq(l->digest, img->layers[k - 1].digest)) {
                        log_debug("Layer %zu (%s) is layer %zu again, not unpacking it twice.", k + 1,
                                  l->digest, k);
                        continue;
                }

                r = blobs->open(blobs->userdata, l->digest, &fd);
                if (r == -ENOENT)
                        return error_message(reterr_message, r, "Layer %zu (%s) is missing from the image.",
                                             k + 1, l->path ?: l->digest);
                if (r < 0)
                        return error_message(reterr_message, r, "Layer %zu (%s) cannot be opened: %s", k + 1,
                                             l->path ?: l->digest, open_strerror(r));
                /* A cheap early check; the real one is on what is read. */
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (l->size != UINT64_MAX && S_ISREG(st.st_mode) && (uint64_t) st.st_size != l->size)
                        return error_message(reterr_message, -EBADMSG, "Layer %zu (%s) has %" PRIu64 " "
                                             "bytes, its descriptor says %" PRIu64 ".", k + 1, l->digest,
                                             (uint64_t) st.st_size, l->size);

                log_debug("Applying layer %zu/%zu (%s).", k + 1, img->n_layers, l->digest);
                /* The size limit is for the whole image: what the layers before read counts. */
                o.bytes_before = used;
                r = tar_unpack_with(fd, tree_fd, TAR_UNPACK_OVERLAY, (uint64_t) st.st_size, progress, &o,
                                    &stats, &msg);
                if (r < 0)
                        return error_message(reterr_message, r, "Layer %zu (%s): %s", k + 1,
                                             l->path ?: l->digest, msg ?: strerror(-r));
                used += stats.bytes_out;
                if (l->size != UINT64_MAX && stats.bytes_in != l->size)
                        return error_message(reterr_message, -EBADMSG, "Layer %zu (%s) has %" PRIu64 " "
                                             "bytes, its descriptor says %" PRIu64 ".", k + 1, l->digest,
                                             stats.bytes_in, l->size);
                if (stats.compression != l->compression && l->path)
                        return error_message(reterr_message, -EOPNOTSUPP, "Layer %zu (%s) of the "
                                             "docker-archive is %s-compressed: only uncompressed layers can "
                                             "be checked against the config's diff_ids.", k + 1, l->path,
                                             compression_to_string(stats.compression));
                if (stats.compression != l->compression)
                        return error_message(reterr_message, -EBADMSG,
                                             "Layer %zu (%s) is %s-compressed, but its media type says %s.",
                                             k + 1, l->path ?: l->digest,
                                             compression_to_string(stats.compression),
                                             compression_to_string(l->compression));
                if (!streq(stats.sha256, want))
                        return error_message(reterr_message, -EBADMSG, "Layer %zu (%s) does not match its "
                                             "digest (sha256:%s): damaged or tampered with.", k + 1,
                                             l->path ?: l->digest, stats.sha256);
        }
        return 0;
}

static bool is_busybox(int tree_fd, const struct stat *st) {
        static const char *const paths[] = { "/bin/busybox", "/usr/bin/busybox", "/sbin/busybox" };

        for (size_t k = 0; k < ELEMENTSOF(paths); k++) {
                _cleanup_close_ int fd = openat_in_root(tree_fd, paths[k], O_PATH, 0);
                struct stat b;

                if (fd >= 0 && fstat(fd, &b) >= 0 && b.st_dev == st->st_dev && b.st_ino == st->st_ino)
                        return true;
        }
        return false;
}

bool oci_tree_has_init(int tree_fd) {
        static const char *const inits[] = {
                "/sbin/init",
                "/usr/lib/systemd/systemd",
                "/lib/systemd/systemd",
        };

        for (size_t k = 0; k < ELEMENTSOF(inits); k++) {
                _cleanup_close_ int fd = openat_in_root(tree_fd, inits[k], O_PATH, 0);
                struct stat st;

                if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
                        continue;
                /* Alpine and busybox images have /sbin/init as a link to busybox: they are meant to run
                 * their command, not to boot. */
                if (is_busybox(tree_fd, &st))
                        continue;
                return true;
        }
        return false;
}

int oci_tree_make_runnable(int tree_fd, bool *ret_added_usr) {
        struct stat st;

        assert(ret_added_usr);

        *ret_added_usr = false;
        if (fstatat(tree_fd, "usr", &st, AT_SYMLINK_NOFOLLOW) >= 0)
                return 0;
        if (errno != ENOENT)
                return -errno;
        if (mkdirat(tree_fd, "usr", 0755) < 0)
                return -errno;
        *ret_added_usr = true;
        return 0;
}
