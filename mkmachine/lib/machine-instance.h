/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* Template machines and their instances. "TEMPLATE@INSTANCE" is how people name an instance (like
 * postgres@main.service), but machined and systemd-nspawn take only host names, where '@' is not
 * allowed. The instance therefore runs as machine "TEMPLATE.INSTANCE" (dots separate host name labels),
 * in unit systemd-nspawn@TEMPLATE.INSTANCE.service; its NAME.nspawn and store entry use that name too.
 *
 * What makes TEMPLATE.INSTANCE an instance (and not a machine that happens to have a dot in its name) is
 * the instance record: the drop-in UNIT_DIR/systemd-nspawn@TEMPLATE.INSTANCE.service.d/
 * MACHINE_INSTANCE_DROPIN_NAME, which names the template and the mode in "X-Mkmachine…=" keys (systemd
 * ignores [Unit] keys starting with "X-"). For an ephemeral instance it also sets ExecStart= to run the
 * template's tree read-only under a throw-away overlay. A second drop-in, for
 * systemd-nspawn@TEMPLATE@INSTANCE.service (a valid unit name: the instance is "TEMPLATE@INSTANCE"),
 * replaces its ExecStart= with one that runs machine TEMPLATE.INSTANCE, so that "systemctl start
 * systemd-nspawn@web@a.service" works as well; both units run the same machine, one at a time. */

#define MACHINE_INSTANCE_DROPIN_NAME "40-mkmachine-instance.conf"

typedef enum InstanceMode {
        INSTANCE_CLONE,         /* a tree of its own, cloned from the template's */
        INSTANCE_EPHEMERAL,     /* the template's tree, read-only, under an overlay on tmpfs */
        _INSTANCE_MODE_MAX,
        _INSTANCE_MODE_INVALID = -EINVAL,
} InstanceMode;

const char* instance_mode_to_string(InstanceMode m) _pure_;
InstanceMode instance_mode_from_string(const char *s) _pure_;

typedef struct MachineInstance {
        char *machine;          /* "web.a" */
        char *template;         /* "web" */
        char *instance;         /* "a" */
        InstanceMode mode;
} MachineInstance;

void machine_instance_done(MachineInstance *i);
void machine_instance_array_free(MachineInstance *l, size_t n);

/* Parses s as "TEMPLATE@INSTANCE": returns 1 and fills ret (mode INSTANCE_CLONE) if s has an '@'; 0 if
 * it has none (ret untouched). -EINVAL if s has an '@' but is not a valid instance name: an empty
 * template or instance, a second '@', a template or instance that is not a valid machine name, or a
 * machine name TEMPLATE.INSTANCE longer than MACHINE_NAME_MAX. ret may be NULL. */
int machine_instance_parse(const char *s, MachineInstance *ret);

/* The name machined, systemd and the store use for s: s itself, or TEMPLATE.INSTANCE for
 * "TEMPLATE@INSTANCE". -EINVAL as machine_instance_parse() or if s is not a valid machine name. */
int machine_name_resolve(const char *s, char **ret);

/* The drop-in of the record of i for systemd-nspawn@MACHINE.service (store_root: the store the
 * template is in, for the ephemeral instance's ExecStart=), and the one for
 * systemd-nspawn@TEMPLATE@INSTANCE.service. */
int machine_instance_dropin_format(const MachineInstance *i, const char *store_root, char **ret);
int machine_instance_alias_dropin_format(const MachineInstance *i, const char *store_root, char **ret);

/* Writes both drop-ins (creating their directories), atomically each. */
int machine_instance_write(const char *unit_dir, const MachineInstance *i, const char *store_root);

/* Reads the record of machine (the resolved name). -ENOENT if there is none (the machine is no
 * instance), -EBADMSG if the drop-in is there but does not name a valid template, instance and mode
 * that give this machine name. */
int machine_instance_read(const char *unit_dir, const char *machine, MachineInstance *ret);

/* All instance records in unit_dir, sorted by machine name; records that do not parse are skipped. A
 * missing unit_dir gives none. With template non-NULL, only the instances of that template. */
int machine_instance_list(const char *unit_dir, const char *template, MachineInstance **ret, size_t *ret_n);

/* Removes both drop-ins of i, and their directories if that leaves them empty. Returns 1 if something
 * was removed, 0 if nothing was there. */
int machine_instance_remove(const char *unit_dir, const MachineInstance *i);
