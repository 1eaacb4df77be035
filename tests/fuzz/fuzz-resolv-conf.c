/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "app-network.h"
#include "fuzz-util.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The host's resolv.conf (the first half) and resolved's (after the first NUL) as the machine's is made
 * from them; the promise: no crash, and only lines of our own form come out: the comment, nameserver
 * ADDRESS, search and options with [A-Za-z0-9._-] words (and ':' digits for options), nothing else and
 * no control character. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text, *out = NULL, *fallback;
        int r;

        if (size > 64 * 1024)
                return 0;
        text = fuzz_string(data, size);
        if (!text)
                return 0;
        fallback = memchr(data, 0, size) ? text + strlen(text) + 1 : NULL;
        if (fallback && fallback > text + size)
                fallback = NULL;
        r = resolv_conf_for_machine(text, fallback, &out);
        if (r >= 0) {
                for (char *line = out, *e; *line; line = e + 1) {
                        e = strchr(line, '\n');
                        assert(e);      /* every line ends */
                        *e = 0;
                        assert(line[0] == '#' || strncmp(line, "nameserver ", 11) == 0 ||
                               strncmp(line, "search ", 7) == 0 || strncmp(line, "options ", 8) == 0);
                        for (char *c = line; *c; c++)
                                assert((unsigned char) *c >= 0x20 && *c != 0x7f);
                        if (line[0] == 'n')
                                assert(strspn(line + 11, "0123456789abcdefABCDEF.:") == strlen(line + 11));
                }
                free(out);
        }
        free(text);
        return 0;
}
