/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The verbs on one machine: remove, set, start, stop, create, rename, clone. */

#include "log.h"
#include "machine-file.h"
#include "machine-glue.h"
#include "machine-template.h"
#include "string-util.h"
#include "tool.h"

int verb_remove(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        bool image_gone;
        int r;

        r = check_machine_name(argv[1]);
        if (r < 0)
                return r;
        r = open_store(false, &s);
        if (r < 0)
                return r;
        {
                _cleanup_(machine_instance_done) MachineInstance i = {};

                r = template_lookup(argv[1], &i);
                if (r >= 0)
                        return template_remove_instance(&s, &i, arg_force, arg_quiet);
                if (r != -ENOENT)
                        return r;
        }
        r = template_check_change("remove", argv[1]);
        if (r < 0)
                return r;
        r = machine_glue_remove_begin(argv[1], arg_force);
        if (r < 0)
                return r;
        r = store_remove(&s, argv[1]);
        image_gone = r == -ENOENT;
        if (r < 0 && !image_gone)
                return log_store_error(r, "remove", argv[1], &s);

        /* Also when the image was gone already: a machine's leftovers are removed by its name. */
        r = machine_glue_remove_finish(argv[1]);
        if (r < 0)
                return r;
        if (image_gone && r == 0)
                return log_store_error(-ENOENT, "remove", argv[1], &s);
        if (image_gone && !arg_quiet)
                log_info("No machine '%s' in '%s'; removed its leftover settings.", argv[1], s.root);
        return 0;
}

/* For the verbs that act on an existing machine: its name is valid and the store has it. */
int require_machine(const char *verb, const char *name) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(machine_info_done) MachineInfo info = {};
        int r;

        r = check_machine_name(name);
        if (r < 0)
                return r;
        r = open_store(false, &s);
        if (r < 0)
                return r;
        r = store_get(&s, name, false, &info);
        if (r == -ENOENT && template_lookup(name, NULL) >= 0)
                return 0;       /* an ephemeral instance: no tree of its own */
        if (r < 0)
                return log_store_error(r, verb, name, &s);
        return 0;
}

int verb_set(int argc, char *argv[]) {
        int r = require_machine("set", argv[1]);
        if (r < 0)
                return r;
        /* Its settings come from the .machine file (through the generator): a NAME.nspawn written here
         * would silently replace all of them. */
        if (access(strjoina(machines_dir(), "/", argv[1], MACHINE_FILE_SUFFIX), F_OK) >= 0)
                return log_error_errno(SYNTHETIC_ERRNO(EPERM), "Machine '%s' is declared in %s/%s"
                                       MACHINE_FILE_SUFFIX ": change its settings there, then run "
                                       "'systemctl daemon-reload'.", argv[1], machines_dir(), argv[1]);
        if (arg_auto_update >= 0 || arg_health_cmd) {
                r = set_update_policy(argv[1]);
                if (r < 0 || !machine_glue_any())
                        return r;
        }
        return machine_glue_set(argv[1], arg_quiet);
}

int verb_start(int argc, char *argv[]) {
        const MachineInstance *i = template_arg_instance();
        int r;

        if (i) {
                /* "start web@a" makes a missing instance first (a clone of web). */
                _cleanup_(store_close) Store s = { .root_fd = -EBADF };

                r = open_store(false, &s);
                if (r < 0)
                        return r;
                r = template_create(&s, i, true, arg_quiet);
                if (r < 0)
                        return r;
        }
        r = require_machine("start", argv[1]);
        return r < 0 ? r : machine_glue_start(argv[1]);
}

int verb_create(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        const MachineInstance *i = template_arg_instance();
        MachineInstance want;
        int r;

        if (!i)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "'%s' is no instance name: use "
                                       "TEMPLATE@INSTANCE (to copy a machine, use 'mkmachine clone').",
                                       argv[1]);
        r = open_store(false, &s);
        if (r < 0)
                return r;
        want = *i;
        want.mode = arg_ephemeral ? INSTANCE_EPHEMERAL : INSTANCE_CLONE;
        r = template_create(&s, &want, false, arg_quiet || arg_json);
        if (r < 0)
                return r;
        if (arg_json)
                return verb_show(argc, argv);
        return 0;
}

int verb_stop(int argc, char *argv[]) {
        int r;

        r = check_machine_name(argv[1]);
        if (r < 0)
                return r;
        r = machine_glue_stop(argv[1]);
        if (r < 0)
                return r;
        return template_stop_alias(argv[1]);
}

int verb_rename(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        int r;

        r = open_store_for_two(argv[1], argv[2], &s);
        if (r < 0)
                return r;
        r = template_check_change("rename", argv[1]);
        if (r < 0)
                return r;
        if (template_lookup(argv[1], NULL) >= 0)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "Machine '%s' is an instance: its name comes from its template and "
                                       "instance name, it cannot be renamed.", argv[1]);
        r = store_rename(&s, argv[1], argv[2]);
        if (r < 0)
                /* Which name: the new one is taken, the old one is missing, either may be locked. */
                return log_store_error(r, "rename", r == -EEXIST ? argv[2] : argv[1], &s);
        return 0;
}

int verb_clone(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        int r;

        r = open_store_for_two(argv[1], argv[2], &s);
        if (r < 0)
                return r;
        r = machine_glue_prepare(argv[2], true);
        if (r < 0)
                return r;
        r = store_clone(&s, argv[1], argv[2], arg_force ? STORE_INSTALL_FORCE : 0);
        if (r == -EOPNOTSUPP)
                return log_error_errno(r, "Machine '%s' is a raw disk image; cloning those is not "
                                       "supported yet.", argv[1]);
        if (r < 0)
                return log_store_error(r, "clone", r == -ENOENT || r == -EBUSY ? argv[1] : argv[2], &s);
        return commit_and_show(&s, argv[2]);
}
