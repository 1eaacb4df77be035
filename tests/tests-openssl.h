/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <openssl/provider.h>

#include "tests.h"

/* Makes OpenSSL fail in this thread: the thread's default library context becomes one with only the null
 * provider, which has no algorithms, so every digest fails. Returns the previous context, for
 * openssl_restore(). */
static inline OSSL_LIB_CTX* openssl_break(OSSL_PROVIDER **ret_provider) {
        OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();

        ASSERT_NOT_NULL(ctx);
        *ret_provider = OSSL_PROVIDER_load(ctx, "null");
        ASSERT_NOT_NULL(*ret_provider);
        return OSSL_LIB_CTX_set0_default(ctx);
}

static inline void openssl_restore(OSSL_LIB_CTX *old, OSSL_PROVIDER *provider) {
        OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_set0_default(old);

        ASSERT_TRUE(OSSL_PROVIDER_unload(provider));
        OSSL_LIB_CTX_free(ctx);
}
