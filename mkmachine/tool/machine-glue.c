/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <inttypes.h>

#include "app-network.h"
#include "bus-util.h"
#include "fd-util.h"
#include "fs-util.h"
#include "log.h"
#include "machine-glue.h"
#include "machined-client.h"
#include "nft-forward.h"
#include "string-util.h"
#include "strv.h"
#include "systemd-manager-client.h"

static NspawnSettings arg_settings = {
        .network = _NETWORK_MODE_INVALID,
        .private_users = _PRIVATE_USERS_MODE_INVALID,
        .boot = -1,
};
static bool arg_settings_given = false;
static int arg_boot_user = -1;          /* --boot or --exec as given, before defaults */
static bool arg_exec = false;
static char **arg_exec_argv = NULL;
static bool arg_after_dashdash = false;
static RestartPolicy arg_restart = _RESTART_POLICY_INVALID;
static bool arg_enable = false;
static bool arg_start = false;

void machine_glue_done(void) {
        nspawn_settings_done(&arg_settings);
        arg_exec_argv = strv_free(arg_exec_argv);
}

static const char* nspawn_dir(void) {
        return getenv("MKMACHINE_NSPAWN_DIR") ?: MACHINE_NSPAWN_DIR_DEFAULT;
}

static const char* unit_dir(void) {
        return getenv("MKMACHINE_UNIT_DIR") ?: MACHINE_UNIT_DIR_DEFAULT;
}

static const char* network_dir(void) {
        return getenv("MKMACHINE_NETWORK_DIR") ?: MACHINE_NETWORK_DIR_DEFAULT;
}

/* Where mkmachine-generator puts the files of machines declared in .machine files. */
#define GENERATOR_NSPAWN_DIR "/run/systemd/nspawn"
#define GENERATOR_UNIT_DIR   "/run/systemd/generator"

/* For showing a machine: its settings file in the usual place, else (a declared machine) the
 * generator's. */
static const char* show_nspawn_dir(const char *name) {
        if (getenv("MKMACHINE_NSPAWN_DIR") ||
            access(strjoina(nspawn_dir(), "/", name, ".nspawn"), F_OK) >= 0 ||
            access(strjoina(GENERATOR_NSPAWN_DIR "/", name, ".nspawn"), F_OK) < 0)
                return nspawn_dir();
        return GENERATOR_NSPAWN_DIR;
}

static const char* show_unit_dir(const char *name) {
        const char *dropin = strjoina("/systemd-nspawn@", name, ".service.d/" MACHINE_DROPIN_NAME);

        if (getenv("MKMACHINE_UNIT_DIR") || access(strjoina(unit_dir(), dropin), F_OK) >= 0 ||
            access(strjoina(GENERATOR_UNIT_DIR, dropin), F_OK) < 0)
                return unit_dir();
        return GENERATOR_UNIT_DIR;
}

static bool unit_enabled(const char *dir, const char *unit) {
        return access(strjoina(dir, "/machines.target.wants/", unit), F_OK) >= 0 ||
                access(strjoina(dir, "/multi-user.target.wants/", unit), F_OK) >= 0;
}

bool machine_glue_any(void) {
        return arg_settings_given || arg_restart >= 0 || arg_enable || arg_start || arg_after_dashdash;
}

int machine_glue_split_argv(int *argc, char *argv[]) {
        for (int i = 1; i < *argc; i++)
                if (streq(argv[i], "--")) {
                        for (int j = i + 1; j < *argc; j++)
                                if (strv_extend(&arg_exec_argv, argv[j]) < 0)
                                        return log_oom();
                        argv[i] = NULL;
                        *argc = i;
                        arg_after_dashdash = true;
                        return 0;
                }
        return 0;
}

void machine_glue_help(void) {
        printf("   Machine settings (when creating a machine, and for 'set'):\n"
               "     --network=MODE           veth (default), zone:NAME, bridge:IF, host or none\n"
               "  -p --port=[tcp:|udp:]HOST[:GUEST]\n"
               "                              Forward a host port to the machine (repeatable;\n"
               "                              --port= alone removes all forwards)\n"
               "  -v --bind=SRC[:DST][:ro|:idmap|:noidmap]\n"
               "                              Bind a host directory into the machine (repeatable)\n"
               "     --private-users=MODE     pick (default), identity or no\n"
               "     --boot                   Boot the machine's init (default)\n"
               "     --exec [-- CMD…]         Run CMD (after --) instead of booting\n"
               "     --env=KEY=VALUE          Set an environment variable (repeatable)\n"
               "     --restart=POLICY         no, on-failure or always\n"
               "     --enable                 Start the machine when the host boots\n"
               "     --start                  Start the machine now\n"
               "     --now                    Both --enable and --start\n");
}

