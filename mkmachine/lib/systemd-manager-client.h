/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "macro.h"

/* A client of systemd's manager (org.freedesktop.systemd1.Manager) and of machined
 * (org.freedesktop.machine1.Manager) for what mkmachine does to a machine's unit: what systemctl and
 * machinectl would do, without running them. None of it logs above debug level. On failure *reterr
 * (which the caller frees with sd_bus_error_free()) holds the D-Bus error when there is one. */

/* How long start/stop wait for their job. */
#define MANAGER_JOB_TIMEOUT_USEC (120ULL * 1000000ULL)

/* Manager.Reload() (daemon-reload); returns once the reload is done. */
int manager_reload(sd_bus *bus, sd_bus_error *reterr);

/* EnableUnitFiles([unit], runtime=false, force=false); *ret_changes (if non-NULL) gets the number of
 * symlinks made. No reload. */
int manager_enable_unit(sd_bus *bus, const char *unit, unsigned *ret_changes, sd_bus_error *reterr);
/* DisableUnitFiles([unit], runtime=false). No reload. */
int manager_disable_unit(sd_bus *bus, const char *unit, unsigned *ret_changes, sd_bus_error *reterr);

/* Whether the unit file is enabled (UnitFileState "enabled", "enabled-runtime" or "linked"). */
int manager_unit_is_enabled(sd_bus *bus, const char *unit, sd_bus_error *reterr);

/* The unit's ActiveState ("active", "inactive", "failed", …); a unit systemd does not know is
 * "inactive". */
int manager_unit_active_state(sd_bus *bus, const char *unit, char **ret, sd_bus_error *reterr);

/* StartUnit/StopUnit(unit, "replace") and waits (up to MANAGER_JOB_TIMEOUT_USEC) for the job's
 * JobRemoved signal. 0 if the job's result is "done"; -EIO if it ended otherwise, with the result
 * ("failed", "canceled", "dependency", …) in *ret_result (if non-NULL); -ETIMEDOUT. */
int manager_start_unit(sd_bus *bus, const char *unit, char **ret_result, sd_bus_error *reterr);
int manager_stop_unit(sd_bus *bus, const char *unit, char **ret_result, sd_bus_error *reterr);

/* machined's UnregisterMachine(name): forgets a machine without killing anything. -ENXIO (mapped
 * from NoSuchMachine) when machined knows no such machine. */
int machined_unregister_machine(sd_bus *bus, const char *name, sd_bus_error *reterr);
