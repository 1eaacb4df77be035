/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>

#include "machine-config.h"
#include "macro.h"
#include "nspawn-settings.h"

/* Declarative machines: /etc/mkmachine/machines/NAME.machine, a systemd-style INI file that says where
 * machine NAME comes from and how it runs (see mkmachine.machine(5)):
 *
 *   [Machine]
 *   Source=bookworm | /path/recipe.conf | /path/rootfs.tar.zst | docker://REF | oci:DIR
 *   Network=veth | zone:NAME | bridge:IF | host | none
 *   Port=[tcp:|udp:]HOST[:GUEST]           (repeatable)
 *   Bind=SRC[:DST][:ro|:idmap|:noidmap]    (repeatable)
 *   PrivateUsers=pick | identity | no
 *   Boot=yes | no
 *   Exec=COMMAND ARGS…                     (quoted as in unit files; implies Boot=no)
 *   Environment=KEY=VALUE…                 (repeatable; quoted as in unit files)
 *   Restart=no | on-failure | always
 *
 *   [Install]
 *   WantedBy=machines.target | multi-user.target
 *
 * The vocabulary is that of the command line options; the settings end up in an NspawnSettings, written
 * by the same code as for "mkmachine set". */

#define MACHINE_FILE_DIR_DEFAULT "/etc/mkmachine/machines"
#define MACHINE_FILE_SUFFIX      ".machine"

typedef enum MachineSourceType {
        MACHINE_SOURCE_RECIPE,  /* a recipe name, or an absolute path to a recipe file: bootstrap */
        MACHINE_SOURCE_TAR,     /* an absolute path to a tar archive: import-tar */
        MACHINE_SOURCE_PULL,    /* docker://REF: "mkmachine pull REF NAME" */
        MACHINE_SOURCE_OCI,     /* oci:DIR: "mkmachine import-oci DIR NAME" */
        _MACHINE_SOURCE_TYPE_MAX,
        _MACHINE_SOURCE_TYPE_INVALID = -EINVAL,
} MachineSourceType;

typedef enum MachineInstall {
        MACHINE_INSTALL_NONE,           /* not started at boot */
        MACHINE_INSTALL_MACHINES,       /* WantedBy=machines.target */
        MACHINE_INSTALL_MULTI_USER,     /* WantedBy=multi-user.target */
        _MACHINE_INSTALL_MAX,
        _MACHINE_INSTALL_INVALID = -EINVAL,
} MachineInstall;

typedef struct MachineFile {
        char *name;             /* from the file name */
        char *source;           /* as written */
        MachineSourceType source_type;
        NspawnSettings settings; /* complete: the defaults are filled in */
        RestartPolicy restart;
        MachineInstall install;
} MachineFile;

const char* machine_source_type_to_string(MachineSourceType t) _pure_;
MachineSourceType machine_source_type_from_string(const char *s) _pure_;
/* The target names: "machines.target", "multi-user.target" (and "" for none). */
const char* machine_install_to_string(MachineInstall i) _pure_;
MachineInstall machine_install_from_string(const char *s) _pure_;

MachineFile* machine_file_free(MachineFile *m);
DEFINE_POINTER_CLEANUP(MachineFile*, machine_file_free);

/* Classifies a Source= value; the argument for the build step (the reference without "oci:") is a
 * suffix of s. -EINVAL for a value that is none of the kinds (an empty one, a relative path, a path
 * that is neither a tar archive nor a ".conf" recipe). */
int machine_source_classify(const char *s, MachineSourceType *ret);

/* Parses a .machine file for machine name (which must be a valid machine name: -EINVAL otherwise).
 * On a bad line returns -EBADMSG with the 1-based line in *reterr_line and a short description (a
 * static string) in *reterr_reason; a missing Source= is reported at line 0 (the whole file). Unknown
 * sections and keys are errors too: a typo must not silently change how a machine runs. The settings
 * get the defaults of systemd-nspawn@.service filled in (veth, private users "pick", boot), and binds
 * idmap under private users, as "mkmachine import-tar … --bind" does. Never logs above debug. */
int machine_file_parse(FILE *f, const char *name, MachineFile **ret, unsigned *reterr_line,
                       const char **reterr_reason);

/* Opens DIR/NAME.machine and parses it. -ENOENT if it is missing. */
int machine_file_load(const char *dir, const char *name, MachineFile **ret, unsigned *reterr_line,
                      const char **reterr_reason);

/* The machine name for a file name "NAME.machine", or NULL if it is not one (hidden files, other
 * suffixes, invalid names). The result is newly allocated. */
char* machine_file_name_from_filename(const char *filename);

/* The .nspawn file content for m: the settings, after a comment naming the source file. */
int machine_file_format_nspawn(const MachineFile *m, const char *source_path, char **ret);
