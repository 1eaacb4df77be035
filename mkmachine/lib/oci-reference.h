/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"
#include "oci-image.h"

/* The pure parsers of pulling images from registries: image references, WWW-Authenticate challenges,
 * containers-auth.json(5) credentials and the two registries.conf files. No I/O, no logging: they are
 * fuzzed. Errors are -EINVAL (malformed input), -ENOENT (nothing found) and -ENOMEM. */

#define OCI_REFERENCE_MAX 512U
#define DOCKER_HUB "docker.io"
#define DOCKER_HUB_ENDPOINT "registry-1.docker.io"

typedef struct OciReference {
        char *registry;         /* "quay.io", "127.0.0.1:5000"; NULL for a short name ("nginx") */
        char *repository;       /* "library/nginx" */
        char *tag;              /* "latest" if neither tag nor digest was given; NULL with only a digest */
        char *digest;           /* "sha256:…" or NULL */
} OciReference;

void oci_reference_done(OciReference *r);

/* Parses "[REGISTRY[:PORT]/]REPO[:TAG][@sha256:DIGEST]". The first component is a registry if it has
 * a '.' or a ':' or is "localhost" (the docker rule); without one the reference is a short name
 * (registry NULL), which only a configured search list may complete (oci_reference_set_registry()).
 * Repository components are lower-case [a-z0-9] runs joined by '.', '_', "__" or '-'; tags are
 * [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; digests sha256 only (-EOPNOTSUPP for another algorithm). "docker.io"
 * (and index.docker.io) gets "library/" before a one-component repository. */
int oci_reference_parse(const char *s, OciReference *ret);

/* Completes a short name with registry (validated as above), applying the docker.io rule. */
int oci_reference_set_registry(OciReference *r, const char *registry);

/* The host[:port] to talk to: registry-1.docker.io for docker.io. */
const char* oci_reference_endpoint(const OciReference *r);

/* "REGISTRY/REPO[:TAG][@DIGEST]" (the registry omitted for a short name). */
int oci_reference_format(const OciReference *r, char **ret);

/* The default machine name: the repository's last component with '_' and runs of non-alphanumerics made
 * '-'. -EINVAL if nothing valid remains. */
int oci_reference_machine_name(const OciReference *r, char **ret);

typedef enum AuthScheme {
        AUTH_SCHEME_BASIC,
        AUTH_SCHEME_BEARER,
        _AUTH_SCHEME_MAX,
        _AUTH_SCHEME_INVALID = -EINVAL,
} AuthScheme;

typedef struct AuthChallenge {
        AuthScheme scheme;
        char *realm;
        char *service;          /* may be NULL */
        char *scope;            /* may be NULL */
} AuthChallenge;

void auth_challenge_done(AuthChallenge *c);

/* Parses a WWW-Authenticate header value (RFC 7235: a scheme, then name=value parameters, values tokens
 * or quoted strings with backslash escapes, separated by commas). Of several challenges the first Bearer
 * or Basic one is taken; -EOPNOTSUPP if there is none; -EINVAL if malformed or if Bearer has no realm. */
int auth_challenge_parse(const char *s, AuthChallenge *ret);

/* Looks up the credentials for registry (host[:port]) and repository in a containers-auth.json(5) /
 * docker config.json: {"auths": {KEY: {"auth": base64("user:password")}}}, KEY the most specific of
 * "REGISTRY/REPO/…" down to "REGISTRY", or a URL "https://REGISTRY[/…]" (for docker.io also
 * index.docker.io/v1/). -ENOENT if none; -EINVAL if the file or the entry is malformed. */
int auth_json_lookup(const char *json, size_t size, const char *registry, const char *repository,
                     char **ret_user, char **ret_password);

/* containers-registries.conf(5): just "unqualified-search-registries = ["a", "b"]" (top-level, before
 * any [table]). ret gets NULL if the key is absent. -EINVAL with *ret_line on a malformed value. */
int containers_registries_parse(const char *text, char ***ret, unsigned *ret_line);

/* Our own registries.conf: INI sections [Registry HOST[:PORT]] with TLSVerify=yes|no and CA=FILE (a PEM
 * bundle the registry's certificate must chain to). */
typedef struct RegistrySettings {
        int tls_verify;         /* -1: not set */
        char *ca_file;
} RegistrySettings;

void registry_settings_done(RegistrySettings *s);

/* Reads the section of registry from the text of the file (the last setting of a key wins). Unknown keys
 * and other sections are ignored; -EINVAL with *ret_line for a bad value. */
int registry_settings_parse(const char *text, const char *registry, RegistrySettings *ret,
                            unsigned *ret_line);
