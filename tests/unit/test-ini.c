/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>

#include "fd-util.h"
#include "ini.h"
#include "tests.h"

static int parse_string(const char *s, IniFile **ret, unsigned *reterr_line) {
        _cleanup_fclose_ FILE *f = fmemopen((void*) s, strlen(s), "re");
        ASSERT_NOT_NULL(f);
        return ini_parse(f, ret, reterr_line);
}

static char* write_string(const IniFile *ini) {
        char *buf = NULL;
        size_t sz = 0;
        FILE *f = open_memstream(&buf, &sz);

        ASSERT_NOT_NULL(f);
        ASSERT_OK(ini_write(ini, f));
        fclose(f);
        return buf;
}

static const char sample[] =
        "# Written by hand\n"
        "[Exec]\n"
        "Boot=yes\n"
        "; keep me\n"
        "Environment=A=1 \\\n"
        "  B=2\n"
        "\n"
        "[Network]\n"
        "Port=tcp:80\n"
        "Port=tcp:443\n"
        "Custom=x   # not a comment\n"
        "\n"
        "# about files\n"
        "[Files]\n";

TEST(parse_and_get) {
        _cleanup_(ini_freep) IniFile *ini = NULL;
        unsigned line = 0;

        ASSERT_OK(parse_string(sample, &ini, NULL));
        ASSERT_STREQ(ini_get(ini, "Exec", "Boot", &line), "yes");
        ASSERT_EQ(line, 3u);
        ASSERT_STREQ(ini_get(ini, "Exec", "Environment", &line), "A=1    B=2");
        ASSERT_EQ(line, 5u);
        ASSERT_STREQ(ini_get(ini, "Network", "Port", &line), "tcp:443");
        ASSERT_EQ(line, 10u);
        ASSERT_STREQ(ini_get(ini, "Network", "Custom", NULL), "x   # not a comment");
        ASSERT_NULL(ini_get(ini, "Files", "Bind", NULL));
        ASSERT_NULL(ini_get(ini, "Nope", "Boot", NULL));
}

TEST(roundtrip_unchanged) {
        _cleanup_(ini_freep) IniFile *ini = NULL;
        _cleanup_free_ char *out = NULL;

        ASSERT_OK(parse_string(sample, &ini, NULL));
        out = write_string(ini);
        ASSERT_STREQ(out, sample);
}

TEST(set_keeps_comments_and_order) {
        _cleanup_(ini_freep) IniFile *ini = NULL;
        _cleanup_free_ char *out = NULL;
        char *ports[] = { (char*) "tcp:8080:80", (char*) "udp:53", NULL };

        ASSERT_OK(parse_string(sample, &ini, NULL));
        ASSERT_OK(ini_set_strv(ini, "Network", "Port", ports));
        ASSERT_OK(ini_set(ini, "Exec", "Boot", "no"));
        ASSERT_OK(ini_set(ini, "Files", "BindReadOnly", "/srv:/srv"));
        ASSERT_OK(ini_set(ini, "Network", "VirtualEthernet", "yes"));
        ASSERT_OK(ini_set(ini, "Exec", "Environment", NULL));
        out = write_string(ini);
        ASSERT_STREQ(out,
                     "# Written by hand\n"
                     "[Exec]\n"
                     "Boot=no\n"
                     "; keep me\n"
                     "\n"
                     "[Network]\n"
                     "Port=tcp:8080:80\n"
                     "Port=udp:53\n"
                     "Custom=x   # not a comment\n"
                     "VirtualEthernet=yes\n"
                     "\n"
                     "# about files\n"
                     "[Files]\n"
                     "BindReadOnly=/srv:/srv\n");
}

TEST(set_new_section) {
        _cleanup_(ini_freep) IniFile *ini = NULL;
        _cleanup_free_ char *out = NULL;

        ASSERT_OK(ini_new(&ini));
        ASSERT_OK(ini_set(ini, "Exec", "Boot", "yes"));
        ASSERT_OK(ini_set(ini, "Network", "Zone", "web"));
        out = write_string(ini);
        ASSERT_STREQ(out, "[Exec]\nBoot=yes\n\n[Network]\nZone=web\n");
        ASSERT_ERROR(ini_set(ini, "Bad]", "x", "y"), EINVAL);
        ASSERT_ERROR(ini_set(ini, "Exec", "", "y"), EINVAL);
        ASSERT_ERROR(ini_set(ini, "Exec", "K", "a\nb"), EINVAL);
}

