/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "oci-image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every parser of image documents on the same input, with every expectation a descriptor can have:
 * none may crash or leak, and what parses must be self-consistent. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const OciMediaType expected[] = {
                _OCI_MEDIA_TYPE_INVALID, OCI_MEDIA_INDEX, OCI_MEDIA_MANIFEST, OCI_MEDIA_DOCKER_MANIFEST,
                OCI_MEDIA_DOCKER_MANIFEST_LIST,
        };
        const char *json = (const char*) data;

        if (size > 256 * 1024)
                return 0;

        for (size_t k = 0; k < ELEMENTSOF(expected); k++) {
                OciIndex *i = NULL;
                OciManifest *m = NULL;
                char *msg = NULL;

                if (oci_index_parse(json, size, expected[k], &i, &msg) >= 0) {
                        OciPlatform p = { .os = (char*) "linux", .architecture = (char*) "amd64" };
                        const OciDescriptor *d;

                        assert(oci_media_type_is_index(i->media_type));
                        if (oci_index_select(i, &p, &d, NULL) >= 0)
                                assert(oci_digest_parse(d->digest, NULL) == 0);
                        (void) oci_index_find_ref(i, "latest", &d);
                        oci_index_free(i);
                }
                free(msg);
                msg = NULL;
                if (oci_manifest_parse(json, size, expected[k], &m, &msg) >= 0) {
                        assert(oci_media_type_is_manifest(m->media_type));
                        assert(oci_media_type_is_config(m->config.media_type));
                        for (size_t l = 0; l < m->n_layers; l++)
                                assert(oci_media_type_is_layer(m->layers[l].media_type));
                        oci_manifest_free(m);
                }
                free(msg);
        }

        OciConfig *c = NULL;
        if (oci_config_parse(json, size, &c, NULL) >= 0) {
                NspawnSettings s;
                for (int boot = 0; boot < 2; boot++) {
                        if (oci_config_to_nspawn_settings(c, boot, true, &s, NULL) >= 0)
                                nspawn_settings_done(&s);
                        if (oci_config_to_nspawn_settings_full(c, boot, OCI_SETTINGS_COMMAND_GIVEN, &s,
                                                               NULL) >= 0)
                                nspawn_settings_done(&s);
                }
                oci_config_free(c);
        }

        DockerArchive *a = NULL;
        if (docker_archive_parse(json, size, &a, NULL) >= 0)
                docker_archive_free(a);
        return 0;
}
