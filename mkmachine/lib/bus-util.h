/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "macro.h"

/* Talking to systemd (org.freedesktop.systemd1) and machined (org.freedesktop.machine1) over the
 * system bus. Everything here works the same in every front end; none of it logs above debug level. */

#define BUS_METHOD_TIMEOUT_USEC (25ULL * 1000000ULL)

/* Connects to the system bus. Fails, without waiting, when the machine was not booted with systemd
 * (-EHOSTDOWN: no /run/systemd/system, as sd_booted() checks) or when the bus socket is not there or
 * refuses us (the errno of the connect). *reterr_message (if non-NULL) then gets a sentence naming the
 * cause and what to do about it. Method calls on the returned bus time out after
 * BUS_METHOD_TIMEOUT_USEC, never hang. */
int bus_open_system_checked(sd_bus **ret, char **reterr_message);

/* The one place where sd-bus errors become errnos: the errno of a D-Bus error reply (as
 * sd_bus_error_get_errno() maps it, -EIO if it maps to none), or r if error is unset. */
int bus_error_to_errno(const sd_bus_error *error, int r);

/* A sentence for a failed call: the D-Bus error's message if there is one, else strerror(-r). The
 * returned string lives as long as error. */
const char* bus_error_message(const sd_bus_error *error, int r);

/* "systemd-nspawn@NAME.service" for a valid machine name (which needs no escaping: a machine name
 * is a host name). NULL on OOM. */
char* nspawn_unit_name(const char *machine);

/* sd-bus brings its own cleanup functions: _cleanup_(sd_bus_flush_close_unrefp),
 * _cleanup_(sd_bus_message_unrefp), _cleanup_(sd_bus_error_free) with SD_BUS_ERROR_NULL. */
