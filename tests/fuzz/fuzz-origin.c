/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "origin.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The origin record is read back from disk. Parse arbitrary bytes; a record that is accepted must be
 * written, and what was written must parse again to the same record (the same text written again). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(origin_freep) MachineOrigin *o = NULL, *p = NULL;
        _cleanup_free_ char *msg = NULL, *text = NULL, *again = NULL;
        int r;

        r = origin_parse((const char *) data, size, &o, &msg);
        if (r < 0) {
                if (r != -ENOMEM && !msg)
                        abort();        /* every refusal says why */
                return 0;
        }
        if (msg)
                abort();
        if (origin_format(o, &text) < 0)
                abort();
        if (origin_parse(text, strlen(text), &p, &msg) < 0)
                abort();
        if (origin_format(p, &again) < 0 || !streq(text, again))
                abort();
        if (o->type != p->type || o->auto_update != p->auto_update || o->n_archive != p->n_archive ||
            !streq_ptr(o->source, p->source) || !!o->exec != !!p->exec)
                abort();
        return 0;
}
