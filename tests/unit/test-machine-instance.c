/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "machine-instance.h"
#include "string-util.h"
#include "tests.h"

TEST(mode_table) {
        for (InstanceMode m = 0; m < _INSTANCE_MODE_MAX; m++)
                ASSERT_EQ(instance_mode_from_string(instance_mode_to_string(m)), m);
        ASSERT_EQ(instance_mode_from_string("overlay"), _INSTANCE_MODE_INVALID);
        ASSERT_NULL(instance_mode_to_string(_INSTANCE_MODE_MAX));
}

TEST(parse_valid) {
        MachineInstance i = {};

        ASSERT_EQ(machine_instance_parse("web@a", &i), 1);
        ASSERT_STREQ(i.template, "web");
        ASSERT_STREQ(i.instance, "a");
        ASSERT_STREQ(i.machine, "web.a");
        ASSERT_EQ(i.mode, INSTANCE_CLONE);
        machine_instance_done(&i);
        ASSERT_NULL(i.machine);

        ASSERT_EQ(machine_instance_parse("debian.12@db-1.eu", &i), 1);
        ASSERT_STREQ(i.template, "debian.12");
        ASSERT_STREQ(i.instance, "db-1.eu");
        ASSERT_STREQ(i.machine, "debian.12.db-1.eu");
        machine_instance_done(&i);

        /* No '@': not an instance, nothing set. */
        ASSERT_EQ(machine_instance_parse("web", &i), 0);
        ASSERT_NULL(i.machine);
        ASSERT_EQ(machine_instance_parse("web@b", NULL), 1);
}

TEST(parse_invalid) {
        static const char *const bad[] = {
                "@a", "web@", "@", "web@a@b", "web@@a", "-web@a", "web@-a", "web.@a", "web@a.", "web@.a",
                "we b@a", "web@a/b", "web@a_b", "../web@a", "web@a:1", "web@ä",
        };
        char name[100];
        MachineInstance i = {};

        for (size_t k = 0; k < ELEMENTSOF(bad); k++) {
                ASSERT_ERROR(machine_instance_parse(bad[k], &i), EINVAL);
                ASSERT_NULL(i.machine);
        }

        /* Each part is valid, but TEMPLATE.INSTANCE is longer than 64 characters. */
        memset(name, 'a', 40);
        name[40] = '@';
        memset(name + 41, 'b', 23);
        name[64] = 0;
        ASSERT_EQ(machine_instance_parse(name, NULL), 1);       /* 40 + 1 + 23 = 64 */
        name[64] = 'b';
        name[65] = 0;
        ASSERT_ERROR(machine_instance_parse(name, NULL), EINVAL);
}

TEST(resolve) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        ASSERT_OK(machine_name_resolve("web@a", &a));
        ASSERT_STREQ(a, "web.a");
        ASSERT_OK(machine_name_resolve("web", &b));
        ASSERT_STREQ(b, "web");
        ASSERT_OK(machine_name_resolve("web.a", &c));
        ASSERT_STREQ(c, "web.a");
        ASSERT_ERROR(machine_name_resolve("web@", &c), EINVAL);
        ASSERT_ERROR(machine_name_resolve("-x", &c), EINVAL);
        ASSERT_ERROR(machine_name_resolve("", &c), EINVAL);
        ASSERT_STREQ(c, "web.a");       /* untouched on failure */
}

static MachineInstance instance(const char *at, InstanceMode mode) {
        MachineInstance i = {};

        ASSERT_EQ(machine_instance_parse(at, &i), 1);
        i.mode = mode;
        return i;
}

