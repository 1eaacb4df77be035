/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "oci-image.h"
#include "progress.h"
#include "tar-unpack.h"

/* Reading OCI images from where they are: an OCI image layout directory, an oci-archive (a tar of a
 * layout) or a docker-archive (docker save, podman save), and unpacking one into a tree. Errors are
 * negative errnos with a sentence in *reterr_message (if non-NULL) naming the object; nothing here logs
 * above debug level. */

/* Where blobs come from, by digest. Nothing a source returns is trusted: every blob is checked against
 * the size and digest of the descriptor that refers to it before it is used (small blobs) or while it
 * is read, with the import failing on a mismatch (layers). A registry client can be another source. */
typedef struct OciBlobSource {
        /* Returns a read-only fd at the start of the blob with this (valid sha256) digest; -ENOENT if
         * the source has no such blob. */
        int (*open)(void *userdata, const char *digest, int *ret_fd);
        void *userdata;
} OciBlobSource;

/* Reads a small blob (index, manifest, config: at most OCI_JSON_SIZE_MAX) and verifies it: -ENOENT
 * (missing), -EBADMSG (size or digest mismatch, truncated), -E2BIG. The result is NUL-terminated. */
int oci_blob_read_verified(const OciBlobSource *s, const char *digest, uint64_t size, char **ret,
                           size_t *ret_size, char **reterr_message);

typedef enum OciSourceKind {
        OCI_SOURCE_LAYOUT,
        OCI_SOURCE_OCI_ARCHIVE,
        OCI_SOURCE_DOCKER_ARCHIVE,
        _OCI_SOURCE_KIND_MAX,
        _OCI_SOURCE_KIND_INVALID = -EINVAL,
} OciSourceKind;

const char* oci_source_kind_to_string(OciSourceKind k) _pure_;
OciSourceKind oci_source_kind_from_string(const char *s) _pure_;

typedef struct OciSource OciSource;

/* Opens SOURCE: "DIR", "DIR:TAG", "DIR@sha256:…" or the same with an archive FILE. The kind is told from
 * the content: a directory with an oci-layout file is a layout, one with a manifest.json an unpacked
 * docker-archive; a file is a tar, unpacked (with the hostile-input rules of tar_unpack()) into a new
 * temporary directory below tmp_dir, which oci_source_free() removes, and then told apart the same way.
 * Such directories are kept locked while in use; ones left by killed runs are removed here. */
int oci_source_open(const char *spec, const char *tmp_dir, Progress *progress, OciSource **ret,
                    char **reterr_message);
OciSource* oci_source_free(OciSource *s);
DEFINE_POINTER_CLEANUP(OciSource*, oci_source_free);

OciSourceKind oci_source_kind(const OciSource *s);
/* Where the source's blobs come from: a layout's blobs/, or (after oci_image_resolve()) a
 * docker-archive's layer files, by diff_id. Valid as long as the source. */
const OciBlobSource* oci_source_blobs(const OciSource *s);
/* The path of the source (absolute if it could be made so) and the tag or digest asked for (or NULL). */
const char* oci_source_path(const OciSource *s);
const char* oci_source_reference(const OciSource *s);

typedef struct OciLayer {
        char *digest;           /* what the raw blob must hash to (for a docker-archive: the diff_id) */
        uint64_t size;          /* UINT64_MAX: unknown (docker-archive) */
        Compression compression;
        char *path;             /* docker-archive: the file in the archive (for messages); else NULL */
} OciLayer;

/* A resolved image: the manifest for the chosen platform with its config, all verified. */
typedef struct OciImage {
        char *manifest_digest;  /* docker-archive: NULL (it has no manifest blob) */
        char *config_digest;
        OciConfig *config;
        OciLayer *layers;
        size_t n_layers;
        uint64_t layers_size;   /* sum of the known sizes */
} OciImage;

OciImage* oci_image_free(OciImage *i);
DEFINE_POINTER_CLEANUP(OciImage*, oci_image_free);

/* Finds the image the source's reference names (or its only one) for platform want, following an
 * index or manifest list to the matching manifest, and reads and verifies manifest and config. The
 * config's platform must match want. */
int oci_image_resolve(OciSource *s, const OciPlatform *want, OciImage **ret, char **reterr_message);

/* The same from a descriptor (media type, digest, size of an index or manifest) and where its blobs
 * come from: what a registry client calls with what the registry said about a tag. */
int oci_image_resolve_descriptor(const OciBlobSource *blobs, OciMediaType type, const char *digest,
                                 uint64_t size, const OciPlatform *want, OciImage **ret,
                                 char **reterr_message);

/* Applies the image's layers in order onto the empty directory tree_fd (overlay semantics, see
 * TAR_UNPACK_OVERLAY). Each layer is hashed while it is unpacked, and its size, digest and compression
 * are checked against its descriptor: on a mismatch the tree holds garbage and the caller must throw
 * it away (store_install() does). A layer that is the one before again (same digest) is unpacked once:
 * the result is the same; a layer repeated after others is applied again where it is listed. options
 * (NULL: the defaults) as for tar_unpack_with(), its max_bytes for all layers together (bytes_before
 * is ignored). */
int oci_image_unpack(const OciBlobSource *blobs, const OciImage *i, int tree_fd,
                     const TarUnpackOptions *options, Progress *progress, char **reterr_message);

/* Whether the tree has an init to boot (/sbin/init, /usr/lib/systemd/systemd, /lib/systemd/systemd),
 * looked up as if tree_fd were the root directory. Busybox's init (/sbin/init a link to busybox, as in
 * every Alpine-based image) does not count: such images are meant to run their command. */
bool oci_tree_has_init(int tree_fd);

/* systemd-nspawn refuses a tree without /usr ("doesn't look like it has an OS tree"), which many images
 * (busybox, static binaries) don't have: creates an empty /usr (root's, 0755) if nothing is there.
 * *ret_added_usr says whether it did. Nothing that exists is changed. */
int oci_tree_make_runnable(int tree_fd, bool *ret_added_usr);
