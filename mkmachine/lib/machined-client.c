/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bus-util.h"
#include "machined-client.h"
#include "string-util.h"
#include "strv.h"

#define MACHINE1_DEST "org.freedesktop.machine1"
#define MACHINE1_PATH "/org/freedesktop/machine1"
#define MACHINE1_MANAGER "org.freedesktop.machine1.Manager"
#define MACHINE1_MACHINE "org.freedesktop.machine1.Machine"
#define SYSTEMD1_DEST "org.freedesktop.systemd1"
#define SYSTEMD1_PATH "/org/freedesktop/systemd1"
#define SYSTEMD1_MANAGER "org.freedesktop.systemd1.Manager"
#define SYSTEMD1_UNIT "org.freedesktop.systemd1.Unit"

/* Machines and addresses we take from the bus: more would be an attack on our memory, not a host. */
#define MACHINES_MAX 65536U
#define ADDRESSES_MAX 1024U

static int fail(sd_bus_error *error, int r, char **reterr_message) {
        int e = bus_error_to_errno(error, r);

        if (reterr_message)
                *reterr_message = strdup(bus_error_message(error, e));
        return e;
}

void machine_list_free(MachineListEntry *l, size_t n) {
        for (size_t i = 0; l && i < n; i++) {
                free(l[i].name);
                free(l[i].class);
                free(l[i].service);
        }
        free(l);
}

int machine_bus_list(sd_bus *bus, MachineListEntry **ret, size_t *ret_n, char **reterr_message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        MachineListEntry *l = NULL;
        size_t n = 0, allocated = 0;
        const char *name, *class, *service, *path;
        int r;

        assert(bus);
        assert(ret);
        assert(ret_n);

        r = sd_bus_call_method(bus, MACHINE1_DEST, MACHINE1_PATH, MACHINE1_MANAGER, "ListMachines",
                               &error, &reply, NULL);
        if (r < 0)
                return fail(&error, r, reterr_message);

        r = sd_bus_message_enter_container(reply, 'a', "(ssso)");
        if (r < 0)
                goto bad;
        while ((r = sd_bus_message_read(reply, "(ssso)", &name, &class, &service, &path)) > 0) {
                /* machined lists the host itself as ".host", of class "host": not a machine of ours. */
                if (streq(class, "host"))
                        continue;
                if (n >= MACHINES_MAX) {
                        r = -E2BIG;
                        goto bad;
                }
                if (GREEDY_REALLOC(l, allocated, n + 1) < 0) {
                        r = -ENOMEM;
                        goto bad;
                }
                l[n] = (MachineListEntry) {
                        .name = strdup(name),
                        .class = strdup(class),
                        .service = strdup(service),
                };
                n++;
                if (!l[n - 1].name || !l[n - 1].class || !l[n - 1].service) {
                        r = -ENOMEM;
                        goto bad;
                }
        }
        if (r < 0)
                goto bad;
        *ret = l;
        *ret_n = n;
        return 0;
bad:
        machine_list_free(l, n);
        if (reterr_message)
                *reterr_message = strdup("Unexpected reply from machined to ListMachines");
        return r;
}

void machine_status_done(MachineStatus *s) {
        if (!s)
                return;
        free(s->name);
        free(s->class);
        free(s->service);
        free(s->unit);
        free(s->root_directory);
        free(s->state);
        strv_free(s->addresses);
        *s = (MachineStatus) {};
}

