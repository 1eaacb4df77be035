/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <locale.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fd-util.h"
#include "log.h"
#include "machine-file.h"
#include "machine-glue.h"
#include "machine-template.h"
#include "macro.h"
#include "progress.h"
#include "auto-update.h"
#include "bootstrap.h"
#include "bus-util.h"
#include "host-check.h"
#include "machined-client.h"
#include "podman.h"
#include "spawn-util.h"
#include "nft-forward.h"
#include "nspawn-settings.h"
#include "download.h"
#include "lock-util.h"
#include "oci-import.h"
#include "oci-push.h"
#include "oci-registry.h"
#include "package-update.h"
#include "systemd-manager-client.h"
#include "recipe.h"
#include "store.h"
#include "strv.h"
#include "string-util.h"
#include "tar-pack.h"
#include "tar-unpack.h"

static const char *arg_image_root = MKMACHINE_IMAGE_ROOT;
static bool arg_json = false;
static bool arg_quiet = false;
static bool arg_force = false;
static bool arg_strip_top = false;
static const char *arg_name = NULL;
static const char *arg_mirror = NULL;
static const char *arg_security_mirror = NULL;
static const char *arg_keyring = NULL;
static const char *arg_recipe = NULL;
static const char *arg_cache_dir = MKMACHINE_CACHE_DIR;
static char **arg_include = NULL;
static char **arg_exclude = NULL;
static bool arg_no_verify = false;
static bool arg_fresh = false;
static const char *arg_platform = NULL;
static int arg_tls_verify = -1;
static const char *arg_format = NULL;
static bool arg_ephemeral = false;
static AutoUpdatePolicy arg_auto_update = _AUTO_UPDATE_POLICY_INVALID;
static const char *arg_health_cmd = NULL;
static bool arg_dry_run = false;
static Compression arg_compress = COMPRESSION_GZIP;
static TarUnpackOptions arg_unpack = {};

static int refuse_update_options(const char *verb, AutoUpdatePolicy allowed);

typedef struct Verb {
        const char *name;
        int min_args;   /* not counting the verb */
        int max_args;   /* -1: unbounded */
        int (*run)(int argc, char *argv[]);
} Verb;

static int help(void) {
        printf("mkmachine [OPTIONS…] COMMAND …\n\n"
               "Build and manage systemd-nspawn machines.\n\n"
               "Commands:\n"
               "  bootstrap RECIPE            Build a machine from a recipe (also: mkmachine RECIPE)\n"
               "  import-tar FILE|- NAME      Create machine NAME from a tar archive\n"
               "  import-oci SOURCE NAME      Create machine NAME from an OCI image (directory or archive)\n"
               "  pull REFERENCE [NAME]       Create a machine from an image in a registry\n"
               "  prune                       Remove cached image blobs no machine uses\n"
               "  list                        List machines (stored, running) and Podman containers\n"
               "  show NAME                   Show a machine and its origin\n"
               "  status NAME                 Show whether a machine runs: its unit, leader, addresses\n"
               "  doctor                      Check what machines need from this host, with fixes\n"
               "  remove NAME                 Remove a machine, its settings and its enablement\n"
               "  create TEMPLATE@INSTANCE    Make an instance of a template machine (see TEMPLATES)\n"
               "  set NAME                    Change the settings of a machine (see below)\n"
               "  start NAME                  Start a machine (systemd-nspawn@NAME.service)\n"
               "  stop NAME                   Stop a machine\n"
               "  export NAME FILE|-          Write a machine's tree to a tar archive\n"
               "  rename OLD NEW              Rename a machine\n"
               "  clone SOURCE NAME           Copy a machine\n"
               "  push NAME REFERENCE         Upload a machine as an OCI image to a registry\n"
               "  auto-update [NAME…]         Update machines (new image, package updates), rollback\n"
               "  help                        Show this help\n"
               "\nOptions:\n"
               "  -h --help                   Show this help\n"
               "     --version                Show package version\n"
               "     --image-root=DIR         Machine store (default: %s)\n"
               "     --json                   Print data as JSON\n"
               "  -q --quiet                  No progress output\n"
               "     --force                  Replace an existing machine; remove: stop it first;\n"
               "                              export: also a running machine\n"
               "     --strip-top              Unpack the archive's single top-level directory\n"
               "     --name=NAME              Name of the machine to bootstrap (default: the recipe's)\n"
               "     --recipe=FILE            Bootstrap from this recipe file\n"
               "     --mirror=URL             Archive to bootstrap from\n"
               "     --security-mirror=URL    Where the recipe's Security= suite is (default: the\n"
               "                              host's apt sources, else /debian-security beside it)\n"
               "     --keyring=FILE           Keys the archive's Release must be signed with\n"
               "     --include=PKG,…          Install these packages too\n"
               "     --exclude=PKG,…          Never install these packages\n"
               "     --no-verify              Accept an unsigned archive (dangerous)\n"
               "     --fresh                  Bootstrap anew, not from the cached tree of the recipe\n"
               "     --cache-dir=DIR          Package and image blob cache (default: %s)\n"
               "     --platform=OS/ARCH[/VAR] Image platform to import (default: the host's)\n"
               "     --tls-verify=BOOL        pull: false accepts any certificate and plain HTTP\n"
               "     --format=FORMAT          export: tar, tar.gz, tar.zst or tar.xz (default: from\n"
               "                              the file name)\n"
               "     --ephemeral              create: run the instance on the template's tree under a\n"
               "                              throw-away overlay, not on a clone\n"
               "     --auto-update=POLICY     pull, import-oci, bootstrap, set: registry, local,\n"
               "                              packages or no\n"
               "     --health-cmd=CMD         set: command that must succeed in the machine after\n"
               "                              an update (\"\" removes it)\n"
               "     --dry-run                auto-update: only report what would be updated\n"
               "     --compress=gzip|zstd     push: layer compression (default: gzip)\n"
               "     --max-size=BYTES         import-tar, import-oci, pull: at most this much unpacked\n"
               "                              data (K, M, G, T suffixes; default: the store's free\n"
               "                              space less a reserve)\n"
               "     --xattrs=safe|all        import-tar, import-oci, pull: which extended attributes\n"
               "                              to keep (safe: user.*, security.capability, ACLs)\n",
               MKMACHINE_IMAGE_ROOT, MKMACHINE_CACHE_DIR);
        machine_glue_help();
        printf("\nA machine name can be TEMPLATE@INSTANCE: instance INSTANCE of machine TEMPLATE, which\n"
               "runs as machine TEMPLATE.INSTANCE ('start' creates a missing one as a clone).\n");
        return 0;
}

static int verb_help(int argc, char *argv[]) {
        return help();
}

static int open_store(bool create, Store *ret) {
        int r;

        r = store_open(arg_image_root, create, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to open the machine store '%s': %m", arg_image_root);
        return 0;
}

static const char* machines_dir(void) {
        return getenv("MKMACHINE_MACHINES_DIR") ?: MACHINE_FILE_DIR_DEFAULT;
}

static int check_machine_name(const char *name) {
        if (!machine_name_is_valid(name))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "Invalid machine name '%s': use a valid host name (letters, "
                                       "digits and '-', labels separated by '.', at most %u characters).",
                                       name, MACHINE_NAME_MAX);
        return 0;
}

/* For verbs from one machine to another: both names valid and different. */
static int open_store_for_two(const char *a, const char *b, Store *ret) {
        int r;

        r = check_machine_name(a);
        if (r >= 0)
                r = check_machine_name(b);
        if (r < 0)
                return r;
        if (streq(a, b))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "'%s' given twice: the names must differ.",
                                       a);
        return open_store(false, ret);
}

/* Says what the store's error codes mean, naming the machine (see store.h). */
static int log_store_error(int r, const char *action, const char *name, Store *s) {
        switch (r) {
        case -EBUSY:
                return log_error_errno(r, "Machine '%s' is in use: it is running, or another mkmachine or "
                                       "machinectl is changing it.", name);
        case -EEXIST:
                return log_error_errno(r, "Machine '%s' already exists%s.", name,
                                       streq(action, "rename") ? "" : " (use --force to replace it)");
        case -ENOENT:
                return log_error_errno(r, "No machine '%s' in '%s'.", name, s->root);
        case -ENOTDIR:
                return log_error_errno(r, "'%s/%s' exists and is not a machine directory.", s->root, name);
        case -EINTR:
                return log_error_errno(r, "Interrupted; removed the unfinished machine '%s'.", name);
        case -ECHILD:
                return log_error_errno(r, "Building '%s' crashed; removed the unfinished machine.", name);
        default:
                return log_error_errno(r, "Failed to %s machine '%s': %m", action, name);
        }
}

/* For the verbs that create machine name (action as for log_store_error()): its settings prepared and
 * the store opened into s. An existing machine is refused now (unless --force), before any download or
 * unpacking, not after minutes of work. */
static int prepare_new_machine(const char *action, const char *name, Store *s) {
        _cleanup_(machine_info_done) MachineInfo info = {};
        int r;

        r = machine_glue_prepare(name, true);
        if (r < 0)
                return r;
        r = open_store(true, s);
        if (r < 0)
                return r;
        if (!arg_force && store_get(s, name, false, &info) >= 0)
                return log_store_error(-EEXIST, action, name, s);
        return 0;
}

/* For import-oci and pull: the name checked, the platform of the image to import (--platform=, or the
 * host's) and prepare_new_machine(). */
static int prepare_oci_machine(const char *action, const char *name, OciPlatform *ret_platform, Store *s) {
        int r;

        r = check_machine_name(name);
        if (r < 0)
                return r;
        if (arg_platform) {
                r = oci_platform_parse(arg_platform, ret_platform);
                if (r < 0)
                        return log_error_errno(r, "Invalid --platform='%s': use OS/ARCH[/VARIANT], e.g. "
                                               "linux/arm64/v8.", arg_platform);
        } else {
                r = oci_platform_host(ret_platform);
                if (r < 0)
                        return log_error_errno(r, "Failed to determine the host's platform: %m");
        }
        return prepare_new_machine(action, name, s);
}

