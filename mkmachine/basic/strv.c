/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "strv.h"

char** strv_free(char **l) {
        STRV_FOREACH(s, l)
                free(*s);
        return mfree(l);
}

size_t strv_length(char * const *l) {
        size_t n = 0;
        STRV_FOREACH(s, l)
                n++;
        return n;
}

bool strv_contains(char * const *l, const char *s) {
        STRV_FOREACH(i, l)
                if (strcmp(*i, s) == 0)
                        return true;
        return false;
}

int strv_push(char ***l, char *s) {
        size_t n = strv_length(*l);
        char **c;

        if (n > SIZE_MAX / sizeof(char*) - 2)
                return -ENOMEM;
        c = realloc(*l, sizeof(char*) * (n + 2));
        if (!c)
                return -ENOMEM;
        c[n] = s;
        c[n + 1] = NULL;
        *l = c;
        return 0;
}

int strv_extend(char ***l, const char *s) {
        char *d = strdup(s);
        int r;

        if (!d)
                return -ENOMEM;
        r = strv_push(l, d);
        if (r < 0)
                free(d);
        return r;
}

char* strv_join(char * const *l, const char *separator) {
        size_t n = 1, k = strlen(separator);
        char *s, *p;

        STRV_FOREACH(i, l)
                n += strlen(*i) + k;
        p = s = malloc(n);
        if (!s)
                return NULL;
        *p = 0;
        STRV_FOREACH(i, l) {
                if (i != l)
                        p = stpcpy(p, separator);
                p = stpcpy(p, *i);
        }
        return s;
}

int strv_extend_strv(char ***l, char * const *other) {
        STRV_FOREACH(i, other) {
                int r = strv_extend(l, *i);
                if (r < 0)
                        return r;
        }
        return 0;
}
