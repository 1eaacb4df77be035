/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "machine-config.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"

static char* make_tmp(void) {
        char *d = strdup("/tmp/test-machine-config.XXXXXX");

        ASSERT_NOT_NULL(d);
        ASSERT_NOT_NULL(mkdtemp(d));
        return d;
}

static char* read_file(const char *dir, const char *name) {
        _cleanup_close_ int fd = open(dir, O_DIRECTORY|O_CLOEXEC);
        char *s = NULL;

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(read_full_file_at(fd, name, 1 << 20, &s, NULL));
        return s;
}

static void write_file(const char *path, const char *s) {
        FILE *f = fopen(path, "we");

        ASSERT_NOT_NULL(f);
        fputs(s, f);
        ASSERT_EQ(fclose(f), 0);
}

static void settings_for_web(NspawnSettings *s) {
        NspawnPort p;
        NspawnBind b = {};

        nspawn_settings_init(s);
        ASSERT_OK(nspawn_settings_parse_network(s, "veth"));
        ASSERT_OK(nspawn_port_parse("tcp:7777:80", &p));
        ASSERT_OK(nspawn_settings_add_port(s, &p));
        ASSERT_OK(nspawn_bind_parse("/srv/data:/data:ro", &b));
        ASSERT_OK(nspawn_settings_add_bind(s, &b));
        s->private_users = PRIVATE_USERS_PICK;
        s->boot = 1;
}

TEST(write_new_file_in_new_dir) {
        _cleanup_free_ char *tmp = make_tmp(), *dir = NULL, *content = NULL;
        NspawnSettings s, back;
        unsigned line = 0;

        ASSERT_TRUE(asprintf(&dir, "%s/etc/systemd/nspawn", tmp) > 0);
        settings_for_web(&s);
        nspawn_settings_idmap_binds(&s);
        ASSERT_OK(machine_settings_write(dir, "web", &s, &line));
        content = read_file(dir, "web.nspawn");
        ASSERT_STREQ(content,
                     "[Exec]\n"
                     "Boot=yes\n"
                     "PrivateUsers=pick\n"
                     "\n"
                     "[Files]\n"
                     "PrivateUsersOwnership=auto\n"
                     "BindReadOnly=/srv/data:/data:idmap\n"
                     "\n"
                     "[Network]\n"
                     "VirtualEthernet=yes\n"
                     "Port=tcp:7777:80\n");

        ASSERT_OK(machine_settings_load(dir, "web", &back, NULL, &line));
        ASSERT_EQ(back.network, NETWORK_VETH);
        ASSERT_EQ(back.n_ports, 1u);
        ASSERT_EQ(back.ports[0].host, 7777);
        ASSERT_EQ(back.n_binds, 1u);
        ASSERT_TRUE(back.binds[0].read_only && back.binds[0].idmap);
        ASSERT_EQ(back.private_users, PRIVATE_USERS_PICK);
        nspawn_settings_done(&back);
        nspawn_settings_done(&s);
        ASSERT_OK(rm_rf_at(AT_FDCWD, tmp));
}

TEST(missing_file_is_empty) {
        _cleanup_free_ char *tmp = make_tmp();
        IniFile *ini = NULL;
        NspawnSettings s;

        ASSERT_OK(machine_settings_load(tmp, "nothing", &s, &ini, NULL));
        ASSERT_EQ(ini->n_lines, 0u);
        ASSERT_EQ(s.network, _NETWORK_MODE_INVALID);
        ASSERT_EQ(s.n_ports, 0u);
        ini_free(ini);
        nspawn_settings_done(&s);
        /* Also when the directory itself is missing. */
        ASSERT_OK(machine_settings_load("/nonexistent/dir", "nothing", NULL, NULL, NULL));
        ASSERT_OK(rm_rf_at(AT_FDCWD, tmp));
}

TEST(rewrite_keeps_hand_edits) {
        _cleanup_free_ char *tmp = make_tmp(), *path = NULL, *content = NULL;
        NspawnSettings s;
        NspawnPort p;

        ASSERT_TRUE(asprintf(&path, "%s/web.nspawn", tmp) > 0);
        write_file(path,
                   "# my machine\n"
                   "[Exec]\n"
                   "Hostname=www ; set by hand\n"
                   "\n"
                   "[Network]\n"
                   "# the old forward\n"
                   "Port=tcp:8080:80\n"
                   "Port=udp:53\n"
                   "MACVLAN=eth0\n");

        nspawn_settings_init(&s);
        ASSERT_OK(nspawn_port_parse("7777:80", &p));
        ASSERT_OK(nspawn_settings_add_port(&s, &p));
        ASSERT_TRUE(strv_extend(&s.environment, "A=b c") >= 0);
        ASSERT_OK(machine_settings_write(tmp, "web", &s, NULL));
        content = read_file(tmp, "web.nspawn");
        ASSERT_STREQ(content,
                     "# my machine\n"
                     "[Exec]\n"
                     "Hostname=www ; set by hand\n"
                     "Environment=\"A=b c\"\n"
                     "\n"
                     "[Network]\n"
                     "# the old forward\n"
                     "Port=tcp:7777:80\n"
                     "MACVLAN=eth0\n");
        nspawn_settings_done(&s);
        ASSERT_OK(rm_rf_at(AT_FDCWD, tmp));
}