int machine_glue_parse_option(int c, const char *value) {
        int r;

        switch (c) {
        case ARG_NETWORK:
                r = nspawn_settings_parse_network(&arg_settings, value);
                if (r == -EINVAL)
                        return log_error_errno(r, "Invalid --network='%s': use veth, zone:NAME, bridge:IF, "
                                               "host or none.", value);
                if (r < 0)
                        return log_oom();
                break;
        case 'p': {
                NspawnPort p;

                if (isempty(value)) {
                        /* --port= alone: no forwards (the ones given before it are dropped too). */
                        arg_settings.ports = mfree(arg_settings.ports);
                        arg_settings.n_ports = 0;
                        arg_settings.ports_set = true;
                        break;
                }
                r = nspawn_port_parse(value, &p);
                if (r < 0)
                        return log_error_errno(r, "Invalid --port='%s': use [tcp:|udp:]HOST[:GUEST] with "
                                               "port numbers 1…65535.", value);
                r = nspawn_settings_add_port(&arg_settings, &p);
                if (r == -EEXIST)
                        return log_error_errno(r, "--port='%s': host port %u is given twice.", value,
                                               p.host);
                if (r < 0)
                        return log_error_errno(r, "--port='%s': %m", value);
                break;
        }
        case 'v': {
                NspawnBind b = {};

                r = nspawn_bind_parse(value, &b);
                if (r == -EINVAL)
                        return log_error_errno(r, "Invalid --bind='%s': use SRC[:DST][:ro|:idmap|:noidmap] "
                                               "with absolute paths without ':'.", value);
                if (r < 0)
                        return log_oom();
                r = nspawn_settings_add_bind(&arg_settings, &b);
                free(b.source);
                free(b.destination);
                if (r == -EEXIST)
                        return log_error_errno(r, "--bind='%s': the destination is given twice.", value);
                if (r < 0)
                        return log_error_errno(r, "--bind='%s': %m", value);
                break;
        }
        case ARG_PRIVATE_USERS:
                arg_settings.private_users = private_users_mode_from_string(value);
                if (arg_settings.private_users < 0)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                               "Invalid --private-users='%s': use pick, identity or no.",
                                               value);
                break;
        case ARG_BOOT:
                arg_settings.boot = arg_boot_user = 1;
                break;
        case ARG_EXEC:
                arg_exec = true;
                arg_settings.boot = arg_boot_user = 0;
                break;
        case ARG_ENV:
                if (!strchr(value, '=') || value[0] == '=')
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Invalid --env='%s': use KEY=VALUE.",
                                               value);
                if (strv_extend(&arg_settings.environment, value) < 0)
                        return log_oom();
                break;
        case ARG_RESTART:
                arg_restart = restart_policy_from_string(value);
                if (arg_restart < 0)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                               "Invalid --restart='%s': use no, on-failure or always.",
                                               value);
                return 1;
        case ARG_ENABLE:
                arg_enable = true;
                return 1;
        case ARG_START:
                arg_start = true;
                return 1;
        case ARG_NOW:
                arg_enable = arg_start = true;
                return 1;
        default:
                return 0;
        }
        arg_settings_given = true;
        return 1;
}

static int log_settings_error(int r, const char *name, unsigned line) {
        const char *f = strjoina(nspawn_dir(), "/", name, ".nspawn");

        if (r == -EBADMSG)
                return log_error_errno(r, "%s:%u: cannot parse this line; fix or remove it (nothing was "
                                       "changed).", f, line);
        if (r == -E2BIG)
                return log_error_errno(r, "%s: too many lines.", f);
        return log_error_errno(r, "Failed to read or write %s: %m", f);
}

/* The private-users mode the machine will have: the option, else the file's, else the default. */
static PrivateUsersMode effective_private_users(const NspawnSettings *old) {
        if (arg_settings.private_users >= 0)
                return arg_settings.private_users;
        if (old && old->private_users >= 0)
                return old->private_users;
        return PRIVATE_USERS_PICK;
}