static char* format_time(char *buf, size_t size, usec_t t) {
        time_t sec = (time_t) (t / USEC_PER_SEC);
        struct tm tm;

        if (t == 0 || !localtime_r(&sec, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                return strcpy(buf, "-");
        return buf;
}

/* The origin record as a JSON object (a new reference), or NULL. */
static json_object* origin_json(const MachineInfo *i) {
        json_object *j;

        if (!i->origin)
                return NULL;
        j = json_tokener_parse(i->origin);
        if (j && !json_object_is_type(j, json_type_object)) {
                json_object_put(j);
                return NULL;
        }
        return j;
}

static const char* origin_string(json_object *o, const char *key) {
        json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static json_object* machine_info_to_json(const MachineInfo *i) {
        json_object *j = json_object_new_object(), *o = origin_json(i);
        char t[64];

        if (!j) {
                json_object_put(o);
                return NULL;
        }
        json_object_object_add(j, "name", json_object_new_string(i->name));
        json_object_object_add(j, "type", json_object_new_string(machine_type_to_string(i->type)));
        json_object_object_add(j, "path", json_object_new_string(
                        strjoina(arg_image_root, "/", i->name, i->type == MACHINE_RAW ? ".raw" : "")));
        json_object_object_add(j, "usage", json_object_new_uint64(i->usage));
        json_object_object_add(j, "created_usec", json_object_new_uint64(i->created));
        json_object_object_add(j, "created", i->created > 0 ?
                               json_object_new_string(format_time(t, sizeof(t), i->created)) : NULL);
        json_object_object_add(j, "in_use", json_object_new_boolean(i->in_use));
        json_object_object_add(j, "origin", o);
        return j;
}

static int print_json(json_object *j) {
        _cleanup_free_ char *text = NULL;

        if (!j)
                return log_oom();
        /* json-c escapes control characters but passes DEL, C1 and bytes that are not UTF-8 through. */
        text = json_text_escape_terminal(json_object_to_json_string_ext(
                                                 j, JSON_C_TO_STRING_PRETTY|JSON_C_TO_STRING_SPACED|
                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(j);
        if (!text)
                return log_oom();
        puts(text);
        return fflush(stdout) == 0 ? 0 : log_error_errno(errno, "Failed to write output: %m");
}

static const char* origin_summary(json_object *o, char *buf, size_t size) {
        const char *src = origin_string(o, "source"), *from = origin_string(o, "cloned_from");

        if (from) {
                (void) snprintf(buf, size, "clone of %s", from);
                return buf;
        }
        return src ?: "-";
}

/* What a listing or a status could not see (no bus, no podman): a note on stderr, not an error. */
static void note_unseen(const char *what, const char *why) {
        if (!arg_quiet)
                log_notice("Note: %s not shown: %s", what, why);
}

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

#define PODMAN_TIMEOUT_USEC (15 * USEC_PER_SEC)

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

static int verb_list(int argc, char *argv[]) {
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
                        json_object *o = origin_json(l + i);
                        const MachineInstance *in = find_instance(instances, n_instances, l[i].name);

                        printl("%-*s %-9s %-8s %7s %-23s %s\n", (int) w, l[i].name,
                               machine_type_to_string(l[i].type),
                               list_state(l + i, machines, n_machines, instances, n_instances),
                               format_bytes(u, sizeof(u), l[i].usage), format_time(t, sizeof(t),
                                                                                   l[i].created),
                               in ? template_summary(in, src, sizeof(src)) :
                               origin_summary(o, src, sizeof(src)));
                        json_object_put(o);
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

static int show_machine(Store *s, const char *name) {
        _cleanup_(machine_info_done) MachineInfo i = {};
        json_object *o;
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
                        template_show(name, j);
                        r = machine_glue_show(name, j);
                        if (r < 0) {
                                json_object_put(j);
                                return r;
                        }
                        return print_json(j);
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
                template_show(name, j);
                r = machine_glue_show(name, j);
                if (r < 0) {
                        json_object_put(j);
                        return r;
                }
                return print_json(j);
        }

        o = origin_json(&i);
        printl("       Name: %s\n", i.name);
        printl("       Path: %s/%s%s\n", s->root, i.name, i.type == MACHINE_RAW ? ".raw" : "");
        printl("       Type: %s\n", machine_type_to_string(i.type));
        printl("      Usage: %s\n", format_bytes(u, sizeof(u), i.usage));
        printl("    Created: %s\n", format_time(t, sizeof(t), i.created));
        printl("      State: %s\n", i.in_use ? "in use (running or being changed)" : "idle");
        if (o) {
                static const char *const keys[][2] = {
                        { "type", "Source type" },
                        { "source", "Source" },
                        { "compression", "Compression" },
                        { "sha256", "SHA256" },
                        { "cloned_from", "Cloned from" },
                        { "reference", "Reference" },
                        { "manifest_digest", "Manifest" },
                        { "config_digest", "Config" },
                        { "platform", "Platform" },
                        { "exec_summary", "Runs" },
                        { "tool", "Made by" },
                };
                json_object *a;

                for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                        const char *v = origin_string(o, keys[k][0]);
                        if (v)
                                printl("%11s: %s\n", keys[k][1], v);
                }
                /* When the archive state was taken: the Date: of each suite's Release. */
                if (json_object_object_get_ex(o, "archive", &a) && json_object_is_type(a, json_type_array))
                        for (size_t k = 0; k < json_object_array_length(a); k++) {
                                json_object *e = json_object_array_get_idx(a, k);
                                const char *suite = origin_string(e, "suite");
                                const char *date = origin_string(e, "date");

                                if (!suite)
                                        continue;
                                printf(k == 0 ? "    Archive: " : "             ");
                                printf("%s, Release of %s (%s)\n", suite, date ?: "unknown date",
                                       strna(origin_string(e, "mirror")));
                        }
                json_object_put(o);
        } else
                printl("     Source: unknown (not made by mkmachine)\n");
        template_show(name, NULL);
        return machine_glue_show(name, NULL);
}

static int verb_show(int argc, char *argv[]) {
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

static int verb_status(int argc, char *argv[]) {
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

static int verb_doctor(int argc, char *argv[]) {
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

/* Completes an origin record (time, tool), stores it on the tree's root and frees it. Best effort:
 * a file system without xattrs costs only the record. */
static void origin_write(int tree_fd, json_object *o, const char *what) {
        usec_t now = now_usec(CLOCK_REALTIME);
        char when[64];
        const char *j;

        json_object_object_add(o, "created_usec", json_object_new_uint64(now));
        json_object_object_add(o, "created", json_object_new_string(format_time(when, sizeof(when), now)));
        json_object_object_add(o, "tool", json_object_new_string("mkmachine " PACKAGE_VERSION));
        if (arg_auto_update > AUTO_UPDATE_NO)
                json_object_object_add(o, "auto_update", json_object_new_string(
                                               auto_update_policy_to_string(arg_auto_update)));
        if (!isempty(arg_health_cmd))
                json_object_object_add(o, "health_cmd", json_object_new_string(arg_health_cmd));

        j = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN|JSON_C_TO_STRING_NOSLASHESCAPE);
        if (fsetxattr(tree_fd, ORIGIN_XATTR, j, strlen(j), 0) < 0)
                log_warning_errno(errno,
                                  "Failed to record the origin of '%s' (no xattr support?), ignoring: %m",
                                  what);
        json_object_put(o);
}

typedef struct ImportTar {
        int fd;
        const char *source;
        uint64_t size;
} ImportTar;

/* Creates machine name (replacing it with --force) by running fill in store_install()'s child, then
 * writes its settings (--port, --enable, …). Logs; -ECANCELED: fill has said why. */
static int install_machine(Store *s, const char *action, const char *name, StoreFillFunc fill,
                           void *userdata) {
        int r;

        r = store_install(s, name, arg_force ? STORE_INSTALL_FORCE : 0, fill, userdata, NULL);
        if (r == -ECANCELED)
                return r;
        if (r < 0)
                return log_store_error(r, action, name, s);
        return machine_glue_commit(name, arg_quiet || arg_json);
}

static int import_tar_fill(int tree_fd, void *userdata) {
        ImportTar *t = userdata;
        _cleanup_free_ char *msg = NULL;
        TarUnpackStats stats;
        Progress progress = {};
        json_object *o;
        int r;

        r = tar_unpack_with(t->fd, tree_fd, arg_strip_top ? TAR_UNPACK_STRIP_TOP : 0, t->size, &progress,
                            &arg_unpack, &stats, &msg);
        if (r < 0) {
                progress_clear_line();
                return log_error_errno(r, "Failed to import '%s': %s", t->source, msg ?: strerror(-r));
        }

        o = json_object_new_object();
        if (!o)
                return log_oom();
        json_object_object_add(o, "type", json_object_new_string("tar"));
        json_object_object_add(o, "source", json_object_new_string(t->source));
        json_object_object_add(o, "compression",
                               json_object_new_string(compression_to_string(stats.compression)));
        json_object_object_add(o, "sha256", json_object_new_string(stats.sha256));
        json_object_object_add(o, "size", json_object_new_uint64(stats.bytes_in));
        json_object_object_add(o, "entries", json_object_new_uint64(stats.entries));
        origin_write(tree_fd, o, t->source);

        if (!arg_quiet)
                log_info("Unpacked %" PRIu64 " entries from %s (%s, sha256 %s).", stats.entries, t->source,
                         compression_to_string(stats.compression), stats.sha256);
        return 0;
}

static int run_import_tar(const char *file, const char *name) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *abs = NULL;
        ImportTar t = {};
        struct stat st;
        int r;

        r = refuse_update_options("import-tar", _AUTO_UPDATE_POLICY_INVALID);
        if (r < 0)
                return r;

        r = check_machine_name(name);
        if (r < 0)
                return r;

        if (streq(file, "-")) {
                fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return log_error_errno(errno, "Failed to duplicate standard input: %m");
                t.source = "stdin";
        } else {
                fd = open(file, O_RDONLY|O_CLOEXEC|O_NOCTTY);
                if (fd < 0)
                        return log_error_errno(errno, "Failed to open '%s': %m", file);
                abs = realpath(file, NULL);
                t.source = abs ?: file;
        }
        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "Failed to stat '%s': %m", file);
        if (S_ISDIR(st.st_mode))
                return log_error_errno(SYNTHETIC_ERRNO(EISDIR), "'%s' is a directory, not an archive.",
                                       file);
        t.fd = fd;
        t.size = S_ISREG(st.st_mode) ? (uint64_t) st.st_size : 0;

        r = machine_glue_prepare(name, true);
        if (r < 0)
                return r;
        r = open_store(true, &s);
        if (r < 0)
                return r;
        r = install_machine(&s, "import", name, import_tar_fill, &t);
        if (r < 0)
                return r;

        if (arg_json)
                return show_machine(&s, name);
        return 0;
}

static int verb_import_tar(int argc, char *argv[]) {
        return run_import_tar(argv[1], argv[2]);
}

/* Where recipes are found: the administrator's first, then the installed ones, then (for a build
 * directory) the source tree's. */
static char* const recipe_dir_list[] = {
        (char*) "/etc/mkmachine/recipes",
        (char*) MKMACHINE_RECIPE_DIR,
        (char*) MKMACHINE_SOURCE_RECIPE_DIR,
        NULL,
};

static char** recipe_dirs(void) {
        return (char**) recipe_dir_list;
}

static bool recipe_exists(const char *name) {
        if (!recipe_name_is_valid(name))
                return false;
        STRV_FOREACH(d, recipe_dirs())
                if (access(strjoina(*d, "/", name, ".conf"), F_OK) >= 0)
                        return true;
        return false;
}

static void bootstrap_step(const char *what, void *userdata) {
        static usec_t start = 0;
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (start == 0)
                start = now;
        if (!arg_quiet)
                log_info("[%4.1fs] %s…", (double) (now - start) / USEC_PER_SEC, what);
}

typedef struct Bootstrap {
        BootstrapPlan *plan;
        const char *name;
} Bootstrap;

static json_object* suite_json(const char *suite, const char *mirror, const char *date, const char *sha256) {
        json_object *j = json_object_new_object();

        if (!j)
                return NULL;
        json_object_object_add(j, "suite", json_object_new_string(suite));
        json_object_object_add(j, "mirror", json_object_new_string(mirror));
        json_object_object_add(j, "date", date ? json_object_new_string(date) : NULL);
        json_object_object_add(j, "release_sha256", json_object_new_string(sha256));
        return j;
}

/* The state of the archive the machine was made from: each suite's verified Release (its Date:). */
static json_object* archive_json(const AptRepo *repo) {
        json_object *a = json_object_new_array();

        if (!a)
                return NULL;
        json_object_array_add(a, suite_json(repo->suite, repo->mirror, repo->date, repo->release_sha256));
        for (size_t i = 0; i < repo->n_updates; i++) {
                const AptSuite *u = repo->updates + i;
                json_object_array_add(a, suite_json(u->suite, u->mirror, u->date, u->release_sha256));
        }
        return a;
}

static int bootstrap_fill(int tree_fd, void *userdata) {
        Bootstrap *b = userdata;
        const BootstrapPlan *plan = b->plan;
        _cleanup_free_ char *msg = NULL;
        json_object *o;
        int r;

        r = bootstrap_install(plan, tree_fd, &msg);
        if (r < 0)
                return log_error_errno(r, "Failed to bootstrap '%s': %s", b->name, msg ?: strerror(-r));

        o = json_object_new_object();
        if (!o)
                return log_oom();
        json_object_object_add(o, "type", json_object_new_string("bootstrap"));
        json_object_object_add(o, "source", json_object_new_string(plan->recipe->path));
        json_object_object_add(o, "recipe", json_object_new_string(plan->recipe->name));
        json_object_object_add(o, "mirror", json_object_new_string(plan->mirror));
        json_object_object_add(o, "suite", json_object_new_string(plan->recipe->suite));
        json_object_object_add(o, "verified", json_object_new_boolean(!arg_no_verify));
        json_object_object_add(o, "packages", json_object_new_uint64(plan->n_packages));
        json_object_object_add(o, "archive", archive_json(plan->repo));
        origin_write(tree_fd, o, b->name);
        return 0;
}

static int run_bootstrap(const char *recipe_name) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(recipe_freep) Recipe *recipe = NULL;
        _cleanup_(bootstrap_plan_freep) BootstrapPlan *plan = NULL;
        _cleanup_free_ char *msg = NULL;
        Progress progress = {};
        const char *name;
        int r;

        r = refuse_update_options("bootstrap", AUTO_UPDATE_PACKAGES);
        if (r < 0)
                return r;

        r = recipe_load(recipe_name, recipe_dirs(), &recipe, &msg);
        if (r < 0)
                return log_error_errno(r, "%s", msg ?: "Failed to load the recipe.");

        name = arg_name ?: recipe->name;
        r = check_machine_name(name);
        if (r < 0)
                return r;
        if (arg_no_verify)
                log_warning("--no-verify: the archive's signature is NOT checked; anyone on the path to %s "
                            "can "
                            "put anything into machine '%s'.", arg_mirror ?: strna(recipe->mirror), name);

        r = prepare_new_machine("bootstrap", name, &s);
        if (r < 0)
                return r;

        r = bootstrap_prepare(recipe, &(BootstrapOptions) {
                                      .mirror = arg_mirror,
                                      .security_mirror = arg_security_mirror,
                                      .keyring = arg_keyring,
                                      .include = arg_include,
                                      .exclude = arg_exclude,
                                      .no_verify = arg_no_verify,
                                      .cache_dir = arg_cache_dir,
                                      .hostname = name,
                                      .fresh = arg_fresh,
                                      .progress = &progress,
                                      .step = bootstrap_step,
                              }, &plan, &msg);
        if (r < 0) {
                progress_clear_line();
                return log_error_errno(r, "Failed to bootstrap '%s': %s", name, msg ?: strerror(-r));
        }
        if (!arg_quiet && !plan->tree_cached)
                log_info("%zu packages (%zu essential); %zu packages to download.",
                         plan->n_packages, plan->n_essential, plan->n_downloaded);
        else if (!arg_quiet)
                log_info("0 packages downloaded: the archive is unchanged since the cached tree was built.");

        r = install_machine(&s, "bootstrap", name, bootstrap_fill,
                            &(Bootstrap) { .plan = plan, .name = name });
        if (r < 0)
                return r;

        if (arg_json)
                return show_machine(&s, name);
        if (!arg_quiet)
                log_info("Machine '%s' is ready: machinectl start %s", name, name);
        return 0;
}

static int verb_bootstrap(int argc, char *argv[]) {
        if (argc < 2 && !arg_recipe)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "Which recipe? Give its name, a file or --recipe=FILE.");
        if (argc >= 2 && arg_recipe)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "Give either a recipe or --recipe=FILE, not both.");
        return run_bootstrap(argc >= 2 ? argv[1] : arg_recipe);
}

static int verb_remove(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        bool image_gone;
        int r;

        r = check_machine_name(argv[1]);
        if (r < 0)
                return r;
        r = open_store(false, &s);
        if (r < 0)
                return r;
        {
                _cleanup_(machine_instance_done) MachineInstance i = {};

                r = template_lookup(argv[1], &i);
                if (r >= 0)
                        return template_remove_instance(&s, &i, arg_force, arg_quiet);
                if (r != -ENOENT)
                        return r;
        }
        r = template_check_change("remove", argv[1]);
        if (r < 0)
                return r;
        r = machine_glue_remove_begin(argv[1], arg_force);
        if (r < 0)
                return r;
        r = store_remove(&s, argv[1]);
        image_gone = r == -ENOENT;
        if (r < 0 && !image_gone)
                return log_store_error(r, "remove", argv[1], &s);

        /* Also when the image was gone already: a machine's leftovers are removed by its name. */
        r = machine_glue_remove_finish(argv[1]);
        if (r < 0)
                return r;
        if (image_gone && r == 0)
                return log_store_error(-ENOENT, "remove", argv[1], &s);
        if (image_gone && !arg_quiet)
                log_info("No machine '%s' in '%s'; removed its leftover settings.", argv[1], s.root);
        return 0;
}

/* For the verbs that act on an existing machine: its name is valid and the store has it. */
static int require_machine(const char *verb, const char *name) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(machine_info_done) MachineInfo info = {};
        int r;

        r = check_machine_name(name);
        if (r < 0)
                return r;
        r = open_store(false, &s);
        if (r < 0)
                return r;
        r = store_get(&s, name, false, &info);
        if (r == -ENOENT && template_lookup(name, NULL) >= 0)
                return 0;       /* an ephemeral instance: no tree of its own */
        if (r < 0)
                return log_store_error(r, verb, name, &s);
        return 0;
}

