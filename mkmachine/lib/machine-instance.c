/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "ini.h"
#include "machine-instance.h"
#include "store.h"
#include "string-table.h"
#include "string-util.h"

static const char* const instance_mode_table[_INSTANCE_MODE_MAX] = {
        [INSTANCE_CLONE]     = "clone",
        [INSTANCE_EPHEMERAL] = "ephemeral",
};
DEFINE_STRING_TABLE_LOOKUP(instance_mode, InstanceMode);

/* The command line of systemd-nspawn@.service in systemd 252, without --machine=: the instance units
 * run what a plain machine runs, plus what makes them instances. */
#define NSPAWN_EXEC "systemd-nspawn --quiet --keep-unit --boot --link-journal=try-guest --network-veth -U " \
        "--settings=override"

void machine_instance_done(MachineInstance *i) {
        if (!i)
                return;
        i->machine = mfree(i->machine);
        i->template = mfree(i->template);
        i->instance = mfree(i->instance);
}

void machine_instance_array_free(MachineInstance *l, size_t n) {
        for (size_t i = 0; i < n; i++)
                machine_instance_done(l + i);
        free(l);
}

int machine_instance_parse(const char *s, MachineInstance *ret) {
        _cleanup_free_ char *template = NULL, *instance = NULL, *machine = NULL;
        const char *at;

        assert(s);

        at = strchr(s, '@');
        if (!at)
                return 0;
        if (strchr(at + 1, '@'))
                return -EINVAL;

        template = strndup(s, at - s);
        instance = strdup(at + 1);
        if (!template || !instance)
                return -ENOMEM;
        if (!machine_name_is_valid(template) || !machine_name_is_valid(instance))
                return -EINVAL;
        if (asprintf(&machine, "%s.%s", template, instance) < 0)
                return -ENOMEM;
        if (!machine_name_is_valid(machine))    /* too long */
                return -EINVAL;

        if (ret)
                *ret = (MachineInstance) {
                        .machine = TAKE_PTR(machine),
                        .template = TAKE_PTR(template),
                        .instance = TAKE_PTR(instance),
                        .mode = INSTANCE_CLONE,
                };
        return 1;
}