int machine_glue_prepare(const char *name, bool creating) {
        _cleanup_(nspawn_settings_done) NspawnSettings old;
        const char *missing = NULL;
        unsigned line = 0;
        int r;

        nspawn_settings_init(&old);

        if (arg_after_dashdash && !arg_exec)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "A command after '--' needs --exec.");
        if (arg_exec) {
                /* An empty list (not NULL): "--exec" alone clears Parameters=, the image's shell runs. */
                strv_free(arg_settings.parameters);
                arg_settings.parameters = calloc(1, sizeof(char*));
                if (!arg_settings.parameters ||
                    strv_extend_strv(&arg_settings.parameters, arg_exec_argv) < 0)
                        return log_oom();
        }

        /* --exec, --env and --bind values are untrusted text too: refused here, with the reason, before
         * anything is built or written (nspawn_settings_apply() would refuse them as well). */
        {
                _cleanup_free_ char *msg = NULL;

                r = nspawn_settings_check(&arg_settings, &msg);
                if (r < 0)
                        return log_error_errno(r, "Cannot use these settings for '%s': %s.", name,
                                               msg ?: strerror(-r));
        }

        r = machine_settings_load(nspawn_dir(), name, &old, NULL, &line);
        if (r < 0)
                return log_settings_error(r, name, line);

        /* A new machine with settings gets the defaults written out too, so that the file says all
         * there is to know (they are what systemd-nspawn@.service does anyway). */
        if (creating && arg_settings_given) {
                if (arg_settings.network < 0 && old.network < 0)
                        arg_settings.network = NETWORK_VETH;
                if (arg_settings.private_users < 0 && old.private_users < 0)
                        arg_settings.private_users = PRIVATE_USERS_PICK;
                if (arg_settings.boot < 0 && old.boot < 0)
                        arg_settings.boot = 1;
        }

        /* Port= needs a private network: systemd-nspawn would refuse every start ("Cannot use --port=
         * without private networking"). Said now, once, instead. */
        {
                NetworkMode net = arg_settings.network >= 0 ? arg_settings.network : old.network;
                size_t n_ports = arg_settings.ports_set ? arg_settings.n_ports : old.n_ports;

                if ((net == NETWORK_HOST || net == NETWORK_NONE) && n_ports > 0)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                               "Machine '%s': --port forwards into a private network, and "
                                               "--network=%s %s. Use --network=veth (the default), "
                                               "zone:NAME or bridge:IF with --port%s.", name,
                                               network_mode_to_string(net),
                                               net == NETWORK_HOST ?
                                               "shares the host's: its services listen on the host's "
                                               "ports already" : "has no network to forward to",
                                               arg_settings.ports_set ? ", or drop --port" :
                                               ", or remove the forwards with 'mkmachine set --port='");
        }

        if (effective_private_users(&old) != PRIVATE_USERS_NO)
                nspawn_settings_idmap_binds(&arg_settings);

        r = nspawn_settings_check_binds(&arg_settings, &missing);
        if (r == -ENOENT)
                return log_error_errno(r, "--bind: the host directory '%s' does not exist.", missing);
        if (r < 0)
                return log_error_errno(r, "--bind: cannot use '%s': %m", missing);
        return 0;
}

bool machine_glue_command_given(void) {
        return arg_boot_user >= 0;
}

int machine_glue_apply_image(const NspawnSettings *image) {
        int r;

        /* Undo the "boots" default machine_glue_prepare() gave a new machine: the image decides. */
        arg_settings.boot = arg_boot_user;
        r = nspawn_settings_merge_image(&arg_settings, image);
        if (r < 0)
                return log_oom();
        if (arg_settings.network < 0)
                arg_settings.network = NETWORK_VETH;
        if (arg_settings.private_users < 0)
                arg_settings.private_users = PRIVATE_USERS_PICK;
        arg_settings_given = true;
        return 0;
}

