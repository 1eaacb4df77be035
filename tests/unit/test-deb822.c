/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>

#include "deb822.h"
#include "fd-util.h"
#include "string-util.h"
#include "tests.h"

/* Writes each paragraph as "@LINE\n" and one "Name=value\n" per field, newlines in values as "\n". */
static int dump_paragraph(const Deb822Paragraph *p, void *userdata) {
        FILE *f = userdata;

        fprintf(f, "@%u\n", p->line);
        for (size_t i = 0; i < p->n_fields; i++) {
                fprintf(f, "%s=", p->fields[i].name);
                for (const char *c = p->fields[i].value; *c; c++)
                        if (*c == '\n')
                                fputs("\\n", f);
                        else
                                fputc(*c, f);
                fputc('\n', f);
        }
        return 0;
}

/* Parses a copy of text (size bytes, strlen() if SIZE_MAX) and returns the dump in *ret_dump. */
static int parse_dump(const char *text, size_t size, char **ret_dump, unsigned *reterr_line) {
        _cleanup_free_ char *buf = NULL, *dump = NULL;
        size_t dump_size = 0;
        FILE *f;
        int r;

        if (size == SIZE_MAX)
                size = strlen(text);
        buf = malloc(size + 1);
        ASSERT_NOT_NULL(buf);
        memcpy(buf, text, size);
        buf[size] = 0;

        f = open_memstream(&dump, &dump_size);
        ASSERT_NOT_NULL(f);
        r = deb822_parse_buffer(buf, size, dump_paragraph, f, reterr_line);
        ASSERT_EQ(fclose(f), 0);
        if (ret_dump)
                *ret_dump = TAKE_PTR(dump);
        return r;
}

static void assert_dump(const char *text, const char *expected) {
        _cleanup_free_ char *dump = NULL;
        unsigned line = 4711;

        ASSERT_OK(parse_dump(text, SIZE_MAX, &dump, &line));
        ASSERT_STREQ(dump, expected);
        ASSERT_EQ(line, 4711u);         /* not touched on success */
}

static const char packages[] =
        "Package: hello\n"
        "Version: 2.10-3\n"
        "Installed-Size: 280\n"
        "Maintainer: Jane Doe <jane@example.org>\n"
        "Architecture: amd64\n"
        "Depends: libc6 (>= 2.34)\n"
        "Description: example package based on GNU hello\n"
        " The GNU hello program produces a familiar, friendly greeting.\n"
        " .\n"
        " It is a small example.\n"
        "Section: devel\n"
        "Priority: optional\n"
        "Filename: pool/main/h/hello/hello_2.10-3_amd64.deb\n"
        "Size: 56132\n"
        "SHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
        "\n"
        "Package: libfoo1\n"
        "Source: foo (1.2-1)\n"
        "Version: 1.2-1+b1\n"
        "Architecture: amd64\n"
        "Multi-Arch: same\n"
        "Pre-Depends: ${misc:Pre-Depends}\n"
        "Depends: libc6 (>= 2.14),\n"
        " libbar2 | libbar3\n"
        "Tag: role::shared-lib,\n"
        " implemented-in::c\n"
        "Priority: required\n"
        "Essential: yes\n"
        "\n"
        "\n"
        "Package: foo-data\n"
        "Version: 1.2-1\n"
        "Architecture: all\n"
        "Description: data for foo\n";

TEST(packages_excerpt) {
        assert_dump(packages,
                    "@1\n"
                    "Package=hello\n"
                    "Version=2.10-3\n"
                    "Installed-Size=280\n"
                    "Maintainer=Jane Doe <jane@example.org>\n"
                    "Architecture=amd64\n"
                    "Depends=libc6 (>= 2.34)\n"
                    "Description=example package based on GNU hello\\n"
                    "The GNU hello program produces a familiar, friendly greeting.\\n.\\n"
                    "It is a small example.\n"
                    "Section=devel\n"
                    "Priority=optional\n"
                    "Filename=pool/main/h/hello/hello_2.10-3_amd64.deb\n"
                    "Size=56132\n"
                    "SHA256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
                    "@17\n"
                    "Package=libfoo1\n"
                    "Source=foo (1.2-1)\n"
                    "Version=1.2-1+b1\n"
                    "Architecture=amd64\n"
                    "Multi-Arch=same\n"
                    "Pre-Depends=${misc:Pre-Depends}\n"
                    "Depends=libc6 (>= 2.14),\\nlibbar2 | libbar3\n"
                    "Tag=role::shared-lib,\\nimplemented-in::c\n"
                    "Priority=required\n"
                    "Essential=yes\n"
                    "@31\n"
                    "Package=foo-data\n"
                    "Version=1.2-1\n"
                    "Architecture=all\n"
                    "Description=data for foo\n");
}