int machine_name_resolve(const char *s, char **ret) {
        MachineInstance i = {};
        int r;

        assert(s);
        assert(ret);

        r = machine_instance_parse(s, &i);
        if (r < 0)
                return r;
        if (r > 0) {
                *ret = TAKE_PTR(i.machine);
                machine_instance_done(&i);
                return 0;
        }
        if (!machine_name_is_valid(s))
                return -EINVAL;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* Whether p can go into ExecStart= as it is: absolute, and nothing systemd would expand or split
 * (specifiers, variables, quotes, escapes, white space). */
static bool exec_path_is_safe(const char *p) {
        return p && p[0] == '/' && ini_unit_value_check(p, /* word= */ true) >= 0;
}

static int record_check(const MachineInstance *i) {
        MachineInstance parsed = {};
        _cleanup_free_ char *s = NULL;
        int r;

        if (!i || !i->template || !i->instance || !i->machine || i->mode < 0 ||
            i->mode >= _INSTANCE_MODE_MAX)
                return -EINVAL;
        if (asprintf(&s, "%s@%s", i->template, i->instance) < 0)
                return -ENOMEM;
        r = machine_instance_parse(s, &parsed);
        if (r <= 0)
                return r < 0 ? r : -EINVAL;
        r = streq(parsed.machine, i->machine) ? 0 : -EINVAL;
        machine_instance_done(&parsed);
        return r;
}

/* The ExecStart= that runs the instance: its own tree, or the template's read-only under an overlay.
 * "--read-only" makes nspawn take the image lock shared, so that several ephemeral instances of one
 * template run at once while nothing may change the template (it would take the lock exclusively). */
static int exec_start_format(const MachineInstance *i, const char *store_root, char **ret) {
        if (!exec_path_is_safe(store_root))
                return -EINVAL;
        if (i->mode == INSTANCE_EPHEMERAL)
                return asprintf(ret, "ExecStart=\nExecStart=" NSPAWN_EXEC " --machine=%s -D %s/%s "
                                "--volatile=overlay --read-only\n", i->machine, store_root,
                                i->template) < 0 ? -ENOMEM : 0;
        return asprintf(ret, "ExecStart=\nExecStart=" NSPAWN_EXEC " --machine=%s -D %s/%s\n", i->machine,
                        store_root, i->machine) < 0 ? -ENOMEM : 0;
}

int machine_instance_dropin_format(const MachineInstance *i, const char *store_root, char **ret) {
        _cleanup_free_ char *exec = NULL;
        int r;

        assert(ret);

        r = record_check(i);
        if (r < 0)
                return r;
        if (i->mode == INSTANCE_EPHEMERAL) {
                r = exec_start_format(i, store_root, &exec);
                if (r < 0)
                        return r;
        }
        return asprintf(ret,
                        "# Written by mkmachine: machine %s is the %s instance %s@%s of template %s.\n"
                        "# 'mkmachine remove %s@%s' removes it.\n"
                        "[Unit]\n"
                        "Description=Container %s (instance of %s)\n"
                        "X-MkmachineTemplate=%s\n"
                        "X-MkmachineInstance=%s\n"
                        "X-MkmachineMode=%s\n"
                        "%s%s",
                        i->machine, instance_mode_to_string(i->mode), i->template, i->instance, i->template,
                        i->template, i->instance,
                        i->machine, i->template,
                        i->template, i->instance, instance_mode_to_string(i->mode),
                        exec ? "\n[Service]\n" : "", exec ?: "") < 0 ? -ENOMEM : 0;
}

int machine_instance_alias_dropin_format(const MachineInstance *i, const char *store_root, char **ret) {
        _cleanup_free_ char *exec = NULL;
        int r;

        assert(ret);

        r = record_check(i);
        if (r < 0)
                return r;
        r = exec_start_format(i, store_root, &exec);
        if (r < 0)
                return r;
        return asprintf(ret,
                        "# Written by mkmachine: the instance name %s@%s is not a valid machine name, so\n"
                        "# this unit runs it as machine %s (the same as systemd-nspawn@%s.service;\n"
                        "# only one of the two can run at a time).\n"
                        "[Unit]\n"
                        "Description=Container %s (instance of %s)\n"
                        "\n[Service]\n"
                        "%s",
                        i->template, i->instance, i->machine, i->machine, i->machine, i->template,
                        exec) < 0 ? -ENOMEM : 0;
}

static int write_dropin(const char *unit_dir, const char *instance, const char *text) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (asprintf(&dir, "%s/systemd-nspawn@%s.service.d", unit_dir, instance) < 0)
                return -ENOMEM;
        r = mkdir_p_at(AT_FDCWD, dir, 0755, 0755);
        if (r < 0)
                return r;
        fd = open(dir, O_DIRECTORY|O_CLOEXEC|O_RDONLY);
        if (fd < 0)
                return -errno;
        return write_file_atomic_at(fd, MACHINE_INSTANCE_DROPIN_NAME, text, strlen(text), 0644);
}

int machine_instance_write(const char *unit_dir, const MachineInstance *i, const char *store_root) {
        _cleanup_free_ char *record = NULL, *alias = NULL, *at = NULL;
        int r;

        assert(unit_dir);

        r = machine_instance_dropin_format(i, store_root, &record);
        if (r < 0)
                return r;
        r = machine_instance_alias_dropin_format(i, store_root, &alias);
        if (r < 0)
                return r;
        if (asprintf(&at, "%s@%s", i->template, i->instance) < 0)
                return -ENOMEM;
        /* The alias first: a record always has its alias, so removing by the record finds both. */
        r = write_dropin(unit_dir, at, alias);
        if (r < 0)
                return r;
        return write_dropin(unit_dir, i->machine, record);
}