TEST(dropins) {
        MachineInstance c = instance("web@a", INSTANCE_CLONE), e = instance("web@b", INSTANCE_EPHEMERAL);
        _cleanup_free_ char *s = NULL, *t = NULL, *u = NULL, *v = NULL;

        ASSERT_OK(machine_instance_dropin_format(&c, "/var/lib/machines", &s));
        ASSERT_NOT_NULL(strstr(s, "\nX-MkmachineTemplate=web\nX-MkmachineInstance=a\n"
                                  "X-MkmachineMode=clone\n"));
        ASSERT_NULL(strstr(s, "ExecStart"));    /* systemd-nspawn@web.a.service runs it as any machine */

        ASSERT_OK(machine_instance_dropin_format(&e, "/var/lib/machines", &t));
        ASSERT_NOT_NULL(strstr(t, "X-MkmachineMode=ephemeral\n"));
        ASSERT_NOT_NULL(strstr(t, "\n[Service]\nExecStart=\nExecStart=systemd-nspawn "));
        ASSERT_NOT_NULL(strstr(t, " --machine=web.b -D /var/lib/machines/web --volatile=overlay "
                                  "--read-only\n"));

        ASSERT_OK(machine_instance_alias_dropin_format(&c, "/srv/m", &u));
        ASSERT_NOT_NULL(strstr(u, "ExecStart=\nExecStart=systemd-nspawn "));
        ASSERT_NOT_NULL(strstr(u, " --settings=override --machine=web.a -D /srv/m/web.a\n"));
        ASSERT_NULL(strstr(u, "X-Mkmachine"));  /* not a record */

        ASSERT_OK(machine_instance_alias_dropin_format(&e, "/srv/m", &v));
        ASSERT_NOT_NULL(strstr(v, " --machine=web.b -D /srv/m/web --volatile=overlay --read-only\n"));

        /* Store paths that systemd would expand or split are refused, not written. */
        free(s);
        s = NULL;
        ASSERT_ERROR(machine_instance_dropin_format(&e, "/srv/my machines", &s), EINVAL);
        ASSERT_ERROR(machine_instance_alias_dropin_format(&c, "/srv/%i", &s), EINVAL);
        ASSERT_ERROR(machine_instance_alias_dropin_format(&c, "relative", &s), EINVAL);
        ASSERT_NULL(s);

        /* A record whose machine name does not match its parts. */
        free(c.machine);
        c.machine = strdup("web.x");
        ASSERT_ERROR(machine_instance_dropin_format(&c, "/var/lib/machines", &s), EINVAL);

        machine_instance_done(&c);
        machine_instance_done(&e);
}

static char* make_tmp(void) {
        char *d = strdup("/tmp/test-machine-instance.XXXXXX");

        ASSERT_NOT_NULL(d);
        ASSERT_NOT_NULL(mkdtemp(d));
        return d;
}

static void write_file(const char *path, const char *s) {
        FILE *f = fopen(path, "we");

        ASSERT_NOT_NULL(f);
        fputs(s, f);
        ASSERT_EQ(fclose(f), 0);
}

