/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auto-update.h"
#include "macro.h"

/* The origin record: where a machine came from and what it runs, as JSON in the extended attribute
 * ORIGIN_XATTR (store.h) on its root directory. This module is its one owner: MachineOrigin holds every
 * field mkmachine writes, origin_parse() reads a record back (from disk, so it checks every field and
 * refuses a damaged one) and origin_format() writes one, with the key names and the layout mkmachine
 * has always written (PLAIN JSON, the keys in the order below), so that machines made by an earlier
 * version read back the same and "show --json" does not change.
 *
 * Unknown keys (from a later version, or added by hand) are kept, in order, and written back after the
 * known ones: "set --auto-update=" or a clone must not lose them.
 *
 * Absent fields: strings and lists NULL (an empty list is a list with no entries, not NULL), numbers
 * ORIGIN_NUMBER_UNSET, booleans -1, type and auto_update _INVALID. Nothing here logs above debug. */

/* The most origin_parse() reads: the size of the buffer the store reads the xattr into. */
#define ORIGIN_SIZE_MAX (64U * 1024U)

/* A number that is not there (and, on parsing, one that is refused: no count or time gets there). */
#define ORIGIN_NUMBER_UNSET UINT64_MAX

typedef enum OriginType {
        ORIGIN_TAR,             /* import-tar */
        ORIGIN_OCI,             /* import-oci */
        ORIGIN_REGISTRY,        /* pull */
        ORIGIN_BOOTSTRAP,       /* bootstrap */
        _ORIGIN_TYPE_MAX,
        _ORIGIN_TYPE_INVALID = -EINVAL,
} OriginType;

const char* origin_type_to_string(OriginType t) _pure_;
OriginType origin_type_from_string(const char *s) _pure_;

/* One suite of the archive a machine was bootstrapped from, as its verified Release said. */
typedef struct OriginSuite {
        char *suite;
        char *mirror;
        char *date;             /* the Release's Date:, or NULL (written as null) */
        char *release_sha256;
        json_object *extra;     /* unknown keys, or NULL */
} OriginSuite;

/* What the machine of an OCI image runs ("exec"). */
typedef struct OriginExec {
        int boot;               /* it boots its init; -1 if not recorded */
        char **parameters;
        char **environment;
        char *working_directory;
        char *user;
        char **exposed_ports;
        json_object *extra;
} OriginExec;

typedef struct MachineOrigin {
        OriginType type;
        int tls_verify;         /* written only as false (pulled with --tls-verify=false) */
        char *source;           /* tar: the archive; oci: the image; bootstrap: the recipe file */
        char *source_kind;      /* oci: the kind of source (oci_source_kind_to_string()) */
        char *compression;      /* tar */
        char *sha256;           /* tar: of the archive as read */
        uint64_t size;          /* tar: bytes read */
        uint64_t entries;       /* tar: entries unpacked */
        char *reference;        /* registry: as pulled; oci: the tag or digest in the source */
        char *registry;
        char *repository;
        char *tag;
        char *manifest_digest;  /* what the reference resolved to (an index, maybe) */
        char *image_manifest_digest;
        char **blobs;           /* registry: every blob of the image, for prune */
        char *recipe;           /* bootstrap */
        char *mirror;
        char *suite;
        int verified;
        uint64_t packages;
        OriginSuite *archive;   /* bootstrap: the state of the archive; NULL if not recorded */
        size_t n_archive;
        char *platform;         /* oci, registry */
        char *config_digest;
        uint64_t layers;
        int added_usr;          /* written only as true */
        OriginExec *exec;       /* NULL if not recorded */
        char *exec_summary;
        uint64_t created_usec;
        char *created;          /* created_usec, formatted for people */
        char *tool;             /* "mkmachine VERSION" */
        AutoUpdatePolicy auto_update;
        char *health_cmd;       /* "" counts as none */
        char *cloned_from;      /* the machine this one is a copy of */
        uint64_t cloned_usec;
        json_object *extra;     /* unknown keys, in order, or NULL */
} MachineOrigin;

/* A record with every field absent; NULL only when out of memory. */
MachineOrigin* origin_new(void);
MachineOrigin* origin_free(MachineOrigin *o);
DEFINE_POINTER_CLEANUP(MachineOrigin*, origin_free);

/* A new, empty "exec" for o (replacing any), or NULL when out of memory. */
OriginExec* origin_exec_new(MachineOrigin *o);

/* Sets a string field of a record to a copy of s (NULL: absent), or a list field to a copy of l (NULL:
 * absent; an empty list stays one). -ENOMEM leaves the field as it was. */
int origin_set_string(char **field, const char *s);
int origin_set_strv(char ***field, char * const *l);

/* "set --auto-update= --health-cmd=": sets the policy if p >= 0, and the health command if health_cmd is
 * non-NULL ("" removes it). */
int origin_set_update_policy(MachineOrigin *o, AutoUpdatePolicy p, const char *health_cmd);

/* Appends a suite to o's archive (an empty archive if there was none) with copies of the strings (date
 * may be NULL). */
int origin_archive_add(MachineOrigin *o, const char *suite, const char *mirror, const char *date,
                       const char *release_sha256);

/* Parses the record json of size bytes (not necessarily NUL-terminated; an embedded NUL is refused).
 * Returns 0 and a new MachineOrigin in *ret. -EBADMSG for anything but a JSON object whose known fields
 * have the right types (and known values for type and auto_update), with a sentence in
 * *reterr_message naming the field; -E2BIG above ORIGIN_SIZE_MAX; -ENOMEM. */
int origin_parse(const char *json, size_t size, MachineOrigin **ret, char **reterr_message);

/* The record as a new JSON object (a new reference in *ret), keys in the order above, unknown ones last. */
int origin_to_json(const MachineOrigin *o, json_object **ret);

/* The record as the JSON text that is stored (PLAIN, slashes not escaped), newly allocated in *ret. */
int origin_format(const MachineOrigin *o, char **ret);

/* Reads the record of the tree tree_fd (its root directory): -ENODATA if it has none, otherwise as
 * origin_parse(); other errors from fgetxattr(). */
int origin_read(int tree_fd, MachineOrigin **ret, char **reterr_message);

/* Stores the record on the tree tree_fd (its root directory), replacing any: errors from fsetxattr()
 * (-EOPNOTSUPP without xattr support), -E2BIG above ORIGIN_SIZE_MAX. */
int origin_write(int tree_fd, const MachineOrigin *o);

/* The update policy the record sets: AUTO_UPDATE_NO if none (or no record, o NULL). */
AutoUpdatePolicy origin_auto_update(const MachineOrigin *o) _pure_;

/* The health command, or NULL if none ("" is none). */
const char* origin_health_cmd(const MachineOrigin *o) _pure_;
