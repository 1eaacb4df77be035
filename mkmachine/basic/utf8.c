/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "utf8.h"

size_t utf8_decode(const char *s, size_t n, uint32_t *ret_cp) {
        const unsigned char *u = (const unsigned char*) s;
        uint32_t cp, min;
        size_t len;

        if (n == 0)
                return 0;
        if (u[0] < 0x80) {
                cp = u[0];
                len = 1;
                goto done;
        }
        if (u[0] >= 0xc2 && u[0] <= 0xdf)
                len = 2, cp = u[0] & 0x1f, min = 0x80;
        else if (u[0] >= 0xe0 && u[0] <= 0xef)
                len = 3, cp = u[0] & 0x0f, min = 0x800;
        else if (u[0] >= 0xf0 && u[0] <= 0xf4)
                len = 4, cp = u[0] & 0x07, min = 0x10000;
        else
                return 0;

        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((u[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (u[i] & 0x3f);
        }
        /* Overlong forms, surrogates and what lies beyond Unicode. */
        if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                return 0;
done:
        if (ret_cp)
                *ret_cp = cp;
        return len;
}

bool utf8_is_valid_n(const char *s, size_t n) {
        for (size_t i = 0; i < n; ) {
                size_t k = utf8_decode(s + i, n - i, NULL);

                if (k == 0)
                        return false;
                i += k;
        }
        return true;
}

bool utf8_is_valid(const char *s) {
        return utf8_is_valid_n(s, strlen(s));
}