static int helper_path(char **ret) {
        char buf[PATH_MAX];
        ssize_t n;

        /* The drop-in calls this very binary: the one that wrote it, installed or copied anywhere. */
        n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        if (endswith(buf, " (deleted)"))
                return -ENOENT;
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

static int open_bus(sd_bus **ret, const char *why) {
        _cleanup_free_ char *msg = NULL;
        int r;

        r = bus_open_system_checked(ret, &msg);
        if (r < 0)
                return log_error_errno(r, "Cannot %s: %s", why, msg ?: strerror(-r));
        return 0;
}

static int enable_machine(sd_bus *bus, const char *name) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *unit = nspawn_unit_name(name);
        int r;

        if (!unit)
                return log_oom();
        r = manager_enable_unit(bus, unit, NULL, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to enable %s: %s", unit, bus_error_message(&error, r));
        /* The machine is wanted by machines.target, which itself must be enabled (it was not by default
         * before systemd 253) or nothing starts at boot. */
        sd_bus_error_free(&error);
        r = manager_enable_unit(bus, "machines.target", NULL, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to enable machines.target: %s",
                                       bus_error_message(&error, r));
        return 0;
}

static int reload(sd_bus *bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = manager_reload(bus, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to reload systemd: %s", bus_error_message(&error, r));
        return 0;
}

/* Starts (start) or stops the machine's unit and waits for the job. */
static int start_or_stop(const char *name, bool start) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *unit = nspawn_unit_name(name), *result = NULL;
        const char *verb = start ? "start" : "stop";
        int r;

        if (!unit)
                return log_oom();
        r = open_bus(&bus, strjoina(verb, " machine '", name, "'"));
        if (r < 0)
                return r;
        r = (start ? manager_start_unit : manager_stop_unit)(bus, unit, &result, &error);
        if (r == -EIO)
                return log_error_errno(r, "Machine '%s' did not %s (%s: %s). See 'journalctl -u %s'.",
                                       name, verb, unit, result, unit);
        if (r == -ETIMEDOUT)
                return log_error_errno(r, "Machine '%s' did not %s in time. See 'journalctl -u %s'.",
                                       name, verb, unit);
        if (r < 0)
                return log_error_errno(r, "Failed to %s %s: %s", verb, unit, bus_error_message(&error, r));
        return 0;
}

int machine_glue_start(const char *name) {
        return start_or_stop(name, true);
}

int machine_glue_stop(const char *name) {
        return start_or_stop(name, false);
}

/* The resolv.conf of an application machine on a private network, which its settings bind onto
 * /etc/resolv.conf (read-only; the image tree is never written): when the settings are written, and
 * again before every start (ExecStartPre=), from what the host has then. */
static int write_resolv_conf(const char *name) {
        _cleanup_free_ char *host = NULL, *uplink = NULL, *text = NULL;
        _cleanup_close_ int d = -EBADF;
        const char *dir = strjoina(network_dir(), "/", name);
        int r;

        r = read_full_file_at(AT_FDCWD, "/etc/resolv.conf", 1024 * 1024, &host, NULL);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Cannot read /etc/resolv.conf: %m");
        r = read_full_file_at(AT_FDCWD, "/run/systemd/resolve/resolv.conf", 1024 * 1024, &uplink, NULL);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Cannot read /run/systemd/resolve/resolv.conf: %m");
        r = resolv_conf_for_machine(host ?: "", uplink, &text);
        if (r < 0)
                return log_oom();
        if (r == 0)
                log_warning("The host's resolv.conf names no name server that machine '%s' can reach (only "
                            "loopback ones, and systemd-resolved's upstream list has none): names will not "
                            "resolve inside.", name);

        r = mkdir_p_at(AT_FDCWD, dir, 0755, 0755);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", dir);
        d = open(dir, O_DIRECTORY|O_CLOEXEC|O_RDONLY|O_NOFOLLOW);
        if (d < 0)
                return log_error_errno(errno, "Cannot open %s: %m", dir);
        r = write_file_atomic_at(d, "resolv.conf", text, strlen(text), 0644);
        if (r < 0)
                return log_error_errno(r, "Cannot write %s/resolv.conf: %m", dir);
        return 0;
}

/* After the settings changed: a machine that now runs an application on a private network gets the
 * network drop-in and the bind of its resolv.conf; one that boots or left the private network loses
 * them. 1 if a unit file changed (systemd needs a reload). */
static int commit_app_network(const char *name) {
        _cleanup_(nspawn_settings_done) NspawnSettings eff, upd;
        _cleanup_free_ char *helper = NULL;
        unsigned line = 0;
        bool want;
        int r;

        nspawn_settings_init(&eff);
        nspawn_settings_init(&upd);
        r = machine_settings_load(nspawn_dir(), name, &eff, NULL, &line);
        if (r < 0)
                return log_settings_error(r, name, line);
        want = nspawn_settings_is_app_network(&eff);

        r = nspawn_settings_set_dns_bind(&eff, network_dir(), name, want);
        if (r < 0)
                return log_oom();
        if (r > 0) {
                upd.binds = TAKE_PTR(eff.binds);
                upd.n_binds = eff.n_binds;
                eff.n_binds = 0;
                upd.binds_set = true;
                r = machine_settings_write(nspawn_dir(), name, &upd, &line);
                if (r < 0)
                        return log_settings_error(r, name, line);
        }

        if (want) {
                r = helper_path(&helper);
                if (r < 0)
                        return log_error_errno(r, "Cannot find the path of this program: %m");
                /* Now, so that the settings' Bind= finds its file from the start, also for a plain
                 * 'systemd-nspawn -M NAME'. */
                r = write_resolv_conf(name);
                if (r < 0)
                        return r;
        } else {
                const char *d = strjoina(network_dir(), "/", name);

                r = rm_rf_at(AT_FDCWD, d);
                if (r < 0 && r != -ENOENT)
                        return log_error_errno(r, "Failed to remove %s: %m", d);
        }
        r = machine_network_write(unit_dir(), name, helper);
        if (r < 0)
                return log_error_errno(r, "Failed to write the network drop-in of '%s' into %s: %m", name,
                                       unit_dir());
        return r;
}

int machine_glue_commit(const char *name, bool quiet) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *helper = NULL, *msg = NULL;
        bool changed_units = false;
        unsigned line = 0;
        int r;

        if (arg_settings_given) {
                r = machine_settings_write(nspawn_dir(), name, &arg_settings, &line);
                if (r < 0)
                        return log_settings_error(r, name, line);
                if (!quiet)
                        log_info("Settings written to %s/%s.nspawn.", nspawn_dir(), name);
        }
        /* Also without options: a template's settings copied to a new instance name it. */
        r = commit_app_network(name);
        if (r < 0)
                return r;
        changed_units = r > 0;

        if (arg_restart >= 0) {
                if (arg_restart != RESTART_NO) {
                        r = helper_path(&helper);
                        if (r < 0)
                                return log_error_errno(r, "Cannot find the path of this program: %m");
                }
                r = machine_restart_write(unit_dir(), name, arg_restart, helper);
                if (r < 0)
                        return log_error_errno(r, "Failed to write the restart policy of '%s' into %s: %m",
                                               name, unit_dir());
                changed_units = changed_units || r > 0;
        }

        if (!arg_enable && !arg_start) {
                /* Nothing asked of systemd; tell it about a new drop-in if it is there to ask. */
                if (!changed_units)
                        return 0;
                if (bus_open_system_checked(&bus, &msg) < 0) {
                        if (!quiet)
                                log_info("No systemd here (%s) Run 'systemctl daemon-reload' where it runs.",
                                         msg ?: "no bus.");
                        return 0;
                }
                return reload(bus);
        }

        r = open_bus(&bus, arg_enable ? "enable the machine" : "start the machine");
        if (r < 0) {
                log_info("The machine and its settings are in place; run 'mkmachine%s%s %s' on a "
                         "system running systemd.", arg_enable ? " set --enable" : " start",
                         arg_enable && arg_start ? " --start" : "", name);
                return r;
        }

        if (arg_enable) {
                r = enable_machine(bus, name);
                if (r < 0)
                        return r;
                changed_units = true;
        }
        if (changed_units) {
                r = reload(bus);
                if (r < 0)
                        return r;
        }
        if (arg_start)
                return machine_glue_start(name);
        return 0;
}

