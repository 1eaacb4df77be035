/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "oci-registry-reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void media_type(const char *content_type, const char *body) {
        OciMediaType t = registry_manifest_media_type(content_type, body);

        assert(t == _OCI_MEDIA_TYPE_INVALID || (t >= 0 && t < _OCI_MEDIA_TYPE_MAX));
}

/* A hostile registry's replies: the body as a token server's reply and as a manifest; the first line as
 * the manifest's Content-Type and the rest as its body. No crash, no leak; a token is non-empty and
 * fits a header line. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s, *token = NULL, *nl;

        if (size > 256 * 1024)
                return 0;
        s = fuzz_string(data, size);
        if (!s)
                return 0;

        if (registry_token_reply_parse(s, &token) >= 0) {
                assert(*token);
                assert(!strpbrk(token, "\r\n"));
                free(token);
        }
        media_type(NULL, s);
        nl = strchr(s, '\n');
        if (nl) {
                *nl = 0;
                media_type(s, nl + 1);
        }
        free(s);
        return 0;
}