static int set_update_policy(const char *name);

static int verb_set(int argc, char *argv[]) {
        int r = require_machine("set", argv[1]);
        if (r < 0)
                return r;
        /* Its settings come from the .machine file (through the generator): a NAME.nspawn written here
         * would silently replace all of them. */
        if (access(strjoina(machines_dir(), "/", argv[1], MACHINE_FILE_SUFFIX), F_OK) >= 0)
                return log_error_errno(SYNTHETIC_ERRNO(EPERM), "Machine '%s' is declared in %s/%s"
                                       MACHINE_FILE_SUFFIX ": change its settings there, then run "
                                       "'systemctl daemon-reload'.", argv[1], machines_dir(), argv[1]);
        if (arg_auto_update >= 0 || arg_health_cmd) {
                r = set_update_policy(argv[1]);
                if (r < 0 || !machine_glue_any())
                        return r;
        }
        return machine_glue_set(argv[1], arg_quiet);
}

static int verb_start(int argc, char *argv[]) {
        const MachineInstance *i = template_arg_instance();
        int r;

        if (i) {
                /* "start web@a" makes a missing instance first (a clone of web). */
                _cleanup_(store_close) Store s = { .root_fd = -EBADF };

                r = open_store(false, &s);
                if (r < 0)
                        return r;
                r = template_create(&s, i, true, arg_quiet);
                if (r < 0)
                        return r;
        }
        r = require_machine("start", argv[1]);
        return r < 0 ? r : machine_glue_start(argv[1]);
}

static int verb_create(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        const MachineInstance *i = template_arg_instance();
        MachineInstance want;
        int r;

        if (!i)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "'%s' is no instance name: use "
                                       "TEMPLATE@INSTANCE (to copy a machine, use 'mkmachine clone').",
                                       argv[1]);
        r = open_store(false, &s);
        if (r < 0)
                return r;
        want = *i;
        want.mode = arg_ephemeral ? INSTANCE_EPHEMERAL : INSTANCE_CLONE;
        r = template_create(&s, &want, false, arg_quiet || arg_json);
        if (r < 0)
                return r;
        if (arg_json)
                return verb_show(argc, argv);
        return 0;
}

static int verb_stop(int argc, char *argv[]) {
        int r;

        r = check_machine_name(argv[1]);
        if (r < 0)
                return r;
        r = machine_glue_stop(argv[1]);
        if (r < 0)
                return r;
        return template_stop_alias(argv[1]);
}

static int verb_unit_helper(int argc, char *argv[]) {
        int r;

        r = check_machine_name(argv[2]);
        if (r < 0)
                return r;
        return machine_glue_unit_helper(argv[1], argv[2]);
}

static int verb_rename(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        int r;

        r = open_store_for_two(argv[1], argv[2], &s);
        if (r < 0)
                return r;
        r = template_check_change("rename", argv[1]);
        if (r < 0)
                return r;
        if (template_lookup(argv[1], NULL) >= 0)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "Machine '%s' is an instance: its name comes from its template and "
                                       "instance name, it cannot be renamed.", argv[1]);
        r = store_rename(&s, argv[1], argv[2]);
        if (r < 0)
                /* Which name: the new one is taken, the old one is missing, either may be locked. */
                return log_store_error(r, "rename", r == -EEXIST ? argv[2] : argv[1], &s);
        return 0;
}

static int verb_clone(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        int r;

        r = open_store_for_two(argv[1], argv[2], &s);
        if (r < 0)
                return r;
        r = machine_glue_prepare(argv[2], true);
        if (r < 0)
                return r;
        r = store_clone(&s, argv[1], argv[2], arg_force ? STORE_INSTALL_FORCE : 0);
        if (r == -EOPNOTSUPP)
                return log_error_errno(r, "Machine '%s' is a raw disk image; cloning those is not "
                                       "supported yet.", argv[1]);
        if (r < 0)
                return log_store_error(r, "clone", r == -ENOENT || r == -EBUSY ? argv[1] : argv[2], &s);
        r = machine_glue_commit(argv[2], arg_quiet || arg_json);
        if (r < 0)
                return r;
        if (arg_json)
                return show_machine(&s, argv[2]);
        return 0;
}

typedef struct ImportOci {
        OciSource *source;
        OciImage *image;
        const char *name;
        const char *platform;
} ImportOci;

static json_object* strv_to_json(char * const *l) {
        json_object *a = json_object_new_array();

        STRV_FOREACH(i, l)
                json_object_array_add(a, json_object_new_string(*i));
        return a;
}

/* What import-oci and pull share once the layers are applied (in store_install()'s child): the origin
 * record o (with the source's own fields) gets what the machine runs, and is written. */
