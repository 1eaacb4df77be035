/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image policies of auto-update (registry, local): resolve, swap, health check, roll back. */

#include "bus-util.h"
#include "config.h"
#include "fd-util.h"
#include "log.h"
#include "machine-glue.h"
#include "progress-bar.h"
#include "spawn-util.h"
#include "string-util.h"
#include "systemd-manager-client.h"
#include "tool.h"

static usec_t env_seconds(const char *name, usec_t def) {
        const char *e = getenv(name);
        char *end;
        unsigned long v;

        if (!e)
                return def;
        errno = 0;
        v = strtoul(e, &end, 10);
        if (errno != 0 || *end || end == e)
                return def;
        return (usec_t) v * USEC_PER_SEC;
}

static char* trim_line(char *s) {
        if (s)
                s[strcspn(s, "\r\n")] = 0;
        return s;
}

/* Runs the health command in the machine: with systemd-run -M for a booted machine, else with nsenter
 * into its leader's namespaces. */
static int run_health_cmd(const char *name, bool boot, const char *cmd, char **ret_reason) {
        _cleanup_free_ char *out = NULL, *err = NULL, *leader = NULL;
        int r;

        if (boot) {
                char *argv[] = { (char*) "systemd-run", (char*) "-M", (char*) name, (char*) "--wait",
                                 (char*) "-P", (char*) "-q", (char*) "/bin/sh", (char*) "-c", (char*) cmd,
                                 NULL };
                r = spawn_capture(argv, 60 * USEC_PER_SEC, &out, NULL, &err);
        } else {
                char *largv[] = { (char*) "machinectl", (char*) "show", (char*) name, (char*) "-p",
                                  (char*) "Leader", (char*) "--value", NULL };
                r = spawn_capture(largv, 10 * USEC_PER_SEC, &leader, NULL, NULL);
                if (r < 0 || isempty(trim_line(leader))) {
                        free(*ret_reason);
                        *ret_reason = strdup("machined does not know its leader process");
                        return -ESRCH;
                }
                char *argv[] = { (char*) "nsenter", (char*) "-t", leader, (char*) "-a", (char*) "/bin/sh",
                                 (char*) "-c", (char*) cmd, NULL };
                r = spawn_capture(argv, 60 * USEC_PER_SEC, &out, NULL, &err);
        }
        if (r < 0) {
                free(*ret_reason);
                if (asprintf(ret_reason, "the health command '%s' failed%s%s", cmd, err ? ": " : "",
                             err ? trim_line(err) : "") < 0)
                        *ret_reason = NULL;
        }
        return r;
}

/* After a start: whether the machine is healthy. The unit must be (and stay) active; a booted machine's
 * is-system-running must reach running or degraded, a command's machine must stay up for the settle
 * time (MKMACHINE_HEALTH_SETTLE_SEC, 5 s); then the health command (if any) must succeed, all within
 * MKMACHINE_HEALTH_TIMEOUT_SEC (120 s). 1 if healthy, 0 if not (with *ret_reason), <0 on errors. */
static int machine_healthy(sd_bus *bus, const char *name, bool boot, const char *health_cmd,
                           char **ret_reason) {
        _cleanup_free_ char *unit = nspawn_unit_name(name), *system_state = NULL;
        usec_t start = now_usec(CLOCK_MONOTONIC);
        usec_t deadline = start + env_seconds("MKMACHINE_HEALTH_TIMEOUT_SEC", 120 * USEC_PER_SEC);
        usec_t settled = start + env_seconds("MKMACHINE_HEALTH_SETTLE_SEC", 5 * USEC_PER_SEC);

        if (!unit)
                return -ENOMEM;
        for (;;) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_free_ char *state = NULL;
                bool up = false;
                int r;

                r = manager_unit_active_state(bus, unit, &state, &error);
                if (r < 0)
                        return r;
                if (!streq(state, "active") && !streq(state, "activating")) {
                        if (asprintf(ret_reason, "%s is %s", unit, state) < 0)
                                return -ENOMEM;
                        return 0;
                }
                if (boot) {
                        char *argv[] = { (char*) "systemctl", (char*) "-M", (char*) name,
                                         (char*) "is-system-running", NULL };
                        free(system_state);
                        system_state = NULL;
                        /* Non-zero while starting and when degraded: the output is what counts. */
                        (void) spawn_capture(argv, 10 * USEC_PER_SEC, &system_state, NULL, NULL);
                        trim_line(system_state);
                        up = streq_ptr(system_state, "running") || streq_ptr(system_state, "degraded");
                } else
                        up = streq(state, "active") && now_usec(CLOCK_MONOTONIC) >= settled;

                if (up && (!health_cmd || run_health_cmd(name, boot, health_cmd, ret_reason) >= 0)) {
                        *ret_reason = mfree(*ret_reason);
                        return 1;
                }
                if (now_usec(CLOCK_MONOTONIC) >= deadline) {
                        if (!*ret_reason && asprintf(ret_reason, "not healthy in time (%s)", boot ?
                                                     strjoina("is-system-running: ", strna(system_state)) :
                                                     state) < 0)
                                return -ENOMEM;
                        return 0;
                }
                (void) usleep(500 * 1000);
        }
}

