/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "log.h"
#include "machine-config.h"
#include "machine-glue.h"
#include "machine-template.h"
#include "string-util.h"
#include "strv.h"

static MachineInstance arg_instance = {};
static char **arg_resolved = NULL;      /* the rewritten argv strings, owned */

void template_done(void) {
        machine_instance_done(&arg_instance);
        arg_resolved = strv_free(arg_resolved);
}

static const char* nspawn_dir(void) {
        return getenv("MKMACHINE_NSPAWN_DIR") ?: MACHINE_NSPAWN_DIR_DEFAULT;
}

static const char* unit_dir(void) {
        return getenv("MKMACHINE_UNIT_DIR") ?: MACHINE_UNIT_DIR_DEFAULT;
}

const MachineInstance* template_arg_instance(void) {
        return arg_instance.machine ? &arg_instance : NULL;
}

int template_resolve_args(const char *verb, int argc, char *argv[]) {
        /* The verbs and which of their arguments (1-based, after the verb) name a machine. Not clone and
         * rename: an instance is made with create or start, and keeps its name. */
        static const struct {
                const char *verb;
                int arg;
        } table[] = {
                { "create", 1 }, { "show", 1 }, { "status", 1 }, { "remove", 1 }, { "set", 1 },
                { "start", 1 }, { "stop", 1 }, { "export", 1 }, { "__unit-helper", 2 },
        };

        for (size_t k = 0; k < ELEMENTSOF(table); k++) {
                MachineInstance i = {};
                int a = table[k].arg, r;

                if (!streq(table[k].verb, verb) || a >= argc)
                        continue;
                r = machine_instance_parse(argv[a], &i);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0)
                        return log_error_errno(r, "Invalid instance name '%s': use TEMPLATE@INSTANCE, both "
                                               "valid machine names (letters, digits and '-', labels "
                                               "separated by '.'), together at most %u characters.",
                                               argv[a], MACHINE_NAME_MAX - 1);
                if (r == 0)
                        return 0;
                if (strv_extend(&arg_resolved, i.machine) < 0) {
                        machine_instance_done(&i);
                        return log_oom();
                }
                argv[a] = arg_resolved[strv_length(arg_resolved) - 1];
                if (a == 1) {
                        machine_instance_done(&arg_instance);
                        arg_instance = i;
                } else
                        machine_instance_done(&i);
                return 0;
        }
        return 0;
}

int template_lookup(const char *machine, MachineInstance *ret) {
        int r;

        r = machine_instance_read(unit_dir(), machine, ret);
        if (r == -EBADMSG)
                return log_error_errno(r, "%s/systemd-nspawn@%s.service.d/%s is broken: it does not name a "
                                       "template, instance and mode that give this machine's name.",
                                       unit_dir(), machine, MACHINE_INSTANCE_DROPIN_NAME);
        if (r < 0 && r != -ENOENT && r != -EINVAL)
                return log_error_errno(r, "Failed to read the instance record of '%s': %m", machine);
        return r == -EINVAL ? -ENOENT : r;
}

/* Copies the template's NAME.nspawn (if any) to the instance's, replacing a leftover. */
static int copy_settings(const char *template, const char *machine, bool *ret_copied) {
        _cleanup_free_ char *data = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size = 0;
        int r;

        *ret_copied = false;
        fd = open(nspawn_dir(), O_DIRECTORY|O_CLOEXEC|O_RDONLY);
        if (fd < 0)
                return errno == ENOENT ? 0 : log_error_errno(errno, "Cannot open %s: %m", nspawn_dir());
        r = read_full_file_at(fd, strjoina(template, ".nspawn"), 1 << 20, &data, &size);
        if (r == -ENOENT) {
                /* No settings of the template: none left over from an earlier instance either. */
                if (unlinkat(fd, strjoina(machine, ".nspawn"), 0) < 0 && errno != ENOENT)
                        return log_error_errno(errno, "Cannot remove %s/%s.nspawn: %m", nspawn_dir(),
                                               machine);
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "Cannot read %s/%s.nspawn: %m", nspawn_dir(), template);
        r = write_file_atomic_at(fd, strjoina(machine, ".nspawn"), data, size, 0644);
        if (r < 0)
                return log_error_errno(r, "Cannot write %s/%s.nspawn: %m", nspawn_dir(), machine);
        *ret_copied = true;
        return 0;
}

