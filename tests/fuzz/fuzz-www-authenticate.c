/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "oci-reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* WWW-Authenticate values from a hostile registry: no crash, no leak; a Bearer challenge has a realm. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        AuthChallenge c = {};
        char *s;

        if (size > 64 * 1024)
                return 0;
        s = fuzz_string(data, size);
        if (!s)
                return 0;
        if (auth_challenge_parse(s, &c) >= 0) {
                assert(c.scheme == AUTH_SCHEME_BASIC || c.scheme == AUTH_SCHEME_BEARER);
                assert(c.scheme != AUTH_SCHEME_BEARER || (c.realm && *c.realm));
                auth_challenge_done(&c);
        }
        free(s);
        return 0;
}
