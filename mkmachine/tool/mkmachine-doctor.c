/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* doctor: what the host has and lacks for running machines, each problem with its fix. */

#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>

#include "bus-util.h"
#include "config.h"
#include "fd-util.h"
#include "host-check.h"
#include "log.h"
#include "machine-glue.h"
#include "machined-client.h"
#include "nft-forward.h"
#include "podman.h"
#include "spawn-util.h"
#include "string-util.h"
#include "strv.h"
#include "tool.h"

typedef struct Doctor {
        json_object *checks;
        unsigned n_fail, n_warn;
} Doctor;

/* One line per check; for a problem, the fix below it. */
static void _printf_(5, 6) doctor_report(Doctor *d, const char *name, CheckVerdict v, const char *fix,
                                         const char *format, ...) {
        _cleanup_free_ char *message = NULL;
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&message, format, ap) < 0)
                message = NULL;
        va_end(ap);

        if (v == CHECK_FAIL)
                d->n_fail++;
        else if (v == CHECK_WARN)
                d->n_warn++;

        if (arg_json) {
                json_object *j = json_object_new_object();

                if (!j)
                        return;
                json_object_object_add(j, "name", json_object_new_string(name));
                json_object_object_add(j, "result", json_object_new_string(check_verdict_to_string(v)));
                json_object_object_add(j, "message", json_object_new_string(message ?: ""));
                json_object_object_add(j, "fix", fix && v != CHECK_OK ? json_object_new_string(fix) : NULL);
                json_object_array_add(d->checks, j);
                return;
        }
        printl("%-4s %-16s %s\n", check_verdict_to_string(v), name, strna(message));
        if (fix && (v == CHECK_WARN || v == CHECK_FAIL))
                printl("%-4s %-16s fix: %s\n", "", "", fix);
}

static int read_small_file(const char *path, char **ret) {
        return read_full_file_at(AT_FDCWD, path, 64 * 1024, ret, NULL);
}

/* Returns the version of systemd-nspawn (0 if unknown). */
static unsigned doctor_nspawn(Doctor *d) {
        char *argv[] = { (char*) "systemd-nspawn", (char*) "--version", NULL };
        _cleanup_free_ char *out = NULL;
        unsigned version = 0;
        int r;

        r = spawn_capture(argv, 10 * USEC_PER_SEC, &out, NULL, NULL);
        if (r == -ENOENT) {
                doctor_report(d, "systemd-nspawn", CHECK_FAIL,
                              "apt-get install systemd-container (dnf install systemd-container)",
                              "systemd-nspawn is not installed: it is what runs the machines");
                return 0;
        }
        if (r < 0 || systemd_version_parse(out, &version) < 0) {
                doctor_report(d, "systemd-nspawn", CHECK_FAIL, "reinstall systemd-container",
                              "'systemd-nspawn --version' did not work: %s",
                              r < 0 ? strerror(-r) : "no version in its output");
                return 0;
        }
        if (version < NSPAWN_VERSION_MIN) {
                doctor_report(d, "systemd-nspawn", CHECK_FAIL,
                                     "upgrade systemd (Debian 11 and newer, Ubuntu 22.04 and newer have it)",
                                     "systemd-nspawn %u is too old: mkmachine needs %u or newer (the unit "
                                     "template and the .nspawn settings it writes, as of Debian 11)",
                                     version, NSPAWN_VERSION_MIN);
                return version;
        }
        doctor_report(d, "systemd-nspawn", CHECK_OK, NULL, "version %u (%u or newer needed)", version,
                      NSPAWN_VERSION_MIN);
        return version;
}