typedef struct Index {
        unsigned n;
        char essential[256];
} Index;

static int index_paragraph(const Deb822Paragraph *p, void *userdata) {
        Index *x = userdata;
        const char *name = deb822_paragraph_get(p, "package"), *e = deb822_paragraph_get(p, "ESSENTIAL");

        ASSERT_NOT_NULL(name);
        ASSERT_NOT_NULL(deb822_paragraph_get(p, "Version"));
        ASSERT_NULL(deb822_paragraph_get(p, "Packag"));
        ASSERT_NULL(deb822_paragraph_get(p, "Package:"));
        if (streq_ptr(e, "yes"))
                strncat(x->essential, name, sizeof(x->essential) - strlen(x->essential) - 1);
        x->n++;
        return 0;
}

TEST(paragraph_get_is_case_insensitive) {
        _cleanup_free_ char *buf = strdup(packages);
        Index x = {};

        ASSERT_NOT_NULL(buf);
        ASSERT_OK(deb822_parse_buffer(buf, strlen(buf), index_paragraph, &x, NULL));
        ASSERT_EQ(x.n, 3u);
        ASSERT_STREQ(x.essential, "libfoo1");
}

static const char release[] =
        "Origin: Example\n"
        "Label: Example\n"
        "Suite: stable\n"
        "Codename: example\n"
        "Date: Sat, 01 Jun 2024 10:00:00 UTC\n"
        "Architectures: amd64 arm64\n"
        "Components: main contrib\n"
        "Description: An example archive\n"
        "MD5Sum:\n"
        " 0123456789abcdef0123456789abcdef     1234 main/binary-amd64/Packages\n"
        " fedcba9876543210fedcba9876543210      567 main/binary-amd64/Packages.xz\n"
        "SHA256:\n"
        " 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef     1234 "
        "main/binary-amd64/Packages\n"
        " FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210      567 "
        "main/binary-amd64/Packages.xz\n"
        " e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855        0 "
        "contrib/binary-amd64/Packages\n"
        " 1111111111111111111111111111111111111111111111111111111111111111 18446744073709551615 big\n";

typedef struct Checksums {
        unsigned n;
        char text[1024];
} Checksums;

static int collect_checksum(const char *hash, uint64_t size, const char *path, void *userdata) {
        Checksums *c = userdata;
        size_t l = strlen(c->text);

        snprintf(c->text + l, sizeof(c->text) - l, "%.8s %" PRIu64 " %s\n", hash, size, path);
        c->n++;
        return 0;
}

static int release_paragraph(const Deb822Paragraph *p, void *userdata) {
        Checksums *c = userdata;
        char *v;

        ASSERT_STREQ(deb822_paragraph_get(p, "Suite"), "stable");
        ASSERT_STREQ(deb822_paragraph_get(p, "Components"), "main contrib");
        /* The value is ours to change: it lives in the buffer, which the parser handed over. */
        v = (char*) deb822_paragraph_get(p, "SHA256");
        ASSERT_NOT_NULL(v);
        ASSERT_TRUE(startswith(v, "0123456789abcdef"));
        ASSERT_OK(deb822_parse_checksums(v, 64, collect_checksum, c));
        v = (char*) deb822_paragraph_get(p, "md5sum");
        ASSERT_NOT_NULL(v);
        ASSERT_OK(deb822_parse_checksums(v, 32, collect_checksum, c));
        v = (char*) deb822_paragraph_get(p, "Label");
        ASSERT_ERROR(deb822_parse_checksums(v, 32, collect_checksum, c), EBADMSG);
        return 0;
}

TEST(release_with_checksums) {
        _cleanup_free_ char *buf = strdup(release);
        Checksums c = {};

        ASSERT_NOT_NULL(buf);
        ASSERT_OK(deb822_parse_buffer(buf, strlen(buf), release_paragraph, &c, NULL));
        ASSERT_EQ(c.n, 6u);
        ASSERT_STREQ(c.text,
                     "01234567 1234 main/binary-amd64/Packages\n"
                     "FEDCBA98 567 main/binary-amd64/Packages.xz\n"
                     "e3b0c442 0 contrib/binary-amd64/Packages\n"
                     "11111111 18446744073709551615 big\n"
                     "01234567 1234 main/binary-amd64/Packages\n"
                     "fedcba98 567 main/binary-amd64/Packages.xz\n");
}

