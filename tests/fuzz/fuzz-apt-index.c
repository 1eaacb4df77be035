/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "apt-repo.h"
#include "resolve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A Packages index as the archive could send it (after its digest matched): parse it, then resolve
 * the standard set and the essential set from it. Must not crash or loop, whatever it says. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(apt_repo_freep) AptRepo *repo = NULL;
        _cleanup_free_ char *text = NULL, *msg = NULL;
        DebPackage **l = NULL;
        size_t n;

        if (size > 256 * 1024)
                return 0;
        text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        if (strlen(text) != size)
                return 0;

        if (apt_repo_new_from_index("amd64", text, &repo, &msg) < 0)
                return 0;
        if (deb_resolve(repo, &(ResolveOptions) { .priority = DEB_PRIORITY_STANDARD }, &l, &n, NULL) >= 0)
                free(l);
        if (deb_resolve(repo, &(ResolveOptions) { .priority = _DEB_PRIORITY_INVALID }, &l, &n, NULL) >= 0)
                free(l);
        return 0;
}
