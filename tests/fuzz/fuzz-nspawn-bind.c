/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "nspawn-settings.h"
#include "path-util.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bind=/BindReadOnly= values and --bind= arguments ("SRC:DST[:OPT,…]"), from a .nspawn file or the
 * user: no crash, no leak; what parses has normalized absolute paths without ':', and formats to a value
 * that parses back to the same bind (read-only is the key's, not the value's). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        NspawnBind b = {}, back = {};
        char *s, *f = NULL;

        if (size > 64 * 1024)
                return 0;
        s = fuzz_string(data, size);
        if (!s)
                return 0;

        if (nspawn_bind_parse(s, &b) >= 0) {
                assert(path_is_normalized_absolute(b.source));
                assert(path_is_normalized_absolute(b.destination));
                assert(!streq(b.destination, "/"));
                assert(!strchr(b.source, ':') && !strchr(b.destination, ':'));
                assert(!b.idmap || b.idmap_set);

                assert(nspawn_bind_format(&b, &f) >= 0);
                assert(nspawn_bind_parse(f, &back) >= 0);
                assert(streq(back.source, b.source));
                assert(streq(back.destination, b.destination));
                assert(back.idmap == b.idmap);
                assert(!back.read_only);
                free(back.source);
                free(back.destination);
                free(b.source);
                free(b.destination);
        }
        free(f);
        free(s);
        return 0;
}