TEST(values) {
        /* Leading and trailing white space goes; an empty first line adds no "\n"; continuation lines
         * lose only their first character and their trailing white space. */
        assert_dump("A:x\nB:   spaced  \t \nC:\nD: \t\n  two spaces\n\tthen a tab  \n \t mixed\n",
                    "@1\nA=x\nB=spaced\nC=\nD=two spaces\\nthen a tab\\n\t mixed\n");
        assert_dump("Description: short\n .\n  indented\n . \n",
                    "@1\nDescription=short\\n.\\n indented\\n.\n");
        assert_dump("A: a:b: c\n", "@1\nA=a:b: c\n");
        assert_dump("A: first\n second\nB: next\n third\n", "@1\nA=first\\nsecond\nB=next\\nthird\n");
        assert_dump("X-Odd.Name_1!: 1\n", "@1\nX-Odd.Name_1!=1\n");
}

TEST(paragraph_separation) {
        assert_dump("", "");
        assert_dump("\n\n  \n\t\n", "");
        assert_dump("# only a comment\n\n#another\n", "");
        assert_dump("\n\nA: 1\n \t \nB: 2\n\n\n\nC: 3", "@3\nA=1\n@5\nB=2\n@9\nC=3\n");
        assert_dump("A: 1\n  \t\nB: 2\n \n", "@1\nA=1\n@3\nB=2\n");
        /* No final newline, in a continuation line. */
        assert_dump("A: 1\n 2", "@1\nA=1\\n2\n");
}

TEST(crlf) {
        assert_dump("A: 1\r\nB: two\r\n  more \r\n\r\nC:\r\n x\r\n",
                    "@1\nA=1\nB=two\\n more\n@5\nC=x\n");
}

TEST(comments) {
        assert_dump("# header\nA: 1\n# between fields\nB: 2\n# inside a value\n 3\n#\n\n# before\nC: 4\n",
                    "@2\nA=1\nB=2\\n3\n@10\nC=4\n");
        /* Only at the start of a line; elsewhere '#' is data. */
        assert_dump("A: #1\n #2\n", "@1\nA=#1\\n#2\n");
}

TEST(errors) {
        static const struct {
                const char *text;
                size_t size;
                int error;
                unsigned line;
                unsigned n_before;      /* paragraphs passed to the callback before the error */
        } cases[] = {
                { "Package: a\nno colon here\n", SIZE_MAX, EBADMSG, 2, 0 },
                { " continuation\n", SIZE_MAX, EBADMSG, 1, 0 },
                { "A: 1\n\n continuation after a blank line\n", SIZE_MAX, EBADMSG, 3, 1 },
                { "# comment\n continuation after a comment\n", SIZE_MAX, EBADMSG, 2, 0 },
                { "A: 1\na: 2\n", SIZE_MAX, EBADMSG, 2, 0 },
                { "A: 1\n\nB: 2\nC: 3\nb: 4\n", SIZE_MAX, EBADMSG, 5, 1 },
                { ": value\n", SIZE_MAX, EBADMSG, 1, 0 },
                { "Foo Bar: x\n", SIZE_MAX, EBADMSG, 1, 0 },
                { "Foo : x\n", SIZE_MAX, EBADMSG, 1, 0 },
                { "Foo\t: x\n", SIZE_MAX, EBADMSG, 1, 0 },
                { "-Foo: x\n", SIZE_MAX, EBADMSG, 1, 0 },
                { "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nA: 1\n", SIZE_MAX, EBADMSG, 1, 0 },
                { "A: 1\n\n-----BEGIN PGP SIGNATURE-----\n", SIZE_MAX, EBADMSG, 3, 1 },
                { "A: 1\nB\xc3\xa4: 2\n", SIZE_MAX, EBADMSG, 2, 0 },
                { "A: 1\nB\x7f: 2\n", SIZE_MAX, EBADMSG, 2, 0 },
                { "A: 1\r\nB\r\n", SIZE_MAX, EBADMSG, 2, 0 },
                { "A: 1\n#c\nA: 2", SIZE_MAX, EBADMSG, 3, 0 },
                { "A: 1\nB: x\0y\n", 12, EBADMSG, 2, 0 },
                { "A: 1\n\n\0", 7, EBADMSG, 3, 1 },
                { "\0A: 1\n", 6, EBADMSG, 1, 0 },
                { "A: 1\n \0\n", 8, EBADMSG, 2, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *dump = NULL;
                unsigned line = 0, n = 0;

                ASSERT_ERROR(parse_dump(cases[i].text, cases[i].size, &dump, &line), cases[i].error);
                if (line != cases[i].line)
                        _test_fail("case %zu: line %u, expected %u", i, line, cases[i].line);
                for (const char *c = dump; c && *c; c++)
                        n += *c == '@';
                ASSERT_EQ(n, cases[i].n_before);
                /* reterr_line may be NULL. */
                ASSERT_ERROR(parse_dump(cases[i].text, cases[i].size, NULL, NULL), cases[i].error);
        }
}

static int count_and_stop(const Deb822Paragraph *p, void *userdata) {
        unsigned *n = userdata;

        return ++*n == 2 ? -ECANCELED : 0;
}

TEST(callback_stops) {
        _cleanup_free_ char *buf = strdup(packages);
        unsigned n = 0, line = 4711;

        ASSERT_NOT_NULL(buf);
        ASSERT_ERROR(deb822_parse_buffer(buf, strlen(buf), count_and_stop, &n, &line), ECANCELED);
        ASSERT_EQ(n, 2u);
        ASSERT_EQ(line, 4711u);         /* not a syntax error */
}

static int count_fields(const Deb822Paragraph *p, void *userdata) {
        size_t *n = userdata;

        ASSERT_STREQ(p->fields[p->n_fields - 1].value, "last");
        *n += p->n_fields;
        return 0;
}

static char* make_paragraphs(unsigned n_paragraphs, unsigned n_fields) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        ASSERT_NOT_NULL(f);
        for (unsigned p = 0; p < n_paragraphs; p++) {
                for (unsigned i = 1; i < n_fields; i++)
                        fprintf(f, "Field-%u: %u\n", i, p);
                fprintf(f, "Final: last\n\n");
        }
        ASSERT_EQ(fclose(f), 0);
        return text;
}