/* A line that cannot be read is skipped, as systemd-nspawn skips it, and kept byte for byte; a write
 * that would replace it is refused naming it, and so is a file that systemd refuses itself. */
TEST(unreadable_lines_kept_or_refused_with_their_line) {
        static const struct {
                const char *text;
                unsigned line;          /* the line we cannot read */
                bool boot_replaces;     /* setting Boot= replaces it */
        } cases[] = {
                { "[Network]\nPort=tcp:8080:80\nthis is not ini\n", 3, false },     /* no "=" */
                { "[Network]\n\nPort=tcp:99999:80\n", 3, false },                   /* our key, bad value */
                { "[Network]\nBridge=bridge123 bridge125\n", 2, false },             /* systemd's seed */
                { "[Exec]\nBoot=maybe\n\n", 2, true },
        };
        _cleanup_free_ char *tmp = make_tmp(), *path = NULL;

        ASSERT_TRUE(asprintf(&path, "%s/web.nspawn", tmp) > 0);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *after = NULL;
                NspawnSettings s;
                NspawnPort p;
                unsigned line = 0;

                write_file(path, cases[i].text);
                ASSERT_OK(machine_settings_load(tmp, "web", &s, NULL, &line));
                if (i == 1)
                        ASSERT_EQ(s.n_ports, 0U);
                if (i == 2)
                        ASSERT_EQ((int) s.network, (int) _NETWORK_MODE_INVALID);
                nspawn_settings_done(&s);

                nspawn_settings_init(&s);
                s.boot = 0;
                if (cases[i].boot_replaces) {
                        ASSERT_ERROR(machine_settings_write(tmp, "web", &s, &line), EBADMSG);
                        ASSERT_EQ(line, cases[i].line);
                        after = read_file(tmp, "web.nspawn");
                        ASSERT_STREQ(after, cases[i].text);
                        continue;
                }
                ASSERT_OK(machine_settings_write(tmp, "web", &s, &line));
                after = read_file(tmp, "web.nspawn");
                ASSERT_TRUE(startswith(after, cases[i].text));
                ASSERT_TRUE(strstr(after, "[Exec]\nBoot=no\n"));
                free(after);
                after = NULL;

                /* Setting ports replaces every Port= line; the network, Bridge=. */
                write_file(path, cases[i].text);
                nspawn_settings_init(&s);
                ASSERT_OK(nspawn_port_parse("80", &p));
                ASSERT_OK(nspawn_settings_add_port(&s, &p));
                s.ports_set = true;
                if (i == 2)
                        ASSERT_OK(nspawn_settings_parse_network(&s, "veth"));
                line = 0;
                ASSERT_EQ(machine_settings_write(tmp, "web", &s, &line), i == 0 ? 0 : -EBADMSG);
                if (i != 0) {
                        ASSERT_EQ(line, cases[i].line);
                        after = read_file(tmp, "web.nspawn");
                        ASSERT_STREQ(after, cases[i].text);
                }
                nspawn_settings_done(&s);
        }

        /* What systemd refuses the file for is refused, with its line. */
        {
                NspawnSettings s;
                unsigned line = 0;

                write_file(path, "[Exec]\nBoot=yes\n[Network\n");
                ASSERT_ERROR(machine_settings_load(tmp, "web", &s, NULL, &line), EBADMSG);
                ASSERT_EQ(line, 3u);
                nspawn_settings_init(&s);
                s.boot = 0;
                line = 0;
                ASSERT_ERROR(machine_settings_write(tmp, "web", &s, &line), EBADMSG);
                ASSERT_EQ(line, 3u);
        }
        ASSERT_OK(rm_rf_at(AT_FDCWD, tmp));
}

TEST(check_and_idmap_binds) {
        NspawnSettings s;
        NspawnBind b = {};
        const char *missing = NULL;

        nspawn_settings_init(&s);
        ASSERT_OK(nspawn_bind_parse("/tmp:/a", &b));
        ASSERT_OK(nspawn_settings_add_bind(&s, &b));
        ASSERT_OK(nspawn_bind_parse("/tmp:/b:noidmap", &b));
        ASSERT_OK(nspawn_settings_add_bind(&s, &b));
        ASSERT_OK(nspawn_settings_check_binds(&s, &missing));
        nspawn_settings_idmap_binds(&s);
        ASSERT_TRUE(s.binds[0].idmap);
        ASSERT_FALSE(s.binds[1].idmap);

        ASSERT_OK(nspawn_bind_parse("/nonexistent-mkmachine-src:/c", &b));
        ASSERT_OK(nspawn_settings_add_bind(&s, &b));
        ASSERT_ERROR(nspawn_settings_check_binds(&s, &missing), ENOENT);
        ASSERT_STREQ(missing, "/nonexistent-mkmachine-src");
        nspawn_settings_done(&s);
}