static void doctor_cgroups(Doctor *d) {
        struct statfs root = {}, unified = {};
        CgroupMode mode;

        if (statfs("/sys/fs/cgroup", &root) < 0)
                root.f_type = 0;
        if (statfs("/sys/fs/cgroup/unified", &unified) < 0)
                unified.f_type = 0;
        mode = cgroup_mode_from_magic((uint64_t) root.f_type, (uint64_t) unified.f_type);
        switch (mode) {
        case CGROUP_UNIFIED:
                return doctor_report(d, "cgroups", CHECK_OK, NULL,
                                     "unified hierarchy (cgroup v2): what systemd-nspawn works best with");
        case CGROUP_HYBRID:
                return doctor_report(d, "cgroups", CHECK_WARN,
                                     "boot the host with systemd.unified_cgroup_hierarchy=1 on the kernel "
                                     "command line",
                                     "hybrid layout (cgroup v1 controllers, v2 only for systemd): "
                                     "guests with systemd 256 or newer (which deprecated cgroup v1; later "
                                     "releases removed it) may refuse to boot, and nspawn cannot delegate "
                                     "controllers");
        case CGROUP_LEGACY:
                return doctor_report(d, "cgroups", CHECK_FAIL,
                                     "boot the host with systemd.unified_cgroup_hierarchy=1 on the kernel "
                                     "command line",
                                     "cgroup v1 only (legacy layout): guests with current systemd do not "
                                     "boot");
        default:
                return doctor_report(d, "cgroups", CHECK_FAIL,
                                     "mount cgroup2 on /sys/fs/cgroup (systemd as PID 1 does that)",
                                     "nothing is mounted on /sys/fs/cgroup: systemd-nspawn needs cgroups");
        }
}

/* The restart drop-in removes a killed nspawn's forwards over netlink: without that path a restarted
 * machine comes back without its Port= forward. */
static void doctor_forward_cleanup(Doctor *d) {
        int r = nft_forward_probe();

        if (r >= 0)
                return doctor_report(d, "forward-cleanup", CHECK_OK, NULL,
                                     "nftables answers over netlink: the forwards of a crashed machine "
                                     "are cleaned before it restarts");
        doctor_report(d, "forward-cleanup", CHECK_FAIL,
                      r == -EPERM ? "run mkmachine (and the units) as root with CAP_NET_ADMIN" :
                      "modprobe nf_tables (systemd-nspawn's Port= needs it as well)",
                      "nftables cannot be changed over netlink (%s): a machine whose nspawn was killed "
                      "would come back without its Port= forwards", strerror(-r));
}

/* Machines whose settings (in dir) forward ports. */
static unsigned count_port_machines(const char *dir) {
        _cleanup_closedir_ DIR *d = opendir(dir);
        unsigned n = 0;

        if (!d)
                return 0;
        for (struct dirent *de; (de = readdir(d)); ) {
                _cleanup_(nspawn_settings_done) NspawnSettings s;
                _cleanup_free_ char *name = NULL;
                const char *e = endswith(de->d_name, ".nspawn");

                nspawn_settings_init(&s);
                if (!e || de->d_name[0] == '.')
                        continue;
                name = strndup(de->d_name, e - de->d_name);
                if (!name || !machine_name_is_valid(name))
                        continue;
                if (machine_settings_load(dir, name, &s, NULL, NULL) >= 0 && s.n_ports > 0)
                        n++;
        }
        return n;
}

/* The links of running machines: ve-NAME (veth) and vb-NAME (in a zone or bridge). Asked of the kernel
 * (if_nameindex() is netlink), not of a /sys that may be another network namespace's. */
static unsigned count_machine_links(void) {
        struct if_nameindex *l = if_nameindex();
        unsigned n = 0;

        for (struct if_nameindex *i = l; i && i->if_index != 0; i++)
                if (startswith(i->if_name, "ve-") || startswith(i->if_name, "vb-"))
                        n++;
        if (l)
                if_freenameindex(l);
        return n;
}

static int cmp_strp(const void *a, const void *b) {
        return strcmp(*(char * const *) a, *(char * const *) b);
}

/* What networkd.conf (and its drop-ins, the last one wins) says in [Network] IPv4Forwarding=: 1 yes,
 * 0 no, -1 nothing. */
