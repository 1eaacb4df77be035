/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "machine-instance.h"
#include "store.h"

/* Template instances in the tool (see machine-instance.h for the naming and the records). Everything
 * here logs its errors. */

/* Rewrites the machine name arguments of verb in argv ("web@a" → "web.a"), so that every verb takes
 * TEMPLATE@INSTANCE wherever it takes a machine name. Remembers the instance named by the first
 * argument (template_arg_instance()). Invalid TEMPLATE@INSTANCE forms are an error here. */
int template_resolve_args(const char *verb, int argc, char *argv[]);

/* The instance the first argument named as TEMPLATE@INSTANCE, or NULL. */
const MachineInstance* template_arg_instance(void);

/* The record of machine (a resolved name): 0 and *ret, or -ENOENT if it is no instance (not logged). */
int template_lookup(const char *machine, MachineInstance *ret);

/* Creates instance want (mode as given) of its template in s: refuses (-EEXIST) an existing one unless
 * exist_ok, in which case it returns 0 and does nothing. The settings options given (machine-glue.h)
 * apply to the instance, on top of a copy of the template's settings. Clones are made under the store's
 * locks and atomically; a failure leaves nothing behind. Returns 1 if it made the instance. */
int template_create(Store *s, const MachineInstance *want, bool exist_ok, bool quiet);

/* Before removing or renaming (verb) machine name: refuses (-EBUSY) a template that has instances
 * (their records and the ephemeral ones' units name it). */
int template_check_change(const char *verb, const char *name);

/* Removes machine (an instance, with its record i): its tree (clone), settings, both units' drop-ins
 * and enablement. Refuses a running instance unless force (then it is stopped). */
int template_remove_instance(Store *s, const MachineInstance *i, bool force, bool quiet);

/* After machine's own unit is stopped: if it is an instance, stops systemd-nspawn@TEMPLATE@INSTANCE.service
 * too (it may run the machine instead). 0 for a machine that is no instance. */
int template_stop_alias(const char *machine);

/* All instances (for list), sorted by machine name. */
int template_list(MachineInstance **ret, size_t *ret_n);

/* "instance web@a of web (clone)" */
const char* template_summary(const MachineInstance *i, char *buf, size_t size);

/* Adds the instance's fields to j (non-NULL), or prints them. Nothing for a machine that is no
 * instance. */
void template_show(const char *machine, json_object *j);

void template_done(void);
