/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* dpkg's database, as dpkg --unpack leaves it for a package that was not installed before: the package's
 * paragraph in var/lib/dpkg/status ("install ok unpacked"), its control files as info/NAME.FILE, and its
 * trigger interests in triggers/File and triggers/TRIGGER. Only the text formats are here; deb-install.c
 * writes them into a tree. */

typedef struct DpkgControl {
        char *package;
        char *version;
        char *architecture;
        bool multi_arch_same;
        char *info_name;        /* "NAME", or "NAME:ARCH" for Multi-Arch: same (info files, triggers) */
        char *fields;           /* every field but Package, Status and Conffiles, as written, '\n'-ended */
} DpkgControl;

void dpkg_control_done(DpkgControl *c);

/* The name dpkg files an installed package under (info/NAME.*, triggers): "PACKAGE:ARCH" for
 * Multi-Arch: same (but not for Architecture: all, where dpkg ignores it), else "PACKAGE". NULL on OOM. */
char* dpkg_info_name(const char *package, const char *architecture, bool multi_arch_same);

/* Parses and checks a package's control file (a single deb822 paragraph: no blank line inside, field
 * names as dpkg allows them, continuation lines only after a field). -EBADMSG with *reterr_message
 * naming the line for anything else. */
int dpkg_control_parse(const char *text, size_t size, DpkgControl *ret, char **reterr_message);

/* Parses a control "conffiles" file into the absolute paths it lists. -EOPNOTSUPP if a line carries
 * flags (such as "remove-on-upgrade"), -EBADMSG for a line that is not an absolute path. */
int dpkg_conffiles_parse(const char *text, size_t size, char ***ret_paths);

/* The status paragraph of an unpacked package: Package, Status, the other fields, then Conffiles with
 * conffiles[i] and its MD5 hashes[i] (as dpkg records them once the files are in place). Ends with the
 * paragraph's last line ('\n'), without the blank line that separates paragraphs. */
int dpkg_status_paragraph(const DpkgControl *c, char * const *conffiles, char * const *hashes, char **ret);

typedef enum DpkgTriggerKind {
        DPKG_TRIGGER_INTEREST,
        DPKG_TRIGGER_INTEREST_NOAWAIT,
        DPKG_TRIGGER_ACTIVATE,
        DPKG_TRIGGER_ACTIVATE_NOAWAIT,
} DpkgTriggerKind;

/* Parses a control "triggers" file, calling func for every directive (comments and blank lines skipped).
 * A trigger name starting with '/' is a file trigger; other names must be usable as file names in
 * triggers/. -EBADMSG with *reterr_message naming the line for an unknown directive or a bad name; a
 * negative return of func stops the parse with it. */
typedef int (*DpkgTriggerFunc)(DpkgTriggerKind kind, const char *name, void *userdata);
int dpkg_triggers_parse(const char *text, size_t size, DpkgTriggerFunc func, void *userdata,
                        char **reterr_message);

/* Whether name (a control member) is one dpkg installs as info/PKG.NAME: not "control", no '.', and only
 * characters dpkg's own members use. */
bool dpkg_info_member_ok(const char *name);
