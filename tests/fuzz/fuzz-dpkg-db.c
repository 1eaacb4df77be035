/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "dpkg-db.h"
#include "string-util.h"
#include "strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_trigger(DpkgTriggerKind kind, const char *name, void *userdata) {
        if (isempty(name) || strpbrk(name, " \t\r\n"))
                abort();
        if (name[0] != '/' && (strchr(name, '/') || name[0] == '.'))
                abort();        /* would be a path in triggers/ */
        return 0;
}

/* The same input as a control file, a conffiles list and a triggers file. What is accepted must be safe
 * to write into dpkg's database: a status paragraph without blank lines that parses back to the same
 * package, conffile paths without blanks, trigger names that are no paths in triggers/. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(dpkg_control_done) DpkgControl c = {}, again = {};
        _cleanup_strv_free_ char **conffiles = NULL;
        _cleanup_free_ char *msg = NULL, *paragraph = NULL;

        if (size > 64 * 1024)
                return 0;

        if (dpkg_control_parse((const char*) data, size, &c, &msg) >= 0) {
                if (dpkg_status_paragraph(&c, NULL, NULL, &paragraph) < 0)
                        return 0;
                if (strstr(paragraph, "\n\n") || !endswith(paragraph, "\n") ||
                    !startswith(paragraph, "Package: "))
                        abort();
                if (dpkg_control_parse(paragraph, strlen(paragraph), &again, NULL) < 0 ||
                    !streq(again.package, c.package) || !streq(again.version, c.version) ||
                    !streq(again.architecture, c.architecture) || !streq(again.info_name, c.info_name))
                        abort();
        }
        msg = mfree(msg);

        if (dpkg_conffiles_parse((const char*) data, size, &conffiles) >= 0)
                STRV_FOREACH(p, conffiles)
                        if ((*p)[0] != '/' || strpbrk(*p, " \t\r\n"))
                                abort();

        (void) dpkg_triggers_parse((const char*) data, size, check_trigger, NULL, &msg);
        return 0;
}