int machine_glue_set(const char *name, bool quiet) {
        int r;

        if (!machine_glue_any())
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Nothing to set: give at least one of the "
                                       "machine settings options (see 'mkmachine --help').");
        r = machine_glue_prepare(name, false);
        if (r < 0)
                return r;
        return machine_glue_commit(name, quiet);
}

static bool state_is_running(const char *s) {
        return streq(s, "active") || streq(s, "activating") || streq(s, "reloading") ||
                streq(s, "deactivating");
}

int machine_glue_remove_begin(const char *name, bool force) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *unit = nspawn_unit_name(name), *state = NULL;
        int r;

        if (!unit)
                return log_oom();
        if (bus_open_system_checked(&bus, NULL) < 0)
                return 0;

        r = manager_unit_active_state(bus, unit, &state, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to ask systemd about %s: %s", unit,
                                       bus_error_message(&error, r));
        if (!state_is_running(state))
                return 0;
        /* Already on its way down ('machinectl terminate' returns before the unit has stopped): not in
         * use, only not yet gone. The stop job joins the running one and waits for it. */
        if (streq(state, "deactivating"))
                return machine_glue_stop(name);
        if (!force)
                return log_error_errno(SYNTHETIC_ERRNO(EBUSY), "Machine '%s' is in use: it is running (%s "
                                       "is %s). Stop it first ('mkmachine stop %s') or use --force.",
                                       name, unit, state, name);
        return machine_glue_stop(name);
}

