/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>

#include "fd-util.h"
#include "nspawn-settings.h"
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
        char *words[] = { (char*) "/bin/sh", (char*) "-c", (char*) "echo \"hi\" there\\", (char*) "",
                          (char*) "tab\there", NULL };
        _cleanup_strv_free_ char **back = NULL;
        _cleanup_free_ char *joined = NULL;

        ASSERT_OK(strv_join_quoted(words, &joined));
        ASSERT_STREQ(joined, "/bin/sh -c \"echo \\\"hi\\\" there\\\\\" \"\" \"tab\\there\"");
        ASSERT_OK(split_quoted(joined, &back));
        ASSERT_EQ(strv_length(back), 5u);
        for (size_t i = 0; words[i]; i++)
                ASSERT_STREQ(back[i], words[i]);

        strv_free(back);
        back = NULL;
        ASSERT_OK(split_quoted("a 'b c' \"d\\x41\"", &back));
        ASSERT_STREQ(back[1], "b c");
        ASSERT_STREQ(back[2], "dA");
        ASSERT_ERROR(split_quoted("\"open", &back), EINVAL);
        ASSERT_ERROR(split_quoted("trailing\\", &back), EINVAL);
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
