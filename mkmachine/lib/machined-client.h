/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "macro.h"
#include "time-util.h"

/* Reading machined (org.freedesktop.machine1) and the state of a machine's unit from systemd
 * (org.freedesktop.systemd1). Only queries: starting and stopping units is systemd-manager-client.c's job.
 * Every function takes a bus from bus_open_system_checked(); none logs above debug level. Errors are
 * negative errnos as bus_error_to_errno() maps D-Bus errors, and *reterr_message (if non-NULL) gets the
 * D-Bus error's own sentence. */

typedef struct MachineListEntry {
        char *name;
        char *class;            /* "container" or "vm" */
        char *service;          /* who registered it: "systemd-nspawn", "libvirt-lxc", … */
} MachineListEntry;

void machine_list_free(MachineListEntry *l, size_t n);

/* ListMachines: all machines machined knows, except the host itself (".host", class "host"). */
int machine_bus_list(sd_bus *bus, MachineListEntry **ret, size_t *ret_n, char **reterr_message);

typedef struct MachineStatus {
        char *name;
        char *class;
        char *service;
        char *unit;             /* the unit it runs in, e.g. systemd-nspawn@NAME.service */
        char *root_directory;   /* empty for VMs */
        char *state;            /* "opening", "running", "closing" */
        uint32_t leader;        /* PID of its init on the host */
        usec_t timestamp;       /* realtime, when it was registered */
        char **addresses;       /* GetMachineAddresses, formatted; empty if it has none (yet) */
} MachineStatus;

void machine_status_done(MachineStatus *s);

/* GetMachine and the Machine object's properties, then GetMachineAddresses (whose failure, as for a
 * VM or a machine without network namespace, just leaves the list empty). -ENXIO if machined knows
 * no machine of that name. */
int machine_bus_get(sd_bus *bus, const char *name, MachineStatus *ret, char **reterr_message);

typedef struct UnitStatus {
        char *load_state;       /* "loaded", "not-found", "masked", … */
        char *active_state;     /* "active", "inactive", "failed", "activating", … */
        char *sub_state;
        char *unit_file_state;  /* "enabled", "disabled", "static", "" (no unit file), … */
} UnitStatus;

void unit_status_done(UnitStatus *s);

/* LoadUnit, then the unit's LoadState, ActiveState, SubState and UnitFileState through
 * org.freedesktop.DBus.Properties. A unit that does not exist is loaded as "not-found": that is
 * data, not an error. */
int unit_bus_get_status(sd_bus *bus, const char *unit, UnitStatus *ret, char **reterr_message);

/* "192.168.7.2", "fe80::1" from a family and the bytes GetMachineAddresses gives. NULL on OOM;
 * -EAFNOSUPPORT/-EINVAL (as *ret stays unset) for an unknown family or a wrong size. */
int machine_address_format(int family, const void *data, size_t size, char **ret);

#define TIMESPAN_STRING_MAX 64U

/* A duration the way people read an uptime: "3d 4h", "2h 5min", "4min 12s", "7s". Always writes a
 * string; returns buf. */
char* format_timespan_short(char *buf, size_t size, usec_t t);