static void unlink_settings(const char *machine) {
        (void) unlink(strjoina(nspawn_dir(), "/", machine, ".nspawn"));
}

int template_create(Store *s, const MachineInstance *want, bool exist_ok, bool quiet) {
        _cleanup_(machine_info_done) MachineInfo t = {}, existing = {};
        _cleanup_(release_lock_file) LockFile lock = LOCK_FILE_INIT;
        _cleanup_free_ char *lock_path = NULL;
        MachineInstance rec = {};
        bool copied = false, cloned = false;
        int r;

        assert(s);
        assert(want);

        r = store_get(s, want->template, false, &t);
        if (r == -ENOENT)
                return log_error_errno(r, "No template machine '%s' in '%s' for instance %s@%s.",
                                       want->template, s->root, want->template, want->instance);
        if (r < 0)
                return log_error_errno(r, "Failed to look up template machine '%s': %m", want->template);
        if (t.type != MACHINE_DIRECTORY)
                return log_error_errno(SYNTHETIC_ERRNO(EOPNOTSUPP), "Template '%s' is a raw disk image; "
                                       "only directory machines can be templates.", want->template);
        r = template_lookup(want->template, &rec);
        if (r >= 0) {
                machine_instance_done(&rec);
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Machine '%s' is itself an instance; it "
                                       "cannot be a template.", want->template);
        }
        if (r != -ENOENT)
                return r;

        /* One creator at a time per instance: two first "start web@a" at once make one instance, the
         * second waits and finds it. Not the image lock, which store_clone() takes itself; '@' keeps the
         * name apart from the image locks (".#NAME.lck") of any machine. */
        if (asprintf(&lock_path, "%s/.#%s@instance.lck", streq(s->root, "/") ? "" : s->root,
                     want->machine) < 0)
                return log_oom();
        r = make_lock_file(lock_path, LOCK_EX, &lock);
        if (r < 0)
                return log_error_errno(r, "Cannot lock %s: %m", lock_path);

        r = template_lookup(want->machine, &rec);
        if (r >= 0) {
                machine_instance_done(&rec);
                if (exist_ok)
                        return 0;
                return log_error_errno(SYNTHETIC_ERRNO(EEXIST), "Instance %s@%s (machine '%s') exists "
                                       "already.", want->template, want->instance, want->machine);
        }
        if (r != -ENOENT)
                return r;
        r = store_get(s, want->machine, false, &existing);
        if (r >= 0)
                return log_error_errno(SYNTHETIC_ERRNO(EEXIST), "A machine '%s' exists already and is no "
                                       "instance of '%s': %s@%s would run as that name.", want->machine,
                                       want->template, want->template, want->instance);
        if (r != -ENOENT)
                return log_error_errno(r, "Failed to look up machine '%s': %m", want->machine);

        r = copy_settings(want->template, want->machine, &copied);
        if (r < 0)
                return r;
        r = machine_glue_prepare(want->machine, true);
        if (r < 0)
                goto fail;

        if (want->mode == INSTANCE_CLONE) {
                r = store_clone(s, want->template, want->machine, 0);
                if (r < 0) {
                        if (r == -EBUSY)
                                log_error_errno(r, "Template '%s' is busy (being changed, or running).",
                                                want->template);
                        else if (r == -EEXIST)
                                log_error_errno(r, "Machine '%s' exists already.", want->machine);
                        else
                                log_error_errno(r, "Failed to clone '%s': %m", want->template);
                        goto fail;
                }
                cloned = true;
        }

        r = machine_instance_write(unit_dir(), want, s->root);
        if (r == -EINVAL) {
                log_error_errno(r, "The store path '%s' cannot go into a unit's ExecStart= (it must be "
                                "absolute, without white space, quotes, '%%', '$' or '\\').", s->root);
                goto fail;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to write the instance record of '%s' into %s: %m", want->machine,
                                unit_dir());
                goto fail;
        }
        /* On failure here (settings file, systemd) the instance is in place, as any new machine is. */
        r = machine_glue_commit(want->machine, quiet);
        if (r < 0)
                return r;
        if (!quiet)
                log_info("Created %s instance %s@%s of '%s' (machine '%s').",
                         instance_mode_to_string(want->mode), want->template, want->instance, want->template,
                         want->machine);
        return 1;

