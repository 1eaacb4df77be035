/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "copy.h"
#include "fd-util.h"
#include "fs-util.h"
#include "log.h"
#include "origin.h"
#include "random-util.h"
#include "store.h"
#include "string-table.h"
#include "string-util.h"

#define NSPAWN_LOCK_DIR "/run/systemd/nspawn/locks"
#define TEMP_MARKER ".mkmachine-"

static const char* const machine_type_table[_MACHINE_TYPE_MAX] = {
        [MACHINE_DIRECTORY] = "directory",
        [MACHINE_RAW]       = "raw",
};

DEFINE_STRING_TABLE_LOOKUP(machine_type, MachineType);

static bool ldh_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool machine_name_is_valid(const char *name) {
        size_t label = 0;

        if (isempty(name) || strlen(name) > MACHINE_NAME_MAX)
                return false;
        /* A leading '-' would read as an option everywhere the name is passed on. */
        if (name[0] == '-')
                return false;

        for (const char *p = name; *p; p++) {
                if (*p == '.') {
                        if (label == 0)
                                return false;   /* leading '.', or ".." */
                        label = 0;
                        continue;
                }
                if (!ldh_char(*p))
                        return false;
                label++;
        }
        return label > 0;                       /* no trailing '.' */
}

int store_open(const char *root, bool create, Store *ret) {
        _cleanup_close_ int fd = -EBADF;
        char *abs;
        int r;

        assert(root);
        assert(ret);

        if (create) {
                r = mkdir_p_at(AT_FDCWD, root, 0755, 0700);
                if (r < 0)
                        return r;
        }

        fd = open(root, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        if (fd < 0)
                return -errno;

        /* The lock files are named by path, as systemd names them: use the canonical one. */
        abs = realpath(root, NULL);
        if (!abs)
                return -errno;

        *ret = (Store) { .root = abs, .root_fd = TAKE_FD(fd) };
        return 0;
}

void store_close(Store *s) {
        s->root = mfree(s->root);
        s->root_fd = safe_close(s->root_fd);
}

int image_lock(Store *s, const char *name, int operation, ImageLock *ret) {
        ImageLock l = { .local = LOCK_FILE_INIT, .global = LOCK_FILE_INIT };
        _cleanup_free_ char *local = NULL, *global = NULL;
        struct stat st;
        int r;

        if (asprintf(&local, "%s/.#%s.lck", streq(s->root, "/") ? "" : s->root, name) < 0)
                return -ENOMEM;
        if (fstatat(s->root_fd, name, &st, 0) >= 0 &&
            asprintf(&global, NSPAWN_LOCK_DIR "/inode-%lu:%lu", (unsigned long) st.st_dev,
                     (unsigned long) st.st_ino) < 0)
                return -ENOMEM;

        r = make_lock_file(local, operation, &l.local);
        if (r < 0)
                return r;

        if (global) {
                r = mkdir_p_at(AT_FDCWD, NSPAWN_LOCK_DIR, 0755, 0700);
                if (r >= 0)
                        r = make_lock_file(global, operation, &l.global);
                if (r < 0) {
                        release_lock_file(&l.local);
                        return r;
                }
        }

        *ret = l;
        return 0;
}

void image_lock_release(ImageLock *l) {
        release_lock_file(&l->global);
        release_lock_file(&l->local);
}

static int machine_name_check(const char *name) {
        return machine_name_is_valid(name) ? 0 : -EINVAL;
}

/* For operations from one machine to another. */
static int machine_names_check(const char *a, const char *b) {
        if (!machine_name_is_valid(a) || !machine_name_is_valid(b) || streq(a, b))
                return -EINVAL;
        return 0;
}

/* 0: no such machine, >0: it exists (type in *ret_type). */
static int machine_exists(Store *s, const char *name, MachineType *ret_type) {
        struct stat st;

        if (fstatat(s->root_fd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0) {
                if (!S_ISDIR(st.st_mode))
                        return -ENOTDIR;
                if (ret_type)
                        *ret_type = MACHINE_DIRECTORY;
                return 1;
        }
        if (errno != ENOENT)
                return -errno;

        if (fstatat(s->root_fd, strjoina(name, ".raw"), &st, AT_SYMLINK_NOFOLLOW) >= 0) {
                if (ret_type)
                        *ret_type = MACHINE_RAW;
                return 1;
        }
        return errno == ENOENT ? 0 : -errno;
}

/* Creates and locks a temporary directory: the flock() marks it as ours and alive. */
static int make_temporary(Store *s, const char *name, char **ret_name, int *ret_fd) {
        _cleanup_free_ char *t = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (asprintf(&t, ".#%s" TEMP_MARKER "%016" PRIx64, name, random_u64()) < 0)
                return -ENOMEM;
        if (mkdirat(s->root_fd, t, 0755) < 0)
                return -errno;
        fd = openat(s->root_fd, t, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        if (fd < 0 || flock(fd, LOCK_EX|LOCK_NB) < 0) {
                int r = -errno;
                (void) rm_rf_at(s->root_fd, t);
                return r;
        }

        *ret_name = TAKE_PTR(t);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int store_clean_temporaries(Store *s) {
        _cleanup_closedir_ DIR *d = NULL;
        int r = 0;

        d = opendir_dup(s->root_fd);
        if (!d)
                return -errno;

        for (struct dirent *de; (de = readdir(d));) {
                _cleanup_close_ int fd = -EBADF;

                if (!startswith(de->d_name, ".#") || !strstr(de->d_name, TEMP_MARKER))
                        continue;

                fd = openat(dirfd(d), de->d_name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
                if (fd < 0)
                        continue;
                if (flock(fd, LOCK_EX|LOCK_NB) < 0)
                        continue;       /* a running mkmachine's */

                log_debug("Removing stale temporary '%s'.", de->d_name);
                RET_GATHER(r, rm_rf_at(dirfd(d), de->d_name));
        }
        return r;
}

/* Per thread, and reset by every store_install(): it answers for the last call in this thread only, never
 * for an earlier one or another thread's. */
static _Thread_local int interrupted_signal = 0;

int store_interrupted_signal(void) {
        return interrupted_signal;
}

/* Runs fill in a child with SIGINT/SIGTERM/SIGHUP held back in the parent, so that whatever happens to
 * the child (an error, a crash, a signal) the parent is there to clean up. */
static int run_fill(int tree_fd, StoreFillFunc fill, void *userdata, int *reterr_fill) {
        sigset_t mask, old;
        siginfo_t si = {};
        int interrupted = 0;
        pid_t pid, parent = getpid();

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, &old) < 0)
                return -errno;

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                (void) sigprocmask(SIG_SETMASK, &old, NULL);
                return r;
        }
        if (pid == 0) {
                (void) sigprocmask(SIG_SETMASK, &old, NULL);
                /* A process group of its own, so that an interruption ends whatever the fill started
                 * too (dpkg and maintainer scripts), not only the fill itself. */
                if (setpgid(0, 0) < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(EXIT_FAILURE);
                int r = fill(tree_fd, userdata);
                /* The errno travels back as the exit status. */
                _exit(r < 0 ? MIN(-r, 255) : 0);
        }

        for (;;) {
                int sig = sigwaitinfo(&mask, NULL);

                if (sig < 0) {
                        if (errno == EINTR)
                                continue;
                        interrupted = SIGTERM;
                } else if (sig == SIGCHLD) {
                        si = (siginfo_t) {};
                        if (waitid(P_PID, (id_t) pid, &si, WEXITED|WNOHANG) < 0 || si.si_pid != 0)
                                break;
                        continue;
                } else
                        interrupted = sig;

                (void) kill(-pid, SIGKILL);
                (void) kill(pid, SIGKILL);
                (void) waitid(P_PID, (id_t) pid, &si, WEXITED);
                break;
        }
        (void) sigprocmask(SIG_SETMASK, &old, NULL);

        if (interrupted > 0) {
                interrupted_signal = interrupted;
                return -EINTR;
        }
        if (si.si_code != CLD_EXITED)
                return -ECHILD;
        if (si.si_status != 0) {
                if (reterr_fill)
                        *reterr_fill = -si.si_status;
                return -ECANCELED;
        }
        return 0;
}

/* The fill sequence of store_install() and store_prepare(): stale temporaries cleaned, a new temporary
 * tree filled by fill (in its child); on failure the temporary is removed again. */
static int fill_temporary(Store *s, const char *name, StoreFillFunc fill, void *userdata, char **ret_tmp,
                          int *ret_tmp_fd, int *reterr_fill) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int tmp_fd = -EBADF;
        int r, k;

        r = store_clean_temporaries(s);
        if (r < 0)
                log_debug_errno(r, "Failed to remove stale temporaries, ignoring: %m");

        r = make_temporary(s, name, &tmp, &tmp_fd);
        if (r < 0)
                return r;

        r = run_fill(tmp_fd, fill, userdata, reterr_fill);
        if (r >= 0) {
                *ret_tmp = TAKE_PTR(tmp);
                *ret_tmp_fd = TAKE_FD(tmp_fd);
                return 0;
        }
        k = rm_rf_at(s->root_fd, tmp);
        /* What the killed processes wrote last may still be landing: try again, briefly. */
        for (unsigned i = 0; k < 0 && i < 50; i++) {
                (void) usleep(100 * 1000);
                k = rm_rf_at(s->root_fd, tmp);
        }
        if (k < 0)
                log_debug_errno(k, "Failed to remove temporary '%s/%s': %m", s->root, tmp);
        return r;
}

int store_install(Store *s, const char *name, StoreInstallFlags flags, StoreFillFunc fill, void *userdata,
                  int *reterr_fill) {
        _cleanup_(image_lock_release) ImageLock lock = { .local = LOCK_FILE_INIT, .global = LOCK_FILE_INIT };
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int tmp_fd = -EBADF;
        MachineType type;
        int r, exists;

        interrupted_signal = 0;

        r = machine_name_check(name);
        if (r < 0)
                return r;

        r = image_lock(s, name, LOCK_EX|LOCK_NB, &lock);
        if (r < 0)
                return r;

        exists = machine_exists(s, name, &type);
        if (exists == -ENOTDIR)
                return exists;
        if (exists < 0)
                return exists;
        if (exists > 0 && type == MACHINE_RAW)
                return -EEXIST;
        if (exists > 0 && !(flags & STORE_INSTALL_FORCE))
                return -EEXIST;

        r = fill_temporary(s, name, fill, userdata, &tmp, &tmp_fd, reterr_fill);
        if (r < 0)
                return r;

        if (exists > 0) {
                /* Swap, so that NAME is the old or the new machine at every moment, never neither. */
                r = rename_exchange(s->root_fd, tmp, s->root_fd, name);
                if (r < 0) {
                        (void) rm_rf_at(s->root_fd, tmp);
                        return r;
                }
                r = rm_rf_at(s->root_fd, tmp);
                if (r < 0)
                        log_debug_errno(r, "Failed to remove the replaced tree '%s/%s', ignoring: %m",
                                          s->root, tmp);
                return 0;
        }

        r = rename_noreplace(s->root_fd, tmp, s->root_fd, name);
        if (r < 0) {
                (void) rm_rf_at(s->root_fd, tmp);
                return r;
        }
        return 0;
}

/* Locks an existing machine: -ENOENT if there is none. */
static int lock_existing(Store *s, const char *name, int operation, ImageLock *ret_lock,
                         MachineType *ret_type) {
        int r;

        r = image_lock(s, name, operation, ret_lock);
        if (r < 0)
                return r;
        r = machine_exists(s, name, ret_type);
        if (r <= 0) {
                image_lock_release(ret_lock);
                return r < 0 ? r : -ENOENT;
        }
        return 0;
}

static char* previous_name(const char *name) {
        char *p;

        if (asprintf(&p, ".#%s" STORE_PREVIOUS_SUFFIX, name) < 0)
                return NULL;
        return p;
}

int store_prepare(Store *s, const char *name, StoreFillFunc fill, void *userdata, char **ret_tmp,
                  int *ret_tmp_fd, int *reterr_fill) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int tmp_fd = -EBADF;
        MachineType type;
        int r;

        r = machine_name_check(name);
        if (r < 0)
                return r;
        r = machine_exists(s, name, &type);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        if (type == MACHINE_RAW)
                return -EOPNOTSUPP;

        r = fill_temporary(s, name, fill, userdata, &tmp, &tmp_fd, reterr_fill);
        if (r < 0)
                return r;
        *ret_tmp = TAKE_PTR(tmp);
        *ret_tmp_fd = TAKE_FD(tmp_fd);
        return 0;
}

int store_discard(Store *s, const char *tmp) {
        if (!startswith(tmp, ".#") || !strstr(tmp, TEMP_MARKER))
                return -EINVAL;
        return rm_rf_at(s->root_fd, tmp);
}

int store_swap_in(Store *s, const char *name, const char *tmp) {
        _cleanup_(image_lock_release) ImageLock lock = { .local = LOCK_FILE_INIT, .global = LOCK_FILE_INIT };
        _cleanup_free_ char *prev = previous_name(name);
        MachineType type;
        int r;

        if (!prev)
                return -ENOMEM;
        r = lock_existing(s, name, LOCK_EX|LOCK_NB, &lock, &type);
        if (r < 0)
                return r;
        if (type == MACHINE_RAW)
                return -EOPNOTSUPP;

        /* One step: NAME is the old or the new tree at every moment. */
        r = rename_exchange(s->root_fd, tmp, s->root_fd, name);
        if (r < 0)
                return r;
        r = rm_rf_at(s->root_fd, prev);
        if (r < 0 && r != -ENOENT)
                log_debug_errno(r, "Failed to remove the older tree '%s/%s', ignoring: %m", s->root, prev);
        r = rename_noreplace(s->root_fd, tmp, s->root_fd, prev);
        if (r < 0) {
                /* Without a previous tree there is nothing to roll back to: undo. */
                (void) rename_exchange(s->root_fd, tmp, s->root_fd, name);
                return r;
        }
        return 0;
}

int store_roll_back(Store *s, const char *name) {
        _cleanup_(image_lock_release) ImageLock lock = { .local = LOCK_FILE_INIT, .global = LOCK_FILE_INIT };
        _cleanup_free_ char *prev = previous_name(name);
        int r;

        if (!prev)
                return -ENOMEM;
        r = lock_existing(s, name, LOCK_EX|LOCK_NB, &lock, NULL);
        if (r < 0)
                return r;
        r = rename_exchange(s->root_fd, prev, s->root_fd, name);
        if (r < 0)
                return r;
        r = rm_rf_at(s->root_fd, prev);
        if (r < 0)
                log_debug_errno(r, "Failed to remove the failed tree '%s/%s', ignoring: %m", s->root, prev);
        return 0;
}

int store_has_previous(Store *s, const char *name) {
        _cleanup_free_ char *prev = previous_name(name);
        struct stat st;

        if (!prev)
                return -ENOMEM;
        if (fstatat(s->root_fd, prev, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        return S_ISDIR(st.st_mode);
}

int store_lock_machine(Store *s, const char *name, int operation, ImageLock *ret_lock,
                       MachineType *ret_type) {
        int r;

        r = machine_name_check(name);
        if (r < 0)
                return r;
        return lock_existing(s, name, operation, ret_lock, ret_type);
}

int store_remove(Store *s, const char *name) {
        _cleanup_(image_lock_release) ImageLock lock = { .local = LOCK_FILE_INIT, .global = LOCK_FILE_INIT };
        _cleanup_free_ char *tmp = NULL, *prev = NULL;
        MachineType type;
        int r;

        r = machine_name_check(name);
        if (r < 0)
                return r;
        r = lock_existing(s, name, LOCK_EX|LOCK_NB, &lock, &type);
        if (r < 0)
                return r;

        if (type == MACHINE_RAW) {
                if (unlinkat(s->root_fd, strjoina(name, ".raw"), 0) < 0)
                        return -errno;
                return 0;
        }

        /* Out of sight first, in one step; then delete at leisure. A crash in between leaves a stale
         * temporary, which the next run removes, never half a machine under its name. */
        if (asprintf(&tmp, ".#%s" TEMP_MARKER "%016" PRIx64, name, random_u64()) < 0)
                return -ENOMEM;
        r = rename_noreplace(s->root_fd, name, s->root_fd, tmp);
        if (r < 0)
                return r;
        /* The tree an auto-update kept for rolling back goes with the machine. */
        prev = previous_name(name);
        if (!prev)
                return -ENOMEM;
        r = rm_rf_at(s->root_fd, prev);
        if (r < 0 && r != -ENOENT)
                log_debug_errno(r, "Failed to remove '%s/%s': %m", s->root, prev);
        r = rm_rf_at(s->root_fd, tmp);
        if (r < 0)
                /* The machine is gone; the rest is a stale temporary the next run removes. */
                log_debug_errno(r, "Failed to remove '%s/%s', leaving it for later: %m", s->root, tmp);
        return 0;
}

int store_rename(Store *s, const char *old_name, const char *new_name) {
        _cleanup_(image_lock_release) ImageLock a = { .local = LOCK_FILE_INIT, .global = LOCK_FILE_INIT },
                                                b = { .local = LOCK_FILE_INIT, .global = LOCK_FILE_INIT };
        MachineType type;
        int r;

        r = machine_names_check(old_name, new_name);
        if (r < 0)
                return r;

        r = lock_existing(s, old_name, LOCK_EX|LOCK_NB, &a, &type);
        if (r < 0)
                return r;
        r = image_lock(s, new_name, LOCK_EX|LOCK_NB, &b);
        if (r < 0)
                return r;
        r = machine_exists(s, new_name, NULL);
        if (r != 0)
                return r < 0 ? r : -EEXIST;

        if (type == MACHINE_RAW)
                r = rename_noreplace(s->root_fd, strjoina(old_name, ".raw"), s->root_fd, strjoina(new_name,
                                                                                                  ".raw"));
        else
                r = rename_noreplace(s->root_fd, old_name, s->root_fd, new_name);
        if (r < 0)
                return r;
        if (type == MACHINE_DIRECTORY) {
                _cleanup_free_ char *p = previous_name(old_name), *q = previous_name(new_name);

                if (!p || !q)
                        return -ENOMEM;
                (void) rm_rf_at(s->root_fd, q);
                r = rename_noreplace(s->root_fd, p, s->root_fd, q);
                if (r < 0 && r != -ENOENT)
                        log_debug_errno(r, "Failed to rename '%s' to '%s', ignoring: %m", p, q);
        }
        return 0;
}

typedef struct CloneData {
        int src_fd;
        const char *src;
} CloneData;

static int clone_fill(int tree_fd, void *userdata) {
        CloneData *c = userdata;
        _cleanup_(origin_freep) MachineOrigin *o = NULL;
        _cleanup_free_ char *path = NULL, *msg = NULL;
        int r;

        r = copy_tree_at(c->src_fd, tree_fd, NULL, &path);
        if (r < 0)
                return log_debug_errno(r, "Failed to copy '%s' of machine '%s': %m", strna(path), c->src);

        /* Note where the copy came from, keeping the original origin (a damaged one is replaced). */
        r = origin_read(tree_fd, &o, &msg);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (r != -ENODATA)
                        log_debug_errno(r, "Origin record of '%s' not kept: %s", c->src,
                                        msg ?: strerror(-r));
                o = origin_new();
                if (!o)
                        return -ENOMEM;
        }
        r = origin_set_string(&o->cloned_from, c->src);
        if (r < 0)
                return r;
        o->cloned_usec = now_usec(CLOCK_REALTIME);

        r = origin_write(tree_fd, o);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                log_debug_errno(r, "Failed to record the origin of the clone, ignoring: %m");
        return 0;
}

int store_clone(Store *s, const char *src, const char *dst, StoreInstallFlags flags) {
        _cleanup_(image_lock_release) ImageLock lock = { .local = LOCK_FILE_INIT, .global = LOCK_FILE_INIT };
        _cleanup_close_ int fd = -EBADF;
        MachineType type;
        int r, fill_error = -EIO;

        r = machine_names_check(src, dst);
        if (r < 0)
                return r;

        r = lock_existing(s, src, LOCK_SH|LOCK_NB, &lock, &type);
        if (r < 0)
                return r;
        if (type != MACHINE_DIRECTORY)
                return -EOPNOTSUPP;

        fd = openat(s->root_fd, src, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        if (fd < 0)
                return -errno;

        r = store_install(s, dst, flags, clone_fill, &(CloneData) { .src_fd = fd, .src = src }, &fill_error);
        return r == -ECANCELED ? fill_error : r;
}

typedef struct InodeBlocks {
        dev_t dev;
        ino_t ino;
        uint64_t bytes;
} InodeBlocks;

typedef struct UsageContext {
        uint64_t total;
        InodeBlocks *links;
        size_t n_links, n_allocated;
} UsageContext;

static int inode_compare(const void *a, const void *b) {
        const InodeBlocks *x = a, *y = b;

        if (x->dev != y->dev)
                return x->dev < y->dev ? -1 : 1;
        return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int usage_walk(UsageContext *u, int fd, unsigned depth) {
        _cleanup_closedir_ DIR *d = NULL;

        if (depth > 1024)
                return -ELOOP;
        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return -errno;
        }

        for (struct dirent *de; (de = readdir(d));) {
                struct stat st;
                uint64_t bytes;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;

                bytes = (uint64_t) st.st_blocks * 512;
                if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dirfd(d), de->d_name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
                        if (sub >= 0)
                                (void) usage_walk(u, sub, depth + 1);
                } else if (st.st_nlink > 1) {
                        /* Counted once, at the end. */
                        if (GREEDY_REALLOC(u->links, u->n_allocated, u->n_links + 1) < 0)
                                return -ENOMEM;
                        u->links[u->n_links++] = (InodeBlocks) { st.st_dev, st.st_ino, bytes };
                        continue;
                }
                u->total += bytes;
        }
        return 0;
}

static uint64_t tree_usage(int dir_fd) {
        UsageContext u = {};
        struct stat st;
        int fd;

        if (fstat(dir_fd, &st) >= 0)
                u.total = (uint64_t) st.st_blocks * 512;
        fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (fd >= 0)
                (void) usage_walk(&u, fd, 0);

        if (u.n_links > 0)
                qsort(u.links, u.n_links, sizeof(InodeBlocks), inode_compare);
        for (size_t i = 0; i < u.n_links; i++)
                if (i == 0 || inode_compare(u.links + i - 1, u.links + i) != 0)
                        u.total += u.links[i].bytes;
        free(u.links);
        return u.total;
}

void machine_info_done(MachineInfo *i) {
        i->name = mfree(i->name);
        i->origin = mfree(i->origin);
}

int store_get(Store *s, const char *name, bool usage, MachineInfo *ret) {
        _cleanup_close_ int fd = -EBADF;
        MachineInfo i = {};
        ImageLock lock;
        struct statx sx;
        MachineType type;
        int r;

        if (!machine_name_is_valid(name))
                return -EINVAL;
        r = machine_exists(s, name, &type);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;

        const char *file = type == MACHINE_RAW ? strjoina(name, ".raw") : name;
        fd = openat(s->root_fd, file,
                    O_RDONLY|O_NOFOLLOW|O_CLOEXEC|(type == MACHINE_DIRECTORY ? O_DIRECTORY : 0));
        if (fd < 0)
                return -errno;

        i.name = strdup(name);
        if (!i.name)
                return -ENOMEM;
        i.type = type;

        if (statx(fd, "", AT_EMPTY_PATH, STATX_BTIME|STATX_BLOCKS, &sx) >= 0) {
                if (sx.stx_mask & STATX_BTIME)
                        i.created = (usec_t) sx.stx_btime.tv_sec * USEC_PER_SEC +
                                    sx.stx_btime.tv_nsec / 1000;
                if (type == MACHINE_RAW)
                        i.usage = sx.stx_blocks * 512;
        }
        if (usage && type == MACHINE_DIRECTORY)
                i.usage = tree_usage(fd);

        if (type == MACHINE_DIRECTORY) {
                char *buf = malloc(ORIGIN_SIZE_MAX + 1);
                ssize_t n;

                if (!buf) {
                        machine_info_done(&i);
                        return -ENOMEM;
                }
                n = fgetxattr(fd, ORIGIN_XATTR, buf, ORIGIN_SIZE_MAX);
                if (n >= 0) {
                        buf[n] = 0;
                        i.origin = buf;
                } else
                        free(buf);
        }

        r = image_lock(s, name, LOCK_SH|LOCK_NB, &lock);
        if (r == -EBUSY)
                i.in_use = true;
        else if (r >= 0)
                image_lock_release(&lock);

        *ret = i;
        return 0;
}

static int info_compare(const void *a, const void *b) {
        return strcmp(((const MachineInfo*) a)->name, ((const MachineInfo*) b)->name);
}

int store_list(Store *s, bool usage, MachineInfo **ret, size_t *ret_n) {
        _cleanup_closedir_ DIR *d = NULL;
        MachineInfo *list = NULL;
        size_t n = 0, allocated = 0;
        int r = 0;

        d = opendir_dup(s->root_fd);
        if (!d)
                return -errno;

        for (struct dirent *de; (de = readdir(d));) {
                _cleanup_free_ char *name = NULL;
                const char *e;

                /* Hidden: temporaries, lock files, and what machined ignores too. */
                if (de->d_name[0] == '.')
                        continue;
                e = endswith(de->d_name, ".raw");
                name = e ? strndup(de->d_name, (size_t) (e - de->d_name)) : strdup(de->d_name);
                if (!name) {
                        r = -ENOMEM;
                        break;
                }
                if (!machine_name_is_valid(name))
                        continue;

                if (GREEDY_REALLOC(list, allocated, n + 1) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (store_get(s, name, usage, list + n) >= 0)
                        n++;
        }

        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        machine_info_done(list + i);
                free(list);
                return r;
        }

        if (n > 0)
                qsort(list, n, sizeof(MachineInfo), info_compare);
        *ret = list;
        *ret_n = n;
        return 0;
}
