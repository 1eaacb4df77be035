/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lock-util.h"
#include "time-util.h"

/* The machine store: a directory (default /var/lib/machines, where machined and importd look) holding one
 * directory tree per machine. Everything that changes it works under systemd's image locks, installs
 * atomically through a hidden temporary ".#NAME.mkmachine-…" and never leaves half a machine behind. */

#define MACHINE_NAME_MAX 64U

/* Like machined: a valid host name (letters, digits and '-' in '.'-separated labels, no leading '.' or
 * '-'), at most 64 characters. */
bool machine_name_is_valid(const char *name);


/* The extended attribute on a machine's root directory that records its origin (JSON). It moves with
 * the directory on rename and is copied on clone. */
#define ORIGIN_XATTR "trusted.mkmachine.origin"

typedef struct Store {
        char *root;
        int root_fd;
} Store;

/* Errors, common to the functions below (none of which logs above debug level):
 *   -EINVAL      invalid machine name (or the same name twice)
 *   -EBUSY       the image lock is held: the machine runs, or machined/importd/mkmachine works on it
 *   -EEXIST      the target name is taken
 *   -ENOENT      no such machine
 *   -ENOTDIR     the name is taken by something that is not a machine
 *   -EINTR       interrupted by a signal (store_interrupted_signal()); everything was cleaned up
 *   -ECHILD      the process building the machine crashed; everything was cleaned up
 *   -ECANCELED   the fill function failed; its error is in *reterr_fill
 *   other        the errno of the failing step */

/* Opens the store; with create, makes the directory (0700) if it is missing. */
int store_open(const char *root, bool create, Store *ret);
void store_close(Store *s);

/* systemd's image locks: DIR/.#NAME.lck, and /run/systemd/nspawn/locks/inode-DEV:INO while the image
 * exists, as image_path_lock() takes them — the ones machined, importd and a running systemd-nspawn
 * hold. */
typedef struct ImageLock {
        LockFile local;
        LockFile global;
} ImageLock;

int image_lock(Store *s, const char *name, int operation, ImageLock *ret);
void image_lock_release(ImageLock *l);

/* Fills the empty directory tree_fd; runs in a child process. Returns 0 or a negative errno (which
 * must fit into an exit status, as errnos do). */
typedef int (*StoreFillFunc)(int tree_fd, void *userdata);

typedef enum StoreInstallFlags {
        STORE_INSTALL_FORCE = 1 << 0,   /* replace an existing machine (atomically) */
} StoreInstallFlags;

/* Creates machine NAME: takes the lock, refuses an existing machine unless forced, runs fill in a
 * child process on a fresh temporary directory, and renames the result into place. On failure of
 * fill, SIGINT, SIGTERM or SIGHUP the temporary is removed (-ECANCELED, -EINTR). */
int store_install(Store *s, const char *name, StoreInstallFlags flags, StoreFillFunc fill, void *userdata,
                  int *reterr_fill);

/* The signal that interrupted the last store_install() in this thread (which then returned -EINTR), or 0
 * if it was not interrupted. A tool re-raises it after cleaning up, so that its caller sees how it ended. */
int store_interrupted_signal(void);

/* Removes temporaries left behind by killed runs (those no running mkmachine holds). */
int store_clean_temporaries(Store *s);

/* Also removes the previous tree an auto-update kept. */
int store_remove(Store *s, const char *name);
/* Renames the previous tree an auto-update kept along with the machine. */
int store_rename(Store *s, const char *old_name, const char *new_name);

/* Updating a machine in place with a way back (auto-update). The old tree is kept as the hidden
 * ".#NAME.previous", which neither store_list() nor store_clean_temporaries() touch, until the next
 * update replaces it or store_remove() removes it. */
#define STORE_PREVIOUS_SUFFIX ".previous"

/* Builds the new tree for the existing directory machine NAME in a fresh temporary (fill in a child, as
 * store_install()) without touching NAME or taking its lock (it may run meanwhile). *ret_tmp names the
 * temporary, *ret_tmp_fd keeps it locked (and safe from store_clean_temporaries()) while open.
 * -EOPNOTSUPP for a raw image. */
int store_prepare(Store *s, const char *name, StoreFillFunc fill, void *userdata, char **ret_tmp,
                  int *ret_tmp_fd, int *reterr_fill);
/* Removes a temporary of store_prepare() that is not wanted after all. */
int store_discard(Store *s, const char *tmp);
/* Under NAME's image lock (-EBUSY while it runs): exchanges tmp and NAME atomically (RENAME_EXCHANGE),
 * then keeps the old tree as ".#NAME.previous" (replacing an older one). */
int store_swap_in(Store *s, const char *name, const char *tmp);
/* Under NAME's image lock: exchanges ".#NAME.previous" and NAME back, and removes the tree that failed.
 * -ENOENT if there is no previous tree. */
int store_roll_back(Store *s, const char *name);
/* Whether ".#NAME.previous" exists (1) or not (0). */
int store_has_previous(Store *s, const char *name);
int store_clone(Store *s, const char *src, const char *dst, StoreInstallFlags flags);

typedef enum MachineType {
        MACHINE_DIRECTORY,
        MACHINE_RAW,
        _MACHINE_TYPE_MAX,
        _MACHINE_TYPE_INVALID = -EINVAL,
} MachineType;

const char* machine_type_to_string(MachineType t);
MachineType machine_type_from_string(const char *s);

/* Locks an existing machine with the image lock (operation as for image_lock(): LOCK_SH lets other
 * readers in, LOCK_NB gives -EBUSY instead of waiting) and tells its type. -ENOENT if there is none. */
int store_lock_machine(Store *s, const char *name, int operation, ImageLock *ret_lock,
                       MachineType *ret_type);

typedef struct MachineInfo {
        char *name;
        MachineType type;
        uint64_t usage;         /* bytes on disk */
        usec_t created;         /* 0 if unknown */
        bool in_use;            /* its lock is held: running, or being changed */
        char *origin;           /* the origin record (JSON), or NULL */
} MachineInfo;

void machine_info_done(MachineInfo *i);

/* -ENOENT if there is no such machine. */
int store_get(Store *s, const char *name, bool usage, MachineInfo *ret);
int store_list(Store *s, bool usage, MachineInfo **ret, size_t *ret_n);
