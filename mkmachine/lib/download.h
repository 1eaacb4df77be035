/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "progress.h"

/* Parallel HTTP(S) downloads with libcurl's multi interface, verified while they stream: each file is
 * written under a temporary name next to its destination, hashed with SHA-256 on the way, checked
 * against the expected size and digest, and only then renamed into place. A failed, truncated or
 * tampered download never appears under its final name. */

/* Whether a transfer that ended with this libcurl code may succeed when tried again (the connection
 * failed or broke off, timed out, got nothing): the one list for downloads and registry requests. */
bool curl_code_is_transient(CURLcode code);

typedef struct DownloadItem {
        const char *url;
        int dir_fd;                     /* destination directory */
        const char *name;               /* destination file name in it */
        uint64_t size;                  /* expected size, 0: unknown */
        const char *sha256;             /* expected digest (hex), NULL: not checked */
        uint64_t max_size;              /* refuse more than this when size is unknown, 0: 1 GiB */
        /* For registries: extra request headers ("Authorization: Bearer …"), TLS settings. */
        char * const *headers;
        bool tls_no_verify;             /* don't check the server's certificate (explicit opt-in) */
        const char *ca_file;            /* PEM bundle to verify against instead of the system's */
        /* Keep an interrupted download as ".NAME.part" (flock()ed while written) and continue it with a
         * Range request next time; the hash covers the kept part too, so the result is verified as a
         * whole. A part that fails verification is removed. */
        bool resume;
        /* Set (if non-NULL) to whether this item's failure looks transient (HTTP 429 or 5xx, a
         * connection failure, reset or timeout): worth another try. */
        bool *ret_transient;
        /* Called (if set) as soon as the item is verified and in place, while others still download. */
        void (*done)(const struct DownloadItem *item, void *userdata);
        void *userdata;
} DownloadItem;

/* The deadline for a whole transfer of size bytes (what is expected, or the most that is accepted):
 * DOWNLOAD_DEADLINE_FLOOR_SEC plus the time it takes at DOWNLOAD_DEADLINE_MIN_RATE bytes/s, or
 * MKMACHINE_DOWNLOAD_TIMEOUT (seconds) from the environment when set; at most
 * DOWNLOAD_DEADLINE_MAX_SEC. Besides it a transfer fails when it is slower than 1 byte/s for 60 s. */
#define DOWNLOAD_DEADLINE_FLOOR_SEC UINT64_C(600)
#define DOWNLOAD_DEADLINE_MIN_RATE  UINT64_C(65536)
#define DOWNLOAD_DEADLINE_MAX_SEC   (UINT64_C(7) * 24 * 3600)
uint64_t download_deadline_sec(uint64_t size);

/* Downloads all items, at most max_parallel at a time (several connections to the same host, reused
 * with keep-alive). Stops at the first failure: returns a negative errno (-EIO for HTTP and transfer
 * errors, -ETIMEDOUT when one is not done within its deadline, see download_deadline_sec(), -EBADMSG for
 * a size or digest mismatch) and, if reterr_message is non-NULL, a sentence naming the URL and what went
 * wrong. progress (may be NULL) counts the bytes of all items; *ret_bytes
 * (may be NULL) gets the number of bytes transferred. Never logs above debug level. */
int download_many(const DownloadItem *items, size_t n, unsigned max_parallel, Progress *progress,
                  uint64_t *ret_bytes, char **reterr_message);

/* Removes temporaries of downloads (".#NAME.RANDOM") older than max_age_sec from dir_fd: left behind
 * when a run was killed. Younger ones may belong to a download in progress and are kept. */
void download_clean_stale(int dir_fd, unsigned max_age_sec);