TEST(field_limit) {
        _cleanup_free_ char *ok = make_paragraphs(2, DEB822_FIELDS_MAX),
                *too_many = make_paragraphs(2, DEB822_FIELDS_MAX + 1);
        size_t n = 0;
        unsigned line = 0;

        ASSERT_OK(deb822_parse_buffer(ok, strlen(ok), count_fields, &n, NULL));
        ASSERT_EQ(n, 2 * (size_t) DEB822_FIELDS_MAX);
        ASSERT_ERROR(deb822_parse_buffer(too_many, strlen(too_many), count_fields, &n, &line), E2BIG);
        ASSERT_EQ(line, DEB822_FIELDS_MAX + 1);
}

TEST(many_paragraphs_reuse_the_field_array) {
        _cleanup_free_ char *text = make_paragraphs(20000, 12);
        size_t n = 0;

        ASSERT_OK(deb822_parse_buffer(text, strlen(text), count_fields, &n, NULL));
        ASSERT_EQ(n, 20000u * 12u);
}

static int fail_checksum(const char *hash, uint64_t size, const char *path, void *userdata) {
        unsigned *n = userdata;

        ++*n;
        return streq(path, "c") ? -ENOANO : 0;
}

TEST(checksums) {
        static const struct {
                const char *value;
                int error;
                unsigned n;     /* lines passed to the callback */
        } cases[] = {
                { "", 0, 0 },
                { "\n\n \t\n", 0, 0 },
                { "0123 1 a", 0, 1 },
                { "\t0123\t1\tsome/path \r\n\nabcd 2 b\n", 0, 2 },
                { "ABCD 18446744073709551615 a", 0, 1 },
                { "ABCD 00000000000000000000000000000007 a", 0, 1 },
                { "012 1 a", EBADMSG, 0 },
                { "01234 1 a", EBADMSG, 0 },
                { "012g 1 a", EBADMSG, 0 },
                { "0123 1 a\n012x 1 a\n", EBADMSG, 1 },
                { "0123 18446744073709551616 a", EBADMSG, 0 },
                { "0123 99999999999999999999 a", EBADMSG, 0 },
                { "0123 -1 a", EBADMSG, 0 },
                { "0123 +1 a", EBADMSG, 0 },
                { "0123 1a a", EBADMSG, 0 },
                { "0123 1", EBADMSG, 0 },
                { "0123", EBADMSG, 0 },
                { "0123 1 a b", EBADMSG, 0 },
                { "0123 1 a\n0123 2 c\n0123 3 d\n", ENOANO, 2 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *v = strdup(cases[i].value);
                unsigned n = 0;
                int r;

                ASSERT_NOT_NULL(v);
                r = deb822_parse_checksums(v, 4, fail_checksum, &n);
                if (r != -cases[i].error || n != cases[i].n)
                        _test_fail("case %zu: returned %i after %u lines", i, r, n);
        }
}

DEFINE_TEST_MAIN
