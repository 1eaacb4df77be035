/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fd-util.h"
#include "machine-file.h"
#include "strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Any input either parses into a complete machine (a source, the defaults filled in) whose generated
 * .nspawn file parses back to the same settings, or fails with a line within the file and a reason. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(machine_file_freep) MachineFile *m = NULL;
        _cleanup_(ini_freep) IniFile *ini = NULL;
        _cleanup_fclose_ FILE *f = NULL, *g = NULL;
        _cleanup_free_ char *nspawn = NULL;
        const char *reason = NULL;
        unsigned line = 0, lines = 1;
        NspawnSettings back;
        int r;

        if (size == 0 || size > 64 * 1024)
                return 0;
        for (size_t i = 0; i < size; i++)
                lines += data[i] == '\n' || data[i] == '\r' || data[i] == 0;    /* systemd's line ends */

        f = fmemopen((void*) data, size, "re");
        if (!f)
                return 0;
        r = machine_file_parse(f, "fuzz", &m, &line, &reason);
        if (r == -EBADMSG) {
                assert(reason);
                assert(line <= lines);
                return 0;
        }
        if (r < 0)
                return 0;

        assert(m->source);
        assert(m->source_type >= 0);
        assert(m->settings.network >= 0 && m->settings.private_users >= 0 && m->settings.boot >= 0);

        if (machine_file_format_nspawn(m, "/etc/mkmachine/machines/fuzz.machine", &nspawn) < 0)
                return 0;
        g = fmemopen(nspawn, strlen(nspawn), "re");
        if (!g || ini_parse(g, &ini, NULL) < 0)
                abort();        /* we must be able to read what we wrote */
        if (nspawn_settings_from_ini(ini, &back, NULL) < 0)
                abort();
        assert(back.n_ports == m->settings.n_ports);
        assert(back.n_binds == m->settings.n_binds);
        assert(back.boot == m->settings.boot);
        assert(strv_length(back.environment) == strv_length(m->settings.environment));
        assert(strv_length(back.parameters) == strv_length(m->settings.parameters));
        nspawn_settings_done(&back);
        return 0;
}
