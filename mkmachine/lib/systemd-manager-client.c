/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus-util.h"
#include "string-util.h"
#include "strv.h"
#include "systemd-manager-client.h"

#define SD_DEST  "org.freedesktop.systemd1"
#define SD_PATH  "/org/freedesktop/systemd1"
#define SD_IFACE "org.freedesktop.systemd1.Manager"

int manager_reload(sd_bus *bus, sd_bus_error *reterr) {
        int r;

        assert(bus);

        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_IFACE, "Reload", reterr, NULL, NULL);
        return bus_error_to_errno(reterr, r);
}

/* Counts the entries of the a(sss) "changes" array of Enable/DisableUnitFiles. */
static int count_changes(sd_bus_message *m, unsigned *ret) {
        const char *type, *path, *source;
        unsigned n = 0;
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "(sss)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "(sss)", &type, &path, &source)) > 0)
                n++;
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        if (ret)
                *ret = n;
        return 0;
}

static int unit_files_call(sd_bus *bus, const char *method, const char *unit, bool enable,
                           unsigned *ret_changes, sd_bus_error *reterr) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        assert(bus);
        assert(unit);

        r = sd_bus_message_new_method_call(bus, &m, SD_DEST, SD_PATH, SD_IFACE, method);
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(m, STRV_MAKE(unit));
        if (r < 0)
                return r;
        /* runtime=false (and for enable: force=false, so a unit file of the same name made by someone
         * else is not replaced). */
        r = enable ? sd_bus_message_append(m, "bb", 0, 0) : sd_bus_message_append(m, "b", 0);
        if (r < 0)
                return r;

        r = sd_bus_call(bus, m, 0, reterr, &reply);
        if (r < 0)
                return bus_error_to_errno(reterr, r);

        if (enable) {
                int carries_install_info;

                r = sd_bus_message_read(reply, "b", &carries_install_info);
                if (r < 0)
                        return r;
        }
        return count_changes(reply, ret_changes);
}

int manager_enable_unit(sd_bus *bus, const char *unit, unsigned *ret_changes, sd_bus_error *reterr) {
        return unit_files_call(bus, "EnableUnitFiles", unit, true, ret_changes, reterr);
}

int manager_disable_unit(sd_bus *bus, const char *unit, unsigned *ret_changes, sd_bus_error *reterr) {
        return unit_files_call(bus, "DisableUnitFiles", unit, false, ret_changes, reterr);
}

int manager_unit_is_enabled(sd_bus *bus, const char *unit, sd_bus_error *reterr) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *state;
        int r;

        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_IFACE, "GetUnitFileState", reterr, &reply, "s",
                               unit);
        if (r < 0)
                return bus_error_to_errno(reterr, r);
        r = sd_bus_message_read(reply, "s", &state);
        if (r < 0)
                return r;
        return streq(state, "enabled") || streq(state, "enabled-runtime") || streq(state, "linked");
}

int manager_unit_active_state(sd_bus *bus, const char *unit, char **ret, sd_bus_error *reterr) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *state = NULL;
        const char *path;
        int r;

        assert(ret);

        /* GetUnit, not LoadUnit: a unit that is not loaded is inactive, and asking should not load it. */
        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_IFACE, "GetUnit", reterr, &reply, "s", unit);
        if (r < 0) {
                if (sd_bus_error_has_name(reterr, "org.freedesktop.systemd1.NoSuchUnit")) {
                        sd_bus_error_free(reterr);
                        state = strdup("inactive");
                        if (!state)
                                return -ENOMEM;
                        *ret = TAKE_PTR(state);
                        return 0;
                }
                return bus_error_to_errno(reterr, r);
        }
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;
        r = sd_bus_get_property_string(bus, SD_DEST, path, "org.freedesktop.systemd1.Unit", "ActiveState",
                                       reterr, &state);
        if (r < 0)
                return bus_error_to_errno(reterr, r);
        *ret = TAKE_PTR(state);
        return 0;
}

typedef struct JobWait {
        const char *path;       /* our job; NULL until StartUnit/StopUnit returned */
        char *result;           /* set by the JobRemoved of our job */
        char **early;           /* JobRemoved signals (path, result pairs) seen before we knew the path */
        size_t n_early;
} JobWait;

static int job_removed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        JobWait *w = userdata;
        const char *path, *unit, *result;
        uint32_t id;
        char **n;

        if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
                return 0;
        if (w->path) {
                if (streq(path, w->path) && !w->result)
                        w->result = strdup(result);
                return 0;
        }
        /* A job can end before the method's reply is read: remember what ended. */
        n = realloc(w->early, sizeof(char*) * (w->n_early + 2));
        if (!n)
                return 0;
        w->early = n;
        w->early[w->n_early] = strdup(path);
        w->early[w->n_early + 1] = strdup(result);
        w->n_early += 2;
        return 0;
}

static uint64_t now_monotonic(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static int unit_job(sd_bus *bus, const char *method, const char *unit, char **ret_result,
                    sd_bus_error *reterr) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        JobWait w = {};
        uint64_t deadline;
        const char *path;
        int r;

        assert(bus);
        assert(unit);

        /* Match first, so that the signal cannot pass by between the call and the match. */
        r = sd_bus_match_signal(bus, &slot, SD_DEST, SD_PATH, SD_IFACE, "JobRemoved", job_removed, &w);
        if (r < 0)
                return r;

        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_IFACE, method, reterr, &reply, "ss", unit,
                               "replace");
        if (r < 0) {
                r = bus_error_to_errno(reterr, r);
                goto finish;
        }
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                goto finish;
        w.path = path;
        for (size_t i = 0; i + 1 < w.n_early; i += 2)
                if (w.early[i] && streq(w.early[i], path) && !w.result)
                        w.result = w.early[i + 1] ? strdup(w.early[i + 1]) : NULL;

        deadline = now_monotonic() + MANAGER_JOB_TIMEOUT_USEC;
        while (!w.result) {
                uint64_t n = now_monotonic();

                if (n >= deadline) {
                        r = -ETIMEDOUT;
                        goto finish;
                }
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        goto finish;
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, deadline - n);
                if (r < 0)
                        goto finish;
        }

        r = streq(w.result, "done") ? 0 : -EIO;
        if (ret_result) {
                *ret_result = w.result;
                w.result = NULL;
        }

finish:
        free(w.result);
        for (size_t i = 0; i < w.n_early; i++)
                free(w.early[i]);
        free(w.early);
        return r;
}

int manager_start_unit(sd_bus *bus, const char *unit, char **ret_result, sd_bus_error *reterr) {
        return unit_job(bus, "StartUnit", unit, ret_result, reterr);
}

int manager_stop_unit(sd_bus *bus, const char *unit, char **ret_result, sd_bus_error *reterr) {
        return unit_job(bus, "StopUnit", unit, ret_result, reterr);
}

int machined_unregister_machine(sd_bus *bus, const char *name, sd_bus_error *reterr) {
        int r;

        assert(bus);
        assert(name);

        r = sd_bus_call_method(bus, "org.freedesktop.machine1", "/org/freedesktop/machine1",
                               "org.freedesktop.machine1.Manager", "UnregisterMachine", reterr, NULL, "s",
                               name);
        if (r < 0 && sd_bus_error_has_name(reterr, "org.freedesktop.machine1.NoSuchMachine"))
                return -ENXIO;
        return bus_error_to_errno(reterr, r);
}