int machine_instance_read(const char *unit_dir, const char *machine, MachineInstance *ret) {
        _cleanup_(ini_freep) IniFile *ini = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *path = NULL, *at = NULL;
        const char *template, *instance, *mode;
        MachineInstance i = {};
        unsigned line = 0;
        int r;

        assert(unit_dir);
        assert(machine);

        if (!machine_name_is_valid(machine))
                return -EINVAL;
        if (asprintf(&path, "%s/systemd-nspawn@%s.service.d/%s", unit_dir, machine,
                     MACHINE_INSTANCE_DROPIN_NAME) < 0)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f)
                return -errno;
        r = ini_parse(f, &ini, &line);
        if (r < 0)
                return r == -E2BIG ? -EBADMSG : r;

        template = ini_get(ini, "Unit", "X-MkmachineTemplate", NULL);
        instance = ini_get(ini, "Unit", "X-MkmachineInstance", NULL);
        mode = ini_get(ini, "Unit", "X-MkmachineMode", NULL);
        if (!template || !instance || !mode || instance_mode_from_string(mode) < 0)
                return -EBADMSG;
        if (asprintf(&at, "%s@%s", template, instance) < 0)
                return -ENOMEM;
        r = machine_instance_parse(at, &i);
        if (r == -ENOMEM)
                return r;
        if (r <= 0)
                return -EBADMSG;
        if (!streq(i.machine, machine)) {
                machine_instance_done(&i);
                return -EBADMSG;
        }
        i.mode = instance_mode_from_string(mode);
        if (ret)
                *ret = i;
        else
                machine_instance_done(&i);
        return 0;
}

static int instance_compare(const void *a, const void *b) {
        const MachineInstance *x = a, *y = b;
        return strcmp(x->machine, y->machine);
}

int machine_instance_list(const char *unit_dir, const char *template, MachineInstance **ret, size_t *ret_n) {
        _cleanup_closedir_ DIR *d = NULL;
        MachineInstance *l = NULL;
        size_t n = 0;
        int r = 0;

        assert(unit_dir);
        assert(ret);
        assert(ret_n);

        d = opendir(unit_dir);
        if (!d) {
                if (errno != ENOENT)
                        return -errno;
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }

        for (struct dirent *de; (de = readdir(d));) {
                _cleanup_free_ char *machine = NULL;
                const char *p = startswith(de->d_name, "systemd-nspawn@");
                MachineInstance i = {}, *nl;
                size_t k;

                if (!p || !endswith(p, ".service.d"))
                        continue;
                k = strlen(p) - strlen(".service.d");
                machine = strndup(p, k);
                if (!machine) {
                        r = -ENOMEM;
                        break;
                }
                if (!machine_name_is_valid(machine))   /* the alias units, and others' */
                        continue;
                r = machine_instance_read(unit_dir, machine, &i);
                if (r == -ENOMEM)
                        break;
                r = 0;
                if (!i.machine || (template && !streq(i.template, template))) {
                        machine_instance_done(&i);
                        continue;
                }
                nl = reallocarray(l, n + 1, sizeof(*l));
                if (!nl) {
                        machine_instance_done(&i);
                        r = -ENOMEM;
                        break;
                }
                l = nl;
                l[n++] = i;
        }
        if (r < 0) {
                machine_instance_array_free(l, n);
                return r;
        }
        if (n > 1)
                qsort(l, n, sizeof(*l), instance_compare);
        *ret = l;
        *ret_n = n;
        return 0;
}

/* Removes DIR/systemd-nspawn@NAME.service.d/our drop-in, and the directory if that empties it. */
static int remove_dropin(const char *unit_dir, const char *name) {
        _cleanup_free_ char *dir = NULL, *file = NULL;

        if (asprintf(&dir, "%s/systemd-nspawn@%s.service.d", unit_dir, name) < 0 ||
            asprintf(&file, "%s/%s", dir, MACHINE_INSTANCE_DROPIN_NAME) < 0)
                return -ENOMEM;
        if (unlink(file) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (rmdir(dir) < 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
                return -errno;
        return 1;
}

int machine_instance_remove(const char *unit_dir, const MachineInstance *i) {
        _cleanup_free_ char *at = NULL;
        int r, q;

        assert(unit_dir);
        assert(i);

        if (asprintf(&at, "%s@%s", i->template, i->instance) < 0)
                return -ENOMEM;
        r = remove_dropin(unit_dir, at);
        if (r < 0)
                return r;
        q = remove_dropin(unit_dir, i->machine);
        if (q < 0)
                return q;
        return r > 0 || q > 0;
}
