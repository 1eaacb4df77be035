/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "host-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* /proc/net/route as doctor reads it; the promise: no crash, and on success prefixes that are valid
 * (length ≤ 32, no host bits set) and interface names that fit. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        RouteEntry *l = NULL;
        size_t n = 0;
        char *text;

        if (size > 64 * 1024)
                return 0;
        text = fuzz_string(data, size);
        if (!text)
                return 0;
        if (proc_net_route_parse(text, &l, &n, NULL) >= 0)
                for (size_t i = 0; i < n; i++) {
                        Ipv4Prefix p = l[i].destination;
                        uint32_t mask = p.length == 0 ? 0 : UINT32_MAX << (32 - p.length);

                        assert(p.length <= 32);
                        assert((p.address & ~mask) == 0);
                        assert(strnlen(l[i].iface, IF_NAMESIZE) < IF_NAMESIZE);
                }
        free(l);
        free(text);
        return 0;
}