TEST(continuation_at_end_of_file) {
        _cleanup_(ini_freep) IniFile *ini = NULL, *again = NULL;
        _cleanup_free_ char *out = NULL;
        _cleanup_fclose_ FILE *f = NULL;

        /* Found by fuzz-ini: a header continued into EOF must not swallow the key set after it. */
        ASSERT_OK(parse_string("\n[Network] \\", &ini, NULL));
        ASSERT_OK(ini_set(ini, "Network", "Port", "tcp:80:80"));
        out = write_string(ini);
        f = fmemopen(out, strlen(out), "re");
        ASSERT_OK(ini_parse(f, &again, NULL));
        ASSERT_STREQ(ini_get(again, "Network", "Port", NULL), "tcp:80:80");
}

TEST(syntax_errors_report_line) {
        static const struct {
                const char *text;
                unsigned line;
        } cases[] = {
                { "Key=before-section\n", 1 },
                { "[Exec]\nBoot=yes\nNoEqualsSign\n", 3 },
                { "[Exec]\n[]\n", 2 },
                { "[Exec\n", 1 },
                { "[Exec]\n=value\n", 2 },
                { "[A]\nK=a \\\n b\n[B\n", 4 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(ini_freep) IniFile *ini = NULL;
                unsigned line = 0;

                ASSERT_ERROR(parse_string(cases[i].text, &ini, &line), EBADMSG);
                ASSERT_EQ(line, cases[i].line);
                ASSERT_NULL(ini);
        }
}

TEST(limits) {
        _cleanup_free_ char *big = malloc(INI_LINE_MAX + 16);
        _cleanup_(ini_freep) IniFile *ini = NULL;
        unsigned line = 0;

        ASSERT_NOT_NULL(big);
        strcpy(big, "[A]\nK=");
        memset(big + 6, 'x', INI_LINE_MAX);
        big[INI_LINE_MAX + 6] = 0;
        ASSERT_ERROR(parse_string(big, &ini, &line), EBADMSG);
        ASSERT_EQ(line, 2u);
}

static int parse_bytes(const char *s, size_t n, IniFile **ret, unsigned *reterr_line) {
        _cleanup_fclose_ FILE *f = fmemopen((void*) s, n, "re");
        ASSERT_NOT_NULL(f);
        return ini_parse(f, ret, reterr_line);
}

TEST(systemd_line_rules) {
        _cleanup_(ini_freep) IniFile *ini = NULL;
        unsigned line = 0;
        /* Read as systemd's conf-parser reads it: "\r", "\r\n" and NUL end lines, a comment in a
         * continuation is dropped, "\\\\" at the end does not continue, a BOM is skipped. */
        static const char text[] =
                "\xef\xbb\xbf[Exec]\r"
                "Boot=no\rPrivateUsers=no\r\n"
                "Parameters=a \\\n"
                "# PrivateUsers=identity\n"
                "  b\n"
                "Environment=X=1\\\\\n"
                "User=u\0WorkingDirectory=/w\n"
                "[Files]\n"
                "Bind=/a:/b \\";

        ASSERT_OK(parse_bytes(text, sizeof(text) - 1, &ini, NULL));
        ASSERT_STREQ(ini_get(ini, "Exec", "Boot", &line), "no");
        ASSERT_EQ(line, 2u);
        ASSERT_STREQ(ini_get(ini, "Exec", "PrivateUsers", &line), "no");
        ASSERT_EQ(line, 3u);
        ASSERT_STREQ(ini_get(ini, "Exec", "Parameters", &line), "a    b");
        ASSERT_EQ(line, 4u);
        ASSERT_STREQ(ini_get(ini, "Exec", "Environment", NULL), "X=1\\\\");
        ASSERT_STREQ(ini_get(ini, "Exec", "User", NULL), "u");
        ASSERT_STREQ(ini_get(ini, "Exec", "WorkingDirectory", NULL), "/w");
        /* A continuation that runs into the end of the file is parsed as it is. */
        ASSERT_STREQ(ini_get(ini, "Files", "Bind", NULL), "/a:/b");

        ini = ini_free(ini);
        ASSERT_ERROR(parse_string("[Exec]\nUser=\xff\n", &ini, &line), EBADMSG);
        ASSERT_EQ(line, 2u);
}

/* What systemd skips with a warning ("Missing '=', ignoring line.", "Assignment outside of section.
 * Ignoring.") ini_parse_lenient() skips too, keeps as it is, and reads the rest; CRLF line ends with a
 * backslash continuation are read as systemd reads them. */
TEST(lenient_keeps_ignored_lines) {
        static const char text[] =
                "Key=before-section\r\n"
                "[Exec]\r\n"
                "Boot=yes\r\n"
                "NoEqualsSign\r\n"
                "=value\r\n"
                "Parameters=/bin/echo \\\r\n"
                "  hello\r\n";
        _cleanup_(ini_freep) IniFile *ini = NULL;
        _cleanup_fclose_ FILE *in = NULL;
        _cleanup_free_ char *out = NULL;
        unsigned line = 0;
        size_t ignored = 0;

        /* ini_parse() stays strict (recipes, .machine files). */
        ASSERT_ERROR(parse_bytes(text, sizeof(text) - 1, &ini, &line), EBADMSG);
        ASSERT_EQ(line, 1u);

        in = fmemopen((void*) text, sizeof(text) - 1, "re");
        ASSERT_NOT_NULL(in);
        ASSERT_OK(ini_parse_lenient(in, &ini, NULL));
        ASSERT_STREQ(ini_get(ini, "Exec", "Boot", NULL), "yes");
        ASSERT_STREQ(ini_get(ini, "Exec", "Parameters", NULL), "/bin/echo    hello");
        INI_FOREACH(l, ini)
                if (l->ignored) {
                        ASSERT_NULL(l->key);
                        ASSERT_TRUE(l->line == 1 || l->line == 4 || l->line == 5);
                        ignored++;
                }
        ASSERT_EQ(ignored, 3U);

        /* Setting a key leaves them as they were. */
        ASSERT_OK(ini_set(ini, "Exec", "Boot", "no"));
        out = write_string(ini);
        ASSERT_STREQ(out, "Key=before-section\n[Exec]\nBoot=no\nNoEqualsSign\n=value\n"
                          "Parameters=/bin/echo \\\n  hello\n");

        /* What systemd refuses the file for stays refused. */
        ini = ini_free(ini);
        fclose(TAKE_PTR(in));
        in = fmemopen((void*) "[Exec]\nNoEquals\n[Network\n", 25, "re");
        ASSERT_NOT_NULL(in);
        ASSERT_ERROR(ini_parse_lenient(in, &ini, &line), EBADMSG);
        ASSERT_EQ(line, 3u);
}

TEST(value_check) {
        static const char *const good[] = { "", "yes", "a b", "tab\tinside", "ünï", "x\\y", "%i $X" };
        static const char *const bad[] = {
                "a\nb", "a\rb", "esc\033", "del\x7f", " lead", "trail ", "\ttab", "cont\\",
                "bad\xc3", "\xed\xa0\x80",
        };
        _cleanup_free_ char *big = malloc(INI_LINE_MAX);

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                ASSERT_OK(ini_value_check("Key", good[i]));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ASSERT_ERROR(ini_value_check("Key", bad[i]), EINVAL);

        ASSERT_NOT_NULL(big);
        memset(big, 'x', INI_LINE_MAX - 1);
        big[INI_LINE_MAX - 1] = 0;
        ASSERT_ERROR(ini_value_check("Key", big), E2BIG);
        big[INI_LINE_MAX - 8] = 0;
        ASSERT_OK(ini_value_check("Key", big));
}

TEST(unit_value_check) {
        ASSERT_OK(ini_unit_value_check("/usr/bin/mkmachine", true));
        ASSERT_OK(ini_unit_value_check("/etc/mkmachine/machines/my web.machine", false));
        ASSERT_ERROR(ini_unit_value_check("/my web", true), EINVAL);
        ASSERT_ERROR(ini_unit_value_check("", true), EINVAL);
        static const char *const bad[] = { "/a%i", "/a\nb", "/a\rb", "/a\\", "x\033" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ASSERT_ERROR(ini_unit_value_check(bad[i], false), EINVAL);
                ASSERT_ERROR(ini_unit_value_check(bad[i], true), EINVAL);
        }
        static const char *const not_words[] = { "a\"b", "a'b", "a\\b", "$X", "a;b", "a\tb" };
        for (size_t i = 0; i < ELEMENTSOF(not_words); i++) {
                ASSERT_OK(ini_unit_value_check(not_words[i], false));
                ASSERT_ERROR(ini_unit_value_check(not_words[i], true), EINVAL);
        }
}

DEFINE_TEST_MAIN
