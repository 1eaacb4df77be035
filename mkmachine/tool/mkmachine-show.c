/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* show and status: one machine, from the store, its settings and its unit. */

#include "bus-util.h"
#include "log.h"
#include "machine-glue.h"
#include "machine-template.h"
#include "machined-client.h"
#include "string-util.h"
#include "strv.h"
#include "tool.h"

/* show --json: j (taken) completed with the template's and the settings' part, and printed. */
static int print_machine_json(const char *name, json_object *j) {
        int r;

        template_show(name, j);
        r = machine_glue_show(name, j);
        if (r < 0) {
                json_object_put(j);
                return r;
        }
        return print_json(j);
}

int show_machine(Store *s, const char *name) {
        _cleanup_(machine_info_done) MachineInfo i = {};
        _cleanup_(origin_freep) MachineOrigin *o = NULL;
        _cleanup_free_ char *msg = NULL;
        char u[FORMAT_BYTES_MAX], t[64];
        int r;

        r = store_get(s, name, true, &i);
        if (r == -ENOENT && template_lookup(name, NULL) >= 0) {
                /* An ephemeral instance: the template's tree, nothing of its own. */
                if (arg_json) {
                        json_object *j = json_object_new_object();

                        if (!j)
                                return log_oom();
                        json_object_object_add(j, "name", json_object_new_string(name));
                        json_object_object_add(j, "type", json_object_new_string("ephemeral"));
                        return print_machine_json(name, j);
                }
                printl("       Name: %s\n", name);
                template_show(name, NULL);
                return machine_glue_show(name, NULL);
        }
        if (r == -EINVAL)
                return log_error_errno(r, "Invalid machine name '%s'.", name);
        if (r == -ENOENT)
                return log_error_errno(r, "No machine '%s' in '%s'.", name, s->root);
        if (r < 0)
                return log_error_errno(r, "Failed to look up machine '%s': %m", name);

        if (arg_json) {
                json_object *j = machine_info_to_json(&i);

                if (!j)
                        return log_oom();
                return print_machine_json(name, j);
        }

        r = machine_info_parse_origin(&i, &o, &msg);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                log_warning_errno(r, "Machine '%s': %s", name, msg ?: strerror(-r));
        printl("       Name: %s\n", i.name);
        printl("       Path: %s/%s%s\n", s->root, i.name, i.type == MACHINE_RAW ? ".raw" : "");
        printl("       Type: %s\n", machine_type_to_string(i.type));
        printl("      Usage: %s\n", format_bytes(u, sizeof(u), i.usage));
        printl("    Created: %s\n", format_time(t, sizeof(t), i.created));
        printl("      State: %s\n", i.in_use ? "in use (running or being changed)" : "idle");
        if (o) {
                const struct {
                        const char *value, *label;
                } fields[] = {
                        { origin_type_to_string(o->type), "Source type" },
                        { o->source,                      "Source" },
                        { o->compression,                 "Compression" },
                        { o->sha256,                      "SHA256" },
                        { o->cloned_from,                 "Cloned from" },
                        { o->reference,                   "Reference" },
                        { o->manifest_digest,             "Manifest" },
                        { o->config_digest,               "Config" },
                        { o->platform,                    "Platform" },
                        { o->exec_summary,                "Runs" },
                        { o->tool,                        "Made by" },
                };

                for (size_t k = 0; k < ELEMENTSOF(fields); k++)
                        if (fields[k].value)
                                printl("%11s: %s\n", fields[k].label, fields[k].value);
                /* When the archive state was taken: the Date: of each suite's Release. */
                for (size_t k = 0; k < o->n_archive; k++) {
                        const OriginSuite *e = o->archive + k;

                        if (!e->suite)
                                continue;
                        printf(k == 0 ? "    Archive: " : "             ");
                        printf("%s, Release of %s (%s)\n", e->suite, e->date ?: "unknown date",
                               strna(e->mirror));
                }
        } else if (i.origin)
                printl("     Source: unknown (its origin record is damaged)\n");
        else
                printl("     Source: unknown (not made by mkmachine)\n");
        template_show(name, NULL);
        return machine_glue_show(name, NULL);
}

int verb_show(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        int r;

        r = open_store(false, &s);
        if (r < 0)
                return r;
        return show_machine(&s, argv[1]);
}

static bool unit_file_enabled(const UnitStatus *u) {
        return u->unit_file_state && startswith(u->unit_file_state, "enabled");
}