int machine_glue_remove_finish(const char *name) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *unit = nspawn_unit_name(name);
        bool removed = false;
        const char *wants;
        int r;

        if (!unit)
                return log_oom();

        if (bus_open_system_checked(&bus, NULL) >= 0) {
                unsigned n = 0;

                r = manager_disable_unit(bus, unit, &n, &error);
                if (r < 0)
                        return log_error_errno(r, "Failed to disable %s: %s", unit,
                                               bus_error_message(&error, r));
                removed = n > 0;
        }
        /* Without systemd (or with the unit directory elsewhere, for tests): the symlink enable makes. */
        wants = strjoina(unit_dir(), "/machines.target.wants/", unit);
        if (unlink(wants) >= 0)
                removed = true;
        else if (errno != ENOENT)
                return log_error_errno(errno, "Failed to remove %s: %m", wants);

        r = machine_config_remove(nspawn_dir(), unit_dir(), network_dir(), name);
        if (r < 0)
                return log_error_errno(r, "Failed to remove the settings of '%s': %m", name);
        removed = removed || r > 0;

        if (bus && removed) {
                r = reload(bus);
                if (r < 0)
                        return r;
        }
        return removed;
}

static json_object* settings_to_json(const NspawnSettings *s, const char *name, RestartPolicy restart,
                                     bool enabled) {
        json_object *j = json_object_new_object(), *a;

        if (!j)
                return NULL;
        json_object_object_add(j, "network", s->network >= 0 ?
                               json_object_new_string(network_mode_to_string(s->network)) : NULL);
        if (s->network_name)
                json_object_object_add(j, "network_name", json_object_new_string(s->network_name));
        a = json_object_new_array();
        for (size_t i = 0; a && i < s->n_ports; i++) {
                char buf[NSPAWN_PORT_STRING_MAX];
                json_object_array_add(a, json_object_new_string(nspawn_port_format(s->ports + i, buf,
                                                                                   sizeof(buf))));
        }
        json_object_object_add(j, "ports", a);
        a = json_object_new_array();
        for (size_t i = 0; a && i < s->n_binds; i++) {
                json_object *b;

                if (nspawn_bind_is_dns(s->binds + i, network_dir(), name))
                        continue;       /* ours: "host_configured_network" says it */
                b = json_object_new_object();
                if (!b)
                        break;
                json_object_object_add(b, "source", json_object_new_string(s->binds[i].source));
                json_object_object_add(b, "destination", json_object_new_string(s->binds[i].destination));
                json_object_object_add(b, "read_only", json_object_new_boolean(s->binds[i].read_only));
                json_object_object_add(b, "idmap", json_object_new_boolean(s->binds[i].idmap));
                json_object_array_add(a, b);
        }
        json_object_object_add(j, "binds", a);
        json_object_object_add(j, "host_configured_network",
                               json_object_new_boolean(nspawn_settings_is_app_network(s)));
        json_object_object_add(j, "private_users", s->private_users >= 0 ?
                               json_object_new_string(private_users_mode_to_string(s->private_users)) :
                               NULL);
        json_object_object_add(j, "boot", json_object_new_boolean(s->boot != 0));
        a = json_object_new_array();
        STRV_FOREACH(p, s->parameters)
                json_object_array_add(a, json_object_new_string(*p));
        json_object_object_add(j, "exec", a);
        a = json_object_new_array();
        STRV_FOREACH(e, s->environment)
                json_object_array_add(a, json_object_new_string(*e));
        json_object_object_add(j, "environment", a);
        json_object_object_add(j, "restart", json_object_new_string(restart_policy_to_string(restart)));
        json_object_object_add(j, "enabled", json_object_new_boolean(enabled));
        return j;
}