void update_done(Update *u) {
        package_upgrade_array_free(u->upgrades, u->n_upgrades);
        free(u->health_cmd);
        free(u->reference);
        free(u->recorded);
        free(u->current);
        free(u->reason);
}

_printf_(2, 3)
void update_fail(Update *u, const char *format, ...) {
        va_list ap;

        u->result = "failed";
        free(u->reason);
        va_start(ap, format);
        if (vasprintf(&u->reason, format, ap) < 0)
                u->reason = NULL;
        va_end(ap);
}

/* The source's image, resolved: for a registry machine the pull, for a local one the OCI source. */
typedef struct UpdateSource {
        OciReference ref;
        RegistryClient *client;
        OciPull *pull;
        OciSource *source;
        OciImage *image;
        char *root_digest;
} UpdateSource;

static void update_source_done(UpdateSource *s) {
        oci_image_free(s->image);
        oci_pull_free(s->pull);
        registry_client_free(s->client);
        oci_source_free(s->source);
        oci_reference_done(&s->ref);
        free(s->root_digest);
}

/* Resolves the machine's source now; sets u->current. */
static int update_resolve(Update *u, const MachineOrigin *origin, int cache_fd, const OciPlatform *want,
                          UpdateSource *src) {
        _cleanup_free_ char *msg = NULL;
        int r;

        if (u->policy == AUTO_UPDATE_REGISTRY) {
                const char *reference = origin->reference;

                if (!reference || oci_reference_parse(reference, &src->ref) < 0 || !src->ref.registry) {
                        update_fail(u, "its origin record has no valid reference");
                        return -EBADMSG;
                }
                u->reference = strdup(reference);
                if (!u->reference)
                        return -ENOMEM;
                if (src->ref.digest)
                        return 0;       /* pinned */
                /* Pulled with --tls-verify=false: so is the update, and the new origin record says so. */
                if (arg_tls_verify < 0 && origin->tls_verify == 0)
                        arg_tls_verify = 0;
                r = registry_client_new(&src->ref, &(RegistryOptions) {
                                .tls_verify = arg_tls_verify,
                        }, &src->client, &msg);
                if (r >= 0)
                        r = oci_pull_new(src->client, cache_fd, &src->pull);
                if (r >= 0)
                        r = oci_pull_resolve(src->pull, &src->ref, want, &src->image, &src->root_digest,
                                             &msg);
                if (r < 0) {
                        update_fail(u, "cannot check %s: %s", reference, msg ?: strerror(-r));
                        return r;
                }
                u->current = strdup(src->root_digest);
        } else {
                const char *path = origin->source;
                const char *tag = origin->reference;
                _cleanup_free_ char *spec = NULL;
                Progress progress = PROGRESS_BAR;

                if (!path) {
                        update_fail(u, "its origin record names no source");
                        return -EBADMSG;
                }
                if (asprintf(&spec, "%s%s%s", path, tag ? (startswith(tag, "sha256:") ? "@" : ":") : "",
                             tag ?: "") < 0)
                        return -ENOMEM;
                u->reference = strdup(spec);
                if (!u->reference)
                        return -ENOMEM;
                r = oci_source_open(spec, strjoina(arg_cache_dir, "/oci"), &progress, &src->source, &msg);
                if (r >= 0)
                        r = oci_image_resolve(src->source, want, &src->image, &msg);
                if (r < 0) {
                        update_fail(u, "cannot read %s: %s", spec, msg ?: strerror(-r));
                        return r;
                }
                if (!src->image->manifest_digest) {
                        update_fail(u, "%s has no manifest digest to compare (a docker-archive)", spec);
                        return -EOPNOTSUPP;
                }
                u->current = strdup(src->image->manifest_digest);
        }
        return u->current ? 0 : -ENOMEM;
}

bool unit_running(sd_bus *bus, const char *name) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *unit = nspawn_unit_name(name), *state = NULL;

        if (!bus || !unit || manager_unit_active_state(bus, unit, &state, &error) < 0)
                return false;
        return streq(state, "active") || streq(state, "activating") || streq(state, "reloading");
}

