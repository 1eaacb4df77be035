/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "fd-util.h"
#include "nspawn-settings.h"
#include "strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void lenient(const uint8_t *data, size_t size);

/* A .nspawn file read back and written again keeps what mkmachine manages: parse → settings → apply
 * onto the same file → settings again must agree. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(ini_freep) IniFile *ini = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        NspawnSettings s, back;

        if (size == 0 || size > 64 * 1024)
                return 0;
        lenient(data, size);

        f = fmemopen((void*) data, size, "re");
        if (!f)
                return 0;
        if (ini_parse(f, &ini, NULL) < 0)
                return 0;
        if (nspawn_settings_from_ini(ini, &s, NULL) < 0)
                return 0;

        if (nspawn_settings_apply(&s, ini) == 0 && nspawn_settings_from_ini(ini, &back, NULL) == 0) {
                assert(back.n_ports == s.n_ports);
                assert(back.n_binds == s.n_binds);
                assert(back.boot == s.boot);
                assert(strv_length(back.parameters) == strv_length(s.parameters));
                nspawn_settings_done(&back);
        }
        nspawn_settings_done(&s);
        return 0;
}

/* The same as systemd-nspawn reads the file: lines we cannot read are skipped and kept, and what we
 * write onto such a file reads back the same. */
static void lenient(const uint8_t *data, size_t size) {
        _cleanup_(ini_freep) IniFile *ini = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ unsigned *ignored = NULL;
        NspawnSettings s, back;
        size_t n = 0;

        f = fmemopen((void*) data, size, "re");
        if (!f)
                return;
        if (ini_parse_lenient(f, &ini, NULL) < 0)
                return;
        if (nspawn_settings_from_ini_lenient(ini, &s, &ignored, &n) < 0)
                return;
        for (size_t i = 1; i < n; i++)
                assert(ignored[i - 1] < ignored[i]);

        if (nspawn_settings_apply(&s, ini) == 0 &&
            nspawn_settings_from_ini_lenient(ini, &back, NULL, NULL) == 0) {
                assert(back.n_ports == s.n_ports);
                assert(back.n_binds == s.n_binds);
                assert(back.boot == s.boot);
                assert(strv_length(back.parameters) == strv_length(s.parameters));
                nspawn_settings_done(&back);
        }
        nspawn_settings_done(&s);
}
