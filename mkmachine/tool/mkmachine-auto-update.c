/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The auto-update verb: which machines, then the table or JSON of what each update did. */

#include "bus-util.h"
#include "fd-util.h"
#include "log.h"
#include "string-util.h"
#include "tool.h"

/* [{"package", "installed" (null for a new one), "candidate", "architecture"}, …] */
static json_object* upgrades_json(const PackageUpgrade *upgrades, size_t n) {
        json_object *a = json_object_new_array();

        for (size_t i = 0; a && i < n; i++) {
                json_object *o = json_object_new_object();

                if (!o)
                        return json_object_put(a), NULL;
                json_object_object_add(o, "package", json_object_new_string(upgrades[i].package));
                json_object_object_add(o, "installed", upgrades[i].installed ?
                                       json_object_new_string(upgrades[i].installed) : NULL);
                json_object_object_add(o, "candidate", json_object_new_string(upgrades[i].candidate));
                if (upgrades[i].architecture)
                        json_object_object_add(o, "architecture",
                                               json_object_new_string(upgrades[i].architecture));
                json_object_array_add(a, o);
        }
        return a;
}

int verb_auto_update(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(release_lock_file) LockFile lock = LOCK_FILE_INIT;
        _cleanup_(oci_platform_done) OciPlatform want = {};
        _cleanup_close_ int cache_fd = -EBADF;
        MachineInfo *machines = NULL;
        size_t n = 0;
        json_object *list = NULL;
        int r, ret = 0;

        r = open_store(true, &s);
        if (r < 0)
                return r;
        for (int i = 1; i < argc; i++) {
                r = require_machine("auto-update", argv[i]);
                if (r < 0)
                        return r;
        }
        r = oci_platform_host(&want);
        if (r < 0)
                return log_error_errno(r, "Failed to determine the host's platform: %m");
        r = open_blob_cache(LOCK_SH, &lock, &cache_fd);
        if (r < 0)
                return r;
        /* Without a system bus (no systemd) no machine runs as a unit: all are updated in place. */
        if (bus_open_system_checked(&bus, NULL) < 0)
                bus = NULL;

        r = store_list(&s, false, &machines, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to list the machines in %s: %m", s.root);
        list = json_object_new_array();
        if (!list) {
                ret = log_oom();
                goto finish;
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_(update_done) Update u = { .name = machines[i].name };
                bool named = argc <= 1;
                json_object *j;

                for (int a = 1; a < argc; a++)
                        named = named || streq(argv[a], machines[i].name);
                if (!named)
                        continue;

                int tls_verify = arg_tls_verify;

                r = update_machine(&s, bus, cache_fd, &want, machines + i, &u);
                arg_tls_verify = tls_verify;
                if (r == -ENOMEM) {
                        ret = log_oom();
                        goto finish;
                }
                if (r < 0) {
                        log_error("Machine '%s': %s%s.", u.name, streq(u.result, "rolled-back") ?
                                  "update rolled back: " : "update failed: ", strna(u.reason));
                        ret = r;
                } else if (!arg_quiet && !arg_json && u.policy == AUTO_UPDATE_PACKAGES) {
                        char count[64] = "";

                        if (u.n_upgrades > 0)
                                (void) snprintf(count, sizeof(count), " (%zu package%s)", u.n_upgrades,
                                                u.n_upgrades == 1 ? "" : "s");
                        log_info("Machine '%s': %s%s%s.", u.name, u.result, count,
                                 streq(u.result, "pending") ? ", --dry-run" : "");
                        for (size_t k = 0; k < u.n_upgrades; k++)
                                log_info("  %s %s → %s", u.upgrades[k].package,
                                         u.upgrades[k].installed ?: "(new)", u.upgrades[k].candidate);
                } else if (!arg_quiet && !arg_json && u.policy != AUTO_UPDATE_NO)
                        log_info("Machine '%s': %s%s%s%s.", u.name, u.result,
                                 streq(u.result, "pending") ? " (" : "",
                                 streq(u.result, "pending") ? u.current : "",
                                 streq(u.result, "pending") ? ", --dry-run" : "");
                if (argc <= 1 && u.policy == AUTO_UPDATE_NO && r >= 0)
                        continue;       /* not reported: it never takes part */
                j = json_object_new_object();
                if (!j) {
                        ret = log_oom();
                        goto finish;
                }
                json_object_object_add(j, "name", json_object_new_string(u.name));
                json_object_object_add(j, "policy",
                                       json_object_new_string(auto_update_policy_to_string(u.policy)));
                if (u.reference)
                        json_object_object_add(j, "reference", json_object_new_string(u.reference));
                if (u.recorded)
                        json_object_object_add(j, "recorded_digest", json_object_new_string(u.recorded));
                if (u.current)
                        json_object_object_add(j, "current_digest", json_object_new_string(u.current));
                if (u.policy == AUTO_UPDATE_PACKAGES) {
                        json_object *a = upgrades_json(u.upgrades, u.n_upgrades);

                        if (!a) {
                                json_object_put(j);
                                ret = log_oom();
                                goto finish;
                        }
                        json_object_object_add(j, "upgrades", a);
                }
                json_object_object_add(j, "result", json_object_new_string(u.result));
                if (u.reason)
                        json_object_object_add(j, "reason", json_object_new_string(u.reason));
                json_object_array_add(list, j);
        }
        if (arg_json) {
                r = print_json(TAKE_PTR(list));
                if (r < 0 && ret >= 0)
                        ret = r;
        }

finish:
        json_object_put(list);
        for (size_t i = 0; i < n; i++)
                machine_info_done(machines + i);
        free(machines);
        return ret;
}
