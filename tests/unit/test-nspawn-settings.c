/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>

#include "fd-util.h"
#include "nspawn-settings.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"

static IniFile* parse_string(const char *s) {
        _cleanup_fclose_ FILE *f = fmemopen((void*) s, strlen(s), "re");
        IniFile *ini = NULL;

        ASSERT_NOT_NULL(f);
        ASSERT_OK(ini_parse(f, &ini, NULL));
        return ini;
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

TEST(ports) {
        static const struct {
                const char *in;
                const char *out;
        } good[] = {
                { "80",            "tcp:80:80" },
                { "tcp:7777:80",   "tcp:7777:80" },
                { "udp:53",        "udp:53:53" },
                { "8080:80",       "tcp:8080:80" },
                { "65535:1",       "tcp:65535:1" },
        };
        static const char *const bad[] = {
                "", "0", "65536", "tcp:", "sctp:80", "80:", ":80", "80:80:80", "-1", "8o", "tcp:1234567",
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                char buf[NSPAWN_PORT_STRING_MAX];
                NspawnPort p;

                ASSERT_OK(nspawn_port_parse(good[i].in, &p));
                ASSERT_STREQ(nspawn_port_format(&p, buf, sizeof(buf)), good[i].out);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                NspawnPort p;
                ASSERT_ERROR(nspawn_port_parse(bad[i], &p), EINVAL);
        }
}

TEST(binds) {
        NspawnBind b = {};

        ASSERT_OK(nspawn_bind_parse("/srv/data:/data:ro", &b));
        ASSERT_STREQ(b.source, "/srv/data");
        ASSERT_STREQ(b.destination, "/data");
        ASSERT_TRUE(b.read_only);
        ASSERT_FALSE(b.idmap);
        free(b.source);
        free(b.destination);

        ASSERT_OK(nspawn_bind_parse("/srv/data:/data:ro,idmap", &b));
        ASSERT_TRUE(b.read_only && b.idmap);
        free(b.source);
        free(b.destination);

        ASSERT_OK(nspawn_bind_parse("/srv", &b));
        ASSERT_STREQ(b.destination, "/srv");
        ASSERT_FALSE(b.idmap_set);
        free(b.source);
        free(b.destination);

        /* "noidmap" says "no idmap, and don't add one for me" (see nspawn_settings_idmap_binds()). */
        ASSERT_OK(nspawn_bind_parse("/srv:/data:ro,noidmap", &b));
        ASSERT_TRUE(b.read_only && !b.idmap && b.idmap_set);
        free(b.source);
        free(b.destination);
        ASSERT_OK(nspawn_bind_parse("/srv:/data:idmap", &b));
        ASSERT_TRUE(b.idmap && b.idmap_set);
        free(b.source);
        free(b.destination);

        static const char *const bad[] = {
                "", "relative:/data", "/srv:relative", "/srv:/data:", "/srv:/data:rx", "/srv:/",
                "/a/../b:/c", "/srv:/data:ro,", "/srv//x:/y",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ASSERT_ERROR(nspawn_bind_parse(bad[i], &b), EINVAL);
}

TEST(network) {
        NspawnSettings s;

        nspawn_settings_init(&s);
        ASSERT_OK(nspawn_settings_parse_network(&s, "veth"));
        ASSERT_EQ(s.network, NETWORK_VETH);
        ASSERT_OK(nspawn_settings_parse_network(&s, "zone:web"));
        ASSERT_EQ(s.network, NETWORK_ZONE);
        ASSERT_STREQ(s.network_name, "web");
        ASSERT_OK(nspawn_settings_parse_network(&s, "bridge:br0"));
        ASSERT_EQ(s.network, NETWORK_BRIDGE);
        ASSERT_OK(nspawn_settings_parse_network(&s, "host"));
        ASSERT_NULL(s.network_name);
        ASSERT_ERROR(nspawn_settings_parse_network(&s, "zone"), EINVAL);
        ASSERT_ERROR(nspawn_settings_parse_network(&s, "zone:"), EINVAL);
        ASSERT_ERROR(nspawn_settings_parse_network(&s, "zone:waytoolongname"), EINVAL);
        ASSERT_ERROR(nspawn_settings_parse_network(&s, "bridge:a/b"), EINVAL);
        ASSERT_ERROR(nspawn_settings_parse_network(&s, "wifi"), EINVAL);
        ASSERT_EQ(s.network, NETWORK_HOST);             /* unchanged by failures */
        nspawn_settings_done(&s);
}

TEST(quoting_roundtrip) {
        char *words[] = { (char*) "/bin/sh", (char*) "-c", (char*) "echo \"hi\" 'there'\\", (char*) "",
                          (char*) "tab\there", (char*) "a\\\\b", (char*) "$HOME", (char*) "%i",
                          (char*) "it's", (char*) "\"'\"", (char*) "ünï", NULL };
        _cleanup_strv_free_ char **back = NULL;
        _cleanup_free_ char *joined = NULL;

        /* systemd-nspawn has no escapes: quotes of the other kind carry a quote, backslashes are
         * literal, and every word with a backslash is quoted so that no line ends in one. */
        static const struct {
                const char *word, *quoted;
        } known[] = {
                { "plain",      "plain" },
                { "",           "\"\"" },
                { "a b",        "\"a b\"" },
                { "a\"b",       "\"a\"'\"b'" },
                { "it's",       "\"it's\"" },
                { "\"'",        "'\"'\"'\"" },
                { "tab\there",  "\"tab\there\"" },
                { "a\\b",       "\"a\\b\"" },
                { "x\\",        "\"x\\\"" },
                { "$HOME%i;",   "$HOME%i;" },
        };
        for (size_t i = 0; i < ELEMENTSOF(known); i++) {
                _cleanup_free_ char *q = NULL;

                ASSERT_OK(nspawn_words_quote(STRV_MAKE(known[i].word), &q));
                ASSERT_STREQ(q, known[i].quoted);
        }

        ASSERT_OK(nspawn_words_quote(words, &joined));
        ASSERT_OK(nspawn_words_split(joined, &back));
        ASSERT_EQ(strv_length(back), strv_length(words));
        for (size_t i = 0; words[i]; i++)
                ASSERT_STREQ(back[i], words[i]);

        /* What systemd-nspawn 252 made of a hand-written line (tried with the real binary). */
        strv_free(back);
        back = NULL;
        ASSERT_OK(nspawn_words_split("sh 'a\"b' \"c'd\" \"e\\\\f\" \"x\\\" \"sp ace\"'x\"y'\"z\"  end\\\\",
                                     &back));
        ASSERT_EQ(strv_length(back), 7u);
        ASSERT_STREQ(back[1], "a\"b");
        ASSERT_STREQ(back[2], "c'd");
        ASSERT_STREQ(back[3], "e\\\\f");
        ASSERT_STREQ(back[4], "x\\");
        ASSERT_STREQ(back[5], "sp acex\"yz");
        ASSERT_STREQ(back[6], "end\\\\");
        ASSERT_ERROR(nspawn_words_split("\"open", &back), EINVAL);
        /* The backslash does not escape the quote: "b\" ends there, and "c is left open. */
        ASSERT_ERROR(nspawn_words_split("a \"b\\\" \"c", &back), EINVAL);

        /* What cannot be said in a .nspawn file at all. */
        ASSERT_ERROR(nspawn_words_quote(STRV_MAKE("ok", "new\nline"), &joined), EINVAL);
        ASSERT_ERROR(nspawn_words_quote(STRV_MAKE("cr\r"), &joined), EINVAL);
        ASSERT_ERROR(nspawn_words_quote(STRV_MAKE("esc\033[2J"), &joined), EINVAL);
        ASSERT_ERROR(nspawn_words_quote(STRV_MAKE("del\x7f"), &joined), EINVAL);
        ASSERT_ERROR(nspawn_words_quote(STRV_MAKE("bad\xff utf8"), &joined), EINVAL);

        /* Our own .machine files keep unit-file quoting with C escapes. */
        strv_free(back);
        back = NULL;
        ASSERT_OK(split_quoted("a 'b c' \"d\\x41\"", &back));
        ASSERT_STREQ(back[1], "b c");
        ASSERT_STREQ(back[2], "dA");
        ASSERT_ERROR(split_quoted("\"open", &back), EINVAL);
        ASSERT_ERROR(split_quoted("trailing\\", &back), EINVAL);
}

TEST(check_refuses_what_systemd_reads_differently) {
        _cleanup_(ini_freep) IniFile *ini = NULL;
        _cleanup_free_ char *msg = NULL, *out = NULL;
        NspawnSettings s;

        ASSERT_OK(ini_new(&ini));

        static const struct {
                const char *field;
                const char *value;
        } bad[] = {
                { "env",   "NAME" },
                { "env",   "=x" },
                { "env",   "1X=y" },
                { "env",   "A-B=y" },
                { "env",   "A=line\nPrivateUsers=no" },
                { "env",   "A=x\r[Files]" },
                { "param", "x\nBind=/:/host" },
                { "param", "esc\033]0;t\007" },
                { "wd",    "relative" },
                { "wd",    "/a/../b" },
                { "wd",    "/srv\\" },
                { "wd",    "/srv\nPrivateUsers=no" },
                { "wd",    "/srv\t" },
                { "user",  "root\nPrivateUsers=no" },
                { "user",  "a b" },
                { "user",  "-rf" },
                { "user",  "\"quoted\"" },
                { "user",  "back\\slash" },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                nspawn_settings_init(&s);
                if (streq(bad[i].field, "env"))
                        ASSERT_OK(strv_extend(&s.environment, bad[i].value));
                else if (streq(bad[i].field, "param")) {
                        s.boot = 0;
                        ASSERT_OK(strv_extend(&s.parameters, bad[i].value));
                } else if (streq(bad[i].field, "wd"))
                        s.working_directory = strdup(bad[i].value);
                else
                        s.user = strdup(bad[i].value);
                msg = mfree(msg);
                ASSERT_ERROR(nspawn_settings_check(&s, &msg), EINVAL);
                ASSERT_NOT_NULL(msg);
                /* And nothing of it reaches the file. */
                ASSERT_ERROR(nspawn_settings_apply(&s, ini), EINVAL);
                nspawn_settings_done(&s);
        }
        ASSERT_EQ(ini->n_lines, 0u);

        /* A value too long for a line that ini_parse() would read back is refused, not written. */
        nspawn_settings_init(&s);
        s.working_directory = malloc(3000);
        ASSERT_NOT_NULL(s.working_directory);
        memset(s.working_directory, 'a', 2999);
        s.working_directory[0] = '/';
        s.working_directory[2999] = 0;
        ASSERT_OK(nspawn_settings_apply(&s, ini));
        nspawn_settings_done(&s);
        nspawn_settings_init(&s);
        ASSERT_OK(strv_extend(&s.environment, "A=x"));
        s.environment[0] = realloc(s.environment[0], 100 * 1024);
        ASSERT_NOT_NULL(s.environment[0]);
        memset(s.environment[0] + 2, 'x', 100 * 1024 - 3);
        s.environment[0][100 * 1024 - 1] = 0;
        ASSERT_ERROR(nspawn_settings_apply(&s, ini), E2BIG);
        nspawn_settings_done(&s);

        out = write_string(ini);
        ASSERT_TRUE(strlen(out) < 3100);
}

TEST(apply_keeps_hand_edits) {
        _cleanup_(ini_freep) IniFile *ini = parse_string(
                "# my machine\n"
                "[Exec]\n"
                "Boot=yes\n"
                "Capability=CAP_NET_ADMIN\n"
                "\n"
                "[Network]\n"
                "# forwarded for the old app\n"
                "Port=tcp:9000:9000\n"
                "\n"
                "[Files]\n"
                "TemporaryFileSystem=/run/cache\n");
        _cleanup_free_ char *out = NULL;
        NspawnSettings s;
        NspawnPort p;
        NspawnBind b = {};

        nspawn_settings_init(&s);
        ASSERT_OK(nspawn_settings_parse_network(&s, "veth"));
        ASSERT_OK(nspawn_port_parse("tcp:7777:80", &p));
        ASSERT_OK(nspawn_settings_add_port(&s, &p));
        ASSERT_ERROR(nspawn_settings_add_port(&s, &p), EEXIST);
        ASSERT_OK(nspawn_bind_parse("/srv/data:/data:ro,idmap", &b));
        ASSERT_OK(nspawn_settings_add_bind(&s, &b));
        s.private_users = PRIVATE_USERS_PICK;
        ASSERT_OK(nspawn_settings_apply(&s, ini));
        nspawn_settings_done(&s);

        out = write_string(ini);
        ASSERT_STREQ(out,
                     "# my machine\n"
                     "[Exec]\n"
                     "Boot=yes\n"
                     "Capability=CAP_NET_ADMIN\n"
                     "PrivateUsers=pick\n"
                     "\n"
                     "[Network]\n"
                     "# forwarded for the old app\n"
                     "Port=tcp:7777:80\n"
                     "VirtualEthernet=yes\n"
                     "\n"
                     "[Files]\n"
                     "TemporaryFileSystem=/run/cache\n"
                     "PrivateUsersOwnership=auto\n"
                     "BindReadOnly=/srv/data:/data:idmap\n");
}

TEST(exec_settings_roundtrip) {
        _cleanup_(ini_freep) IniFile *ini = NULL;
        NspawnSettings s, back;
        char *params[] = { (char*) "/usr/sbin/nginx", (char*) "-g", (char*) "daemon off;", NULL };
        char *env[] = { (char*) "PATH=/usr/bin:/bin", (char*) "GREETING=hello world", NULL };

        ASSERT_OK(ini_new(&ini));
        nspawn_settings_init(&s);
        s.boot = 0;
        ASSERT_OK(strv_extend(&s.parameters, params[0]));
        ASSERT_OK(strv_extend(&s.parameters, params[1]));
        ASSERT_OK(strv_extend(&s.parameters, params[2]));
        ASSERT_OK(strv_extend(&s.environment, env[0]));
        ASSERT_OK(strv_extend(&s.environment, env[1]));
        s.working_directory = strdup("/srv");
        s.user = strdup("www-data");
        ASSERT_OK(nspawn_settings_parse_network(&s, "none"));
        ASSERT_OK(nspawn_settings_apply(&s, ini));
        nspawn_settings_done(&s);

        ASSERT_OK(nspawn_settings_from_ini(ini, &back, NULL));
        ASSERT_EQ(back.boot, 0);
        ASSERT_EQ(strv_length(back.parameters), 3u);
        ASSERT_STREQ(back.parameters[2], "daemon off;");
        ASSERT_STREQ(back.environment[1], "GREETING=hello world");
        ASSERT_STREQ(back.working_directory, "/srv");
        ASSERT_STREQ(back.user, "www-data");
        ASSERT_EQ(back.network, NETWORK_NONE);
        nspawn_settings_done(&back);
}

TEST(from_ini_reports_bad_line) {
        _cleanup_(ini_freep) IniFile *ini = parse_string("[Exec]\nBoot=yes\n[Network]\nPort=tcp:0\n");
        NspawnSettings s;
        unsigned line = 0;

        ASSERT_ERROR(nspawn_settings_from_ini(ini, &s, &line), EBADMSG);
        ASSERT_EQ(line, 4u);
}

/* As systemd-nspawn: a value that cannot be read is skipped (the one before stays), and said. */
TEST(from_ini_lenient_skips_bad_values) {
        _cleanup_(ini_freep) IniFile *ini = parse_string("[Exec]\nBoot=no\nBoot=maybe\nParameters=a\n"
                                                         "Parameters='b\n[Network]\nPort=tcp:0\n"
                                                         "Port=80\nBridge=bridge123 bridge125\n");
        _cleanup_free_ unsigned *ignored = NULL;
        NspawnSettings s;
        size_t n = 0;

        ASSERT_OK(nspawn_settings_from_ini_lenient(ini, &s, &ignored, &n));
        ASSERT_EQ(s.boot, 0);
        ASSERT_EQ(strv_length(s.parameters), 1U);
        ASSERT_STREQ(s.parameters[0], "a");
        ASSERT_EQ(s.n_ports, 1U);
        ASSERT_EQ((int) s.network, (int) _NETWORK_MODE_INVALID);
        ASSERT_EQ(n, 4U);
        ASSERT_EQ(ignored[0], 3u);
        ASSERT_EQ(ignored[1], 5u);
        ASSERT_EQ(ignored[2], 7u);
        ASSERT_EQ(ignored[3], 9u);
        nspawn_settings_done(&s);
}

TEST(enum_tables_roundtrip) {
        for (NetworkMode m = 0; m < _NETWORK_MODE_MAX; m++)
                ASSERT_EQ(network_mode_from_string(network_mode_to_string(m)), m);
        for (PrivateUsersMode m = 0; m < _PRIVATE_USERS_MODE_MAX; m++)
                ASSERT_EQ(private_users_mode_from_string(private_users_mode_to_string(m)), m);
        for (PortProtocol p = 0; p < _PORT_PROTOCOL_MAX; p++)
                ASSERT_EQ(port_protocol_from_string(port_protocol_to_string(p)), p);
        ASSERT_EQ(network_mode_from_string("wifi"), _NETWORK_MODE_INVALID);
}

DEFINE_TEST_MAIN