static int networkd_conf_forwarding(void) {
        _cleanup_strv_free_ char **files = NULL;
        _cleanup_closedir_ DIR *d = opendir("/etc/systemd/networkd.conf.d");
        int said = -1;

        if (strv_extend(&files, "/etc/systemd/networkd.conf") < 0)
                return -1;
        for (struct dirent *de; d && (de = readdir(d)); )
                if (endswith(de->d_name, ".conf") && de->d_name[0] != '.')
                        (void) strv_extend(&files, strjoina("/etc/systemd/networkd.conf.d/", de->d_name));
        if (strv_length(files) > 2)
                qsort(files + 1, strv_length(files) - 1, sizeof(char*), cmp_strp);
        STRV_FOREACH(f, files) {
                _cleanup_fclose_ FILE *fp = fopen(*f, "re");
                _cleanup_(ini_freep) IniFile *ini = NULL;
                const char *v;

                if (!fp || ini_parse(fp, &ini, NULL) < 0)
                        continue;
                v = ini_get(ini, "Network", "IPv4Forwarding", NULL);
                if (v)
                        said = !(streq(v, "no") || streq(v, "false") || streq(v, "0") || streq(v, "off"));
        }
        return said;
}

static void doctor_ip_forward(Doctor *d, int networkd_active, unsigned systemd_version) {
        _cleanup_free_ char *text = NULL;
        const char *nspawn_dir = getenv("MKMACHINE_NSPAWN_DIR") ?: MACHINE_NSPAWN_DIR_DEFAULT;
        bool new_networkd = systemd_version >= 256;
        const char *implies = new_networkd ? "IPv4Forwarding=yes in networkd.conf" :
                "IPMasquerade= in 80-container-ve.network implies IPForward=";
        const char *fix = new_networkd ?
                "IPv4Forwarding=yes in [Network] of /etc/systemd/networkd.conf (then systemctl restart "
                "systemd-networkd), or sysctl -w net.ipv4.ip_forward=1 and the same line in "
                "/etc/sysctl.d/90-machines.conf" :
                "sysctl -w net.ipv4.ip_forward=1 and the same line in /etc/sysctl.d/90-machines.conf";
        ForwardFacts f = { .networkd_active = networkd_active };
        int conf;
        long v;

        if (read_small_file("/proc/sys/net/ipv4/ip_forward", &text) < 0 || sysctl_parse_int(text, &v) < 0)
                return doctor_report(d, "ip-forward", CHECK_WARN, NULL,
                                     "cannot read /proc/sys/net/ipv4/ip_forward");
        f.ip_forward = v;
        f.port_machines = count_port_machines(nspawn_dir) + count_port_machines("/run/systemd/nspawn");
        f.machine_links = count_machine_links();
        conf = networkd_conf_forwarding();
        /* Up to 255 IPMasquerade= turns the global switch on unless told not to; from 256 on only
         * networkd.conf's IPv4Forwarding=yes does. */
        f.networkd_will_not = new_networkd ? conf <= 0 : conf == 0;

        switch (forward_state(&f)) {
        case FORWARD_ON:
                return doctor_report(d, "ip-forward", CHECK_OK, NULL, "net.ipv4.ip_forward = %ld", v);
        case FORWARD_OFF_PENDING:
                return doctor_report(d, "ip-forward", CHECK_OK, NULL,
                                     "net.ipv4.ip_forward = 0 for now: systemd-networkd turns it on when "
                                     "the first machine's link comes up (%s)", implies);
        case FORWARD_OFF_UNUSED:
                return doctor_report(d, "ip-forward", CHECK_WARN,
                                     "systemctl enable --now systemd-networkd (it turns forwarding on for "
                                     "machines), or sysctl -w net.ipv4.ip_forward=1",
                                     "net.ipv4.ip_forward = 0: machines cannot reach out through the host's "
                                     "NAT, and Port= forwards would not work (systemd-nspawn does not turn "
                                     "it on)");
        case FORWARD_OFF_BROKEN:
                return doctor_report(d, "ip-forward", CHECK_FAIL, fix,
                                     "net.ipv4.ip_forward = 0 while %u machine link%s exist%s and %u "
                                     "machine%s forward%s ports: the forwards lead nowhere%s",
                                     f.machine_links, f.machine_links == 1 ? "" : "s",
                                     f.machine_links == 1 ? "s" : "", f.port_machines,
                                     f.port_machines == 1 ? "" : "s", f.port_machines == 1 ? "s" : "",
                                     conf == 0 ? " (networkd.conf sets IPv4Forwarding=no)" :
                                     new_networkd ? " (systemd-networkd 256 and newer forward only on the "
                                     "machine's link unless networkd.conf says IPv4Forwarding=yes)" :
                                     " (systemd-networkd did not turn it on)");
        default:
                return doctor_report(d, "ip-forward", CHECK_FAIL,
                                     conf == 0 ? "remove IPv4Forwarding=no from networkd.conf, or "
                                     "sysctl -w net.ipv4.ip_forward=1" :
                                     new_networkd ? fix :
                                     "systemctl enable --now systemd-networkd, or sysctl -w "
                                     "net.ipv4.ip_forward=1 and the same line in "
                                     "/etc/sysctl.d/90-machines.conf",
                                     "net.ipv4.ip_forward = 0 and %u machine%s forward%s ports, but nothing "
                                     "will turn forwarding on (%s): those forwards will lead nowhere",
                                     f.port_machines, f.port_machines == 1 ? "" : "s",
                                     f.port_machines == 1 ? "s" : "",
                                     conf == 0 ? "networkd.conf sets IPv4Forwarding=no" :
                                     networkd_active > 0 && new_networkd ?
                                     "systemd-networkd 256 and newer forward only on the machine's link "
                                     "unless networkd.conf says IPv4Forwarding=yes" :
                                     "systemd-networkd is not running, and systemd-nspawn never does");
        }
}