TEST(restart_dropin) {
        _cleanup_free_ char *d = NULL;

        ASSERT_OK(restart_dropin_format(RESTART_ALWAYS, "/usr/bin/mkmachine", &d));
        ASSERT_NOT_NULL(strstr(d, "\n[Service]\nRestart=always\nRestartSec=1\n"));
        ASSERT_NOT_NULL(strstr(d, "\nExecStartPre=-/usr/bin/mkmachine __unit-helper unregister %i\n"));
        ASSERT_NOT_NULL(strstr(d, "\nExecStopPost=-/usr/bin/mkmachine __unit-helper unforward %i\n"));
        d = mfree(d);
        ASSERT_OK(restart_dropin_format(RESTART_ON_FAILURE, "/x/mkmachine", &d));
        ASSERT_NOT_NULL(strstr(d, "\nRestart=on-failure\n"));

        /* No drop-in for "no"; a helper path the unit parser would split or expand is refused. */
        ASSERT_ERROR(restart_dropin_format(RESTART_NO, "/usr/bin/mkmachine", &d), EINVAL);
        ASSERT_ERROR(restart_dropin_format(RESTART_ALWAYS, "mkmachine", &d), EINVAL);
        ASSERT_ERROR(restart_dropin_format(RESTART_ALWAYS, "/my dir/mkmachine", &d), EINVAL);
        ASSERT_ERROR(restart_dropin_format(RESTART_ALWAYS, "/a%b/mkmachine", &d), EINVAL);
        ASSERT_ERROR(restart_dropin_format(RESTART_ALWAYS, "/a$b/mkmachine", &d), EINVAL);
        ASSERT_ERROR(restart_dropin_format(RESTART_ALWAYS, "/a;b/mkmachine", &d), EINVAL);
        ASSERT_ERROR(restart_dropin_format(RESTART_ALWAYS, "/a\nExecStart=/x", &d), EINVAL);
        ASSERT_ERROR(restart_dropin_format(RESTART_ALWAYS, "/a\rExecStart=/x", &d), EINVAL);
        ASSERT_ERROR(restart_dropin_format(RESTART_ALWAYS, "/a\\", &d), EINVAL);
}

TEST(restart_write_read_remove) {
        _cleanup_free_ char *tmp = make_tmp(), *units = NULL, *nspawn = NULL, *dropin = NULL;
        RestartPolicy p;
        struct stat st;
        NspawnSettings s;

        ASSERT_TRUE(asprintf(&units, "%s/system", tmp) > 0);
        ASSERT_TRUE(asprintf(&nspawn, "%s/nspawn", tmp) > 0);
        ASSERT_TRUE(asprintf(&dropin, "%s/systemd-nspawn@web.service.d", units) > 0);

        ASSERT_OK(machine_restart_read(units, "web", &p));
        ASSERT_EQ(p, RESTART_NO);
        ASSERT_EQ(ASSERT_OK(machine_restart_write(units, "web", RESTART_NO, NULL)), 0);

        ASSERT_EQ(ASSERT_OK(machine_restart_write(units, "web", RESTART_ALWAYS, "/bin/mk")), 1);
        ASSERT_EQ(ASSERT_OK(machine_restart_write(units, "web", RESTART_ALWAYS, "/bin/mk")), 0);
        ASSERT_OK(machine_restart_read(units, "web", &p));
        ASSERT_EQ(p, RESTART_ALWAYS);
        ASSERT_EQ(ASSERT_OK(machine_restart_write(units, "web", RESTART_ON_FAILURE, "/bin/mk")), 1);
        ASSERT_OK(machine_restart_read(units, "web", &p));
        ASSERT_EQ(p, RESTART_ON_FAILURE);

        /* "no" removes our drop-in and the then empty directory. */
        ASSERT_EQ(ASSERT_OK(machine_restart_write(units, "web", RESTART_NO, NULL)), 1);
        ASSERT_TRUE(stat(dropin, &st) < 0 && errno == ENOENT);

        /* remove takes the settings and the whole drop-in directory, also files of others there. */
        ASSERT_OK(machine_restart_write(units, "web", RESTART_ALWAYS, "/bin/mk"));
        write_file(strjoina(dropin, "/90-mine.conf"), "[Service]\nNice=5\n");
        nspawn_settings_init(&s);
        s.boot = 1;
        ASSERT_OK(machine_settings_write(nspawn, "web", &s, NULL));
        ASSERT_EQ(ASSERT_OK(machine_config_remove(nspawn, units, "/nonexistent/c", "web")), 1);
        ASSERT_TRUE(stat(dropin, &st) < 0 && errno == ENOENT);
        ASSERT_TRUE(stat(strjoina(nspawn, "/web.nspawn"), &st) < 0 && errno == ENOENT);
        ASSERT_EQ(ASSERT_OK(machine_config_remove(nspawn, units, "/nonexistent/c", "web")), 0);
        ASSERT_EQ(ASSERT_OK(machine_config_remove("/nonexistent/a", "/nonexistent/b", "/nonexistent/c",
                                                  "web")), 0);

        /* A drop-in without a Restart= we know is an error, not "no". */
        ASSERT_TRUE(mkdir(dropin, 0755) >= 0);
        write_file(strjoina(dropin, "/" MACHINE_DROPIN_NAME), "[Service]\nRestart=sometimes\n");
        ASSERT_ERROR(machine_restart_read(units, "web", &p), EBADMSG);
        ASSERT_OK(rm_rf_at(AT_FDCWD, tmp));
}

