/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "nspawn-settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Port= values and --port= arguments ("[tcp:|udp:]HOST[:GUEST]"), from a .nspawn file or the user: no
 * crash, and a parsed port formats to a Port= value that parses back to the same port. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char buf[NSPAWN_PORT_STRING_MAX];
        NspawnPort p, back;
        char *s;

        if (size > 1024)
                return 0;
        s = fuzz_string(data, size);
        if (!s)
                return 0;

        if (nspawn_port_parse(s, &p) >= 0) {
                assert(p.protocol == PORT_TCP || p.protocol == PORT_UDP);
                assert(p.host > 0 && p.guest > 0);
                assert(nspawn_port_format(&p, buf, sizeof(buf)) == buf);
                assert(strlen(buf) < sizeof(buf) - 1);
                assert(nspawn_port_parse(buf, &back) >= 0);
                assert(back.protocol == p.protocol);
                assert(back.host == p.host);
                assert(back.guest == p.guest);
        }
        free(s);
        return 0;
}
