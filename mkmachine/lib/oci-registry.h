/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "oci-import.h"
#include "oci-reference.h"
#include "progress.h"

/* Pulling images from a registry (OCI distribution spec, Docker registry v2) with libcurl, into a
 * content-addressed blob cache (DIR/sha256/HEX, only verified blobs, written temp+rename). Errors are
 * negative errnos with a sentence in *reterr_message; nothing here logs above debug level. */

#define REGISTRIES_CONF_DEFAULT "/etc/mkmachine/registries.conf"
#define CONTAINERS_REGISTRIES_CONF_DEFAULT "/etc/containers/registries.conf"

typedef struct RegistryOptions {
        int tls_verify;         /* -1: as the config file says (default yes) */
        const char *ca_file;    /* NULL: as the config file says (default the system's bundle) */
        bool push;              /* ask for a token that may push (scope repository:REPO:pull,push) */
} RegistryOptions;

typedef struct RegistryClient RegistryClient;

/* Reads our registries.conf (MKMACHINE_REGISTRIES_CONF or REGISTRIES_CONF_DEFAULT) and the credentials
 * (REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json or /run/containers/UID/auth.json,
 * ~/.config/containers/auth.json, ~/.docker/config.json), then talks to the registry: GET /v2/ (over
 * HTTPS; plain HTTP only without TLS verification), and answers its challenge (Bearer token for
 * repository:REPO:pull, or Basic). -EACCES if credentials are needed and missing or refused. */
int registry_client_new(const OciReference *ref, const RegistryOptions *o, RegistryClient **ret,
                        char **reterr_message);
RegistryClient* registry_client_free(RegistryClient *c);
DEFINE_POINTER_CLEANUP(RegistryClient*, registry_client_free);

/* The base URL chosen ("https://HOST") and whether credentials are used. */
const char* registry_client_url(const RegistryClient *c);
bool registry_client_authenticated(const RegistryClient *c);

typedef struct OciPull OciPull;

/* A pull of one image through c into the cache directory cache_fd (the directory of hex names). */
int oci_pull_new(RegistryClient *c, int cache_fd, OciPull **ret);
OciPull* oci_pull_free(OciPull *p);
DEFINE_POINTER_CLEANUP(OciPull*, oci_pull_free);

/* Fetches the manifest (or index) the reference names, checks it against the reference's digest if it
 * has one, stores it in the cache, and resolves it to the image for want (nested manifests and the
 * config come from the cache, else the registry, each verified). *ret_root_digest gets the digest the
 * tag resolved to. */
int oci_pull_resolve(OciPull *p, const OciReference *ref, const OciPlatform *want, OciImage **ret_image,
                     char **ret_root_digest, char **reterr_message);

/* Starts downloading the layers of img missing from the cache, in a thread, several at a time, retried
 * with back-off on transient errors and resumed from kept parts. progress (may be NULL) shows them. */
int oci_pull_start(OciPull *p, const OciImage *img, Progress *progress);

/* The blobs of the pull: opening a layer waits until it is downloaded and verified (or the downloads
 * failed: -EIO). For oci_image_unpack(). */
const OciBlobSource* oci_pull_blobs(OciPull *p);

/* Waits for the downloads; their result, with the message of the first failure. */
int oci_pull_finish(OciPull *p, char **reterr_message);

/* The digests of every blob the pull used (manifests, config, layers), and the bytes downloaded. */
char* const* oci_pull_digests(const OciPull *p);
uint64_t oci_pull_downloaded(const OciPull *p);

/* The short-name search list of containers-registries.conf(5) (CONTAINERS_REGISTRIES_CONF or the
 * default file); *ret NULL if not configured. */
int registries_search_list(char ***ret, char **reterr_message);

/* Pushing (the client made with RegistryOptions.push). Errors: -EACCES (refused: credentials missing or
 * without the right), -EIO (transfer or HTTP error), with a sentence in *reterr_message. */

/* HEAD of a blob: 1 if the registry has it, 0 if not. */
int registry_blob_exists(RegistryClient *c, const char *digest, char **reterr_message);

/* A monolithic upload (POST /v2/REPO/blobs/uploads/, then PUT LOCATION?digest=DIGEST) of size bytes of
 * fd (read with pread() from offset 0), or of a buffer. The registry checks the digest. */
int registry_blob_upload(RegistryClient *c, const char *digest, int fd, uint64_t size,
                         char **reterr_message);
int registry_blob_upload_data(RegistryClient *c, const char *digest, const void *data, size_t size,
                              char **reterr_message);

/* PUT /v2/REPO/manifests/TAG of a manifest of media_type. */
int registry_manifest_put(RegistryClient *c, const char *tag, const char *media_type, const char *data,
                          size_t size, char **reterr_message);

/* The digest of the manifest (or index) tag names now: what "auto-update" compares with the recorded
 * one. -ENOENT if the registry has no such tag. */
int registry_manifest_digest(RegistryClient *c, const char *tag, char **ret, char **reterr_message);
