/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decompress.h"
#include "macro.h"
#include "nspawn-settings.h"

/* The JSON documents of OCI images (image-spec v1) and Docker schema 2: descriptors, indexes (manifest
 * lists), manifests and image configs. Pure functions on buffers, so that they can be fuzzed; reading
 * and verifying blobs is oci-import's job. None of them logs above debug level. Errors are -EBADMSG
 * (malformed or contradictory), -EOPNOTSUPP (a media type, digest algorithm or schema we cannot
 * handle) and -ENOMEM, with a sentence in *reterr_message (if non-NULL) naming what is wrong. */

/* Upper bounds on what an image may ask of us. */
#define OCI_JSON_SIZE_MAX   (4U * 1024U * 1024U)   /* an index, manifest or config */
#define OCI_ENTRIES_MAX     4096U                  /* layers, manifests, Env, arguments, ports */

typedef enum OciMediaType {
        OCI_MEDIA_INDEX,                /* application/vnd.oci.image.index.v1+json */
        OCI_MEDIA_MANIFEST,
        OCI_MEDIA_CONFIG,
        OCI_MEDIA_LAYER,                /* …layer.v1.tar */
        OCI_MEDIA_LAYER_GZIP,
        OCI_MEDIA_LAYER_ZSTD,
        OCI_MEDIA_DOCKER_MANIFEST_LIST,
        OCI_MEDIA_DOCKER_MANIFEST,
        OCI_MEDIA_DOCKER_CONFIG,
        OCI_MEDIA_DOCKER_LAYER_GZIP,    /* …rootfs.diff.tar.gzip */
        _OCI_MEDIA_TYPE_MAX,
        _OCI_MEDIA_TYPE_INVALID = -EINVAL,
} OciMediaType;

const char* oci_media_type_to_string(OciMediaType t) _pure_;
OciMediaType oci_media_type_from_string(const char *s) _pure_;

bool oci_media_type_is_index(OciMediaType t);
bool oci_media_type_is_manifest(OciMediaType t);
bool oci_media_type_is_config(OciMediaType t);
bool oci_media_type_is_layer(OciMediaType t);
/* The compression a layer of this media type must have (a layer's content is checked against it). */
Compression oci_media_type_compression(OciMediaType t);

#define OCI_DIGEST_MAX (7U + 64U + 1U)  /* "sha256:" + hex + NUL */

/* Checks that s is "sha256:" and 64 lower-case hex digits. -EOPNOTSUPP for another (well-formed)
 * algorithm such as sha512, -EBADMSG for anything else. ret_hex (if non-NULL, 65 bytes) gets the hex
 * part. */
int oci_digest_parse(const char *s, char *ret_hex);

/* Checks a blob read into memory against what its descriptor says: size first, then the SHA-256.
 * -EBADMSG on a mismatch. */
int oci_blob_verify(const void *data, size_t size, const char *digest, uint64_t expected_size);

typedef struct OciPlatform {
        char *os;
        char *architecture;
        char *variant;          /* may be NULL */
} OciPlatform;

void oci_platform_done(OciPlatform *p);
/* Parses "OS/ARCH[/VARIANT]". -EINVAL if malformed. */
int oci_platform_parse(const char *s, OciPlatform *ret);
/* linux and the host's architecture, in the image-spec's (Go's) names: amd64, arm64 (variant v8), arm
 * (v7), 386, ppc64le, s390x, riscv64. */
int oci_platform_host(OciPlatform *ret);
/* Whether have satisfies want: same os and architecture, and the same variant if want names one
 * ("arm64" without variant counts as "v8"). */
bool oci_platform_matches(const OciPlatform *want, const OciPlatform *have);
/* "os/arch[/variant]"; buf must hold OCI_PLATFORM_STRING_MAX. */
#define OCI_PLATFORM_STRING_MAX 256U
char* oci_platform_format(const OciPlatform *p, char *buf, size_t size);

typedef struct OciDescriptor {
        OciMediaType media_type;
        char *media_type_string;        /* as written, for messages */
        char digest[OCI_DIGEST_MAX];
        uint64_t size;
        bool has_platform;
        OciPlatform platform;
        char *ref_name;                 /* annotation org.opencontainers.image.ref.name, or NULL */
} OciDescriptor;

void oci_descriptor_done(OciDescriptor *d);

typedef struct OciIndex {
        OciMediaType media_type;        /* OCI index or Docker manifest list */
        OciDescriptor *manifests;
        size_t n_manifests;
} OciIndex;