fail:
        (void) machine_instance_remove(unit_dir(), want);
        if (cloned)
                (void) store_remove(s, want->machine);
        if (copied)
                unlink_settings(want->machine);
        return r;
}

int template_check_change(const char *verb, const char *name) {
        MachineInstance *l = NULL;
        _cleanup_free_ char *names = NULL;
        size_t n = 0;
        int r;

        r = machine_instance_list(unit_dir(), name, &l, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to look for instances of '%s' in %s: %m", name,
                                       unit_dir());
        if (n == 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                char *p = NULL;

                if (asprintf(&p, "%s%s%s@%s", names ?: "", names ? ", " : "", l[i].template,
                             l[i].instance) < 0) {
                        machine_instance_array_free(l, n);
                        return log_oom();
                }
                free(names);
                names = p;
        }
        machine_instance_array_free(l, n);
        return log_error_errno(SYNTHETIC_ERRNO(EBUSY), "Machine '%s' is the template of %s; remove %s "
                               "before you %s it (nothing was changed).", name, names,
                               n == 1 ? "that instance" : "those instances", verb);
}

int template_remove_instance(Store *s, const MachineInstance *i, bool force, bool quiet) {
        _cleanup_free_ char *at = NULL;
        bool removed = false;
        int r;

        if (asprintf(&at, "%s@%s", i->template, i->instance) < 0)
                return log_oom();
        /* Either unit may run it. */
        r = machine_glue_remove_begin(i->machine, force);
        if (r >= 0)
                r = machine_glue_remove_begin(at, force);
        if (r < 0)
                return r;
        if (i->mode == INSTANCE_CLONE) {
                r = store_remove(s, i->machine);
                if (r == -EBUSY)
                        return log_error_errno(r, "Machine '%s' is in use: it is running, or another "
                                               "mkmachine or machinectl is changing it.", i->machine);
                if (r < 0 && r != -ENOENT)
                        return log_error_errno(r, "Failed to remove machine '%s': %m", i->machine);
                removed = r >= 0;
        }
        /* Both units' enablement and drop-ins (the record too), and the settings. */
        r = machine_glue_remove_finish(at);
        if (r < 0)
                return r;
        r = machine_glue_remove_finish(i->machine);
        if (r < 0)
                return r;
        if (!quiet)
                log_info("Removed instance %s (machine '%s')%s.", at, i->machine,
                         removed ? " and its tree" : "");
        return 0;
}

int template_stop_alias(const char *machine) {
        _cleanup_(machine_instance_done) MachineInstance i = {};
        _cleanup_free_ char *at = NULL;
        int r;

        r = template_lookup(machine, &i);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (asprintf(&at, "%s@%s", i.template, i.instance) < 0)
                return log_oom();
        return machine_glue_stop(at);
}

int template_list(MachineInstance **ret, size_t *ret_n) {
        int r;

        r = machine_instance_list(unit_dir(), NULL, ret, ret_n);
        if (r < 0)
                return log_error_errno(r, "Failed to look for instances in %s: %m", unit_dir());
        return 0;
}

const char* template_summary(const MachineInstance *i, char *buf, size_t size) {
        (void) snprintf(buf, size, "instance %s@%s of %s (%s)", i->template, i->instance, i->template,
                        instance_mode_to_string(i->mode));
        return buf;
}

void template_show(const char *machine, json_object *j) {
        MachineInstance i = {};

        if (template_lookup(machine, &i) < 0)
                return;
        if (j) {
                json_object *o = json_object_new_object();

                if (o) {
                        json_object_object_add(o, "template", json_object_new_string(i.template));
                        json_object_object_add(o, "instance", json_object_new_string(i.instance));
                        json_object_object_add(o, "mode", json_object_new_string(
                                                       instance_mode_to_string(i.mode)));
                }
                json_object_object_add(j, "instance", o);
        } else
                printl("   Instance: %s@%s of template %s (%s%s)\n", i.template, i.instance, i.template,
                       instance_mode_to_string(i.mode),
                       i.mode == INSTANCE_EPHEMERAL ? ": the template's tree under a throw-away overlay" :
                       "");
        machine_instance_done(&i);
}
