/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "machine-instance.h"
#include "store.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parse a name, then check the promises: an accepted TEMPLATE@INSTANCE gives a valid machine name made
 * of valid parts, its drop-ins format, and parsing the parts again gives the same. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = NULL, *resolved = NULL, *again = NULL, *d = NULL, *a = NULL;
        MachineInstance i = {}, j = {};
        int r;

        if (size > 256)
                return 0;
        s = fuzz_string(data, size);
        if (!s)
                return 0;

        r = machine_instance_parse(s, &i);
        if (r <= 0) {
                if (r == 0 && machine_name_resolve(s, &resolved) >= 0 && !streq(resolved, s))
                        abort();
                return 0;
        }
        if (!machine_name_is_valid(i.machine) || !machine_name_is_valid(i.template) ||
            !machine_name_is_valid(i.instance) || strchr(i.machine, '@'))
                abort();
        if (machine_name_resolve(s, &resolved) < 0 || !streq(resolved, i.machine))
                abort();
        if (asprintf(&again, "%s@%s", i.template, i.instance) < 0)
                abort();
        if (machine_instance_parse(again, &j) != 1 || !streq(j.machine, i.machine))
                abort();
        i.mode = INSTANCE_EPHEMERAL;
        if (machine_instance_dropin_format(&i, "/var/lib/machines", &d) < 0 ||
            machine_instance_alias_dropin_format(&i, "/var/lib/machines", &a) < 0)
                abort();
        machine_instance_done(&i);
        machine_instance_done(&j);
        return 0;
}
