/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "oci-reference.h"
#include "string-util.h"
#include "strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Image references (and, on the same text, auth.json and both registries.conf parsers): no crash, no
 * leak, and a parsed reference formats to text that parses to the same reference. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        OciReference r = {}, again = {};
        char *s, *f = NULL, *name = NULL, *u = NULL, *p = NULL, **l = NULL;
        RegistrySettings rs = {};
        unsigned line;

        if (size > 64 * 1024)
                return 0;
        s = fuzz_string(data, size);
        if (!s)
                return 0;

        if (oci_reference_parse(s, &r) >= 0) {
                assert(r.repository);
                assert(r.tag || r.digest);
                assert(oci_reference_format(&r, &f) >= 0);
                assert(oci_reference_parse(f, &again) >= 0);
                assert(streq_ptr(r.registry, again.registry));
                assert(streq(r.repository, again.repository));
                assert(streq_ptr(r.tag, again.tag));
                assert(streq_ptr(r.digest, again.digest));
                if (oci_reference_machine_name(&r, &name) >= 0)
                        assert(strlen(name) > 0);
                if (!r.registry)
                        (void) oci_reference_set_registry(&r, "docker.io");
                oci_reference_done(&again);
                oci_reference_done(&r);
        }

        if (auth_json_lookup(s, strlen(s), "127.0.0.1:5000", "a/b", &u, &p) >= 0)
                assert(u && p);
        if (containers_registries_parse(s, &l, &line) >= 0)
                strv_free(l);
        if (registry_settings_parse(s, "127.0.0.1:5000", &rs, &line) >= 0)
                registry_settings_done(&rs);

        free(u);
        free(p);
        free(f);
        free(name);
        free(s);
        return 0;
}
