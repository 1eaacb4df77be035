/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <string.h>

#include "deb-version.h"
#include "package-update.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* apt's report comes from the machine's own apt: no crash, no leak, and on success every upgrade has a
 * name and a valid candidate version (what auto-update prints and puts in its JSON unchecked), an
 * installed version that is valid if present, and no more than the limit. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        PackageUpgrade *u = NULL;
        size_t n = 0;
        unsigned line = 0;

        if (size > 1024 * 1024)
                return 0;

        if (package_upgrades_parse((const char*) data, size, &u, &n, &line) >= 0) {
                assert(n <= PACKAGE_UPGRADES_MAX);
                assert((n == 0) == !u);
                for (size_t i = 0; i < n; i++) {
                        assert(u[i].package && strlen(u[i].package) >= 2);
                        assert(u[i].candidate && deb_version_is_valid(u[i].candidate));
                        assert(!u[i].installed || deb_version_is_valid(u[i].installed));
                        assert(!u[i].architecture || u[i].architecture[0]);
                }
                package_upgrade_array_free(u, n);
        }
        return 0;
}