static int oci_fill_finish(int tree_fd, const OciImage *image, json_object *o, const char *name,
                           const char *platform, const char *what) {
        _cleanup_(nspawn_settings_done) NspawnSettings settings = {};
        _cleanup_free_ char *msg = NULL, *cmdline = NULL, *summary = NULL;
        json_object *x;
        bool boot, added_usr;
        int r;

        /* Not from the image: for systemd-nspawn, which refuses a tree without /usr. */
        r = oci_tree_make_runnable(tree_fd, &added_usr);
        if (r < 0) {
                json_object_put(o);
                return log_error_errno(r, "Failed to create /usr in '%s': %m", name);
        }
        boot = oci_tree_has_init(tree_fd);
        r = oci_config_to_nspawn_settings(image->config, boot, false, &settings, &msg);
        if (r < 0) {
                json_object_put(o);
                return log_error_errno(r, "Failed to import '%s': %s", what, msg ?: strerror(-r));
        }

        x = json_object_new_object();
        if (!x) {
                json_object_put(o);
                return log_oom();
        }
        json_object_object_add(o, "platform", json_object_new_string(platform));
        json_object_object_add(o, "config_digest", json_object_new_string(image->config_digest));
        json_object_object_add(o, "layers", json_object_new_uint64(image->n_layers));
        if (added_usr)
                json_object_object_add(o, "added_usr", json_object_new_boolean(true));

        json_object_object_add(x, "boot", json_object_new_boolean(boot));
        if (settings.parameters)
                json_object_object_add(x, "parameters", strv_to_json(settings.parameters));
        if (settings.environment)
                json_object_object_add(x, "environment", strv_to_json(settings.environment));
        if (settings.working_directory)
                json_object_object_add(x, "working_directory",
                                       json_object_new_string(settings.working_directory));
        if (settings.user)
                json_object_object_add(x, "user", json_object_new_string(settings.user));
        if (image->config->exposed_ports)
                json_object_object_add(x, "exposed_ports", strv_to_json(image->config->exposed_ports));
        json_object_object_add(o, "exec", x);

        if (boot)
                summary = strdup("boots its init");
        else if (nspawn_words_quote(settings.parameters, &cmdline) >= 0 &&
                 asprintf(&summary, "%s%s%s%s%s%s", cmdline, settings.user ? " (as " : "",
                          settings.user ?: "", settings.user ? ")" : "",
                          settings.working_directory ? " in " : "",
                          settings.working_directory ?: "") < 0)
                summary = NULL;
        if (summary)
                json_object_object_add(o, "exec_summary", json_object_new_string(summary));
        origin_write(tree_fd, o, name);

        if (!arg_quiet)
                log_info("Applied %zu layers of %s (%s); the machine %s.", image->n_layers,
                         image->manifest_digest ?: image->config_digest, platform,
                         boot ? "boots its init" : "runs the image's entrypoint");
        return 0;
}

/* The image's settings, merged under the user's options in this process: oci_fill_finish() runs in
 * store_install()'s child, whose machine_glue_apply_image() does not reach machine_glue_commit() here. */
static int import_oci_fill(int tree_fd, void *userdata) {
        ImportOci *t = userdata;
        _cleanup_free_ char *msg = NULL;
        Progress progress = {};
        json_object *o;
        int r;

        r = oci_image_unpack(oci_source_blobs(t->source), t->image, tree_fd, &arg_unpack, &progress,
                             &msg);
        if (r < 0) {
                progress_clear_line();
                return log_error_errno(r, "Failed to import '%s': %s", oci_source_path(t->source),
                                       msg ?: strerror(-r));
        }

        o = json_object_new_object();
        if (!o)
                return log_oom();
        json_object_object_add(o, "type", json_object_new_string("oci"));
        json_object_object_add(o, "source", json_object_new_string(oci_source_path(t->source)));
        json_object_object_add(o, "source_kind", json_object_new_string(
                                       oci_source_kind_to_string(oci_source_kind(t->source))));
        if (oci_source_reference(t->source))
                json_object_object_add(o, "reference",
                                       json_object_new_string(oci_source_reference(t->source)));
        if (t->image->manifest_digest)
                json_object_object_add(o, "manifest_digest",
                                       json_object_new_string(t->image->manifest_digest));
        return oci_fill_finish(tree_fd, t->image, o, t->name, t->platform, oci_source_path(t->source));
}

/* Once the machine is in the store (in the parent: store_install() fills in a child), the image config
 * becomes the machine's settings, merged under the user's options, for machine_glue_commit() to write:
 * the entrypoint runs, or the init boots. */
static int oci_apply_settings(Store *s, const char *name, const OciImage *image) {
        _cleanup_(nspawn_settings_done) NspawnSettings settings = {};
        _cleanup_close_ int tree_fd = -EBADF;
        _cleanup_free_ char *msg = NULL;
        int r;

        tree_fd = openat(s->root_fd, name, O_RDONLY|O_DIRECTORY|O_CLOEXEC|O_NOFOLLOW);
        if (tree_fd < 0)
                return log_error_errno(errno, "Failed to open machine '%s': %m", name);
        r = oci_config_to_nspawn_settings(image->config, oci_tree_has_init(tree_fd), false, &settings, &msg);
        if (r < 0)
                return log_error_errno(r, "Machine '%s': %s", name, msg ?: strerror(-r));
        return machine_glue_apply_image(&settings);
}

/* For import-oci and pull: installs machine name, filled by fill (which says why it fails), and makes
 * the image config its settings. action as for log_store_error(). */
static int oci_install(Store *s, const char *action, const char *name, const OciImage *image,
                       StoreFillFunc fill, void *userdata) {
        int r;

        r = store_install(s, name, arg_force ? STORE_INSTALL_FORCE : 0, fill, userdata, NULL);
        if (r == -ECANCELED)
                return r;       /* fill() said why */
        if (r < 0)
                return log_store_error(r, action, name, s);
        return oci_apply_settings(s, name, image);
}

static int verb_import_oci(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(oci_source_freep) OciSource *source = NULL;
        _cleanup_(oci_image_freep) OciImage *image = NULL;
        _cleanup_(oci_platform_done) OciPlatform want = {};
        _cleanup_free_ char *msg = NULL;
        char p[OCI_PLATFORM_STRING_MAX];
        const char *spec = argv[1], *name = argv[2];
        Progress progress = {};
        int r;

        r = refuse_update_options("import-oci", AUTO_UPDATE_LOCAL);
        if (r < 0)
                return r;

        r = prepare_oci_machine("import", name, &want, &s);
        if (r < 0)
                return r;

        r = oci_source_open(spec, strjoina(arg_cache_dir, "/oci"), &progress, &source, &msg);
        if (r < 0) {
                progress_clear_line();
                return log_error_errno(r, "%s", msg ?: strerror(-r));
        }
        r = oci_image_resolve(source, &want, &image, &msg);
        if (r < 0)
                return log_error_errno(r, "Failed to import '%s': %s", spec, msg ?: strerror(-r));

        r = oci_install(&s, "import", name, image, import_oci_fill,
                        &(ImportOci) {
                                .source = source,
                                .image = image,
                                .name = name,
                                .platform = oci_platform_format(&image->config->platform, p, sizeof(p)),
                        });
        if (r < 0)
                return r;
        r = machine_glue_commit(name, arg_quiet || arg_json);
        if (r < 0)
                return r;

        if (arg_json)
                return show_machine(&s, name);
        return 0;
}

typedef struct Pull {
        OciPull *pull;
        OciImage *image;
        const OciReference *ref;
        const char *reference;          /* formatted */
        const char *root_digest;
        const char *name;
        const char *platform;
} Pull;

static int pull_fill(int tree_fd, void *userdata) {
        Pull *t = userdata;
        _cleanup_free_ char *msg = NULL, *dmsg = NULL;
        Progress progress = {};
        json_object *o, *blobs;
        int r;

        /* Here, in the child store_install() runs us in: threads do not survive a fork. */
        r = oci_pull_start(t->pull, t->image, arg_quiet ? NULL : &progress);
        if (r < 0)
                return log_error_errno(r, "Failed to start the downloads: %m");
        r = oci_image_unpack(oci_pull_blobs(t->pull), t->image, tree_fd, &arg_unpack, NULL, &msg);
        if (r < 0) {
                /* Say why the downloads failed, if they did: that is the cause. */
                if (oci_pull_finish(t->pull, &dmsg) < 0) {
                        progress_clear_line();
                        return log_error_errno(r, "Failed to pull %s: %s", t->reference,
                                               dmsg ?: msg ?: strerror(-r));
                }
                progress_clear_line();
                return log_error_errno(r, "Failed to pull %s: %s", t->reference, msg ?: strerror(-r));
        }
        r = oci_pull_finish(t->pull, &dmsg);
        if (r < 0)
                return log_error_errno(r, "Failed to pull %s: %s", t->reference, dmsg ?: strerror(-r));

        o = json_object_new_object();
        blobs = json_object_new_array();
        if (!o || !blobs) {
                json_object_put(o);
                json_object_put(blobs);
                return log_oom();
        }
        json_object_object_add(o, "type", json_object_new_string("registry"));
        if (arg_tls_verify == 0)
                json_object_object_add(o, "tls_verify", json_object_new_boolean(false));
        json_object_object_add(o, "reference", json_object_new_string(t->reference));
        json_object_object_add(o, "registry", json_object_new_string(t->ref->registry));
        json_object_object_add(o, "repository", json_object_new_string(t->ref->repository));
        if (t->ref->tag)
                json_object_object_add(o, "tag", json_object_new_string(t->ref->tag));
        /* What the tag resolved to (an index for a multi-platform image), and the platform's manifest. */
        json_object_object_add(o, "manifest_digest", json_object_new_string(t->root_digest));
        json_object_object_add(o, "image_manifest_digest",
                               json_object_new_string(t->image->manifest_digest));
        /* Every blob of the image, for "prune" to keep. */
        STRV_FOREACH(d, oci_pull_digests(t->pull))
                json_object_array_add(blobs, json_object_new_string(*d));
        json_object_object_add(o, "blobs", blobs);
        if (!arg_quiet) {
                char b[FORMAT_BYTES_MAX];
                log_info("Downloaded %s.", format_bytes(b, sizeof(b), oci_pull_downloaded(t->pull)));
        }
        return oci_fill_finish(tree_fd, t->image, o, t->name, t->platform, t->reference);
}

static int mkdir_parents_and(const char *path) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
                if (s)
                        *s = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                if (!s)
                        return 0;
                *s = '/';
        }
}

/* The blob cache, created if needed, with the lock that keeps "prune" away from pulls (shared) and
 * pulls away from "prune" (exclusive). */
