/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* list: the store's machines, with what machined and Podman say of them. */

#include "bus-util.h"
#include "log.h"
#include "machine-template.h"
#include "machined-client.h"
#include "podman.h"
#include "spawn-util.h"
#include "string-util.h"
#include "tool.h"

/* The machines machined knows, or none (with a note) when there is no bus or no machined. */
static int collect_machined(MachineListEntry **ret, size_t *ret_n) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *msg = NULL;
        int r;

        *ret = NULL;
        *ret_n = 0;
        r = bus_open_system_checked(&bus, &msg);
        if (r < 0) {
                note_unseen("running machines", msg ?: strerror(-r));
                return 0;
        }
        r = machine_bus_list(bus, ret, ret_n, &msg);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0) {
                _cleanup_free_ char *why = NULL;

                if (asprintf(&why, "machined does not answer: %s (is systemd-container installed?)",
                             msg ?: strerror(-r)) < 0)
                        return log_oom();
                note_unseen("running machines", why);
        }
        return 0;
}

/* Runs podman with argv, for JSON: NULL output (with a note naming what) when it is not installed or
 * fails. */
static int podman_json(char * const *argv, const char *what, char **ret, size_t *ret_size) {
        _cleanup_free_ char *err = NULL;
        int r;

        r = spawn_capture(argv, PODMAN_TIMEOUT_USEC, ret, ret_size, &err);
        if (r == -ENOENT) {
                note_unseen(what, "podman is not installed");
                *ret = NULL;
                return 0;
        }
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0) {
                _cleanup_free_ char *why = NULL;

                if (err)
                        err[strcspn(err, "\n")] = 0;
                if (asprintf(&why, "'%s %s' failed: %s", argv[0], argv[1],
                             !isempty(err) ? err : strerror(-r)) < 0)
                        return log_oom();
                note_unseen(what, why);
                *ret = NULL;
                return 0;
        }
        return 0;
}

static int collect_podman(PodmanContainer **ret, size_t *ret_n) {
        char *argv[] = { (char*) "podman", (char*) "ps", (char*) "--all", (char*) "--format",
                         (char*) "json", NULL };
        _cleanup_free_ char *out = NULL;
        size_t size = 0;
        int r, index = -1;

        *ret = NULL;
        *ret_n = 0;
        r = podman_json(argv, "Podman containers", &out, &size);
        if (r < 0 || !out)
                return r;
        r = podman_ps_parse(out, size, ret, ret_n, &index);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0) {
                note_unseen("Podman containers", index >= 0 ?
                            "'podman ps --format json' gave an entry we cannot read" :
                            "'podman ps --format json' did not print a JSON array");
                return 0;
        }
        return 0;
}

static const MachineListEntry* find_machined(const MachineListEntry *l, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(l[i].name, name))
                        return l + i;
        return NULL;
}

/* A store image's state: running if machined has it, else what its lock says. */
static const char* image_state(const MachineInfo *i, const MachineListEntry *m) {
        if (m)
                return "running";
        return i->in_use ? "in-use" : "stopped";
}

static const MachineInstance* find_instance(const MachineInstance *l, size_t n, const char *machine) {
        for (size_t i = 0; i < n; i++)
                if (streq(l[i].machine, machine))
                        return l + i;
        return NULL;
}

static json_object* instance_to_json(const MachineInstance *i) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_object_object_add(o, "template", json_object_new_string(i->template));
        json_object_object_add(o, "instance", json_object_new_string(i->instance));
        json_object_object_add(o, "mode", json_object_new_string(instance_mode_to_string(i->mode)));
        return o;
}

/* As image_state(), and a template is in use while one of its ephemeral instances runs on its tree
 * (their locks are shared ones, which the store's probe does not see). */
static const char* list_state(const MachineInfo *i, const MachineListEntry *machines, size_t n_machines,
                              const MachineInstance *instances, size_t n_instances) {
        const MachineListEntry *m = find_machined(machines, n_machines, i->name);

        if (!m && !i->in_use)
                for (size_t k = 0; k < n_instances; k++)
                        if (instances[k].mode == INSTANCE_EPHEMERAL &&
                            streq(instances[k].template, i->name) &&
                            find_machined(machines, n_machines, instances[k].machine))
                                return "in-use";
        return image_state(i, m);
}

