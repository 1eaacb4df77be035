/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "decompress.h"
#include "nspawn-settings.h"
#include "oci-image.h"
#include "progress.h"

/* Turning a machine into an OCI image (one layer, a config, a manifest) for "mkmachine push". The
 * upload itself is in oci-registry.h. Nothing here logs above debug level. */

#define OCI_DIGEST_STRING_MAX (7U + 64U + 1U)

typedef struct OciPackedLayer {
        char digest[OCI_DIGEST_STRING_MAX];     /* of the compressed blob */
        char diff_id[OCI_DIGEST_STRING_MAX];    /* of the uncompressed tar */
        uint64_t size;                          /* of the compressed blob */
        Compression compression;
} OciPackedLayer;

/* Archives the tree tree_fd with tar_pack() (the origin record on its root left out) and compresses it
 * with c (COMPRESSION_GZIP or COMPRESSION_ZSTD) into an unnamed temporary file in the directory tmp_dir
 * (O_TMPFILE), hashing both streams on the way. *ret_fd is positioned at 0. -EOPNOTSUPP for another
 * compression. progress (not NULL) shows the files archived. On failure a sentence in *reterr_message. */
int oci_layer_pack(int tree_fd, Compression c, const char *tmp_dir, const volatile sig_atomic_t *interrupted,
                   Progress *progress, int *ret_fd, OciPackedLayer *ret, char **reterr_message);

/* The image config (JSON) of a one-layer image: platform p, the layer's diff_id, and unless boot the
 * command line (as Entrypoint), environment, working directory and user of settings (may be NULL). */
int oci_push_config_json(const OciPlatform *p, const char *diff_id, bool boot,
                         const NspawnSettings *settings, char **ret);

/* The OCI image manifest (JSON) for a config blob and one layer. */
int oci_push_manifest_json(const char *config_digest, uint64_t config_size, const OciPackedLayer *layer,
                           char **ret);