static int open_blob_cache(int lock_operation, LockFile *ret_lock, int *ret_fd) {
        const char *dir = strjoina(arg_cache_dir, "/blobs/sha256");
        const char *lock = strjoina(arg_cache_dir, "/blobs/.lock");
        int fd, r;

        r = mkdir_parents_and(dir);
        if (r < 0)
                return log_error_errno(r, "Failed to create the blob cache %s: %m", dir);
        r = make_lock_file(lock, lock_operation, ret_lock);
        if (r == -EBUSY)
                return log_error_errno(r, "The blob cache %s is in use (a pull or prune runs); try again "
                                       "later.", dir);
        if (r < 0)
                return log_error_errno(r, "Failed to lock %s: %m", lock);
        fd = open(dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        if (fd < 0) {
                release_lock_file(ret_lock);
                return log_error_errno(errno, "Failed to open %s: %m", dir);
        }
        *ret_fd = fd;
        return 0;
}

static int verb_pull(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(oci_reference_done) OciReference ref = {};
        _cleanup_(oci_platform_done) OciPlatform want = {};
        _cleanup_(release_lock_file) LockFile lock = LOCK_FILE_INIT;
        _cleanup_strv_free_ char **search = NULL;
        _cleanup_free_ char *name = NULL, *msg = NULL;
        _cleanup_close_ int cache_fd = -EBADF;
        char p[OCI_PLATFORM_STRING_MAX];
        int r;

        r = refuse_update_options("pull", AUTO_UPDATE_REGISTRY);
        if (r < 0)
                return r;

        r = oci_reference_parse(argv[1], &ref);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "Invalid image reference '%s': use "
                                       "[REGISTRY[:PORT]/]REPOSITORY[:TAG][@sha256:DIGEST] (lower-case "
                                       "repository names).", argv[1]);
        if (!ref.registry) {
                r = registries_search_list(&search, &msg);
                if (r < 0)
                        return log_error_errno(r, "%s", msg ?: strerror(-r));
                if (strv_length(search) == 0)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                               "'%s' is a short name and no registry to search is "
                                               "configured (unqualified-search-registries in %s): give "
                                               "the full reference, e.g. docker.io/library/%s.", argv[1],
                                               getenv("CONTAINERS_REGISTRIES_CONF") ?:
                                               CONTAINERS_REGISTRIES_CONF_DEFAULT, argv[1]);
        }

        if (argc > 2)
                name = strdup(argv[2]);
        else if (oci_reference_machine_name(&ref, &name) < 0)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Cannot make a machine name of '%s': give "
                                       "one.", argv[1]);
        if (!name)
                return log_oom();
        r = prepare_oci_machine("pull", name, &want, &s);
        if (r < 0)
                return r;

        r = open_blob_cache(LOCK_SH, &lock, &cache_fd);
        if (r < 0)
                return r;
        download_clean_stale(cache_fd, 24 * 3600);

        /* A short name: each search registry in turn, the first that has the image. */
        for (size_t k = 0; k < MAX(strv_length(search), 1U); k++) {
                _cleanup_(registry_client_freep) RegistryClient *client = NULL;
                _cleanup_(oci_pull_freep) OciPull *pull = NULL;
                _cleanup_(oci_image_freep) OciImage *image = NULL;
                _cleanup_free_ char *reference = NULL, *root = NULL;
                RegistryOptions o = { .tls_verify = arg_tls_verify };
                bool last = k + 1 >= strv_length(search);

                msg = mfree(msg);
                if (search) {
                        /* Anew for each registry: docker.io's "library/" is for docker.io only. */
                        oci_reference_done(&ref);
                        r = oci_reference_parse(argv[1], &ref);
                        if (r >= 0)
                                r = oci_reference_set_registry(&ref, search[k]);
                        if (r < 0)
                                return log_error_errno(r, "Invalid search registry '%s'.", search[k]);
                }
                r = oci_reference_format(&ref, &reference);
                if (r < 0)
                        return log_oom();

                r = registry_client_new(&ref, &o, &client, &msg);
                if (r == -ENOMEM)
                        return log_oom();
                if (r >= 0) {
                        r = oci_pull_new(client, cache_fd, &pull);
                        if (r < 0)
                                return log_oom();
                        r = oci_pull_resolve(pull, &ref, &want, &image, &root, &msg);
                }
                if (r < 0 && !last) {
                        log_info("%s: %s", reference, msg ?: strerror(-r));
                        continue;
                }
                if (r < 0)
                        return log_error_errno(r, "Failed to pull %s: %s", reference, msg ?: strerror(-r));

                if (!arg_quiet)
                        log_info("Pulling %s (%s) from %s.", reference, root, registry_client_url(client));
                r = oci_install(&s, "pull", name, image, pull_fill,
                                &(Pull) {
                                        .pull = pull,
                                        .image = image,
                                        .ref = &ref,
                                        .reference = reference,
                                        .root_digest = root,
                                        .name = name,
                                        .platform = oci_platform_format(&image->config->platform, p,
                                                                        sizeof(p)),
                                });
                if (r < 0)
                        return r;
                if (!arg_quiet)
                        log_info("Machine '%s' created from %s.", name, reference);
                break;
        }

        r = machine_glue_commit(name, arg_quiet || arg_json);
        if (r < 0)
                return r;
        if (arg_json)
                return show_machine(&s, name);
        return 0;
}

/* The blobs the machines' origin records list (pulled machines record every blob of their image). */
static int referenced_blobs(Store *s, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        MachineInfo *machines = NULL;
        size_t n = 0;
        int r;

        r = store_list(s, false, &machines, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to list the machines in %s: %m", s->root);
        for (size_t i = 0; i < n; i++) {
                json_object *o, *b;

                if (!machines[i].origin)
                        continue;
                o = json_tokener_parse(machines[i].origin);
                if (o && json_object_object_get_ex(o, "blobs", &b) &&
                    json_object_is_type(b, json_type_array))
                        for (size_t k = 0; k < json_object_array_length(b); k++) {
                                const char *d = json_object_get_string(json_object_array_get_idx(b, k));
                                if (d && !strv_contains(l, d) && strv_extend(&l, d) < 0) {
                                        json_object_put(o);
                                        r = -ENOMEM;
                                        goto finish;
                                }
                        }
                json_object_put(o);
        }
        r = 0;
        *ret = TAKE_PTR(l);
finish:
        for (size_t i = 0; i < n; i++)
                machine_info_done(machines + i);
        free(machines);
        return r < 0 ? log_oom() : 0;
}

static int verb_prune(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(release_lock_file) LockFile lock = LOCK_FILE_INIT;
        _cleanup_strv_free_ char **keep = NULL;
        _cleanup_close_ int cache_fd = -EBADF;
        _cleanup_closedir_ DIR *d = NULL;
        json_object *removed = NULL;
        uint64_t freed = 0, kept = 0;
        char b[FORMAT_BYTES_MAX];
        int r;

        r = open_store(true, &s);
        if (r < 0)
                return r;
        r = open_blob_cache(LOCK_EX|LOCK_NB, &lock, &cache_fd);
        if (r < 0)
                return r;
        r = referenced_blobs(&s, &keep);
        if (r < 0)
                return r;

        d = fdopendir(cache_fd);
        if (!d)
                return log_error_errno(errno, "Failed to read the blob cache: %m");
        cache_fd = -EBADF;
        removed = json_object_new_array();
        if (!removed)
                return log_oom();
        for (struct dirent *de; (de = readdir(d));) {
                _cleanup_free_ char *digest = NULL;
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (asprintf(&digest, "sha256:%s", de->d_name) < 0) {
                        json_object_put(removed);
                        return log_oom();
                }
                /* Kept: the blobs of existing machines. Everything else goes, including the parts of
                 * interrupted downloads (no pull runs: we hold the lock). */
                if (de->d_name[0] != '.' && strv_contains(keep, digest)) {
                        kept++;
                        continue;
                }
                if (unlinkat(dirfd(d), de->d_name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0) {
                        log_warning_errno(errno, "Failed to remove %s from the blob cache, ignoring: %m",
                                          de->d_name);
                        continue;
                }
                freed += (uint64_t) st.st_size;
                if (de->d_name[0] != '.')
                        json_object_array_add(removed, json_object_new_string(digest));
        }

        if (arg_json) {
                json_object *o = json_object_new_object();
                if (!o) {
                        json_object_put(removed);
                        return log_oom();
                }
                json_object_object_add(o, "removed", removed);
                json_object_object_add(o, "kept", json_object_new_uint64(kept));
                json_object_object_add(o, "freed_bytes", json_object_new_uint64(freed));
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY|
                                                                JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(o);
                return 0;
        }
        if (!arg_quiet)
                log_info("Removed %zu blobs (%s) from the cache, kept %" PRIu64 " of existing machines.",
                         json_object_array_length(removed), format_bytes(b, sizeof(b), freed), kept);
        json_object_put(removed);
        return 0;
}

static volatile sig_atomic_t export_signal = 0;

static void export_on_signal(int sig) {
        export_signal = sig;
}

/* The compression of the export: --format, else the file name's, else (stdout) none. */
static int export_compression(const char *file, Compression *ret) {
        if (arg_format) {
                if (tar_pack_compression_from_filename(strjoina("x.", arg_format), ret) < 0 ||
                    strchr(arg_format, '.') != strrchr(arg_format, '.') || !startswith(arg_format, "tar"))
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Invalid --format='%s': use tar, "
                                               "tar.gz, tar.zst or tar.xz.", arg_format);
                return 0;
        }
        if (streq(file, "-")) {
                *ret = COMPRESSION_NONE;
                return 0;
        }
        if (tar_pack_compression_from_filename(file, ret) < 0)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Cannot tell the format from the name '%s': "
                                       "end it in .tar, .tar.gz, .tar.zst or .tar.xz, or give --format=.",
                                       file);
        return 0;
}

/* The tree of machine name (locked by the caller, of the type it found), for reading; raw images are
 * refused: only directory machines can be what (exported, pushed). */
static int open_machine_tree(Store *s, const char *name, MachineType type, const char *what) {
        int fd;

        if (type != MACHINE_DIRECTORY)
                return log_error_errno(SYNTHETIC_ERRNO(EOPNOTSUPP), "Machine '%s' is a raw disk image: only "
                                       "directory machines can be %s.", name, what);
        fd = openat(s->root_fd, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open machine '%s': %m", name);
        return fd;
}

static int verb_export(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(image_lock_release) ImageLock lock = { .local = LOCK_FILE_INIT, .global = LOCK_FILE_INIT };
        _cleanup_close_ int tree_fd = -EBADF, out_fd = -EBADF;
        _cleanup_(machine_info_done) MachineInfo info = {};
        _cleanup_free_ char *tmp = NULL, *msg = NULL;
        const char *name = argv[1], *file = argv[2];
        struct sigaction sa = { .sa_handler = export_on_signal }, old[3];
        static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
        bool to_stdout = streq(file, "-");
        Progress progress = {};
        TarPackStats stats;
        MachineType type;
        Compression c;
        mode_t mask;
        int r;

        r = check_machine_name(name);
        if (r < 0)
                return r;
        r = export_compression(file, &c);
        if (r < 0)
                return r;
        if (to_stdout && isatty(STDOUT_FILENO))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "Refusing to write an archive to a terminal: redirect standard "
                                       "output or give a file name.");
        r = open_store(false, &s);
        if (r < 0)
                return r;

        /* A shared lock: other readers (clone, another export) may run too, but nothing that changes
         * the machine. A running machine holds the lock exclusively (systemd-nspawn takes it so): its
         * tree changes while it is read, so that needs --force (machinectl export-tar does it anyway). */
        r = store_lock_machine(&s, name, LOCK_SH|LOCK_NB, &lock, &type);
        if (r == -EBUSY && arg_force) {
                log_warning("Machine '%s' is in use (running?): exporting it as it is, --force.", name);
                r = store_get(&s, name, false, &info) < 0 ? -ENOENT : 0;
                type = MACHINE_DIRECTORY;
        } else if (r == -EBUSY)
                return log_error_errno(r, "Machine '%s' is in use: it is running, or another mkmachine or "
                                       "machinectl is changing it. Stop it first, or use --force to export "
                                       "it as it is (its files may change while they are read).", name);
        if (r < 0)
                return log_store_error(r, "export", name, &s);
        tree_fd = open_machine_tree(&s, name, type, "exported");
        if (tree_fd < 0)
                return tree_fd;

        if (to_stdout)
                out_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        else {
                /* Next to the destination (same file system, for the rename), hidden from globs. */
                if (asprintf(&tmp, "%s.XXXXXX.tmp", file) < 0)
                        return log_oom();
                out_fd = mkostemps(tmp, 4, O_CLOEXEC);
                if (out_fd < 0) {
                        tmp = mfree(tmp);
                        return log_error_errno(errno, "Failed to create '%s': %m", file);
                }
                mask = umask(0);
                umask(mask);
                (void) fchmod(out_fd, 0666 & ~mask);
        }
        if (out_fd < 0)
                return log_error_errno(errno, "Failed to duplicate standard output: %m");

        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                (void) sigaction(sigs[i], &sa, old + i);
        r = tar_pack(tree_fd, out_fd, c, ORIGIN_XATTR, &export_signal, &progress, &stats, &msg);
        if (r >= 0 && !to_stdout && fsync(out_fd) < 0)
                r = -errno;
        if (r >= 0 && !to_stdout && rename(tmp, file) < 0)
                r = -errno;
        if (r < 0 && tmp)
                (void) unlink(tmp);
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                (void) sigaction(sigs[i], old + i, NULL);

        if (export_signal > 0) {
                log_error("Interrupted; removed the unfinished '%s'.", file);
                /* Die by the signal, as the caller expects of an interrupted command. */
                (void) signal(export_signal, SIG_DFL);
                (void) raise(export_signal);
                return -EINTR;
        }
        if (r < 0) {
                progress_clear_line();
                return log_error_errno(r, "Failed to export machine '%s' to '%s': %s", name, file,
                                       msg ?: strerror(-r));
        }
        if (!arg_quiet && !to_stdout)
                log_info("Exported '%s' to %s: %" PRIu64 " entries, %s compression.", name, file,
                         stats.entries, compression_to_string(c));
        return 0;
}

