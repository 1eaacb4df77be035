/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "macro.h"
#include "nspawn-settings.h"

/* The files that make systemd run a machine the way its owner asked, without a hand-written unit:
 *   NSPAWN_DIR/NAME.nspawn                          our NspawnSettings keys (and whatever else is there)
 *   UNIT_DIR/systemd-nspawn@NAME.service.d/MACHINE_DROPIN_NAME   the restart policy
 * NSPAWN_DIR is /etc/systemd/nspawn and UNIT_DIR /etc/systemd/system; both can be elsewhere for tests.
 * Nothing here talks to systemd: enabling, starting and reloading are the caller's business. */

#define MACHINE_NSPAWN_DIR_DEFAULT "/etc/systemd/nspawn"
#define MACHINE_UNIT_DIR_DEFAULT   "/etc/systemd/system"
#define MACHINE_DROPIN_NAME        "50-mkmachine-restart.conf"
#define MACHINE_NETWORK_DROPIN_NAME "50-mkmachine-network.conf"
/* Per machine on a private network without an init: NETWORK_DIR/NAME/resolv.conf (see app-network.h),
 * written with its settings and again before every start. Not in /run: a settings file whose Bind=
 * source is gone after a reboot would make a plain 'systemd-nspawn -M NAME' fail. */
#define MACHINE_NETWORK_DIR_DEFAULT "/var/lib/mkmachine/network"

typedef enum RestartPolicy {
        RESTART_NO,
        RESTART_ON_FAILURE,
        RESTART_ALWAYS,
        _RESTART_POLICY_MAX,
        _RESTART_POLICY_INVALID = -EINVAL,
} RestartPolicy;

const char* restart_policy_to_string(RestartPolicy p) _pure_;
RestartPolicy restart_policy_from_string(const char *s) _pure_;

/* Reads NSPAWN_DIR/NAME.nspawn as systemd-nspawn reads it (ini_parse_lenient(),
 * nspawn_settings_from_ini_lenient()): a line it skips, or one of our keys with a value we cannot read,
 * is left out of ret_settings. A missing file gives an empty IniFile and empty settings (not an error).
 * -EBADMSG with the 1-based line in *reterr_line only for what systemd refuses the file for (see
 * ini_parse_lenient()). ret_settings and ret_ini may be NULL. */
int machine_settings_load(const char *nspawn_dir, const char *name, NspawnSettings *ret_settings,
                          IniFile **ret_ini, unsigned *reterr_line);

/* Merges the set fields of s into NSPAWN_DIR/NAME.nspawn (created with the directory if missing) and
 * writes it atomically; every key and comment not ours stays, and so does every line we cannot read. On
 * -EBADMSG (see machine_settings_load(); or s would replace a line we cannot read: that line in
 * *reterr_line) nothing is written. */
int machine_settings_write(const char *nspawn_dir, const char *name, const NspawnSettings *s,
                           unsigned *reterr_line);

/* Checks that the source of every bind in s exists. -ENOENT (or the errno of stat) with the
 * offending source in *reterr_path (not owned: points into s). */
int nspawn_settings_check_binds(const NspawnSettings *s, const char **reterr_path);

/* Turns on idmap for every bind that did not say "idmap" or "noidmap" itself: under a user namespace a
 * plain bind shows the host's files as nobody, and the machine's root cannot write to them. */
void nspawn_settings_idmap_binds(NspawnSettings *s);

/* The drop-in for systemd-nspawn@NAME.service that gives it the restart policy (never RESTART_NO).
 * helper is the absolute path of the program that the drop-in calls as "HELPER __unit-helper
 * unregister|unforward %i" before each start and after each stop: systemd 252 would otherwise refuse
 * the restart ("machine already exists") and keep a stale port forward (see the man page). */
int restart_dropin_format(RestartPolicy p, const char *helper, char **ret);

/* Writes (p != RESTART_NO) or removes (RESTART_NO) the drop-in; returns 1 if something changed on
 * disk, 0 if not. */
int machine_restart_write(const char *unit_dir, const char *name, RestartPolicy p, const char *helper);

/* The policy our drop-in sets: RESTART_NO without a drop-in. -EBADMSG if it is there but has no
 * Restart= we know. */
int machine_restart_read(const char *unit_dir, const char *name, RestartPolicy *ret);

/* Removes NAME.nspawn and the unit's drop-in directory with everything in it (also files put there by
 * hand: the machine is gone). Returns 1 if something was removed, 0 if nothing was there. */
int machine_config_remove(const char *nspawn_dir, const char *unit_dir, const char *network_dir,
                          const char *name);

/* The machine runs an application on a private network (Boot=no; veth, zone, bridge or the unit's
 * default veth): nobody inside configures host0, mkmachine does (app-network.h). */
bool nspawn_settings_is_app_network(const NspawnSettings *s);

/* The drop-in that does it: "HELPER __unit-helper network-prepare|network-up %i" before the start and
 * after it. */
int network_dropin_format(const char *helper, char **ret);
/* Writes it (helper set) or removes it (NULL); 1 if something changed on disk, 0 if not. */
int machine_network_write(const char *unit_dir, const char *name, const char *helper);

/* NETWORK_DIR/NAME/resolv.conf, and whether b is the read-only bind of it onto /etc/resolv.conf that
 * such a machine's settings carry. */
char* machine_resolv_conf_path(const char *network_dir, const char *name);
bool nspawn_bind_is_dns(const NspawnBind *b, const char *network_dir, const char *name);
/* Adds (want) or removes that bind in s, setting binds_set; 1 if s changed. */
int nspawn_settings_set_dns_bind(NspawnSettings *s, const char *network_dir, const char *name, bool want);
