/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>

#include "machine-config.h"
#include "nspawn-settings.h"

/* The machine settings options (--network, --port, --bind, --private-users, --boot, --exec, --env,
 * --restart, --enable, --start, --now) and what they do, shared by every verb that creates a machine
 * and by "set". A creating verb calls machine_glue_prepare(NAME) before it builds anything (bad options
 * or a broken NAME.nspawn fail before any work) and machine_glue_commit(NAME) once the machine is in
 * the store. */

enum {
        ARG_GLUE_FIRST = 0x200,
        ARG_NETWORK = ARG_GLUE_FIRST,
        ARG_PRIVATE_USERS,
        ARG_BOOT,
        ARG_EXEC,
        ARG_ENV,
        ARG_RESTART,
        ARG_ENABLE,
        ARG_START,
        ARG_NOW,
        ARG_GLUE_LAST,
};

#define MACHINE_GLUE_SHORT_OPTIONS "p:v:"
#define MACHINE_GLUE_OPTIONS                                                    \
        { "network",       required_argument, NULL, ARG_NETWORK       },       \
        { "port",          required_argument, NULL, 'p'               },       \
        { "bind",          required_argument, NULL, 'v'               },       \
        { "private-users", required_argument, NULL, ARG_PRIVATE_USERS },       \
        { "boot",          no_argument,       NULL, ARG_BOOT          },       \
        { "exec",          no_argument,       NULL, ARG_EXEC          },       \
        { "env",           required_argument, NULL, ARG_ENV           },       \
        { "restart",       required_argument, NULL, ARG_RESTART       },       \
        { "enable",        no_argument,       NULL, ARG_ENABLE        },       \
        { "start",         no_argument,       NULL, ARG_START         },       \
        { "now",           no_argument,       NULL, ARG_NOW           }

/* Handles one of the options above; 1 if c was one of ours, 0 if not, <0 on a bad value (logged). */
int machine_glue_parse_option(int c, const char *value);

/* Takes the command line after "--" (for --exec). Must be called before getopt (argv is cut there). */
int machine_glue_split_argv(int *argc, char *argv[]);

/* The help text of the options. */
void machine_glue_help(void);

/* See above. Both log their errors. With creating, the defaults (veth, private users "pick", boot) are
 * written out too when any settings option was given. */
int machine_glue_prepare(const char *name, bool creating);
int machine_glue_commit(const char *name, bool quiet);

/* For verbs that create a machine from an image (import-oci, pull): merges the settings the image asks
 * for (see nspawn_settings_merge_image()) under the user's options, so that the machine runs the image's
 * entrypoint or boots its init; machine_glue_commit() then writes them (with the defaults of a new
 * machine). Call after machine_glue_prepare(). */
int machine_glue_apply_image(const NspawnSettings *image);

/* Whether the user said what the machine runs (--exec, with or without a command, or --boot): then an
 * image config without Entrypoint and Cmd is fine (OCI_SETTINGS_COMMAND_GIVEN). */
bool machine_glue_command_given(void);

/* Whether any option was given at all ("set" needs one). */
bool machine_glue_any(void);

/* The verbs. */
int machine_glue_set(const char *name, bool quiet);
int machine_glue_start(const char *name);
int machine_glue_stop(const char *name);
/* Before the image is removed: refuses (-EBUSY, logged) a running machine unless force, in which case
 * it is stopped. Without a system bus nothing is checked (the image lock still protects a running
 * machine). */
int machine_glue_remove_begin(const char *name, bool force);
/* After the image is gone (or was not there): removes NAME.nspawn, the drop-in and the enablement.
 * Returns 1 if something was removed. */
int machine_glue_remove_finish(const char *name);

/* Prints (or adds to j, if non-NULL) the machine's settings, restart policy and enablement. */
int machine_glue_show(const char *name, json_object *j);

/* The hidden verb the drop-in calls: "__unit-helper unregister|unforward NAME". */
int machine_glue_unit_helper(const char *what, const char *name);

void machine_glue_done(void);