#define NETDIR "/var/lib/mkmachine/network"

TEST(app_network) {
        NspawnSettings s;
        NspawnBind b = {};
        _cleanup_free_ char *d = NULL;

        /* Boot=no on a private network (or the unit's default veth) is an application machine. */
        nspawn_settings_init(&s);
        s.boot = 0;
        ASSERT_TRUE(nspawn_settings_is_app_network(&s));
        s.network = NETWORK_ZONE;
        ASSERT_TRUE(nspawn_settings_is_app_network(&s));
        s.network = NETWORK_HOST;
        ASSERT_FALSE(nspawn_settings_is_app_network(&s));
        s.network = NETWORK_NONE;
        ASSERT_FALSE(nspawn_settings_is_app_network(&s));
        s.network = NETWORK_VETH;
        s.boot = -1;            /* no Boot=: the unit boots */
        ASSERT_FALSE(nspawn_settings_is_app_network(&s));

        /* The DNS bind: added once, next to the user's binds; a template's is replaced by the
         * instance's; removed again. */
        ASSERT_OK(nspawn_bind_parse("/srv:/srv", &b));
        ASSERT_OK(nspawn_settings_add_bind(&s, &b));
        ASSERT_EQ(ASSERT_OK(nspawn_settings_set_dns_bind(&s, NETDIR, "web", true)), 1);
        ASSERT_EQ(ASSERT_OK(nspawn_settings_set_dns_bind(&s, NETDIR, "web", true)), 0);
        ASSERT_EQ(s.n_binds, 2u);
        ASSERT_STREQ(s.binds[1].source, "/var/lib/mkmachine/network/web/resolv.conf");
        ASSERT_STREQ(s.binds[1].destination, "/etc/resolv.conf");
        ASSERT_TRUE(s.binds[1].read_only);
        ASSERT_FALSE(s.binds[1].idmap);
        ASSERT_TRUE(nspawn_bind_is_dns(s.binds + 1, NETDIR, "web"));
        ASSERT_FALSE(nspawn_bind_is_dns(s.binds + 1, NETDIR, "web.a"));
        ASSERT_EQ(ASSERT_OK(nspawn_settings_set_dns_bind(&s, NETDIR, "web.a", true)), 1);
        ASSERT_EQ(s.n_binds, 2u);
        ASSERT_STREQ(s.binds[1].source, "/var/lib/mkmachine/network/web.a/resolv.conf");
        ASSERT_EQ(ASSERT_OK(nspawn_settings_set_dns_bind(&s, NETDIR, "web.a", false)), 1);
        ASSERT_EQ(s.n_binds, 1u);
        ASSERT_STREQ(s.binds[0].source, "/srv");
        nspawn_settings_done(&s);

        ASSERT_OK(network_dropin_format("/usr/bin/mkmachine", &d));
        ASSERT_NOT_NULL(strstr(d, "\nExecStartPre=/usr/bin/mkmachine __unit-helper network-prepare %i\n"));
        ASSERT_NOT_NULL(strstr(d, "\nExecStartPost=/usr/bin/mkmachine __unit-helper network-up %i\n"));
        ASSERT_ERROR(network_dropin_format("relative", &d), EINVAL);
}

TEST(restart_policy_table) {
        for (RestartPolicy p = 0; p < _RESTART_POLICY_MAX; p++)
                ASSERT_EQ(restart_policy_from_string(restart_policy_to_string(p)), p);
        ASSERT_EQ(restart_policy_from_string("unless-stopped"), _RESTART_POLICY_INVALID);
}

DEFINE_TEST_MAIN
