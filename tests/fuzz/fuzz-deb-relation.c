/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "fuzz-util.h"
#include "deb-relation.h"
#include "deb-version.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char* const versions[] = { "0", "1.0", "1.0~rc1", "1:2.3-4+b1", "2.36-9+deb12u4" };
        _cleanup_(deb_relation_list_freep) DebRelationList *l = NULL;
        _cleanup_free_ char *s = NULL;

        if (size > 64 * 1024)
                return 0;

        s = fuzz_string(data, size);
        if (!s)
                return 0;

        if (deb_relation_list_parse(s, "amd64", &l) < 0)
                return 0;

        for (size_t i = 0; i < l->n_groups; i++) {
                assert(l->groups[i].n_items > 0);
                for (size_t j = 0; j < l->groups[i].n_items; j++) {
                        const DebRelation *r = l->groups[i].items + j;

                        assert(strlen(r->name) >= 2);
                        assert(r->op >= 0 && r->op < _DEB_RELATION_OP_MAX);
                        assert((r->op == DEB_RELATION_ANY) == !r->version);
                        assert(!r->arch_qualifier || !isempty(r->arch_qualifier));
                        assert(deb_relation_matches(r, r->name, NULL) == (r->op == DEB_RELATION_ANY));
                        if (!r->version)
                                continue;

                        assert(deb_version_is_valid(r->version));
                        assert(deb_version_compare(r->version, r->version) == 0);
                        for (size_t k = 0; k < ELEMENTSOF(versions); k++) {
                                int a = deb_version_compare(versions[k], r->version),
                                        b = deb_version_compare(r->version, versions[k]);

                                assert(a == -b && a >= -1 && a <= 1);
                                assert(deb_relation_matches(r, r->name, versions[k]) ==
                                       deb_relation_op_satisfied(r->op, a));
                        }
                }
        }
        return 0;
}
