/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "fd-util.h"
#include "recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(recipe_freep) Recipe *recipe = NULL, *base = NULL;
        _cleanup_fclose_ FILE *f = NULL;

        if (size == 0 || size > 64 * 1024)
                return 0;

        f = fmemopen((void*) data, size, "re");
        if (!f)
                return 0;
        if (recipe_parse(f, "/fuzz/recipe.conf", "fuzz", &recipe, NULL, NULL) < 0)
                return 0;

        /* Merging a recipe with itself must work whatever it holds. */
        rewind(f);
        if (recipe_parse(f, "/fuzz/base.conf", "base", &base, NULL, NULL) == 0)
                assert(recipe_merge_base(recipe, base) == 0);
        (void) recipe_verify(recipe, NULL);
        return 0;
}
