/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "deb-version.h"
#include "string-util.h"

/* ASCII only: versions must not change order with the locale. */
static bool ascii_is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool ascii_is_alpha(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool chars_are_valid(const char *s, size_t n, const char *extra) {
        for (size_t i = 0; i < n; i++)
                if (!ascii_is_digit(s[i]) && !ascii_is_alpha(s[i]) && !strchr(extra, s[i]))
                        return false;
        return true;
}

static bool digits_are_valid(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!ascii_is_digit(s[i]))
                        return false;
        return true;
}

bool deb_version_is_valid(const char *v) {
        const char *colon, *rest, *dash;

        if (isempty(v))
                return false;

        colon = strchr(v, ':');
        if (colon) {
                if (colon == v || !digits_are_valid(v, (size_t) (colon - v)))
                        return false;
                rest = colon + 1;
        } else
                rest = v;

        dash = strrchr(rest, '-');
        if (dash) {
                /* chars_are_valid() also rejects the NUL of an empty string. */
                if (dash == rest || dash[1] == 0 || !chars_are_valid(dash + 1, strlen(dash + 1), ".+~"))
                        return false;
        } else
                dash = rest + strlen(rest);

        return dash > rest && chars_are_valid(rest, (size_t) (dash - rest), ".+~-");
}

typedef struct VersionParts {
        const char *epoch, *upstream, *revision;
        size_t epoch_len, upstream_len, revision_len;
} VersionParts;

/* Splits any string; a prefix before the first ':' that is not all digits is not an epoch. */
static VersionParts version_split(const char *v) {
        VersionParts p = {};
        const char *colon = strchr(v, ':'), *dash;

        if (colon && digits_are_valid(v, (size_t) (colon - v))) {
                p.epoch = v;
                p.epoch_len = (size_t) (colon - v);
                v = colon + 1;
        } else
                p.epoch = "";

        p.upstream = v;
        dash = strrchr(v, '-');
        if (dash) {
                p.upstream_len = (size_t) (dash - v);
                p.revision = dash + 1;
                p.revision_len = strlen(dash + 1);
        } else {
                p.upstream_len = strlen(v);
                p.revision = "";
        }
        return p;
}

static int compare_numbers(const char *a, size_t an, const char *b, size_t bn) {
        int r;

        while (an > 0 && *a == '0') {
                a++;
                an--;
        }
        while (bn > 0 && *b == '0') {
                b++;
                bn--;
        }
        if (an != bn)
                return an < bn ? -1 : 1;
        r = memcmp(a, b, an);
        return r < 0 ? -1 : r > 0;
}

/* The weight of a character in a non-digit run; 0 stands for the end of the run. */
static int char_order(char c) {
        if (c == '~')
                return -1;
        if (ascii_is_alpha(c))
                return (unsigned char) c;
        return (unsigned char) c + 256;
}

static int compare_part(const char *a, size_t an, const char *b, size_t bn) {
        size_t i = 0, j = 0;

        while (i < an || j < bn) {
                size_t si, sj;
                int r;

                /* The non-digit runs, character by character. Real characters never weigh 0, so the
                 * loop ends with a difference or with both runs ending together. */
                for (;;) {
                        bool ca = i < an && !ascii_is_digit(a[i]), cb = j < bn && !ascii_is_digit(b[j]);
                        int oa = ca ? char_order(a[i]) : 0, ob = cb ? char_order(b[j]) : 0;

                        if (oa != ob)
                                return oa < ob ? -1 : 1;
                        if (!ca)
                                break;
                        i++;
                        j++;
                }

                /* The digit runs, as numbers. */
                for (si = i; i < an && ascii_is_digit(a[i]); i++)
                        ;
                for (sj = j; j < bn && ascii_is_digit(b[j]); j++)
                        ;
                r = compare_numbers(a + si, i - si, b + sj, j - sj);
                if (r != 0)
                        return r;
        }
        return 0;
}

int deb_version_compare(const char *a, const char *b) {
        VersionParts x, y;
        int r;

        assert(a);
        assert(b);

        x = version_split(a);
        y = version_split(b);

        r = compare_numbers(x.epoch, x.epoch_len, y.epoch, y.epoch_len);
        if (r != 0)
                return r;
        r = compare_part(x.upstream, x.upstream_len, y.upstream, y.upstream_len);
        if (r != 0)
                return r;
        return compare_part(x.revision, x.revision_len, y.revision, y.revision_len);
}