static void doctor_address_ranges(Doctor *d) {
        char *argv[] = { (char*) "podman", (char*) "network", (char*) "ls", (char*) "--format",
                         (char*) "json", NULL };
        _cleanup_free_ char *out = NULL, *routes_text = NULL;
        _cleanup_free_ RouteEntry *routes = NULL;
        PodmanNetwork *nets = NULL;
        size_t n_nets = 0, n_routes = 0;
        Ipv4Prefix pool;
        unsigned problems = 0;
        char pool_s[IPV4_PREFIX_STRING_MAX];
        int r;

        if (ipv4_prefix_from_string(NETWORKD_CONTAINER_POOL, &pool) < 0)
                return;
        (void) ipv4_prefix_to_string(&pool, pool_s, sizeof(pool_s));

        r = spawn_capture(argv, PODMAN_TIMEOUT_USEC, &out, NULL, NULL);
        if (r >= 0 && podman_networks_parse(out, strlen(out), &nets, &n_nets, NULL) >= 0) {
                for (size_t i = 0; i < n_nets; i++)
                        for (char **s = nets[i].subnets; s && *s; s++) {
                                Ipv4Prefix p;

                                if (ipv4_prefix_from_string(*s, &p) < 0 || !ipv4_prefix_overlap(&p, &pool))
                                        continue;
                                problems++;
                                doctor_report(d, "address-ranges", CHECK_WARN,
                                              "give the Podman network a range outside "
                                              NETWORKD_CONTAINER_POOL " (podman network create "
                                              "--subnet=10.89.0.0/24 …), or fixed "
                                              "ranges to the machines (/etc/systemd/network/ve-NAME.network "
                                              "with Address=)",
                                              "Podman network '%s' (%s) lies in %s, from which "
                                              "systemd-networkd gives machines their addresses: a machine "
                                              "and a container can end up in the same range",
                                              nets[i].name, *s, pool_s);
                        }
                podman_network_array_free(nets, n_nets);
        }

        if (read_small_file("/proc/net/route", &routes_text) >= 0 &&
            proc_net_route_parse(routes_text, &routes, &n_routes, NULL) >= 0)
                for (size_t i = 0; i < n_routes; i++) {
                        char p[IPV4_PREFIX_STRING_MAX];

                        /* The default route overlaps everything; ve-/vz- links are the machines'. */
                        if (routes[i].destination.length == 0 || startswith(routes[i].iface, "ve-") ||
                            startswith(routes[i].iface, "vz-") ||
                            !ipv4_prefix_overlap(&routes[i].destination, &pool))
                                continue;
                        problems++;
                        doctor_report(d, "address-ranges", CHECK_WARN,
                                      "give the machines fixed ranges outside it "
                                      "(/etc/systemd/network/ve-NAME.network with Address=)",
                                      "the host routes %s to %s, inside %s, from which systemd-networkd "
                                      "picks machine addresses (it avoids addresses on links, not routes)",
                                      ipv4_prefix_to_string(&routes[i].destination, p, sizeof(p)),
                                      routes[i].iface, pool_s);
                }

        if (problems == 0)
                doctor_report(d, "address-ranges", CHECK_OK, NULL,
                              "no route%s overlaps %s, the range machines get their addresses from",
                              r >= 0 ? " or Podman network" : "", pool_s);
}

