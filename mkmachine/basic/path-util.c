/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <limits.h>
#include <string.h>

#include "path-util.h"
#include "string-util.h"

bool filename_is_valid(const char *s) {
        if (isempty(s))
                return false;
        if (streq(s, ".") || streq(s, ".."))
                return false;
        if (strchr(s, '/'))
                return false;
        return strlen(s) <= NAME_MAX;
}

bool path_is_safe_relative(const char *p) {
        if (isempty(p) || p[0] == '/')
                return false;
        if (strlen(p) >= PATH_MAX)
                return false;

        for (const char *c = p; *c; ) {
                size_t n = strcspn(c, "/");

                if (n == 2 && c[0] == '.' && c[1] == '.')
                        return false;
                if (n > NAME_MAX)
                        return false;
                c += n;
                while (*c == '/')
                        c++;
        }
        return true;
}

bool path_is_normalized_absolute(const char *p) {
        if (isempty(p) || p[0] != '/')
                return false;
        if (strlen(p) >= PATH_MAX)
                return false;
        if (strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../"))
                return false;
        if (endswith(p, "/.") || endswith(p, "/.."))
                return false;
        return true;
}