int machine_glue_show(const char *name, json_object *j) {
        _cleanup_(nspawn_settings_done) NspawnSettings s;
        _cleanup_free_ char *unit = nspawn_unit_name(name);
        _cleanup_(ini_freep) IniFile *ini = NULL;
        const char *sdir = show_nspawn_dir(name);
        RestartPolicy restart;
        unsigned line = 0;
        bool enabled, file;
        int r;

        if (!unit)
                return log_oom();
        nspawn_settings_init(&s);
        r = machine_settings_load(sdir, name, &s, &ini, &line);
        if (r < 0)
                return log_settings_error(r, name, line);
        /* What systemd-nspawn skips, we skip too; but it may be a line it uses that we cannot read. */
        {
                _cleanup_(nspawn_settings_done) NspawnSettings again;
                _cleanup_free_ unsigned *ignored = NULL;
                size_t n_ignored = 0;

                r = nspawn_settings_from_ini_lenient(ini, &again, &ignored, &n_ignored);
                if (r < 0)
                        return log_oom();
                for (size_t i = 0; i < n_ignored; i++)
                        log_warning("%s/%s.nspawn:%u: cannot read this line, not shown (systemd-nspawn "
                                    "skips what it cannot use; the line stays as it is).", sdir, name,
                                    ignored[i]);
        }
        r = machine_restart_read(show_unit_dir(name), name, &restart);
        if (r < 0)
                return log_error_errno(r, "Cannot read %s/%s.d/%s: %m", show_unit_dir(name), unit,
                                       MACHINE_DROPIN_NAME);
        enabled = unit_enabled(unit_dir(), unit) || unit_enabled(GENERATOR_UNIT_DIR, unit);
        file = access(strjoina(sdir, "/", name, ".nspawn"), F_OK) >= 0;

        if (j) {
                json_object_object_add(j, "settings_file", file ? json_object_new_string(
                                               strjoina(sdir, "/", name, ".nspawn")) : NULL);
                json_object_object_add(j, "settings", settings_to_json(&s, name, restart, enabled));
                return 0;
        }

        printl("   Settings: %s%s\n", file ? sdir : "none (systemd-nspawn@.service defaults)",
               file ? strjoina("/", name, ".nspawn") : "");
        printl("    Network: %s%s%s%s\n",
               s.network >= 0 ? network_mode_to_string(s.network) : "veth (default)",
               s.network_name ? ":" : "", s.network_name ?: "",
               nspawn_settings_is_app_network(&s) ?
               ", host0 set up by mkmachine at each start, the host's name servers" : "");
        for (size_t i = 0; i < s.n_ports; i++) {
                char buf[NSPAWN_PORT_STRING_MAX];
                printl("%11s %s\n", i == 0 ? "Ports:" : "",
                       nspawn_port_format(s.ports + i, buf, sizeof(buf)));
        }
        for (size_t i = 0, shown = 0; i < s.n_binds; i++)
                if (!nspawn_bind_is_dns(s.binds + i, network_dir(), name))
                        printl("%11s %s:%s%s%s\n", shown++ == 0 ? "Binds:" : "", s.binds[i].source,
                               s.binds[i].destination, s.binds[i].read_only ? " (read-only)" : "",
                               s.binds[i].idmap ? " (idmap)" : "");
        printl("  PrivUsers: %s\n",
               s.private_users >= 0 ? private_users_mode_to_string(s.private_users) : "pick (default)");
        if (s.boot == 0) {
                _cleanup_free_ char *cmd = NULL;
                int q = nspawn_words_quote(s.parameters, &cmd);

                if (q == -ENOMEM)
                        return log_oom();
                /* As the file has it, quoted the way systemd-nspawn reads it back. */
                printl("       Exec: %s\n", q < 0 ? "(a word holds control characters)" :
                       isempty(cmd) ? "(the image's shell)" : cmd);
        } else
                printl("       Boot: yes\n");
        STRV_FOREACH(e, s.environment)
                printl("%11s %s\n", e == s.environment ? "Env:" : "", *e);
        printl("    Restart: %s\n", restart_policy_to_string(restart));
        printl("  At boot: %s\n", enabled ? "enabled" : "disabled");
        return 0;
}