/* "mkmachine VERB ARG NAME" for the sources that other verbs handle, in a child (the ensure lock stays
 * held meanwhile). */
static int run_self(const char *verb, const char *arg, const char *name) {
        char *argv[] = { (char*) "mkmachine", strjoina("--image-root=", arg_image_root), (char*) verb,
                         (char*) arg, (char*) name, NULL };
        int status;
        pid_t pid;

        pid = fork();
        if (pid < 0)
                return log_error_errno(errno, "Failed to fork: %m");
        if (pid == 0) {
                execv("/proc/self/exe", argv);
                log_error_errno(errno, "Failed to run 'mkmachine %s': %m", verb);
                _exit(EXIT_FAILURE);
        }
        if (waitpid(pid, &status, 0) < 0)
                return log_error_errno(errno, "Failed to wait for 'mkmachine %s': %m", verb);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return log_error_errno(SYNTHETIC_ERRNO(EIO), "'mkmachine %s %s %s' failed.", verb, arg,
                                       name);
        return 0;
}

/* The hidden verb of mkmachine-build@NAME.service (see mkmachine-generator): builds machine NAME from
 * its .machine file unless it is in the store already. Two at once: the second waits for the first and
 * then finds the machine there. */
static int verb_ensure(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(machine_file_freep) MachineFile *m = NULL;
        _cleanup_(machine_info_done) MachineInfo info = {};
        _cleanup_(release_lock_file) LockFile lock = LOCK_FILE_INIT;
        _cleanup_free_ char *lock_path = NULL;
        const char *name = argv[1], *reason = NULL;
        unsigned line = 0;
        int r;

        r = check_machine_name(name);
        if (r < 0)
                return r;
        r = machine_file_load(machines_dir(), name, &m, &line, &reason);
        if (r == -ENOENT)
                return log_error_errno(r, "No %s/%s" MACHINE_FILE_SUFFIX ": nothing declares machine '%s'.",
                                       machines_dir(), name, name);
        if (r == -EBADMSG && line > 0)
                return log_error_errno(r, "%s/%s" MACHINE_FILE_SUFFIX ":%u: %s.", machines_dir(), name, line,
                                       reason);
        if (r == -EBADMSG)
                return log_error_errno(r, "%s/%s" MACHINE_FILE_SUFFIX ": %s.", machines_dir(), name, reason);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s/%s" MACHINE_FILE_SUFFIX ": %m", machines_dir(),
                                       name);

        r = open_store(true, &s);
        if (r < 0)
                return r;
        if (asprintf(&lock_path, "%s/.#%s.ensure.lck", streq(s.root, "/") ? "" : s.root, name) < 0)
                return log_oom();
        r = make_lock_file(lock_path, LOCK_EX, &lock);
        if (r < 0)
                return log_error_errno(r, "Failed to lock '%s': %m", lock_path);

        if (store_get(&s, name, false, &info) >= 0) {
                if (!arg_quiet)
                        log_info("Machine '%s' is in the store already.", name);
                return 0;
        }
        if (!arg_quiet)
                log_info("Machine '%s' is missing: building it from %s (%s).", name, m->source,
                         machine_source_type_to_string(m->source_type));

        switch (m->source_type) {
        case MACHINE_SOURCE_RECIPE:
                arg_name = name;
                return run_bootstrap(m->source);
        case MACHINE_SOURCE_TAR:
                return run_import_tar(m->source, name);
        case MACHINE_SOURCE_PULL:
                return run_self("pull", m->source, name);
        case MACHINE_SOURCE_OCI:
                return run_self("import-oci", m->source + strlen("oci:"), name);
        default:
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Unknown source type.");
        }
}

/* --auto-update and --health-cmd of "set": they live in the origin record. */
static int set_update_policy(const char *name) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(machine_info_done) MachineInfo info = {};
        _cleanup_free_ char *msg = NULL, *origin = NULL;
        _cleanup_close_ int fd = -EBADF;
        json_object *o;
        int r;

        r = open_store(false, &s);
        if (r < 0)
                return r;
        r = store_get(&s, name, false, &info);
        if (r < 0)
                return log_store_error(r, "set", name, &s);
        o = origin_json(&info);
        r = auto_update_policy_check(arg_auto_update >= 0 ? arg_auto_update : AUTO_UPDATE_NO,
                                     origin_string(o, "type"), &msg);
        json_object_put(o);
        if (r < 0)
                return log_error_errno(r, "Cannot set the update policy of '%s': %s", name,
                                       msg ?: strerror(-r));
        r = auto_update_origin_set(info.origin, arg_auto_update, arg_health_cmd, &origin);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "The origin record of '%s' is damaged; cannot set its update "
                                       "policy.", name);
        fd = openat(s.root_fd, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open machine '%s': %m", name);
        if (fsetxattr(fd, ORIGIN_XATTR, origin, strlen(origin), 0) < 0)
                return log_error_errno(errno, "Failed to record the update policy of '%s': %m", name);
        if (!arg_quiet)
                log_info("Machine '%s': auto-update %s%s%s.", name,
                         auto_update_policy_to_string(arg_auto_update >= 0 ? arg_auto_update :
                                                      AUTO_UPDATE_NO),
                         arg_health_cmd ? ", health command " : "",
                         arg_health_cmd ? (isempty(arg_health_cmd) ? "none" : arg_health_cmd) : "");
        return 0;
}

/* Verbs that cannot record an update policy refuse one, rather than ignore it. */
static int refuse_update_options(const char *verb, AutoUpdatePolicy allowed) {
        if (arg_auto_update > AUTO_UPDATE_NO && arg_auto_update != allowed)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "%s: --auto-update=%s is for machines %s.",
                                       verb, auto_update_policy_to_string(arg_auto_update),
                                       arg_auto_update == AUTO_UPDATE_REGISTRY ? "made by 'pull'" :
                                       arg_auto_update == AUTO_UPDATE_LOCAL ? "made by 'import-oci'" :
                                       "bootstrapped from a recipe");
        return 0;
}

static volatile sig_atomic_t push_signal = 0;

static void push_on_signal(int sig) {
        push_signal = sig;
}

static int verb_push(int argc, char *argv[]) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(image_lock_release) ImageLock lock = { .local = LOCK_FILE_INIT, .global = LOCK_FILE_INIT };
        _cleanup_(oci_reference_done) OciReference ref = {};
        _cleanup_(oci_platform_done) OciPlatform platform = {};
        _cleanup_(nspawn_settings_done) NspawnSettings settings = {};
        _cleanup_(registry_client_freep) RegistryClient *client = NULL;
        _cleanup_free_ char *msg = NULL, *config = NULL, *manifest = NULL, *reference = NULL;
        _cleanup_close_ int tree_fd = -EBADF, layer_fd = -EBADF;
        const char *name = argv[1], *tmp_dir = strjoina(arg_cache_dir, "/push");
        char config_digest[OCI_DIGEST_STRING_MAX], hex[65], manifest_hex[65];
        OciPackedLayer layer;
        Progress progress = {};
        MachineType type;
        unsigned line = 0;
        bool boot;
        int r;

        r = check_machine_name(name);
        if (r < 0)
                return r;
        r = oci_reference_parse(argv[2], &ref);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0 || !ref.registry || ref.digest)
                return log_error_errno(r < 0 ? r : SYNTHETIC_ERRNO(EINVAL), "Invalid reference to push to "
                                       "'%s': use REGISTRY[:PORT]/REPOSITORY[:TAG] (no digest).", argv[2]);
        r = oci_reference_format(&ref, &reference);
        if (r < 0)
                return log_oom();

        r = open_store(false, &s);
        if (r < 0)
                return r;
        r = store_lock_machine(&s, name, LOCK_SH|LOCK_NB, &lock, &type);
        if (r == -EBUSY)
                return log_error_errno(r, "Machine '%s' is running or being changed: stop it first, so that "
                                       "its tree is pushed as one consistent state.", name);
        if (r < 0)
                return log_store_error(r, "push", name, &s);
        tree_fd = open_machine_tree(&s, name, type, "pushed");
        if (tree_fd < 0)
                return tree_fd;

        r = machine_settings_load(getenv("MKMACHINE_NSPAWN_DIR") ?: MACHINE_NSPAWN_DIR_DEFAULT, name,
                                  &settings, NULL, &line);
        if (r < 0)
                return log_error_errno(r, "Failed to read the settings of '%s' (line %u): %m", name, line);
        boot = settings.boot > 0 || (settings.boot < 0 && oci_tree_has_init(tree_fd));
        if (!boot && !settings.parameters)
                log_warning("Machine '%s' neither boots nor has a command line (Parameters=): the image "
                            "will have no entrypoint.", name);
        r = oci_platform_host(&platform);
        if (r < 0)
                return log_error_errno(r, "Failed to determine the host's platform: %m");

        /* Ask for the registry before the work: a refusal (credentials) comes at once. */
        r = registry_client_new(&ref, &(RegistryOptions) { .tls_verify = arg_tls_verify, .push = true },
                                &client, &msg);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "Failed to push to %s: %s", reference, msg ?: strerror(-r));

        r = mkdir_parents_and(tmp_dir);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", tmp_dir);
        (void) signal(SIGINT, push_on_signal);
        (void) signal(SIGTERM, push_on_signal);
        if (!arg_quiet)
                log_info("Packing machine '%s' (%s)…", name, compression_to_string(arg_compress));
        r = oci_layer_pack(tree_fd, arg_compress, tmp_dir, &push_signal, &progress, &layer_fd, &layer, &msg);
        if (r < 0)
                return log_error_errno(r, "Failed to pack machine '%s': %s", name, msg ?: strerror(-r));

        r = oci_push_config_json(&platform, layer.diff_id, boot, &settings, &config);
        if (r < 0)
                return log_oom();
        sha256_hex(config, strlen(config), hex);
        snprintf(config_digest, sizeof(config_digest), "sha256:%s", hex);
        r = oci_push_manifest_json(config_digest, strlen(config), &layer, &manifest);
        if (r < 0)
                return log_oom();

        r = registry_blob_exists(client, layer.digest, &msg);
        if (r == 0) {
                char b[FORMAT_BYTES_MAX];
                if (!arg_quiet)
                        log_info("Uploading the layer %s (%s)…", layer.digest,
                                 format_bytes(b, sizeof(b), layer.size));
                r = registry_blob_upload(client, layer.digest, layer_fd, layer.size, &msg);
        }
        if (r >= 0) {
                r = registry_blob_exists(client, config_digest, &msg);
                if (r == 0)
                        r = registry_blob_upload_data(client, config_digest, config, strlen(config), &msg);
        }
        if (r >= 0)
                r = registry_manifest_put(client, ref.tag, "application/vnd.oci.image.manifest.v1+json",
                                          manifest, strlen(manifest), &msg);
        if (r < 0)
                return log_error_errno(r, "Failed to push machine '%s' to %s: %s", name, reference,
                                       msg ?: strerror(-r));

        sha256_hex(manifest, strlen(manifest), manifest_hex);
        if (arg_json) {
                json_object *j = json_object_new_object();
                if (!j)
                        return log_oom();
                json_object_object_add(j, "name", json_object_new_string(name));
                json_object_object_add(j, "reference", json_object_new_string(reference));
                json_object_object_add(j, "manifest_digest",
                                       json_object_new_string(strjoina("sha256:", manifest_hex)));
                json_object_object_add(j, "layer_digest", json_object_new_string(layer.digest));
                json_object_object_add(j, "layer_size", json_object_new_uint64(layer.size));
                json_object_object_add(j, "boot", json_object_new_boolean(boot));
                return print_json(j);
        }
        if (!arg_quiet)
                log_info("Pushed machine '%s' to %s (sha256:%s).", name, reference, manifest_hex);
        return 0;
}