/* Free space where the directory is, or would be made (its nearest existing parent). */
static void doctor_disk(Doctor *d, const char *name, const char *dir) {
        _cleanup_free_ char *p = strdup(dir);
        char avail[FORMAT_BYTES_MAX];
        struct statvfs st;
        uint64_t free_bytes;
        CheckVerdict v;

        if (!p)
                return (void) log_oom();
        while (statvfs(p, &st) < 0) {
                char *slash = strrchr(p, '/');

                if (!slash || slash == p) {
                        strcpy(p, "/");
                        if (statvfs(p, &st) < 0)
                                return doctor_report(d, name, CHECK_WARN, NULL, "cannot check %s: %s", dir,
                                                     strerror(errno));
                        break;
                }
                *slash = 0;
        }
        free_bytes = (uint64_t) st.f_bavail * st.f_frsize;
        v = disk_free_verdict(free_bytes);
        doctor_report(d, name, v, "free space on that file system, or use another directory (--image-root=, "
                      "--cache-dir=)",
                      "%s free on %s%s%s", format_bytes(avail, sizeof(avail), free_bytes), dir,
                      v == CHECK_OK ? "" : ": imports and bootstraps need room for a whole tree",
                      v == CHECK_FAIL ? " (at least 1G)" : "");
}

/* The store must be private (0700): trees unpacked from images hold setuid binaries and devices. */
static void doctor_store_mode(Doctor *d, const char *dir) {
        const char *fix = strjoina("chmod 0700 ", dir);
        struct stat st;

        if (stat(dir, &st) < 0)
                return doctor_report(d, "store-permissions", errno == ENOENT ? CHECK_OK : CHECK_WARN, NULL,
                                     errno == ENOENT ? "%s does not exist yet (it will be made 0700)" :
                                     "cannot check %s: %m", dir);
        if (store_mode_verdict(st.st_mode) == CHECK_OK)
                return doctor_report(d, "store-permissions", CHECK_OK, NULL, "%s is private (%04o)", dir,
                                     (unsigned) (st.st_mode & 07777));
        doctor_report(d, "store-permissions", CHECK_FAIL, fix,
                      "%s is %04o: other users can reach the machines' setuid binaries and device "
                      "nodes", dir, (unsigned) (st.st_mode & 07777));
}

/* The mount the store is on, from the mount table (libmount). */
static void doctor_store_mount(Doctor *d, const char *dir) {
        _cleanup_(store_mount_done) StoreMount m = {};
        char opts[64] = "";
        int r;

        r = store_mount_read(NULL, dir, &m);
        if (r < 0)
                return doctor_report(d, "store-mount", CHECK_WARN, NULL, "cannot find the mount of %s: %s",
                                     dir, strerror(-r));
        if (store_mount_verdict(&m) == CHECK_OK)
                return doctor_report(d, "store-mount", CHECK_OK, NULL, "%s is on %s (%s, mounted at %s)",
                                     dir, m.source, m.fstype, m.target);
        (void) snprintf(opts, sizeof(opts), "%s%s%s%s", m.read_only ? ",ro" : "", m.nodev ? ",nodev" : "",
                        m.nosuid ? ",nosuid" : "", m.noexec ? ",noexec" : "");
        doctor_report(d, "store-mount", CHECK_FAIL,
                      strjoina("mount -o remount,", m.read_only ? "rw," : "", "dev,suid,exec ", m.target,
                               " (and in /etc/fstab), or --image-root= on another file system"),
                      "%s is on %s, mounted at %s with %s: machines there lose their device nodes, setuid "
                      "programs or executables", dir, m.source, m.target, opts + 1);
}