static json_object* status_to_json(const char *name, const char *state, const UnitStatus *u,
                                   const char *unit, const MachineStatus *m, const MachineInfo *i,
                                   usec_t now) {
        json_object *j = json_object_new_object(), *ju = NULL, *jm = NULL;

        if (!j)
                return NULL;
        json_object_object_add(j, "name", json_object_new_string(name));
        json_object_object_add(j, "state", json_object_new_string(state));
        json_object_object_add(j, "in_store", json_object_new_boolean(i != NULL));

        ju = json_object_new_object();
        if (ju) {
                json_object_object_add(ju, "name", json_object_new_string(unit));
                json_object_object_add(ju, "load_state", json_object_new_string(strna(u->load_state)));
                json_object_object_add(ju, "active_state", json_object_new_string(strna(u->active_state)));
                json_object_object_add(ju, "sub_state", json_object_new_string(strna(u->sub_state)));
                json_object_object_add(ju, "unit_file_state",
                                       json_object_new_string(u->unit_file_state ?: ""));
                json_object_object_add(ju, "enabled", json_object_new_boolean(unit_file_enabled(u)));
        }
        json_object_object_add(j, "unit", ju);

        if (m) {
                json_object *addrs = json_object_new_array();

                for (char **p = m->addresses; addrs && p && *p; p++)
                        json_object_array_add(addrs, json_object_new_string(*p));
                jm = json_object_new_object();
                if (jm) {
                        json_object_object_add(jm, "state", json_object_new_string(m->state));
                        json_object_object_add(jm, "class", json_object_new_string(m->class));
                        json_object_object_add(jm, "service", json_object_new_string(m->service));
                        json_object_object_add(jm, "unit", json_object_new_string(m->unit));
                        json_object_object_add(jm, "leader", json_object_new_uint64(m->leader));
                        json_object_object_add(jm, "root_directory",
                                               json_object_new_string(m->root_directory));
                        json_object_object_add(jm, "addresses", addrs);
                        json_object_object_add(jm, "started_usec", json_object_new_uint64(m->timestamp));
                        json_object_object_add(jm, "uptime_usec", json_object_new_uint64(
                                                       m->timestamp > 0 && now > m->timestamp ?
                                                       now - m->timestamp : 0));
                } else
                        json_object_put(addrs);
        }
        json_object_object_add(j, "machine", jm);
        json_object_object_add(j, "image", i ? machine_info_to_json(i) : NULL);
        return j;
}

int verb_status(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(machine_info_done) MachineInfo info = {};
        _cleanup_(machine_status_done) MachineStatus m = {};
        _cleanup_(unit_status_done) UnitStatus u = {};
        _cleanup_free_ char *msg = NULL, *unit = NULL;
        const char *name = argv[1], *state;
        bool in_store = false, running = false;
        usec_t now = now_usec(CLOCK_REALTIME);
        int r;

        r = check_machine_name(name);
        if (r < 0)
                return r;

        /* The store is optional here: a machine may run from elsewhere (machinectl import, a VM). */
        r = store_open(arg_image_root, false, &s);
        if (r >= 0) {
                r = store_get(&s, name, true, &info);
                if (r >= 0)
                        in_store = true;
                else if (r != -ENOENT)
                        return log_error_errno(r, "Failed to look up machine '%s': %m", name);
        } else if (r != -ENOENT)
                return log_error_errno(r, "Failed to open the machine store '%s': %m", arg_image_root);

        r = bus_open_system_checked(&bus, &msg);
        if (r < 0)
                return log_error_errno(r, "Cannot tell the state of machine '%s': %s", name,
                                       msg ?: strerror(-r));

        r = machine_bus_get(bus, name, &m, &msg);
        if (r >= 0)
                running = true;
        else if (r != -ENXIO)
                return log_error_errno(r, "Failed to ask machined about '%s': %s "
                                       "(is systemd-container installed?)", name, msg ?: strerror(-r));
        msg = mfree(msg);

        /* An ephemeral instance has no image of its own. */
        if (!in_store && !running && template_lookup(name, NULL) < 0)
                return log_error_errno(SYNTHETIC_ERRNO(ENOENT),
                                       "No machine '%s': it is neither in '%s' nor known to machined.", name,
                                       arg_image_root);

        /* The unit it runs in: an instance may run in systemd-nspawn@TEMPLATE@INSTANCE.service. */
        unit = running && !isempty(m.unit) ? strdup(m.unit) : nspawn_unit_name(name);
        if (!unit)
                return log_oom();
        r = unit_bus_get_status(bus, unit, &u, &msg);
        if (r < 0)
                return log_error_errno(r, "Failed to get the state of %s: %s", unit, msg ?: strerror(-r));

        state = running ? m.state : "stopped";
        if (arg_json) {
                json_object *j = status_to_json(name, state, &u, unit, running ? &m : NULL,
                                                in_store ? &info : NULL, now);
                if (j)
                        template_show(name, j);
                return print_json(j);
        }

        printl("       Name: %s\n", name);
        printl("      State: %s\n", state);
        printl("       Unit: %s: %s (%s), %s\n",
               unit, strna(u.active_state), strna(u.sub_state),
               streq_ptr(u.load_state, "not-found") ? "no unit file" :
               unit_file_enabled(&u) ? "enabled (starts at boot)" :
               isempty(u.unit_file_state) || streq(u.unit_file_state, "disabled") ? "not enabled" :
               u.unit_file_state);
        if (running) {
                char t[64], span[TIMESPAN_STRING_MAX];

                printl("     Leader: %" PRIu32 "\n", m.leader);
                if (strv_length(m.addresses) == 0)
                        printl("    Address: none (yet)\n");
                for (char **p = m.addresses; p && *p; p++)
                        printl("%11s %s\n", p == m.addresses ? "Address:" : "", *p);
                if (m.timestamp > 0)
                        printl("     Uptime: %s (since %s)\n",
                               format_timespan_short(span, sizeof(span),
                                                     now > m.timestamp ? now - m.timestamp : 0),
                               format_time(t, sizeof(t), m.timestamp));
                printl("      Class: %s (%s)\n", m.class, m.service);
                if (!isempty(m.root_directory))
                        printl("       Root: %s\n", m.root_directory);
        }
        if (in_store) {
                char u_[FORMAT_BYTES_MAX];

                printl("      Image: %s/%s%s (%s, %s)\n", s.root, info.name,
                       info.type == MACHINE_RAW ? ".raw" : "", machine_type_to_string(info.type),
                       format_bytes(u_, sizeof(u_), info.usage));
        } else if (template_lookup(name, NULL) < 0)
                printl("      Image: not in %s\n", arg_image_root);
        template_show(name, NULL);
        return 0;
}