/* auto-update */

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

typedef struct Update {
        const char *name;
        AutoUpdatePolicy policy;
        char *health_cmd;
        char *reference;        /* registry reference, or the local source */
        char *recorded;
        char *current;
        AutoUpdateAction action;
        const char *result;     /* "up-to-date", "pending", "updated", "rolled-back", "failed", … */
        char *reason;
        PackageUpgrade *upgrades;       /* policy packages: the pending (or installed) upgrades */
        size_t n_upgrades;
} Update;

static void update_done(Update *u) {
        package_upgrade_array_free(u->upgrades, u->n_upgrades);
        free(u->health_cmd);
        free(u->reference);
        free(u->recorded);
        free(u->current);
        free(u->reason);
}

_printf_(2, 3)
static void update_fail(Update *u, const char *format, ...) {
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
static int update_resolve(Update *u, json_object *origin, int cache_fd, const OciPlatform *want,
                          UpdateSource *src) {
        _cleanup_free_ char *msg = NULL;
        json_object *t;
        int r;

        if (u->policy == AUTO_UPDATE_REGISTRY) {
                const char *reference = origin_string(origin, "reference");

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
                if (arg_tls_verify < 0 && json_object_object_get_ex(origin, "tls_verify", &t) &&
                    !json_object_get_boolean(t))
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
                const char *path = origin_string(origin, "source");
                const char *tag = origin_string(origin, "reference");
                _cleanup_free_ char *spec = NULL;
                Progress progress = {};

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

static bool unit_running(sd_bus *bus, const char *name) {
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
static int update_restart(Store *s, sd_bus *bus, Update *u, const char *nspawn_dir, bool restore,
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

typedef struct PackageFill {
        int source_fd;
        PackageUpdateMode mode;
        int report_fd;
        int log_fd;
} PackageFill;

/* In store_prepare()'s child: the copy of the machine, updated there. */
static int package_fill(int tree_fd, void *userdata) {
        PackageFill *f = userdata;
        const char *step = NULL;
        int r;

        r = package_update_tree(f->source_fd, tree_fd, f->mode, f->report_fd, f->log_fd, &step);
        if (r < 0)
                (void) dprintf(f->log_fd, "\n%s failed%s%s\n", strna(step), r == -EPROTO ? "" : ": ",
                               r == -EPROTO ? "" : strerror(-r));
        return r;
}

/* The last lines of what apt said (the machine's apt: its bytes are shown only as printable ASCII). */
static char* apt_log_tail(int fd) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0, lines = 0;
        char *p;

        if (lseek(fd, 0, SEEK_SET) < 0 || read_full_fd(fd, 16 * 1024 * 1024, &text, &size) < 0)
                return NULL;
        while (size > 0 && strchr("\n ", text[size - 1]))
                text[--size] = 0;
        p = text + size;
        while (p > text && lines < 8)
                if (*--p == '\n')
                        lines++;
        if (*p == '\n')
                p++;
        for (char *c = p; *c; c++)
                if (*c == '\n')
                        *c = ';';
                else if ((unsigned char) *c < ' ' || (unsigned char) *c >= 0x7f)
                        *c = '?';
        return strdup(p);
}

static int memfd_reset(int fd) {
        if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        return 0;
}

/* One pass of package_update_tree() on a new temporary of the machine: its name and fd (locked) in
 * *ret_tmp and *ret_tmp_fd (for PACKAGE_UPDATE_CHECK removed again), the upgrades apt reported in u. */
static int update_packages_pass(Store *s, Update *u, PackageFill *fill, char **ret_tmp, int *ret_tmp_fd) {
        _cleanup_free_ char *tmp = NULL, *report = NULL, *tail = NULL;
        _cleanup_close_ int tmp_fd = -EBADF;
        PackageUpgrade *upgrades = NULL;
        size_t size = 0, n = 0;
        unsigned line = 0;
        int r, fill_error = 0;

        if (memfd_reset(fill->report_fd) < 0 || memfd_reset(fill->log_fd) < 0)
                return -errno;
        r = store_prepare(s, u->name, package_fill, fill, &tmp, &tmp_fd, &fill_error);
        if (r < 0) {
                tail = apt_log_tail(fill->log_fd);
                update_fail(u, "%s in a copy of its tree failed: %s", fill->mode == PACKAGE_UPDATE_CHECK ?
                            "looking for package updates" : "installing the package updates (the machine "
                            "is unchanged)", tail ?: strerror(fill_error < 0 ? -fill_error : -r));
                return r == -ECANCELED && fill_error < 0 ? fill_error : r;
        }
        if (fill->mode == PACKAGE_UPDATE_CHECK) {
                (void) store_discard(s, tmp);
                tmp = mfree(tmp);
        }

        if (lseek(fill->report_fd, 0, SEEK_SET) < 0)
                r = -errno;
        else
                r = read_full_fd(fill->report_fd, 16 * 1024 * 1024, &report, &size);
        if (r >= 0)
                r = package_upgrades_parse(report, size, &upgrades, &n, &line);
        if (r < 0) {
                if (tmp)
                        (void) store_discard(s, tmp);
                if (r == -EBADMSG)
                        update_fail(u, "apt's list of upgrades is malformed (line %u)", line);
                else
                        update_fail(u, "cannot read apt's list of upgrades: %s", strerror(-r));
                return r;
        }
        package_upgrade_array_free(u->upgrades, u->n_upgrades);
        u->upgrades = upgrades;
        u->n_upgrades = n;
        if (ret_tmp) {
                *ret_tmp = TAKE_PTR(tmp);
                *ret_tmp_fd = TAKE_FD(tmp_fd);
        }
        return 0;
}

/* Policy packages: apt looks for upgrades in a copy of the machine (it may run meanwhile); if there are
 * any, the machine is stopped (if it runs), copied again, the upgrades installed in that copy (not
 * booted, no network while package scripts run), the copy swapped in, and the machine started and
 * checked like after an image update. 0 if current or updated, <0 if failed or rolled back. */
static int update_machine_packages(Store *s, sd_bus *bus, Update *u) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int source_fd = -EBADF, tmp_fd = -EBADF, report_fd = -EBADF, log_fd = -EBADF;
        const char *nspawn_dir = getenv("MKMACHINE_NSPAWN_DIR") ?: MACHINE_NSPAWN_DIR_DEFAULT;
        PackageFill fill = {};
        bool running;
        int r;

        source_fd = openat(s->root_fd, u->name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        if (source_fd < 0) {
                r = -errno;
                update_fail(u, "cannot open its tree: %s", strerror(-r));
                return r;
        }
        report_fd = memfd_create("apt-report", MFD_CLOEXEC);
        log_fd = memfd_create("apt-log", MFD_CLOEXEC);
        if (report_fd < 0 || log_fd < 0)
                return -errno;
        fill = (PackageFill) {
                .source_fd = source_fd,
                .mode = PACKAGE_UPDATE_CHECK,
                .report_fd = report_fd,
                .log_fd = log_fd,
        };

        r = update_packages_pass(s, u, &fill, NULL, NULL);
        if (r < 0)
                return r;
        u->action = auto_update_decide_packages(u->n_upgrades);
        u->result = auto_update_action_to_string(u->action);
        if (u->action != AUTO_UPDATE_PENDING || arg_dry_run)
                return 0;

        if (!arg_quiet)
                log_info("Updating %zu package%s of '%s'.", u->n_upgrades, u->n_upgrades == 1 ? "" : "s",
                         u->name);
        /* Stopped before the copy that is updated: nothing the machine writes is lost by the swap. */
        running = unit_running(bus, u->name);
        if (running) {
                r = machine_glue_stop(u->name);
                if (r < 0) {
                        update_fail(u, "it could not be stopped");
                        return r;
                }
        }
        fill.mode = PACKAGE_UPDATE_INSTALL;
        r = update_packages_pass(s, u, &fill, &tmp, &tmp_fd);
        if (r >= 0 && u->n_upgrades == 0) {
                /* The archive changed meanwhile: nothing was installed after all. */
                (void) store_discard(s, tmp);
                tmp_fd = safe_close(tmp_fd);
                if (running)
                        (void) machine_glue_start(u->name);
                u->action = AUTO_UPDATE_CURRENT;
                u->result = auto_update_action_to_string(u->action);
                return 0;
        }
        if (r >= 0) {
                r = store_swap_in(s, u->name, tmp);
                if (r < 0) {
                        (void) store_discard(s, tmp);
                        update_fail(u, "cannot put the updated tree in place: %s", strerror(-r));
                }
        }
        tmp_fd = safe_close(tmp_fd);
        if (r < 0) {
                if (running)
                        (void) machine_glue_start(u->name);
                return r;
        }
        if (!running) {
                u->result = "updated";
                return 0;
        }
        return update_restart(s, bus, u, nspawn_dir, false, NULL);
}

/* Updates one machine. 0 if it was current or updated (or would be, with --dry-run), <0 if it failed or
 * was rolled back; u says which. */
static int update_machine(Store *s, sd_bus *bus, int cache_fd, const OciPlatform *want,
                          const MachineInfo *info, Update *u) {
        _cleanup_(update_source_done) UpdateSource src = {};
        _cleanup_free_ char *tmp = NULL, *settings_path = NULL, *old_settings = NULL, *why = NULL;
        _cleanup_close_ int tmp_fd = -EBADF;
        json_object *origin = origin_json(info);
        const char *nspawn_dir = getenv("MKMACHINE_NSPAWN_DIR") ?: MACHINE_NSPAWN_DIR_DEFAULT;
        char p[OCI_PLATFORM_STRING_MAX];
        bool running;
        int r, k;

        u->result = "skipped";
        r = auto_update_from_origin(info->origin, &u->policy, &u->health_cmd);
        if (r < 0) {
                json_object_put(origin);
                update_fail(u, "its origin record is damaged");
                return r;
        }
        if (u->policy == AUTO_UPDATE_NO) {
                json_object_put(origin);
                u->action = AUTO_UPDATE_SKIP;
                return 0;
        }
        if (u->policy == AUTO_UPDATE_PACKAGES) {
                json_object_put(origin);
                return update_machine_packages(s, bus, u);
        }
        if (origin_string(origin, "manifest_digest"))
                u->recorded = strdup(origin_string(origin, "manifest_digest"));
        r = update_resolve(u, origin, cache_fd, want, &src);
        json_object_put(origin);
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

static int verb_auto_update(int argc, char *argv[]) {
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

static const Verb verbs[] = {
        { "bootstrap",  0, 1, verb_bootstrap  },
        { "import-tar", 2, 2, verb_import_tar },
        { "import-oci", 2, 2, verb_import_oci },
        { "pull",       1, 2, verb_pull       },
        { "prune",      0, 0, verb_prune      },
        { "list",       0, 0, verb_list       },
        { "show",       1, 1, verb_show       },
        { "status",     1, 1, verb_status     },
        { "doctor",     0, 0, verb_doctor     },
        { "remove",     1, 1, verb_remove     },
        { "create",     1, 1, verb_create     },
        { "rename",     2, 2, verb_rename     },
        { "clone",      2, 2, verb_clone      },
        { "export",     2, 2, verb_export     },
        { "push",       2, 2, verb_push       },
        { "auto-update", 0, -1, verb_auto_update },
        { "set",        1, 1, verb_set        },
        { "start",      1, 1, verb_start      },
        { "stop",       1, 1, verb_stop       },
        /* Called by the restart drop-in (machine-config.h), not by people: not in --help. */
        { "__unit-helper", 2, 2, verb_unit_helper },
        /* Called by mkmachine-build@NAME.service (mkmachine-generator), not by people. */
        { "__ensure",   1, 1, verb_ensure     },
        { "help",       0, 0, verb_help       },
};

enum {
        ARG_VERSION = 0x100,
        ARG_IMAGE_ROOT,
        ARG_JSON,
        ARG_FORCE,
        ARG_STRIP_TOP,
        ARG_NAME,
        ARG_RECIPE,
        ARG_MIRROR,
        ARG_SECURITY_MIRROR,
        ARG_KEYRING,
        ARG_INCLUDE,
        ARG_EXCLUDE,
        ARG_NO_VERIFY,
        ARG_CACHE_DIR,
        ARG_FRESH,
        ARG_PLATFORM,
        ARG_TLS_VERIFY,
        ARG_FORMAT,
        ARG_EPHEMERAL,
        ARG_AUTO_UPDATE,
        ARG_HEALTH_CMD,
        ARG_DRY_RUN,
        ARG_COMPRESS,
        ARG_MAX_SIZE,
        ARG_XATTRS,
};

static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help",       no_argument,       NULL, 'h'            },
                { "version",    no_argument,       NULL, ARG_VERSION    },
                { "image-root", required_argument, NULL, ARG_IMAGE_ROOT },
                { "json",       no_argument,       NULL, ARG_JSON       },
                { "quiet",      no_argument,       NULL, 'q'            },
                { "force",      no_argument,       NULL, ARG_FORCE      },
                { "strip-top",  no_argument,       NULL, ARG_STRIP_TOP  },
                { "name",       required_argument, NULL, ARG_NAME       },
                { "recipe",     required_argument, NULL, ARG_RECIPE     },
                { "mirror",     required_argument, NULL, ARG_MIRROR     },
                { "security-mirror", required_argument, NULL, ARG_SECURITY_MIRROR },
                { "keyring",    required_argument, NULL, ARG_KEYRING    },
                { "include",    required_argument, NULL, ARG_INCLUDE    },
                { "exclude",    required_argument, NULL, ARG_EXCLUDE    },
                { "no-verify",  no_argument,       NULL, ARG_NO_VERIFY  },
                { "cache-dir",  required_argument, NULL, ARG_CACHE_DIR  },
                { "fresh",      no_argument,       NULL, ARG_FRESH      },
                { "platform",   required_argument, NULL, ARG_PLATFORM   },
                { "tls-verify", required_argument, NULL, ARG_TLS_VERIFY },
                { "format",     required_argument, NULL, ARG_FORMAT     },
                { "ephemeral",  no_argument,       NULL, ARG_EPHEMERAL  },
                { "auto-update", required_argument, NULL, ARG_AUTO_UPDATE },
                { "health-cmd", required_argument, NULL, ARG_HEALTH_CMD },
                { "dry-run",    no_argument,       NULL, ARG_DRY_RUN    },
                { "compress",   required_argument, NULL, ARG_COMPRESS   },
                { "max-size",   required_argument, NULL, ARG_MAX_SIZE   },
                { "xattrs",     required_argument, NULL, ARG_XATTRS     },
                MACHINE_GLUE_OPTIONS,
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "hq" MACHINE_GLUE_SHORT_OPTIONS, options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("mkmachine %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_IMAGE_ROOT:
                        arg_image_root = optarg;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case 'q':
                        arg_quiet = true;
                        break;
                case ARG_FORCE:
                        arg_force = true;
                        break;
                case ARG_STRIP_TOP:
                        arg_strip_top = true;
                        break;
                case ARG_NAME:
                        arg_name = optarg;
                        break;
                case ARG_RECIPE:
                        arg_recipe = optarg;
                        break;
                case ARG_MIRROR:
                        arg_mirror = optarg;
                        break;
                case ARG_SECURITY_MIRROR:
                        arg_security_mirror = optarg;
                        break;
                case ARG_KEYRING:
                        arg_keyring = optarg;
                        break;
                case ARG_INCLUDE:
                case ARG_EXCLUDE:
                        /* "a,b c": commas and spaces separate, as in the recipe's Include=. */
                        for (const char *p = optarg; *p;) {
                                size_t n = strcspn(p, ", ");
                                if (n > 0) {
                                        _cleanup_free_ char *w = strndup(p, n);
                                        if (!w || strv_extend(c == ARG_INCLUDE ? &arg_include : &arg_exclude,
                                                              w) < 0)
                                                return log_oom();
                                }
                                p += n;
                                p += strspn(p, ", ");
                        }
                        break;
                case ARG_NO_VERIFY:
                        arg_no_verify = true;
                        break;
                case ARG_CACHE_DIR:
                        arg_cache_dir = optarg;
                        break;
                case ARG_FRESH:
                        arg_fresh = true;
                        break;
                case ARG_PLATFORM:
                        arg_platform = optarg;
                        break;
                case ARG_TLS_VERIFY:
                        if (streq(optarg, "true") || streq(optarg, "yes"))
                                arg_tls_verify = 1;
                        else if (streq(optarg, "false") || streq(optarg, "no"))
                                arg_tls_verify = 0;
                        else
                                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                                       "Invalid --tls-verify='%s': use true or false.",
                                                       optarg);
                        break;
                case ARG_AUTO_UPDATE:
                        arg_auto_update = auto_update_policy_from_string(optarg);
                        if (arg_auto_update < 0)
                                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                                       "Invalid --auto-update='%s': use registry, local, "
                                                       "packages or no.", optarg);
                        break;
                case ARG_HEALTH_CMD:
                        arg_health_cmd = optarg;
                        break;
                case ARG_DRY_RUN:
                        arg_dry_run = true;
                        break;
                case ARG_COMPRESS:
                        if (streq(optarg, "gzip"))
                                arg_compress = COMPRESSION_GZIP;
                        else if (streq(optarg, "zstd"))
                                arg_compress = COMPRESSION_ZSTD;
                        else
                                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                                       "Invalid --compress='%s': use gzip or zstd.", optarg);
                        break;
                case ARG_MAX_SIZE:
                        if (parse_size(optarg, &arg_unpack.max_bytes) < 0 || arg_unpack.max_bytes == 0)
                                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                                       "Invalid --max-size='%s': use a number of bytes "
                                                       "with an optional K, M, G or T suffix.", optarg);
                        break;
                case ARG_XATTRS:
                        if (!streq(optarg, "safe") && !streq(optarg, "all"))
                                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                                       "Invalid --xattrs='%s': use safe or all.", optarg);
                        arg_unpack.all_xattrs = streq(optarg, "all");
                        break;
                case ARG_FORMAT:
                        arg_format = optarg;
                        break;
                case ARG_EPHEMERAL:
                        arg_ephemeral = true;
                        break;
                case '?':
                        return -EINVAL;
                default: {
                        int r = machine_glue_parse_option(c, optarg);
                        if (r < 0)
                                return r;
                        assert(r > 0);
                }
                }
        return 1;
}