/* ExecStartPost=: host0 of the running machine, from the host. */
static int network_up(const char *name) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(machine_status_done) MachineStatus st = {};
        _cleanup_free_ char *msg = NULL;
        _cleanup_close_ int netns = -EBADF;
        char a[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN];
        AppNetwork net;
        int r;

        r = open_bus(&bus, "configure the machine's network");
        if (r < 0)
                return r;
        r = machine_bus_get(bus, name, &st, &msg);
        if (r == -ENXIO) {
                /* Its command already ended (and the unit stops): nothing left to configure. */
                log_info("Machine '%s' is already gone; nothing to configure.", name);
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "Cannot find machine '%s' in systemd-machined: %s", name,
                                       msg ?: strerror(-r));
        {
                char p[64];

                (void) snprintf(p, sizeof(p), "/proc/%" PRIu32 "/ns/net", st.leader);
                netns = open(p, O_RDONLY|O_CLOEXEC);
        }
        if (netns < 0 && errno == ENOENT) {
                log_info("Machine '%s' is already gone; nothing to configure.", name);
                return 0;
        }
        if (netns < 0)
                return log_error_errno(errno, "Cannot open the network namespace of machine '%s' "
                                       "(PID %" PRIu32 "): %m", name, st.leader);

        r = app_network_configure(netns, name, 20 * USEC_PER_SEC, &net);
        if (r < 0 && kill((pid_t) st.leader, 0) < 0 && errno == ESRCH) {
                log_info("Machine '%s' ended while its network was set up; nothing to configure.", name);
                return 0;
        }
        if (r == -ENODEV)
                return log_error_errno(r, "Machine '%s' has no host0 veth to configure: is its network "
                                       "private (mkmachine show %s)?", name, name);
        if (r == -ETIMEDOUT)
                return log_error_errno(r, "systemd-networkd manages the host side of machine '%s' but gave "
                                       "it no IPv4 address in 20 s (networkctl status; "
                                       "80-container-ve.network or 90-mkmachine-ve.network).", name);
        if (r == -EADDRNOTAVAIL)
                return log_error_errno(r, "No IPv4 address for machine '%s': its bridge has none, or no "
                                       "/28 of 192.168.0.0/16 is free on this host.", name);
        if (r < 0)
                return log_error_errno(r, "Failed to configure host0 of machine '%s': %m", name);
        log_info("Machine '%s': host0 %s/%u, default route via %s%s.", name,
                 inet_ntop(AF_INET, &net.address, a, sizeof(a)) ?: "?", net.prefixlen,
                 inet_ntop(AF_INET, &net.gateway, g, sizeof(g)) ?: "?",
                 net.allocated ? " (a subnet of mkmachine's: networkd does not manage the host side)" : "");
        return 0;
}

int machine_glue_unit_helper(const char *what, const char *name) {
        int r;

        if (streq(what, "unregister")) {
                _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                r = open_bus(&bus, "unregister the machine");
                if (r < 0)
                        return r;
                r = machined_unregister_machine(bus, name, &error);
                if (r == -ENXIO)
                        return 0;
                if (r < 0)
                        return log_error_errno(r, "Failed to unregister machine '%s': %s", name,
                                               bus_error_message(&error, r));
                log_info("Unregistered the stale machine '%s'.", name);
                return 0;
        }

        if (streq(what, "unforward")) {
                _cleanup_(nspawn_settings_done) NspawnSettings s;
                unsigned line = 0;

                nspawn_settings_init(&s);
                r = machine_settings_load(nspawn_dir(), name, &s, NULL, &line);
                if (r < 0)
                        return log_settings_error(r, name, line);

                /* nspawn keeps its forwards in a map keyed by protocol and host port; a killed nspawn
                 * leaves them, and the next start then fails to add its own ("File exists"). This runs
                 * as ExecStopPost=: what it says lands in the unit's journal. */
                {
                        const char *family = NULL;

                        r = nft_forward_remove(s.ports, s.n_ports, &family);
                        if (r < 0)
                                return log_error_errno(r, "Failed to remove the stale %s forwards of '%s' "
                                                       "over netlink: %m. Its next start may lack them.",
                                                       strna(family), name);
                        if (r > 0)
                                log_info("Removed %i stale port forward%s of '%s'.", r, r == 1 ? "" : "s",
                                         name);
                }
                return 0;
        }

        if (streq(what, "network-prepare"))
                return write_resolv_conf(name);
        if (streq(what, "network-up"))
                return network_up(name);

        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Unknown unit helper '%s'.", what);
}