TEST(write_read_list_remove) {
        _cleanup_free_ char *d = make_tmp(), *p = NULL;
        MachineInstance a = instance("web@a", INSTANCE_CLONE), b = instance("web@b", INSTANCE_EPHEMERAL),
                x = instance("db@a", INSTANCE_CLONE), r = {};
        MachineInstance *l = NULL;
        size_t n = 0;

        /* Nothing there yet, not even the directory. */
        ASSERT_OK(asprintf(&p, "%s/units", d) < 0 ? -ENOMEM : 0);
        ASSERT_ERROR(machine_instance_read(p, "web.a", &r), ENOENT);
        ASSERT_OK(machine_instance_list(p, NULL, &l, &n));
        ASSERT_EQ(n, 0u);

        ASSERT_OK(machine_instance_write(p, &b, "/var/lib/machines"));
        ASSERT_OK(machine_instance_write(p, &a, "/var/lib/machines"));
        ASSERT_OK(machine_instance_write(p, &x, "/var/lib/machines"));
        ASSERT_TRUE(access(strjoina(p, "/systemd-nspawn@web@a.service.d/" MACHINE_INSTANCE_DROPIN_NAME),
                           F_OK) >= 0);

        ASSERT_OK(machine_instance_read(p, "web.b", &r));
        ASSERT_STREQ(r.template, "web");
        ASSERT_STREQ(r.instance, "b");
        ASSERT_EQ(r.mode, INSTANCE_EPHEMERAL);
        machine_instance_done(&r);
        ASSERT_ERROR(machine_instance_read(p, "web@a", &r), EINVAL);
        ASSERT_ERROR(machine_instance_read(p, "web", &r), ENOENT);

        /* Other drop-ins of other machines are none of our business; a broken record is skipped. */
        ASSERT_OK(mkdir_p_at(AT_FDCWD, strjoina(p, "/systemd-nspawn@plain.service.d"), 0755, 0755));
        write_file(strjoina(p, "/systemd-nspawn@plain.service.d/10-x.conf"), "[Service]\nRestart=always\n");
        ASSERT_OK(mkdir_p_at(AT_FDCWD, strjoina(p, "/systemd-nspawn@web.z.service.d"), 0755, 0755));
        write_file(strjoina(p, "/systemd-nspawn@web.z.service.d/" MACHINE_INSTANCE_DROPIN_NAME),
                   "[Unit]\nX-MkmachineTemplate=web\nX-MkmachineInstance=y\nX-MkmachineMode=clone\n");
        ASSERT_ERROR(machine_instance_read(p, "web.z", &r), EBADMSG);
        write_file(strjoina(p, "/systemd-nspawn@web.z.service.d/" MACHINE_INSTANCE_DROPIN_NAME),
                   "[Unit]\nX-MkmachineTemplate=web\nX-MkmachineInstance=z\nX-MkmachineMode=fast\n");
        ASSERT_ERROR(machine_instance_read(p, "web.z", &r), EBADMSG);
        write_file(strjoina(p, "/systemd-nspawn@web.z.service.d/" MACHINE_INSTANCE_DROPIN_NAME), "junk\n");
        ASSERT_ERROR(machine_instance_read(p, "web.z", &r), EBADMSG);

        ASSERT_OK(machine_instance_list(p, NULL, &l, &n));
        ASSERT_EQ(n, 3u);
        ASSERT_STREQ(l[0].machine, "db.a");
        ASSERT_STREQ(l[1].machine, "web.a");
        ASSERT_STREQ(l[2].machine, "web.b");
        ASSERT_EQ(l[2].mode, INSTANCE_EPHEMERAL);
        machine_instance_array_free(l, n);
        ASSERT_OK(machine_instance_list(p, "web", &l, &n));
        ASSERT_EQ(n, 2u);
        machine_instance_array_free(l, n);
        ASSERT_OK(machine_instance_list(p, "nosuch", &l, &n));
        ASSERT_EQ(n, 0u);
        free(l);

        /* Removing one instance leaves the others; a hand-written drop-in beside ours stays. */
        write_file(strjoina(p, "/systemd-nspawn@web.a.service.d/60-mine.conf"), "[Service]\n");
        ASSERT_EQ(machine_instance_remove(p, &a), 1);
        ASSERT_EQ(machine_instance_remove(p, &a), 0);
        ASSERT_ERROR(machine_instance_read(p, "web.a", &r), ENOENT);
        ASSERT_TRUE(access(strjoina(p, "/systemd-nspawn@web@a.service.d"), F_OK) < 0);
        ASSERT_TRUE(access(strjoina(p, "/systemd-nspawn@web.a.service.d/60-mine.conf"), F_OK) >= 0);
        ASSERT_OK(machine_instance_read(p, "web.b", NULL));
        ASSERT_OK(machine_instance_list(p, "web", &l, &n));
        ASSERT_EQ(n, 1u);
        ASSERT_STREQ(l[0].machine, "web.b");
        machine_instance_array_free(l, n);

        machine_instance_done(&a);
        machine_instance_done(&b);
        machine_instance_done(&x);
        ASSERT_OK(rm_rf_at(AT_FDCWD, d));
}

DEFINE_TEST_MAIN;