int verb_doctor(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *msg = NULL;
        Doctor d = {};
        unsigned version;
        int r, networkd = -1;

        if (arg_json) {
                d.checks = json_object_new_array();
                if (!d.checks)
                        return log_oom();
        }

        r = bus_open_system_checked(&bus, &msg);
        if (r < 0) {
                doctor_report(&d, "system-bus", CHECK_FAIL,
                              r == -EHOSTDOWN ?
                              "run machines on a host booted with systemd as init (PID 1)" :
                              "apt-get install dbus (or dbus-broker) and start it",
                              "%s", msg ?: strerror(-r));
                doctor_report(&d, "machined", CHECK_SKIP, NULL, "needs the system bus");
                doctor_report(&d, "networkd", CHECK_SKIP, NULL, "needs the system bus");
        } else {
                _cleanup_(unit_status_done) UnitStatus u = {};
                MachineListEntry *l = NULL;
                size_t n = 0;

                doctor_report(&d, "system-bus", CHECK_OK, NULL,
                              "systemd is PID 1 and the system bus answers");

                msg = mfree(msg);
                r = machine_bus_list(bus, &l, &n, &msg);
                if (r < 0)
                        doctor_report(&d, "machined", CHECK_FAIL,
                                      "apt-get install systemd-container (it brings systemd-machined)",
                                      "systemd-machined does not answer: %s", msg ?: strerror(-r));
                else
                        doctor_report(&d, "machined", CHECK_OK, NULL,
                                      "systemd-machined answers (%zu machine%s running)", n,
                                      n == 1 ? "" : "s");
                machine_list_free(l, n);

                msg = mfree(msg);
                r = unit_bus_get_status(bus, "systemd-networkd.service", &u, &msg);
                if (r < 0)
                        doctor_report(&d, "networkd", CHECK_WARN, NULL,
                                      "cannot get the state of systemd-networkd.service: %s",
                                      msg ?: strerror(-r));
                else if (streq_ptr(u.load_state, "not-found"))
                        doctor_report(&d, "networkd", CHECK_FAIL,
                                      "install systemd-networkd (part of systemd on Debian 12; the "
                                      "systemd-networkd package on Debian 13), then systemctl enable --now "
                                      "systemd-networkd",
                                      "systemd-networkd is not installed: the host side of a machine's "
                                      "veth (ve-NAME) gets no address, the machine no network");
                else {
                        networkd = streq_ptr(u.active_state, "active");
                        if (networkd)
                                doctor_report(&d, "networkd", CHECK_OK, NULL, "systemd-networkd is active");
                        else
                                doctor_report(&d, "networkd", CHECK_FAIL,
                                              "systemctl enable --now systemd-networkd",
                                              "systemd-networkd is %s: the host side of a machine's veth "
                                              "(ve-NAME) gets no address and no DHCP server, the machine no "
                                              "network", strna(u.active_state));
                }
        }

        version = doctor_nspawn(&d);
        doctor_ip_forward(&d, networkd, version);
        doctor_forward_cleanup(&d);
        doctor_cgroups(&d);
        doctor_address_ranges(&d);
        doctor_store_mode(&d, arg_image_root);
        doctor_store_mount(&d, arg_image_root);
        doctor_disk(&d, "disk-images", arg_image_root);
        doctor_disk(&d, "disk-cache", arg_cache_dir);

        if (arg_json) {
                json_object *j = json_object_new_object();

                if (!j) {
                        json_object_put(d.checks);
                        return log_oom();
                }
                json_object_object_add(j, "checks", d.checks);
                json_object_object_add(j, "failed", json_object_new_uint64(d.n_fail));
                json_object_object_add(j, "warnings", json_object_new_uint64(d.n_warn));
                json_object_object_add(j, "ok", json_object_new_boolean(d.n_fail == 0));
                r = print_json(j);
                if (r < 0)
                        return r;
        } else
                printf("\n%u failed, %u warning%s.\n", d.n_fail, d.n_warn, d.n_warn == 1 ? "" : "s");

        return d.n_fail > 0 ? -ENOTRECOVERABLE : 0;
}