/* The exec settings of the new image replace the machine's (its command may have changed); the rest of
 * the machine's settings stay. */
static int update_settings(const char *name, int tree_fd, const OciImage *image, char **reterr) {
        static char *no_environment[] = { NULL };
        _cleanup_(nspawn_settings_done) NspawnSettings image_settings = {};
        NspawnSettings s = { .boot = -1 };
        unsigned line = 0;
        bool boot = oci_tree_has_init(tree_fd);
        int r;

        r = oci_config_to_nspawn_settings(image->config, boot, false, &image_settings, reterr);
        if (r < 0)
                return r;
        s.boot = boot;
        s.parameters = image_settings.parameters;
        s.environment = image_settings.environment;
        s.working_directory = image_settings.working_directory;
        s.user = image_settings.user;
        /* An image without Env replaces the old image's environment too. */
        if (!s.environment)
                s.environment = no_environment;
        r = machine_settings_write(getenv("MKMACHINE_NSPAWN_DIR") ?: MACHINE_NSPAWN_DIR_DEFAULT, name, &s,
                                   &line);
        if (r < 0 && reterr && asprintf(reterr, "cannot write its settings (line %u): %s", line,
                                        strerror(-r)) < 0)
                *reterr = NULL;
        return r;
}

/* Puts the machine's .nspawn file back as it was before the update (old NULL: there was none). */
static int restore_settings(const char *nspawn_dir, const char *name, const char *old) {
        _cleanup_close_ int fd = open(nspawn_dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        const char *file = strjoina(name, ".nspawn");

        if (fd < 0)
                return -errno;
        if (!old)
                return unlinkat(fd, file, 0) < 0 && errno != ENOENT ? -errno : 0;
        return write_file_atomic_at(fd, file, old, strlen(old), 0644);
}

/* After the swap of a machine that ran: start it and check its health; if it is not healthy, roll back
 * (the previous tree, with restore the previous settings old_settings, and running again). 0 if healthy,
 * -ENOTRECOVERABLE if rolled back or if that failed too (u says which). */
int update_restart(Store *s, sd_bus *bus, Update *u, const char *nspawn_dir, bool restore,
                   const char *old_settings) {
        _cleanup_free_ char *why = NULL;
        bool boot;
        int r, k;

        /* Settings that say nothing about Boot= (a bootstrapped machine's) leave systemd-nspawn@.service's
         * --boot. */
        boot = true;
        {
                _cleanup_(nspawn_settings_done) NspawnSettings now = {};
                unsigned line;
                if (machine_settings_load(nspawn_dir, u->name, &now, NULL, &line) >= 0 && now.boot >= 0)
                        boot = now.boot > 0;
        }
        r = machine_glue_start(u->name);
        if (r >= 0)
                r = machine_healthy(bus, u->name, boot, u->health_cmd, &why);
        if (r > 0) {
                u->result = "updated";
                return 0;
        }
        if (r < 0 && !why)
                why = strdup("it did not start");

        /* Roll back: the old tree, the old settings, and running again. */
        log_warning("Machine '%s' is not healthy after the update (%s); rolling back.", u->name, strna(why));
        const char *step = "stop it";
        k = machine_glue_stop(u->name);
        if (k >= 0) {
                step = "put the previous tree back";
                k = store_roll_back(s, u->name);
        }
        if (k >= 0) {
                step = "put the previous settings back";
                k = restore ? restore_settings(nspawn_dir, u->name, old_settings) : 0;
        }
        if (k >= 0) {
                step = "start it again";
                k = machine_glue_start(u->name);
        }
        u->result = "rolled-back";
        free(u->reason);
        if (asprintf(&u->reason, "%s%s%s%s%s", strna(why),
                     k < 0 ? "; the rollback failed too: cannot " : "", k < 0 ? step : "",
                     k < 0 ? ": " : "", k < 0 ? strerror(-k) : "") < 0)
                u->reason = NULL;
        if (k < 0)
                u->result = "failed";
        return -ENOTRECOVERABLE;
}

/* Updates one machine. 0 if it was current or updated (or would be, with --dry-run), <0 if it failed or
 * was rolled back; u says which. */
int update_machine(Store *s, sd_bus *bus, int cache_fd, const OciPlatform *want,
                   const MachineInfo *info, Update *u) {
        _cleanup_(update_source_done) UpdateSource src = {};
        _cleanup_free_ char *tmp = NULL, *settings_path = NULL, *old_settings = NULL, *why = NULL;
        _cleanup_close_ int tmp_fd = -EBADF;
        _cleanup_(origin_freep) MachineOrigin *origin = NULL;
        const char *nspawn_dir = getenv("MKMACHINE_NSPAWN_DIR") ?: MACHINE_NSPAWN_DIR_DEFAULT;
        char p[OCI_PLATFORM_STRING_MAX];
        bool running;
        int r, k;

        u->result = "skipped";
        r = machine_info_parse_origin(info, &origin, NULL);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                update_fail(u, "its origin record is damaged");
                return -EBADMSG;
        }
        u->policy = origin_auto_update(origin);
        if (origin_health_cmd(origin)) {
                u->health_cmd = strdup(origin_health_cmd(origin));
                if (!u->health_cmd)
                        return -ENOMEM;
        }
        if (u->policy == AUTO_UPDATE_NO) {
                u->action = AUTO_UPDATE_SKIP;
                return 0;
        }
        if (u->policy == AUTO_UPDATE_PACKAGES)
                return update_machine_packages(s, bus, u);
        if (origin->manifest_digest) {
                u->recorded = strdup(origin->manifest_digest);
                if (!u->recorded)
                        return -ENOMEM;
        }
        r = update_resolve(u, origin, cache_fd, want, &src);
        if (r < 0)
                return r;

        u->action = auto_update_decide(u->policy, !!src.ref.digest, u->recorded, u->current);
        u->result = auto_update_action_to_string(u->action);
        if (u->action != AUTO_UPDATE_PENDING || arg_dry_run)
                return 0;

        if (!arg_quiet)
                log_info("Updating '%s' from %s (%s → %s).", u->name, u->reference, strna(u->recorded),
                         u->current);
        arg_auto_update = u->policy;
        arg_health_cmd = u->health_cmd;
        oci_platform_format(&src.image->config->platform, p, sizeof(p));
        if (u->policy == AUTO_UPDATE_REGISTRY) {
                _cleanup_free_ char *reference = NULL;

                r = oci_reference_format(&src.ref, &reference);
                if (r < 0)
                        return r;
                _cleanup_free_ char *dmsg = NULL;

                r = oci_pull_start(src.pull, src.image, NULL);
                if (r >= 0)
                        r = oci_pull_finish(src.pull, &dmsg);
                if (r < 0) {
                        update_fail(u, "cannot download the new image: %s", dmsg ?: strerror(-r));
                        return r;
                }
                r = store_prepare(s, u->name, pull_fill, &(Pull) {
                                .pull = src.pull,
                                .image = src.image,
                                .ref = &src.ref,
                                .reference = reference,
                                .root_digest = src.root_digest,
                                .name = u->name,
                                .platform = p,
                        }, &tmp, &tmp_fd, NULL);
                (void) oci_pull_finish(src.pull, NULL);
        } else
                r = store_prepare(s, u->name, import_oci_fill, &(ImportOci) {
                                .source = src.source,
                                .image = src.image,
                                .name = u->name,
                                .platform = p,
                        }, &tmp, &tmp_fd, NULL);
        if (r < 0) {
                update_fail(u, "the new image could not be unpacked%s",
                            r == -ECANCELED ? " (see above)" : "");
                return r;
        }

        /* Keep the settings as they are, for a rollback. */
        if (asprintf(&settings_path, "%s/%s.nspawn", nspawn_dir, u->name) < 0)
                return -ENOMEM;
        k = read_full_file_at(AT_FDCWD, settings_path, 1024 * 1024, &old_settings, NULL);
        if (k < 0 && k != -ENOENT) {
                (void) store_discard(s, tmp);
                update_fail(u, "cannot read %s: %s", settings_path, strerror(-k));
                return k;
        }

        running = unit_running(bus, u->name);
        if (running) {
                r = machine_glue_stop(u->name);
                if (r < 0) {
                        (void) store_discard(s, tmp);
                        update_fail(u, "it could not be stopped");
                        return r;
                }
        }
        r = store_swap_in(s, u->name, tmp);
        if (r < 0) {
                /* Nothing changed: tmp is still the new tree. */
                (void) store_discard(s, tmp);
                if (running)
                        (void) machine_glue_start(u->name);
                update_fail(u, "cannot put the new tree in place: %s", strerror(-r));
                return r;
        }
        r = update_settings(u->name, tmp_fd, src.image, &why);
        tmp_fd = safe_close(tmp_fd);
        if (r < 0) {
                (void) store_roll_back(s, u->name);
                (void) restore_settings(nspawn_dir, u->name, old_settings);
                if (running)
                        (void) machine_glue_start(u->name);
                update_fail(u, "%s", strna(why));
                return r;
        }
        if (!running) {
                u->result = "updated";
                return 0;
        }

        return update_restart(s, bus, u, nspawn_dir, true, old_settings);
}
