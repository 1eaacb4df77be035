/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hashmap.h"
#include "progress.h"
#include "time-util.h"

/* A Debian or Ubuntu archive, as apt sees it: the signed Release of one suite, and the Packages indexes
 * of its components for one architecture, every byte verified (signature by gpgv, then SHA256 and size
 * of each index against the Release). */

typedef enum DebPriority {
        DEB_PRIORITY_REQUIRED,
        DEB_PRIORITY_IMPORTANT,
        DEB_PRIORITY_STANDARD,
        DEB_PRIORITY_OPTIONAL,
        DEB_PRIORITY_EXTRA,
        _DEB_PRIORITY_MAX,
        _DEB_PRIORITY_INVALID = -EINVAL,
} DebPriority;

const char* deb_priority_to_string(DebPriority p);
DebPriority deb_priority_from_string(const char *s);

/* One binary package of the index. The strings point into the index buffers of the AptRepo. */
typedef struct DebPackage {
        const char *name;
        const char *version;
        const char *architecture;
        const char *filename;           /* relative to the mirror */
        const char *mirror;             /* of its suite (the AptRepo's or one of its updates) */
        const char *sha256;
        const char *depends;            /* raw relationship fields, parsed when needed */
        const char *pre_depends;
        const char *provides;
        const char *multi_arch;
        uint64_t size;
        DebPriority priority;
        bool essential;
} DebPackage;

/* A further suite whose newer versions win: of the same archive (bookworm-updates, jammy-security), or
 * of another mirror (bookworm-security from the Debian security archive). */
typedef struct AptSuite {
        char *mirror;                   /* no trailing '/' */
        char *suite;
        char *release;                  /* the verified Release text */
        char release_sha256[65];
        const char *date;               /* the Release's Date: (in release), or NULL */
        char *index_sums;               /* in release */
        const char *release_components;
} AptSuite;

typedef struct AptRepo {
        char *mirror;                   /* no trailing '/' */
        char *suite;
        char *architecture;
        char *release;                  /* the verified Release text; owns the strings below */
        char release_sha256[65];        /* of the verified Release text, before parsing */
        const char *codename;
        const char *date;               /* the Release's Date: (in release), or NULL */
        char *index_sums;               /* the Release's SHA256 list (in release) */
        const char *release_components;
        usec_t valid_until;             /* 0: none */
        AptSuite *updates;
        size_t n_updates, n_updates_allocated;

        char **buffers;                 /* decompressed Packages indexes, owning the package strings */
        DebPackage *packages;
        size_t n_packages, n_packages_allocated;
        Hashmap *by_name;               /* name → DebPackage* (the highest version) */
        Hashmap *providers;             /* name → DebProviders*, for Provides */
        uint64_t bytes_downloaded;
} AptRepo;

typedef struct DebProviders {
        char *name;
        DebPackage **packages;
        char **versions;                /* parallel to packages: the provided version, or NULL */
        size_t n, allocated, allocated_versions;
} DebProviders;

typedef struct AptRepoOptions {
        const char *keyring;            /* trusted keys for the Release signature */
        bool no_verify;                 /* accept an unsigned or badly signed Release (loudly, elsewhere) */
        int cache_fd;                   /* directory for "indexes/" (by SHA256) and "lists/" */
        usec_t now;                     /* for Valid-Until; 0: the current time */
        bool release_only;              /* stop after the verified Release (no indexes) */
        Progress *progress;
} AptRepoOptions;

/* Fetches and verifies InRelease (or Release + Release.gpg) of suite at mirror, then the Packages
 * index of each component for architecture (xz or gzip, whatever the Release lists; one already in
 * the cache with the right digest is not downloaded again), and parses them.
 *
 * Errors: -ENOKEY (keyring missing), -EBADMSG (bad signature, expired Release, digest mismatch,
 * malformed data), -ENOENT (no such suite, component or architecture), -EIO (download failed); each
 * with a sentence in *reterr_message naming the file or URL. Never logs above debug level. */
int apt_repo_load(const char *mirror, const char *suite, char * const *components, const char *architecture,
                  const AptRepoOptions *options, AptRepo **ret, char **reterr_message);
/* The same from the text of a Packages index alone (no Release, no download): for tests and fuzzing. */
int apt_repo_new_from_index(const char *architecture, const char *text, AptRepo **ret,
                            char **reterr_message);
/* After apt_repo_load() with release_only: adds a further suite at mirror (NULL: the repo's own), its
 * Release fetched and verified as apt_repo_load() does it (same keyring, Valid-Until); its packages are
 * loaded with the others' by apt_repo_load_indexes() and download from mirror, and where it has a
 * higher version of a package, that one wins. Errors as apt_repo_load(), the message naming the suite
 * and its mirror; never logs above debug level. */
int apt_repo_add_suite(AptRepo *repo, const char *suite, const char *mirror, const AptRepoOptions *options,
                       char **reterr_message);
/* After apt_repo_load() with release_only: the indexes (of every suite), as apt_repo_load() would have
 * loaded them. */
int apt_repo_load_indexes(AptRepo *repo, char * const *components, const AptRepoOptions *options,
                          char **reterr_message);
AptRepo* apt_repo_free(AptRepo *r);
DEFINE_POINTER_CLEANUP(AptRepo*, apt_repo_free);

DebPackage* apt_repo_find(const AptRepo *r, const char *name);
const DebProviders* apt_repo_providers(const AptRepo *r, const char *name);

/* Strips a PGP clear-signature armor, undoing dash-escaping, in place; for --no-verify only (otherwise
 * gpgv hands over the signed text). Returns a pointer into buf, or NULL if buf is not clear-signed. */
char* pgp_clearsigned_text(char *buf);

/* Parses an RFC 2822 date as Release files have them ("Sat, 05 Dec 2026 10:00:00 UTC"). */
int parse_release_date(const char *s, usec_t *ret);

/* The first Debian mirror the host's apt sources use (deb822 .sources files, then sources.list),
 * skipping security and update suites; "http://…" without a trailing '/'. -ENOENT if there is none.
 * root is "/" or a directory to read etc/apt from (tests). */
int host_apt_mirror(const char *root, char **ret);

/* The URI of the first entry of the host's apt sources (read as host_apt_mirror() reads them) whose
 * suites include suite exactly (e.g. "bookworm-security"), without a trailing '/'. -ENOENT if none
 * has it. Never logs above debug level. */
int host_apt_suite_mirror(const char *root, const char *suite, char **ret);

/* Where the Debian security archive is by convention, beside the archive mirror: "http://H/debian" →
 * "http://H/debian-security" (the last path component must be "debian"; trailing '/' ignored).
 * -EINVAL if mirror does not end in /debian. */
int apt_security_mirror_beside(const char *mirror, char **ret);