OciIndex* oci_index_free(OciIndex *i);
DEFINE_POINTER_CLEANUP(OciIndex*, oci_index_free);

/* Parses an index (or Docker manifest list). expected is the media type the referring descriptor
 * gave, or _OCI_MEDIA_TYPE_INVALID for a layout's index.json (which has no descriptor): a document
 * whose own mediaType or shape contradicts it is refused. Entries of media types we don't know are
 * kept (with media_type _OCI_MEDIA_TYPE_INVALID) so that they can be named; their digests and sizes
 * are checked all the same. */
int oci_index_parse(const char *json, size_t size, OciMediaType expected, OciIndex **ret,
                    char **reterr_message);

/* The entry of a layout's index.json tagged ref (annotation org.opencontainers.image.ref.name).
 * -ENOENT if none, -ENOTUNIQ if several differ. */
int oci_index_find_ref(const OciIndex *i, const char *ref, const OciDescriptor **ret);

/* The manifest (or nested index) for platform want: entries with a platform that matches, entries
 * without a platform (checked against the image config later) only if nothing matches explicitly.
 * -ENOENT with a message listing the platforms there are if none does. */
int oci_index_select(const OciIndex *i, const OciPlatform *want, const OciDescriptor **ret,
                     char **reterr_message);

typedef struct OciManifest {
        OciMediaType media_type;
        OciDescriptor config;
        OciDescriptor *layers;
        size_t n_layers;
} OciManifest;

OciManifest* oci_manifest_free(OciManifest *m);
DEFINE_POINTER_CLEANUP(OciManifest*, oci_manifest_free);

/* Parses an image manifest; expected as for oci_index_parse(). The config must be of a config media
 * type and every layer of a layer media type we can unpack: foreign and non-distributable layers,
 * and anything else, are refused (-EOPNOTSUPP) naming the layer. */
int oci_manifest_parse(const char *json, size_t size, OciMediaType expected, OciManifest **ret,
                       char **reterr_message);

typedef struct OciConfig {
        OciPlatform platform;
        char **entrypoint;
        char **cmd;
        char **env;
        char *working_dir;
        char *user;
        char **exposed_ports;   /* "80/tcp" */
        char **diff_ids;        /* rootfs.diff_ids: the digests of the uncompressed layers */
        char *stop_signal;
} OciConfig;

OciConfig* oci_config_free(OciConfig *c);
DEFINE_POINTER_CLEANUP(OciConfig*, oci_config_free);

int oci_config_parse(const char *json, size_t size, OciConfig **ret, char **reterr_message);

/* The machine settings an image config asks for. With boot (the tree has an init), the machine boots:
 * Boot=yes and the environment. Otherwise it runs the entrypoint: Parameters= Entrypoint+Cmd,
 * Environment=, WorkingDirectory=, User= (the user part of "user[:group]"); -ENOEXEC if there is no
 * command at all. With publish_ports the exposed ports become Port= entries (same port on the host);
 * without, they are left to the administrator. ret is initialized first. */
int oci_config_to_nspawn_settings(const OciConfig *c, bool boot, bool publish_ports, NspawnSettings *ret,
                                  char **reterr_message);

typedef enum OciSettingsFlags {
        OCI_SETTINGS_PUBLISH_PORTS = 1 << 0,    /* as publish_ports above */
        /* The user says what runs (--exec with or without a command, or --boot), and those settings win
         * over the image's: a config without Entrypoint and Cmd (image-spec's minimal valid config) is
         * not an error then, it gives Boot=no without Parameters= (for the user's to replace). */
        OCI_SETTINGS_COMMAND_GIVEN = 1 << 1,
} OciSettingsFlags;

/* oci_config_to_nspawn_settings() with flags. */
int oci_config_to_nspawn_settings_full(const OciConfig *c, bool boot, OciSettingsFlags flags,
                                       NspawnSettings *ret, char **reterr_message);

/* One image of a docker-archive's (docker save, podman save) manifest.json. */
typedef struct DockerArchiveImage {
        char *config;           /* path in the archive */
        char **layers;
        char **repo_tags;
} DockerArchiveImage;

typedef struct DockerArchive {
        DockerArchiveImage *images;
        size_t n_images;
} DockerArchive;

DockerArchive* docker_archive_free(DockerArchive *a);
DEFINE_POINTER_CLEANUP(DockerArchive*, docker_archive_free);

/* Parses manifest.json; paths must be safe relative paths. */
int docker_archive_parse(const char *json, size_t size, DockerArchive **ret, char **reterr_message);