int verb_list(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        MachineInstance *instances = NULL;
        size_t n_instances = 0;
        MachineListEntry *machines = NULL;
        PodmanContainer *containers = NULL;
        size_t n = 0, n_machines = 0, n_containers = 0;
        MachineInfo *l = NULL;
        json_object *a = NULL;
        int r;

        r = open_store(false, &s);
        if (r < 0)
                return r;
        r = store_list(&s, true, &l, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to list machines in '%s': %m", s.root);
        r = template_list(&instances, &n_instances);
        if (r >= 0)
                r = collect_machined(&machines, &n_machines);
        if (r >= 0)
                r = collect_podman(&containers, &n_containers);
        if (r < 0)
                goto finish;

        if (arg_json) {
                a = json_object_new_array();
                for (size_t i = 0; a && i < n; i++) {
                        json_object *j = machine_info_to_json(l + i);

                        if (!j)
                                continue;
                        json_object_object_add(j, "kind", json_object_new_string("machine"));
                        json_object_object_add(j, "state", json_object_new_string(
                                        list_state(l + i, machines, n_machines, instances, n_instances)));
                        json_object_object_add(j, "in_store", json_object_new_boolean(true));
                        if (find_instance(instances, n_instances, l[i].name))
                                json_object_object_add(j, "instance", instance_to_json(
                                                find_instance(instances, n_instances, l[i].name)));
                        json_object_array_add(a, j);
                }
                for (size_t i = 0; a && i < n_instances; i++) {
                        const MachineInstance *in = instances + i;
                        json_object *j;

                        if (in->mode != INSTANCE_EPHEMERAL || !(j = json_object_new_object()))
                                continue;
                        json_object_object_add(j, "name", json_object_new_string(in->machine));
                        json_object_object_add(j, "kind", json_object_new_string("machine"));
                        json_object_object_add(j, "type", json_object_new_string("ephemeral"));
                        json_object_object_add(j, "state", json_object_new_string(
                                        find_machined(machines, n_machines, in->machine) ? "running" :
                                        "stopped"));
                        json_object_object_add(j, "in_store", json_object_new_boolean(false));
                        json_object_object_add(j, "instance", instance_to_json(in));
                        json_object_array_add(a, j);
                }
                for (size_t i = 0; a && i < n_machines; i++) {
                        json_object *j;
                        bool in_store = false;

                        for (size_t k = 0; k < n && !in_store; k++)
                                in_store = streq(l[k].name, machines[i].name);
                        /* Ephemeral instances are listed above. */
                        in_store = in_store || find_instance(instances, n_instances, machines[i].name);
                        if (in_store || !(j = json_object_new_object()))
                                continue;
                        json_object_object_add(j, "name", json_object_new_string(machines[i].name));
                        json_object_object_add(j, "kind", json_object_new_string("machine"));
                        json_object_object_add(j, "type", json_object_new_string(machines[i].class));
                        json_object_object_add(j, "state", json_object_new_string("running"));
                        json_object_object_add(j, "in_store", json_object_new_boolean(false));
                        json_object_object_add(j, "service", json_object_new_string(machines[i].service));
                        json_object_array_add(a, j);
                }
                for (size_t i = 0; a && i < n_containers; i++) {
                        const PodmanContainer *c = containers + i;
                        json_object *j = json_object_new_object();
                        char t[64];

                        if (!j)
                                continue;
                        json_object_object_add(j, "name", json_object_new_string(c->name));
                        json_object_object_add(j, "kind", json_object_new_string("podman"));
                        json_object_object_add(j, "type", json_object_new_string("podman"));
                        json_object_object_add(j, "state", json_object_new_string(c->state));
                        json_object_object_add(j, "in_store", json_object_new_boolean(false));
                        json_object_object_add(j, "id", json_object_new_string(c->id));
                        json_object_object_add(j, "image", json_object_new_string(c->image));
                        json_object_object_add(j, "created_usec", json_object_new_uint64(c->created));
                        json_object_object_add(j, "created", c->created > 0 ? json_object_new_string(
                                                       format_time(t, sizeof(t), c->created)) : NULL);
                        json_object_array_add(a, j);
                }
                r = print_json(a);
        } else {
                size_t w = 4;

                for (size_t i = 0; i < n; i++)
                        w = MAX(w, strlen(l[i].name));
                for (size_t i = 0; i < n_machines; i++)
                        w = MAX(w, strlen(machines[i].name));
                for (size_t i = 0; i < n_instances; i++)
                        w = MAX(w, strlen(instances[i].machine));
                for (size_t i = 0; i < n_containers; i++)
                        w = MAX(w, strlen(containers[i].name));

                printl("%-*s %-9s %-8s %7s %-23s %s\n", (int) w, "NAME", "TYPE", "STATE", "USAGE", "CREATED",
                       "SOURCE");
                for (size_t i = 0; i < n; i++) {
                        char u[FORMAT_BYTES_MAX], t[64], src[PATH_MAX];
                        _cleanup_(origin_freep) MachineOrigin *o = machine_info_origin(l + i);
                        const MachineInstance *in = find_instance(instances, n_instances, l[i].name);

                        printl("%-*s %-9s %-8s %7s %-23s %s\n", (int) w, l[i].name,
                               machine_type_to_string(l[i].type),
                               list_state(l + i, machines, n_machines, instances, n_instances),
                               format_bytes(u, sizeof(u), l[i].usage), format_time(t, sizeof(t),
                                                                                   l[i].created),
                               in ? template_summary(in, src, sizeof(src)) :
                               origin_summary(o, src, sizeof(src)));
                }
                for (size_t i = 0; i < n_instances; i++) {
                        const MachineInstance *in = instances + i;
                        char src[PATH_MAX];

                        if (in->mode == INSTANCE_EPHEMERAL)
                                printl("%-*s %-9s %-8s %7s %-23s %s\n", (int) w, in->machine, "ephemeral",
                                       find_machined(machines, n_machines, in->machine) ? "running" :
                                       "stopped",
                                       "-", "-", template_summary(in, src, sizeof(src)));
                }
                for (size_t i = 0; i < n_machines; i++) {
                        bool in_store = false;

                        for (size_t k = 0; k < n && !in_store; k++)
                                in_store = streq(l[k].name, machines[i].name);
                        in_store = in_store || find_instance(instances, n_instances, machines[i].name);
                        if (!in_store)
                                printl("%-*s %-9s %-8s %7s %-23s %s (not in the store)\n", (int) w,
                                       machines[i].name, machines[i].class, "running", "-", "-",
                                       machines[i].service);
                }
                for (size_t i = 0; i < n_containers; i++) {
                        char t[64];

                        printl("%-*s %-9s %-8s %7s %-23s %s\n", (int) w, containers[i].name, "podman",
                               containers[i].state, "-", format_time(t, sizeof(t), containers[i].created),
                               containers[i].image);
                }
                r = fflush(stdout) == 0 ? 0 : log_error_errno(errno, "Failed to write output: %m");
        }

finish:
        for (size_t i = 0; i < n; i++)
                machine_info_done(l + i);
        free(l);
        machine_list_free(machines, n_machines);
        machine_instance_array_free(instances, n_instances);
        podman_container_array_free(containers, n_containers);
        return r;
}
