/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the verbs of the front end share: the options as parsed (mkmachine.c) and the helpers of
 * tool-util.c. Each mkmachine-VERB.c holds one verb group, as systemd's systemctl-VERB.c do. */

#include <json-c/json.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "auto-update.h"
#include "decompress.h"
#include "lock-util.h"
#include "oci-image.h"
#include "oci-import.h"
#include "oci-registry.h"
#include "origin.h"
#include "package-update.h"
#include "store.h"
#include "tar-unpack.h"
#include "time-util.h"

extern const char *arg_image_root;
extern bool arg_json;
extern bool arg_quiet;
extern bool arg_force;
extern bool arg_strip_top;
extern const char *arg_name;
extern const char *arg_mirror;
extern const char *arg_security_mirror;
extern const char *arg_keyring;
extern const char *arg_recipe;
extern const char *arg_cache_dir;
extern char **arg_include;
extern char **arg_exclude;
extern bool arg_no_verify;
extern bool arg_fresh;
extern const char *arg_platform;
extern int arg_tls_verify;
extern const char *arg_format;
extern bool arg_ephemeral;
extern AutoUpdatePolicy arg_auto_update;
extern const char *arg_health_cmd;
extern bool arg_dry_run;
extern Compression arg_compress;
extern TarUnpackOptions arg_unpack;

#define PODMAN_TIMEOUT_USEC (15 * USEC_PER_SEC)

typedef struct ImportOci {
        OciSource *source;
        OciImage *image;
        const char *name;
        const char *platform;
} ImportOci;
typedef struct Pull {
        OciPull *pull;
        OciImage *image;
        const OciReference *ref;
        const char *reference;          /* formatted */
        const char *root_digest;
        const char *name;
        const char *platform;
} Pull;
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

/* mkmachine-auto-update.c */
int verb_auto_update(int argc, char *argv[]);

/* mkmachine-bootstrap.c */
bool recipe_exists(const char *name);
int run_bootstrap(const char *recipe_name);
int verb_bootstrap(int argc, char *argv[]);

/* mkmachine-doctor.c */
int verb_doctor(int argc, char *argv[]);

/* mkmachine-export.c */
int verb_export(int argc, char *argv[]);
int verb_push(int argc, char *argv[]);

/* mkmachine-import.c */
void origin_record(int tree_fd, MachineOrigin *o, const char *what);
int install_machine(Store *s, const char *action, const char *name, StoreFillFunc fill,
                    void *userdata);
int run_import_tar(const char *file, const char *name);
int verb_import_tar(int argc, char *argv[]);
int oci_fill_finish(int tree_fd, const OciImage *image, MachineOrigin *o, const char *name,
                    const char *platform, const char *what);
int import_oci_fill(int tree_fd, void *userdata);
int oci_install(Store *s, const char *action, const char *name, const OciImage *image,
                StoreFillFunc fill, void *userdata);
int verb_import_oci(int argc, char *argv[]);

/* mkmachine-internal.c */
int verb_unit_helper(int argc, char *argv[]);
int verb_ensure(int argc, char *argv[]);

/* mkmachine-list.c */
int verb_list(int argc, char *argv[]);

/* mkmachine-machine.c */
int verb_remove(int argc, char *argv[]);
int require_machine(const char *verb, const char *name);
int verb_set(int argc, char *argv[]);
int verb_start(int argc, char *argv[]);
int verb_create(int argc, char *argv[]);
int verb_stop(int argc, char *argv[]);
int verb_rename(int argc, char *argv[]);
int verb_clone(int argc, char *argv[]);

/* mkmachine-pull.c */
int pull_fill(int tree_fd, void *userdata);
int open_blob_cache(int lock_operation, LockFile *ret_lock, int *ret_fd);
int verb_pull(int argc, char *argv[]);
int verb_prune(int argc, char *argv[]);

/* mkmachine-show.c */
int show_machine(Store *s, const char *name);
int verb_show(int argc, char *argv[]);
int verb_status(int argc, char *argv[]);

/* mkmachine-update-packages.c */
int update_machine_packages(Store *s, sd_bus *bus, Update *u);

/* mkmachine-update.c */
void update_done(Update *u);
_printf_(2, 3)
void update_fail(Update *u, const char *format, ...);
bool unit_running(sd_bus *bus, const char *name);
int update_restart(Store *s, sd_bus *bus, Update *u, const char *nspawn_dir, bool restore,
                   const char *old_settings);
int update_machine(Store *s, sd_bus *bus, int cache_fd, const OciPlatform *want,
                   const MachineInfo *info, Update *u);

/* tool-util.c */
int open_store(bool create, Store *ret);
const char* machines_dir(void);
int check_machine_name(const char *name);
int open_store_for_two(const char *a, const char *b, Store *ret);
int log_store_error(int r, const char *action, const char *name, Store *s);
int prepare_new_machine(const char *action, const char *name, Store *s);
int prepare_oci_machine(const char *action, const char *name, OciPlatform *ret_platform, Store *s);
char* format_time(char *buf, size_t size, usec_t t);
int machine_info_parse_origin(const MachineInfo *i, MachineOrigin **ret, char **reterr_message);
MachineOrigin* machine_info_origin(const MachineInfo *i);
json_object* machine_info_to_json(const MachineInfo *i);
int print_json(json_object *j);
const char* origin_summary(const MachineOrigin *o, char *buf, size_t size);
void note_unseen(const char *what, const char *why);
int set_update_policy(const char *name);
int refuse_update_options(const char *verb, AutoUpdatePolicy allowed);
/* A new machine's settings and glue written (machine_glue_commit()), then with --json the machine shown:
 * the end of import-oci, pull and clone. */
int commit_and_show(Store *s, const char *name);