static int dispatch_verb(int argc, char *argv[]) {
        const char *name = argc > 0 ? argv[0] : "help";

        if (argc == 0 && arg_recipe)
                return run_bootstrap(arg_recipe);

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                const Verb *v = verbs + i;
                int n = argc > 0 ? argc - 1 : 0;

                if (!streq(v->name, name))
                        continue;
                if (n < v->min_args)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Too few arguments for '%s'.",
                                               name);
                if (v->max_args >= 0 && n > v->max_args)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Too many arguments for '%s'.",
                                               name);
                /* TEMPLATE@INSTANCE → TEMPLATE.INSTANCE, for every verb that takes a machine name. */
                int r = template_resolve_args(name, argc, argv);
                if (r < 0)
                        return r;
                return v->run(argc, argv);
        }

        /* "mkmachine jammy": a recipe's name as the command. */
        if (recipe_exists(name))
                return run_bootstrap(name);

        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Unknown command '%s'. See 'mkmachine --help'.",
                               name);
}

int main(int argc, char *argv[]) {
        int r;

        log_parse_environment();

        r = machine_glue_split_argv(&argc, argv);
        if (r < 0)
                return EXIT_FAILURE;
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        if (arg_quiet)
                progress_set_enabled(false);

        r = dispatch_verb(argc - optind, argv + optind);
        machine_glue_done();
        template_done();
        if (r == -EINTR && store_interrupted_signal() > 0) {
                /* Die by the signal, as the caller expects of an interrupted command. */
                (void) signal(store_interrupted_signal(), SIG_DFL);
                (void) raise(store_interrupted_signal());
                return 128 + store_interrupted_signal();
        }
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
