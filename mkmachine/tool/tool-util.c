/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What several verbs share: the store and name checks, JSON output, the origin record's fields. */


#include "config.h"
#include "fd-util.h"
#include "log.h"
#include "machine-file.h"
#include "machine-glue.h"
#include "string-util.h"
#include "tool.h"

int open_store(bool create, Store *ret) {
        int r;

        r = store_open(arg_image_root, create, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to open the machine store '%s': %m", arg_image_root);
        return 0;
}

const char* machines_dir(void) {
        return getenv("MKMACHINE_MACHINES_DIR") ?: MACHINE_FILE_DIR_DEFAULT;
}

int check_machine_name(const char *name) {
        if (!machine_name_is_valid(name))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "Invalid machine name '%s': use a valid host name (letters, "
                                       "digits and '-', labels separated by '.', at most %u characters).",
                                       name, MACHINE_NAME_MAX);
        return 0;
}

/* For verbs from one machine to another: both names valid and different. */
int open_store_for_two(const char *a, const char *b, Store *ret) {
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
int log_store_error(int r, const char *action, const char *name, Store *s) {
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
int prepare_new_machine(const char *action, const char *name, Store *s) {
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
int prepare_oci_machine(const char *action, const char *name, OciPlatform *ret_platform, Store *s) {
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

char* format_time(char *buf, size_t size, usec_t t) {
        time_t sec = (time_t) (t / USEC_PER_SEC);
        struct tm tm;

        if (t == 0 || !localtime_r(&sec, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                return strcpy(buf, "-");
        return buf;
}

/* The machine's origin record: 0 and NULL in *ret if it has none; as origin_parse() if it is damaged. */
int machine_info_parse_origin(const MachineInfo *i, MachineOrigin **ret, char **reterr_message) {
        assert(i);
        assert(ret);

        if (!i->origin) {
                *ret = NULL;
                return 0;
        }
        return origin_parse(i->origin, strlen(i->origin), ret, reterr_message);
}

/* The origin record for showing it, or NULL if there is none or it is damaged (shown as none, as
 * before: a record mkmachine cannot read says nothing reliable). */
MachineOrigin* machine_info_origin(const MachineInfo *i) {
        _cleanup_free_ char *msg = NULL;
        MachineOrigin *o = NULL;
        int r;

        r = machine_info_parse_origin(i, &o, &msg);
        if (r < 0) {
                log_debug_errno(r, "Machine '%s': %s", i->name, msg ?: strerror(-r));
                return NULL;
        }
        return o;
}

json_object* machine_info_to_json(const MachineInfo *i) {
        _cleanup_(origin_freep) MachineOrigin *origin = machine_info_origin(i);
        json_object *j = json_object_new_object(), *o = NULL;
        char t[64];

        if (!j)
                return NULL;
        if (origin && origin_to_json(origin, &o) < 0) {
                json_object_put(j);
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

int print_json(json_object *j) {
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

const char* origin_summary(const MachineOrigin *o, char *buf, size_t size) {
        if (o && o->cloned_from) {
                (void) snprintf(buf, size, "clone of %s", o->cloned_from);
                return buf;
        }
        return o && o->source ? o->source : "-";
}

/* What a listing or a status could not see (no bus, no podman): a note on stderr, not an error. */
void note_unseen(const char *what, const char *why) {
        if (!arg_quiet)
                log_notice("Note: %s not shown: %s", what, why);
}

/* --auto-update and --health-cmd of "set": they live in the origin record. */
int set_update_policy(const char *name) {
        _cleanup_(store_close) Store s = { .root_fd = -EBADF };
        _cleanup_(machine_info_done) MachineInfo info = {};
        _cleanup_(origin_freep) MachineOrigin *o = NULL;
        _cleanup_free_ char *msg = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = open_store(false, &s);
        if (r < 0)
                return r;
        r = store_get(&s, name, false, &info);
        if (r < 0)
                return log_store_error(r, "set", name, &s);
        r = machine_info_parse_origin(&info, &o, NULL);
        if (r == -ENOMEM)
                return log_oom();
        r = auto_update_policy_check(arg_auto_update >= 0 ? arg_auto_update : AUTO_UPDATE_NO,
                                     o ? origin_type_to_string(o->type) : NULL, &msg);
        if (r < 0)
                return log_error_errno(r, "Cannot set the update policy of '%s': %s", name,
                                       msg ?: strerror(-r));
        if (!o && info.origin)
                return log_error_errno(SYNTHETIC_ERRNO(EBADMSG), "The origin record of '%s' is damaged; "
                                       "cannot set its update policy.", name);
        if (!o) {
                o = origin_new();
                if (!o)
                        return log_oom();
        }
        if (origin_set_update_policy(o, arg_auto_update, arg_health_cmd) < 0)
                return log_oom();
        fd = openat(s.root_fd, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open machine '%s': %m", name);
        r = origin_write(fd, o);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "Failed to record the update policy of '%s': %m", name);
        if (!arg_quiet)
                log_info("Machine '%s': auto-update %s%s%s.", name,
                         auto_update_policy_to_string(arg_auto_update >= 0 ? arg_auto_update :
                                                      AUTO_UPDATE_NO),
                         arg_health_cmd ? ", health command " : "",
                         arg_health_cmd ? (isempty(arg_health_cmd) ? "none" : arg_health_cmd) : "");
        return 0;
}

/* Verbs that cannot record an update policy refuse one, rather than ignore it. */
int refuse_update_options(const char *verb, AutoUpdatePolicy allowed) {
        if (arg_auto_update > AUTO_UPDATE_NO && arg_auto_update != allowed)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "%s: --auto-update=%s is for machines %s.",
                                       verb, auto_update_policy_to_string(arg_auto_update),
                                       arg_auto_update == AUTO_UPDATE_REGISTRY ? "made by 'pull'" :
                                       arg_auto_update == AUTO_UPDATE_LOCAL ? "made by 'import-oci'" :
                                       "bootstrapped from a recipe");
        return 0;
}

int commit_and_show(Store *s, const char *name) {
        int r;

        r = machine_glue_commit(name, arg_quiet || arg_json);
        if (r < 0)
                return r;
        return arg_json ? show_machine(s, name) : 0;
}
