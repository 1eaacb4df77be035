/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "deb822.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_checksum(const char *hash, uint64_t size, const char *path, void *userdata) {
        size_t hash_len = *(size_t*) userdata;

        assert(strlen(hash) == hash_len);
        assert(!isempty(path));
        assert(!strpbrk(path, " \t\r\n"));
        return 0;
}

static int check_paragraph(const Deb822Paragraph *p, void *userdata) {
        unsigned *last_line = userdata;

        assert(p->n_fields > 0 && p->n_fields <= DEB822_FIELDS_MAX);
        assert(p->line > *last_line);
        *last_line = p->line;

        for (size_t i = 0; i < p->n_fields; i++) {
                static const size_t lengths[] = { 4, 32, 64 };
                const char *v = p->fields[i].value;
                _cleanup_free_ char *copy = NULL;

                assert(!isempty(p->fields[i].name));
                assert(deb822_paragraph_get(p, p->fields[i].name) == v);
                /* Values are stripped; continuation lines are never empty. */
                assert(!IN_SET_CHAR(v[0], ' ', '\t', '\n'));
                assert(!strstr(v, "\n\n"));
                if (*v)
                        assert(!IN_SET_CHAR(v[strlen(v) - 1], ' ', '\t', '\r', '\n'));

                copy = strdup(v);
                if (!copy)
                        return -ENOMEM;
                for (size_t j = 0; j < ELEMENTSOF(lengths); j++) {
                        size_t hash_len = lengths[j];

                        memcpy(copy, v, strlen(v) + 1);
                        (void) deb822_parse_checksums(copy, hash_len, check_checksum, &hash_len);
                }
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *buf = NULL;
        unsigned last_line = 0, line = 0;
        int r;

        if (size > 1024 * 1024)
                return 0;

        buf = malloc(size + 1);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        buf[size] = 0;

        r = deb822_parse_buffer(buf, size, check_paragraph, &last_line, &line);
        assert(r >= 0 || r == -ENOMEM || line > 0);
        return 0;
}