int machine_address_format(int family, const void *data, size_t size, char **ret) {
        char buf[INET6_ADDRSTRLEN];
        char *s;

        assert(data || size == 0);
        assert(ret);

        if (family != AF_INET && family != AF_INET6)
                return -EAFNOSUPPORT;
        if (size != (family == AF_INET ? 4U : 16U))
                return -EINVAL;
        if (!inet_ntop(family, data, buf, sizeof(buf)))
                return -errno;
        s = strdup(buf);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int get_addresses(sd_bus *bus, const char *name, char ***ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(strv_freep) char **l = NULL;
        int r;

        r = sd_bus_call_method(bus, MACHINE1_DEST, MACHINE1_PATH, MACHINE1_MANAGER, "GetMachineAddresses",
                               &error, &reply, "s", name);
        if (r < 0)
                return bus_error_to_errno(&error, r);

        r = sd_bus_message_enter_container(reply, 'a', "(iay)");
        if (r < 0)
                return r;
        for (size_t n = 0;; n++) {
                const void *data;
                size_t size;
                int32_t family;
                char *s;

                r = sd_bus_message_enter_container(reply, 'r', "iay");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (n >= ADDRESSES_MAX)
                        return -E2BIG;
                r = sd_bus_message_read(reply, "i", &family);
                if (r < 0)
                        return r;
                r = sd_bus_message_read_array(reply, 'y', &data, &size);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
                if (machine_address_format(family, data, size, &s) < 0)
                        continue;       /* a family we don't know: leave it out */
                r = strv_push(&l, s);
                if (r < 0) {
                        free(s);
                        return r;
                }
        }
        if (!l) {
                l = calloc(1, sizeof(char*));
                if (!l)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int machine_bus_get(sd_bus *bus, const char *name, MachineStatus *ret, char **reterr_message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(machine_status_done) MachineStatus s = {};
        static const struct {
                const char *property;
                size_t offset;
        } strings[] = {
                { "Name",          offsetof(MachineStatus, name)           },
                { "Class",         offsetof(MachineStatus, class)          },
                { "Service",       offsetof(MachineStatus, service)        },
                { "Unit",          offsetof(MachineStatus, unit)           },
                { "RootDirectory", offsetof(MachineStatus, root_directory) },
                { "State",         offsetof(MachineStatus, state)          },
        };
        const char *path;
        int r;

        assert(bus);
        assert(name);
        assert(ret);

        r = sd_bus_call_method(bus, MACHINE1_DEST, MACHINE1_PATH, MACHINE1_MANAGER, "GetMachine", &error,
                               &reply, "s", name);
        if (r < 0)
                return fail(&error, r, reterr_message);
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return fail(&error, r, reterr_message);

        for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
                r = sd_bus_get_property_string(bus, MACHINE1_DEST, path, MACHINE1_MACHINE,
                                               strings[i].property, &error,
                                               (char**) ((uint8_t*) &s + strings[i].offset));
                if (r < 0)
                        return fail(&error, r, reterr_message);
        }
        r = sd_bus_get_property_trivial(bus, MACHINE1_DEST, path, MACHINE1_MACHINE, "Leader", &error, 'u',
                                        &s.leader);
        if (r >= 0)
                r = sd_bus_get_property_trivial(bus, MACHINE1_DEST, path, MACHINE1_MACHINE, "Timestamp",
                                                &error, 't', &s.timestamp);
        if (r < 0)
                return fail(&error, r, reterr_message);

        /* A VM, or a container that has no addresses: nothing to show, not a failure. */
        r = get_addresses(bus, name, &s.addresses);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                s.addresses = calloc(1, sizeof(char*));
                if (!s.addresses)
                        return -ENOMEM;
        }

        *ret = s;
        s = (MachineStatus) {};
        return 0;
}

void unit_status_done(UnitStatus *s) {
        if (!s)
                return;
        free(s->load_state);
        free(s->active_state);
        free(s->sub_state);
        free(s->unit_file_state);
        *s = (UnitStatus) {};
}

int unit_bus_get_status(sd_bus *bus, const char *unit, UnitStatus *ret, char **reterr_message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(unit_status_done) UnitStatus s = {};
        const char *path;
        int r;

        assert(bus);
        assert(unit);
        assert(ret);

        /* GetUnit only knows loaded units; LoadUnit gives a stopped (or missing) one a state too. */
        r = sd_bus_call_method(bus, SYSTEMD1_DEST, SYSTEMD1_PATH, SYSTEMD1_MANAGER, "LoadUnit", &error,
                               &reply, "s", unit);
        if (r < 0)
                return fail(&error, r, reterr_message);
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return fail(&error, r, reterr_message);

        r = sd_bus_get_property_string(bus, SYSTEMD1_DEST, path, SYSTEMD1_UNIT, "LoadState", &error,
                                       &s.load_state);
        if (r >= 0)
                r = sd_bus_get_property_string(bus, SYSTEMD1_DEST, path, SYSTEMD1_UNIT, "ActiveState",
                                               &error, &s.active_state);
        if (r >= 0)
                r = sd_bus_get_property_string(bus, SYSTEMD1_DEST, path, SYSTEMD1_UNIT, "SubState",
                                               &error, &s.sub_state);
        if (r >= 0)
                r = sd_bus_get_property_string(bus, SYSTEMD1_DEST, path, SYSTEMD1_UNIT, "UnitFileState",
                                               &error, &s.unit_file_state);
        if (r < 0)
                return fail(&error, r, reterr_message);

        *ret = s;
        s = (UnitStatus) {};
        return 0;
}

char* format_timespan_short(char *buf, size_t size, usec_t t) {
        static const struct {
                const char *suffix;
                usec_t usec;
        } units[] = {
                { "d",   24 * 3600 * USEC_PER_SEC },
                { "h",   3600 * USEC_PER_SEC      },
                { "min", 60 * USEC_PER_SEC        },
                { "s",   USEC_PER_SEC             },
        };

        assert(buf);
        assert(size > 0);

        /* The two largest non-zero units, as "uptime" would say it; below a second, "0s". */
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                usec_t a = t / units[i].usec, b;

                if (a == 0)
                        continue;
                if (i + 1 < ELEMENTSOF(units) && (b = (t % units[i].usec) / units[i + 1].usec) > 0)
                        (void) snprintf(buf, size, "%" PRIu64 "%s %" PRIu64 "%s", a, units[i].suffix, b,
                                        units[i + 1].suffix);
                else
                        (void) snprintf(buf, size, "%" PRIu64 "%s", a, units[i].suffix);
                return buf;
        }
        (void) snprintf(buf, size, "0s");
        return buf;
}
