/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-util.h"
#include "string-util.h"

int bus_open_system_checked(sd_bus **ret, char **reterr_message) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const char *address;
        int r;

        assert(ret);

        /* Without systemd as PID 1 there is neither a systemd1 nor (as a rule) a machined to talk to,
         * and a D-Bus daemon started by hand would only lead to activation timeouts. Say so at once. */
        if (access("/run/systemd/system", F_OK) < 0) {
                if (reterr_message)
                        *reterr_message = strdup("This system was not booted with systemd as init system "
                                                 "(/run/systemd/system is missing): machines are run by "
                                                 "systemd and machined, which are not available here.");
                return -EHOSTDOWN;
        }

        r = sd_bus_open_system(&bus);
        if (r < 0) {
                address = getenv("DBUS_SYSTEM_BUS_ADDRESS");
                if (reterr_message)
                        (void) asprintf(reterr_message,
                                        "Cannot connect to the system bus at %s: %s. "
                                        "Is dbus (or dbus-broker) installed and running?",
                                        address ?: "/run/dbus/system_bus_socket", strerror(-r));
                return r;
        }

        r = sd_bus_set_method_call_timeout(bus, BUS_METHOD_TIMEOUT_USEC);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(bus);
        return 0;
}

int bus_error_to_errno(const sd_bus_error *error, int r) {
        int e;

        if (!sd_bus_error_is_set(error))
                return r;

        e = sd_bus_error_get_errno(error);
        return e > 0 ? -e : -EIO;
}

const char* bus_error_message(const sd_bus_error *error, int r) {
        if (error && sd_bus_error_is_set(error) && error->message)
                return error->message;
        return strerror(r < 0 ? -r : r);
}

char* nspawn_unit_name(const char *machine) {
        char *s;

        assert(machine);

        if (asprintf(&s, "systemd-nspawn@%s.service", machine) < 0)
                return NULL;
        return s;
}
