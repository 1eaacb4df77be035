/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "archive-util.h"
#include "decompress.h"
#include "error-util.h"
#include "fd-util.h"
#include "fs-util.h"
#include "hashmap.h"
#include "log.h"
#include "path-util.h"
#include "string-util.h"
#include "tar-unpack.h"

/* Every lookup below the tree: never leave it, never follow a symlink, never cross a mount. */
#define RESOLVE_TREE (RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS|RESOLVE_NO_XDEV)

typedef struct DirTime {
        char *path;
        struct timespec ts[2];
} DirTime;

typedef struct Unpacker {
        int tree_fd;
        TarUnpackFlags flags;
        Decompressor *decompressor;
        Progress *progress;
        TarUnpackEntryFunc entry_func;
        void *userdata;

        char *top;              /* TAR_UNPACK_STRIP_TOP: the shared top-level directory */

        /* The directory the previous entry went into: archives list a directory's entries together. */
        char *parent_path;
        int parent_fd;
        gid_t parent_gid;       /* the group new files in it get */

        uid_t uid;
        gid_t gid;
        mode_t umask;
        bool default_acls;      /* new files may inherit ACLs and modes: don't guess them */

        DirTime *dirs;
        size_t n_dirs, n_dirs_allocated;

        /* TAR_UNPACK_OVERLAY: the paths this layer put into the tree (keys and values are the same
         * owned strings), and the directories of lower layers it changed, with their times before. */
        Hashmap *layer_paths;
        Hashmap *lower_dirs_seen;
        DirTime *lower_dirs;
        size_t n_lower_dirs, n_lower_dirs_allocated;

        const char *entry;      /* the current entry's name, for messages */
        char *error;
        uint64_t entries;

        /* Irregularities accepted (see tolerated_warnings[]): how many, and the first, for the caller. */
        uint64_t notes;
        char note[256];

        /* Bounds: decompressed bytes read (bytes_out) against max_bytes (UINT64_MAX: none); the free
         * space of the tree's file system against reserve, checked every SPACE_CHECK_BYTES or
         * SPACE_CHECK_ENTRIES. limit_error is the error that stopped us, for the reader callback's
         * caller, which only sees a failed read. */
        uint64_t bytes_out;
        uint64_t max_bytes;
        uint64_t limit_shown;   /* in messages: max_bytes, or the whole import's limit */
        bool max_bytes_from_free_space;
        uint64_t reserve;
        uint64_t checked_bytes, checked_entries;
        int limit_error;
        bool all_xattrs;
} Unpacker;

#define SPACE_CHECK_BYTES   (4U * 1024U * 1024U)
#define SPACE_CHECK_ENTRIES 512U

_printf_(3, 4)
static int fail(Unpacker *u, int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        r = error_messagev(&u->error, r, format, ap);
        va_end(ap);
        return r;
}

/* An irregularity that is accepted: a debug message, and the first is kept for the caller. */
_printf_(2, 3)
static void note(Unpacker *u, const char *format, ...) {
        char buf[sizeof(u->note)];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);
        log_debug("%s", buf);
        if (u->notes++ == 0)
                memcpy(u->note, buf, sizeof(buf));
}

/* Opens path (relative to the top of the tree) beneath the tree: never leaving it, never crossing a
 * mount; and never through a symlink, unless TAR_UNPACK_SYMLINKS_IN_TREE, when symlinks are followed
 * as if the tree were the root directory. */
static int openat_tree(Unpacker *u, const char *path, int flags) {
        return openat2_fd(u->tree_fd, path, flags, 0, (u->flags & TAR_UNPACK_SYMLINKS_IN_TREE) ?
                          RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS|RESOLVE_NO_XDEV : RESOLVE_TREE);
}

static void parent_cache_clear(Unpacker *u) {
        u->parent_fd = safe_close(u->parent_fd);
        u->parent_path = mfree(u->parent_path);
}

/* Which group a file created in dir_fd gets: the directory's if it is setgid, else ours. */
static gid_t new_file_gid(Unpacker *u, int dir_fd, const struct stat *known) {
        struct stat st;

        if (!known) {
                if (fstat(dir_fd, &st) < 0)
                        return (gid_t) -1;      /* unknown: chown anyway */
                known = &st;
        }
        return (known->st_mode & S_ISGID) ? known->st_gid : u->gid;
}

static int parent_cache_set(Unpacker *u, const char *path, int fd, const struct stat *known) {
        char *p;

        p = strdup(path);
        if (!p) {
                safe_close(fd);
                return -ENOMEM;
        }
        parent_cache_clear(u);
        u->parent_path = p;
        u->parent_fd = fd;
        u->parent_gid = new_file_gid(u, fd, known);
        return 0;
}

/* Turns an archive path into a normalized path relative to the tree ("" for the tree itself): "./" and
 * empty components are dropped; absolute paths, ".." and overlong names are refused. */
static int normalize_path(Unpacker *u, const char *in, bool hardlink, char **ret) {
        _cleanup_free_ char *out = NULL;
        const char *what = hardlink ? "hardlink target" : "entry";
        size_t n = 0, depth = 0;
        bool first = true;

        if (isempty(in))
                return fail(u, -EBADMSG, "Archive %s without a name.", what);
        if (strlen(in) > TAR_PATH_MAX)
                return fail(u, -ENAMETOOLONG, "'%.64s…': %s path longer than %u bytes.", in, what,
                            TAR_PATH_MAX);
        if (in[0] == '/')
                return fail(u, -EPERM, "'%s': absolute %s path refused.", u->entry, what);

        out = malloc(strlen(in) + 1);
        if (!out)
                return -ENOMEM;

        for (const char *p = in; *p;) {
                size_t l = strcspn(p, "/");

                if (l == 0 || (l == 1 && p[0] == '.'))
                        goto next;
                if (l == 2 && p[0] == '.' && p[1] == '.')
                        return fail(u, -EPERM, "'%s': %s path with '..' refused.", u->entry, what);
                if (l > NAME_MAX)
                        return fail(u, -ENAMETOOLONG, "'%s': %s has a path component longer than %u bytes.",
                                    u->entry, what, NAME_MAX);

                if (first && (u->flags & TAR_UNPACK_STRIP_TOP)) {
                        first = false;
                        if (!u->top) {
                                u->top = strndup(p, l);
                                if (!u->top)
                                        return -ENOMEM;
                        } else if (strlen(u->top) != l || memcmp(u->top, p, l) != 0)
                                return fail(u, -EBADMSG,
                                            "'%s': not below '%s', the top-level directory to strip.",
                                            u->entry, u->top);
                        goto next;
                }
                first = false;

                if (++depth > TAR_DEPTH_MAX)
                        return fail(u, -ENAMETOOLONG, "'%s': %s nested deeper than %u levels.",
                                    u->entry, what, TAR_DEPTH_MAX);
                if (n > 0)
                        out[n++] = '/';
                memcpy(out + n, p, l);
                n += l;
        next:
                p += l;
                if (*p == '/')
                        p++;
        }

        if (first && (u->flags & TAR_UNPACK_STRIP_TOP))
                return fail(u, -EBADMSG, "'%s': entry outside the top-level directory to strip.", in);

        out[n] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

static int refusal(Unpacker *u, int r, const char *path) {
        switch (r) {
        case -ELOOP:
                return fail(u, r, "'%s': refusing to write through a symlink.", u->entry);
        case -EXDEV:
                return fail(u, r, "'%s': path leads outside the tree.", u->entry);
        case -ENOTDIR:
                return fail(u, r, "'%s': a parent of '%s' is not a directory.", u->entry, path);
        default:
                return fail(u, r, "'%s': failed to open '%s': %s", u->entry, path, strerror(-r));
        }
}

static bool layer_has(Unpacker *u, const char *path) {
        return u->layer_paths && hashmap_get(u->layer_paths, path);
}

/* TAR_UNPACK_OVERLAY: remembers that this layer put path into the tree. */
static int layer_path_add(Unpacker *u, const char *path) {
        char *p;
        int r;

        if (!(u->flags & TAR_UNPACK_OVERLAY) || layer_has(u, path))
                return 0;
        if (!u->layer_paths) {
                u->layer_paths = hashmap_new();
                if (!u->layer_paths)
                        return -ENOMEM;
        }
        p = strdup(path);
        if (!p)
                return -ENOMEM;
        r = hashmap_put(u->layer_paths, p, p);
        if (r < 0)
                free(p);
        return r < 0 ? r : 0;
}

/* TAR_UNPACK_OVERLAY: before the first change to a directory a lower layer made, remembers its times,
 * to put them back at the end: only what this layer's entries say changes. */
static int lower_dir_remember(Unpacker *u, const char *path) {
        struct stat st;
        DirTime *d;
        int r;

        if (!(u->flags & TAR_UNPACK_OVERLAY) || layer_has(u, path) ||
            (u->lower_dirs_seen && hashmap_get(u->lower_dirs_seen, path)))
                return 0;
        if (!u->lower_dirs_seen) {
                u->lower_dirs_seen = hashmap_new();
                if (!u->lower_dirs_seen)
                        return -ENOMEM;
        }

        if (isempty(path))
                r = RET_NERRNO(fstat(u->tree_fd, &st));
        else {
                _cleanup_close_ int fd = openat_tree(u, path, O_PATH|O_DIRECTORY);
                r = fd < 0 ? fd : RET_NERRNO(fstat(fd, &st));
        }
        if (r < 0)
                return 0;       /* not there (yet): made by this layer, or refused later */

        if (GREEDY_REALLOC(u->lower_dirs, u->n_lower_dirs_allocated, u->n_lower_dirs + 1) < 0)
                return -ENOMEM;
        d = u->lower_dirs + u->n_lower_dirs;
        d->path = strdup(path);
        if (!d->path)
                return -ENOMEM;
        d->ts[0] = st.st_atim;
        d->ts[1] = st.st_mtim;
        u->n_lower_dirs++;
        return hashmap_put(u->lower_dirs_seen, d->path, d->path) < 0 ? -ENOMEM : 0;
}

/* Returns a directory fd (owned by the cache, don't close) for path, creating missing directories as
 * GNU tar does for archives that don't list every parent. */
static int open_parent(Unpacker *u, const char *path, bool create) {
        int fd, r;

        if (isempty(path))
                return u->tree_fd;
        if (u->parent_path && streq(u->parent_path, path))
                return u->parent_fd;

        fd = openat_tree(u, path, O_PATH|O_DIRECTORY);
        if (fd == -ENOENT && create) {
                /* Walk down, creating what is missing: each prefix is looked up from the top again, with
                 * the same rules, and a missing last component is made in the directory above it. */
                _cleanup_free_ char *prefix = strdup(path);
                _cleanup_close_ int cur = -EBADF;

                if (!prefix)
                        return -ENOMEM;
                for (char *end = prefix;; end++) {
                        int next;

                        if (*end != '/' && *end != 0)
                                continue;
                        char saved = *end;
                        *end = 0;
                        next = openat_tree(u, prefix, O_PATH|O_DIRECTORY);
                        if (next == -ENOENT) {
                                const char *leaf = strrchr(prefix, '/');
                                leaf = leaf ? leaf + 1 : prefix;
                                if (mkdirat(cur >= 0 ? cur : u->tree_fd, leaf, 0755) < 0 && errno != EEXIST)
                                        return refusal(u, -errno, path);
                                r = layer_path_add(u, prefix);
                                if (r < 0)
                                        return r;
                                next = openat_tree(u, prefix, O_PATH|O_DIRECTORY);
                        }
                        *end = saved;
                        if (next < 0)
                                return refusal(u, next, path);
                        safe_close(cur);
                        cur = next;
                        if (saved == 0)
                                break;
                }
                fd = TAKE_FD(cur);
        }
        if (fd < 0)
                return refusal(u, fd, path);

        r = parent_cache_set(u, path, fd, NULL);
        if (r < 0)
                return r;
        return fd;
}

/* Splits a normalized path into its parent directory (an fd) and the last component. */
static int resolve_entry(Unpacker *u, char *path, bool create, const char **ret_leaf) {
        char *slash = strrchr(path, '/');
        int fd;

        if (!slash) {
                *ret_leaf = path;
                return u->tree_fd;
        }

        *slash = 0;
        fd = open_parent(u, path, create);
        *slash = '/';
        *ret_leaf = slash + 1;
        return fd;
}

/* Makes room for a new entry where an old one is: tar semantics are that the later entry wins. A
 * directory is only replaced if it is empty. */
static int remove_existing(Unpacker *u, int dir_fd, const char *leaf) {
        struct stat st;
        int r;

        if (fstatat(dir_fd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;

        /* The cached parent may be what goes (or be below it), but dir_fd may be the cached parent
         * itself: drop the cache only after the removal. */
        if (S_ISDIR(st.st_mode) && (u->flags & TAR_UNPACK_OVERLAY)) {
                /* A layer's entry replaces whatever lower layers had there, a whole tree included. */
                r = rm_rf_at(dir_fd, leaf);
                parent_cache_clear(u);
                if (r < 0)
                        return fail(u, r, "'%s': failed to remove the directory it replaces: %s", u->entry,
                                    strerror(-r));
                return 0;
        }
        r = RET_NERRNO(unlinkat(dir_fd, leaf, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0));
        parent_cache_clear(u);
        if (r < 0) {
                errno = -r;
                if (errno == ENOTEMPTY || errno == EEXIST)
                        return fail(u, -ENOTEMPTY, "'%s': replaces a directory that is not empty.",
                                    u->entry);
                return -errno;
        }
        return 0;
}

bool tar_xattr_is_safe(const char *name) {
        /* user.*: data for programs. security.capability: what setcap sets, needed by ping and co.
         * The POSIX ACLs, should an archive carry them as raw xattrs: the kernel checks them and they
         * grant no more than modes do. Everything else tells the host's kernel or security modules
         * something: trusted.* (overlayfs' own metadata, e.g. trusted.overlay.opaque or .redirect,
         * which a later overlay mount would act on), security.selinux, .ima, .evm, .SMACK64* (labels
         * and signatures that policy trusts), other system.* ones. */
        return startswith(name, "user.") ||
                streq(name, "security.capability") ||
                streq(name, "system.posix_acl_access") ||
                streq(name, "system.posix_acl_default");
}

static int xattrs_apply(Unpacker *u, struct archive_entry *e, int fd, int dir_fd, const char *leaf) {
        const char *name;
        const void *value;
        size_t size;
        char proc[64];

        if (archive_entry_xattr_reset(e) == 0)
                return 0;

        /* Things we cannot open for writing (symlinks, devices) are named through our directory fd. */
        if (fd < 0)
                (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%i", dir_fd);

        while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
                int r;

                if (isempty(name) || strlen(name) > XATTR_NAME_MAX)
                        return fail(u, -EBADMSG, "'%s': invalid extended attribute name.", u->entry);
                if (size > TAR_XATTR_SIZE_MAX)
                        return fail(u, -E2BIG, "'%s': extended attribute '%s' larger than %u bytes.",
                                    u->entry, name, TAR_XATTR_SIZE_MAX);
                if (!u->all_xattrs && !tar_xattr_is_safe(name)) {
                        log_debug("'%s': dropping extended attribute '%s' (only user.* and "
                                  "security.capability are kept by default).", u->entry, name);
                        continue;
                }

                if (fd >= 0)
                        r = RET_NERRNO(fsetxattr(fd, name, value, size, 0));
                else
                        r = RET_NERRNO(lsetxattr(strjoina(proc, "/", leaf), name, value, size, 0));
                if (r < 0)
                        return fail(u, r, "'%s': failed to set extended attribute '%s': %s",
                                    u->entry, name, strerror(-r));
        }
        return 0;
}

/* The kernel's POSIX ACL xattr format (linux/posix_acl_xattr.h). */
#define ACL_XATTR_VERSION 2U
enum {
        ACL_TAG_USER_OBJ  = 0x01,
        ACL_TAG_USER      = 0x02,
        ACL_TAG_GROUP_OBJ = 0x04,
        ACL_TAG_GROUP     = 0x08,
        ACL_TAG_MASK      = 0x10,
        ACL_TAG_OTHER     = 0x20,
};
#define ACL_ENTRIES_MAX 256U

typedef struct AclEntry {
        uint16_t tag;
        uint16_t perm;
        uint32_t id;
} AclEntry;

static int acl_entry_compare(const void *a, const void *b) {
        const AclEntry *x = a, *y = b;

        if (x->tag != y->tag)
                return x->tag < y->tag ? -1 : 1;
        return x->id < y->id ? -1 : x->id > y->id;
}

/* Adds x, or replaces the entry with the same tag and id (a later one wins). */
static int acl_put(AclEntry *entries, size_t *n, AclEntry x) {
        size_t i;

        for (i = 0; i < *n; i++)
                if (entries[i].tag == x.tag && entries[i].id == x.id)
                        break;
        if (i == *n) {
                if (*n >= ACL_ENTRIES_MAX)
                        return -E2BIG;
                (*n)++;
        }
        entries[i] = x;
        return 0;
}

/* The id of a user or group name in the tree's etc/passwd or etc/group (file), as unpacked so far:
 * older star archives name the users and groups of ACL entries without their ids. Returns 0 and the id,
 * -ENOENT if the name is not there (or the file is not, or is not a regular file), or -errno. */
static int tree_name_to_id(Unpacker *u, const char *file, const char *name, uint32_t *ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t l = strlen(name);
        struct stat st;
        int r;

        if (l == 0 || strpbrk(name, ":\n"))
                return -ENOENT;

        /* Non-blocking: a FIFO planted by the archive must not stall us. */
        fd = openat_tree(u, file, O_RDONLY|O_NOCTTY|O_NONBLOCK);
        if (fd < 0)
                return fd == -ENOMEM ? fd : -ENOENT;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -ENOENT;
        r = read_full_fd(fd, 1024U * 1024U, &buf, NULL);
        if (r < 0)
                return r == -ENOMEM ? r : -ENOENT;

        /* name:password:id:… */
        for (char *line = buf, *next; line; line = next) {
                unsigned long id;
                char *p, *end;

                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                if (strncmp(line, name, l) != 0 || line[l] != ':')
                        continue;
                p = strchr(line + l + 1, ':');
                if (!p || p[1] < '0' || p[1] > '9')
                        continue;
                errno = 0;
                id = strtoul(p + 1, &end, 10);
                if (errno != 0 || *end != ':' || id >= UINT32_MAX)
                        continue;
                *ret = (uint32_t) id;
                return 0;
        }
        return -ENOENT;
}

static int acl_apply_one(Unpacker *u, struct archive_entry *e, int fd, int type, const char *xattr) {
        AclEntry entries[ACL_ENTRIES_MAX];
        uint8_t blob[4 + sizeof(entries)];
        size_t n = 0, len;
        bool named = false, have_mask = false;
        uint16_t group_class = 0;
        int ae_type, permset, tag, qual;
        const char *name;

        if (archive_entry_acl_reset(e, type) == 0)
                return 0;

        while (archive_entry_acl_next(e, type, &ae_type, &permset, &tag, &qual, &name) == ARCHIVE_OK) {
                AclEntry x = { .perm = (uint16_t) (permset & 7), .id = UINT32_MAX };
                int r;

                switch (tag) {
                case ARCHIVE_ENTRY_ACL_USER_OBJ:
                        x.tag = ACL_TAG_USER_OBJ;
                        break;
                case ARCHIVE_ENTRY_ACL_USER:
                        x.tag = ACL_TAG_USER;
                        x.id = (uint32_t) qual;
                        named = true;
                        break;
                case ARCHIVE_ENTRY_ACL_GROUP_OBJ:
                        x.tag = ACL_TAG_GROUP_OBJ;
                        break;
                case ARCHIVE_ENTRY_ACL_GROUP:
                        x.tag = ACL_TAG_GROUP;
                        x.id = (uint32_t) qual;
                        named = true;
                        break;
                case ARCHIVE_ENTRY_ACL_MASK:
                        x.tag = ACL_TAG_MASK;
                        have_mask = true;
                        break;
                case ARCHIVE_ENTRY_ACL_OTHER:
                        x.tag = ACL_TAG_OTHER;
                        break;
                default:
                        return fail(u, -EOPNOTSUPP, "'%s': NFSv4 ACLs are not supported.", u->entry);
                }
                if ((x.tag == ACL_TAG_USER || x.tag == ACL_TAG_GROUP) && qual < 0) {
                        /* A name without an id (older star archives). The kernel would refuse the id
                         * -1, and a guess could grant someone else access: the name is looked up in the
                         * tree; if it is not there, this ACL is left out (the mode stays), as GNU tar
                         * leaves out one it cannot resolve. */
                        bool user = x.tag == ACL_TAG_USER;

                        r = name ? tree_name_to_id(u, user ? "etc/passwd" : "etc/group", name, &x.id) :
                                   -ENOENT;
                        if (r == -ENOENT) {
                                note(u, "'%s': %s ACL left out: %s '%s' has no numeric id and is not in "
                                     "the tree's %s.", u->entry,
                                     type == ARCHIVE_ENTRY_ACL_TYPE_DEFAULT ? "default" : "access",
                                     user ? "user" : "group", strna(name),
                                     user ? "/etc/passwd" : "/etc/group");
                                return 0;
                        }
                        if (r < 0)
                                return fail(u, r, "'%s': failed to look up ACL %s '%s': %s", u->entry,
                                            user ? "user" : "group", name, strerror(-r));
                }
                if (x.tag != ACL_TAG_USER_OBJ && x.tag != ACL_TAG_OTHER)
                        group_class |= x.perm;

                if (acl_put(entries, &n, x) < 0)
                        goto too_many;
        }

        /* Only the three entries the mode already says: nothing to set. */
        if (!named && !have_mask && type == ARCHIVE_ENTRY_ACL_TYPE_ACCESS)
                return 0;
        /* The kernel wants a mask with named entries: as setfacl does, make it cover the group class. */
        if (named && !have_mask &&
            acl_put(entries, &n,
                    (AclEntry) { .tag = ACL_TAG_MASK, .perm = group_class, .id = UINT32_MAX }) < 0)
                goto too_many;

        qsort(entries, n, sizeof(AclEntry), acl_entry_compare);

        uint32_t version = htole32(ACL_XATTR_VERSION);
        memcpy(blob, &version, 4);
        len = 4;
        for (size_t i = 0; i < n; i++) {
                uint16_t t = htole16(entries[i].tag), p = htole16(entries[i].perm);
                uint32_t id = htole32(entries[i].id);

                memcpy(blob + len, &t, 2);
                memcpy(blob + len + 2, &p, 2);
                memcpy(blob + len + 4, &id, 4);
                len += 8;
        }

        if (fsetxattr(fd, xattr, blob, len, 0) < 0)
                return fail(u, -errno, "'%s': failed to set ACL: %s", u->entry, strerror(errno));
        if (type == ARCHIVE_ENTRY_ACL_TYPE_DEFAULT)
                u->default_acls = true;
        return 0;

too_many:
        return fail(u, -E2BIG, "'%s': more than %u ACL entries.", u->entry, ACL_ENTRIES_MAX);
}

static int acls_apply(Unpacker *u, struct archive_entry *e, int fd, bool dir) {
        int r;

        r = acl_apply_one(u, e, fd, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, "system.posix_acl_access");
        if (r < 0 || !dir)
                return r;
        return acl_apply_one(u, e, fd, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, "system.posix_acl_default");
}

static void entry_times(struct archive_entry *e, struct timespec ts[2]) {
        ts[1] = archive_entry_mtime_is_set(e) ?
                (struct timespec) { archive_entry_mtime(e), archive_entry_mtime_nsec(e) } :
                (struct timespec) { .tv_nsec = UTIME_OMIT };
        ts[0] = archive_entry_atime_is_set(e) ?
                (struct timespec) { archive_entry_atime(e), archive_entry_atime_nsec(e) } : ts[1];
}

/* Ownership, mode, xattrs (after chown, which clears security.capability), ACLs, and (except for
 * directories, whose mtime changes while we fill them) times, on an open fd. If the caller knows the
 * owner and mode the file was created with (known), what already matches is not set again: most files
 * of a root file system are root's and have plain modes, and this saves two syscalls for each. */
static int metadata_apply_fd(Unpacker *u, struct archive_entry *e, int fd, bool dir,
                             const struct stat *known) {
        struct timespec ts[2];
        bool chowned = false;
        int r;

        if (!known || known->st_uid != archive_entry_uid(e) || known->st_gid != archive_entry_gid(e)) {
                if (fchown(fd, archive_entry_uid(e), archive_entry_gid(e)) < 0)
                        return fail(u, -errno, "'%s': failed to set owner: %m", u->entry);
                chowned = true;
        }
        /* chown() clears setuid/setgid bits, so the mode comes after it. */
        if (!known || chowned || (known->st_mode & 07777) != archive_entry_perm(e))
                if (fchmod(fd, archive_entry_perm(e)) < 0)
                        return fail(u, -errno, "'%s': failed to set mode: %m", u->entry);
        r = xattrs_apply(u, e, fd, -EBADF, NULL);
        if (r < 0)
                return r;
        r = acls_apply(u, e, fd, dir);
        if (r < 0)
                return r;
        if (dir)
                return 0;

        entry_times(e, ts);
        if (futimens(fd, ts) < 0)
                return fail(u, -errno, "'%s': failed to set times: %m", u->entry);
        return 0;
}

/* The same for what can't be opened: symlinks, devices, FIFOs. */
static int metadata_apply_at(Unpacker *u, struct archive_entry *e, int dir_fd, const char *leaf,
                             bool symlink) {
        struct timespec ts[2];
        int r;

        if (fchownat(dir_fd, leaf, archive_entry_uid(e), archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
                return fail(u, -errno, "'%s': failed to set owner: %m", u->entry);
        /* fchmodat() would follow a symlink, and a symlink's mode means nothing. We created the node
         * ourselves a moment ago and nothing else writes to the tree. */
        if (!symlink && fchmodat(dir_fd, leaf, archive_entry_perm(e), 0) < 0)
                return fail(u, -errno, "'%s': failed to set mode: %m", u->entry);
        r = xattrs_apply(u, e, -EBADF, dir_fd, leaf);
        if (r < 0)
                return r;

        entry_times(e, ts);
        if (utimensat(dir_fd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return fail(u, -errno, "'%s': failed to set times: %m", u->entry);
        return 0;
}

static int dir_time_remember(Unpacker *u, const char *path, struct archive_entry *e) {
        DirTime *d;

        if (GREEDY_REALLOC(u->dirs, u->n_dirs_allocated, u->n_dirs + 1) < 0)
                return -ENOMEM;

        d = u->dirs + u->n_dirs;
        d->path = strdup(path);
        if (!d->path)
                return -ENOMEM;
        entry_times(e, d->ts);
        u->n_dirs++;
        return 0;
}

/* Puts back the times of the lower layers' directories this layer changed without an entry of its own
 * for them (its entries' times are set after this). */
static int lower_dir_times_apply(Unpacker *u) {
        for (size_t i = 0; i < u->n_lower_dirs; i++) {
                _cleanup_close_ int fd = -EBADF;
                DirTime *d = u->lower_dirs + i;

                if (layer_has(u, d->path))
                        continue;
                if (isempty(d->path))
                        fd = fcntl(u->tree_fd, F_DUPFD_CLOEXEC, 3);
                else
                        fd = openat_tree(u, d->path, O_RDONLY|O_DIRECTORY);
                if (fd < 0)
                        continue;       /* removed by a whiteout */
                if (futimens(fd, d->ts) < 0)
                        return fail(u, -errno, "'%s': failed to set times: %m", d->path);
        }
        return 0;
}

static int dir_times_apply(Unpacker *u) {
        int r;

        r = lower_dir_times_apply(u);
        if (r < 0)
                return r;
        for (size_t i = 0; i < u->n_dirs; i++) {
                _cleanup_close_ int fd = -EBADF;
                DirTime *d = u->dirs + i;

                u->entry = d->path;
                if (isempty(d->path))
                        fd = fcntl(u->tree_fd, F_DUPFD_CLOEXEC, 3);
                else
                        fd = openat_tree(u, d->path, O_RDONLY|O_DIRECTORY);
                if (fd < 0)
                        /* Replaced by a later entry (or removed): that one's times count. */
                        continue;
                if (futimens(fd, d->ts) < 0)
                        return fail(u, -errno, "'%s': failed to set times: %m", d->path);
        }
        return 0;
}

static int xattrs_clear(Unpacker *u, int fd) {
        _cleanup_free_ char *list = NULL;
        ssize_t n;

        n = flistxattr(fd, NULL, 0);
        if (n < 0)
                return errno == EOPNOTSUPP ? 0 :
                        fail(u, -errno, "'%s': failed to list xattrs: %m", u->entry);
        if (n == 0)
                return 0;
        list = malloc((size_t) n + 1);
        if (!list)
                return -ENOMEM;
        n = flistxattr(fd, list, (size_t) n);
        if (n < 0)
                return fail(u, -errno, "'%s': failed to list xattrs: %m", u->entry);
        list[n] = 0;

        for (const char *x = list; x < list + n; x += strlen(x) + 1)
                if (fremovexattr(fd, x) < 0 && errno != ENODATA && !startswith(x, "system."))
                        return fail(u, -errno, "'%s': failed to remove xattr '%s': %m", u->entry, x);
        return 0;
}

static int unpack_directory(Unpacker *u, struct archive_entry *e, char *path) {
        _cleanup_close_ int fd = -EBADF;
        const char *leaf;
        int dir_fd, r;

        if (isempty(path)) {
                /* "./": the tree itself. */
                r = metadata_apply_fd(u, e, u->tree_fd, true, NULL);
                if (r < 0)
                        return r;
                return dir_time_remember(u, path, e);
        }

        dir_fd = resolve_entry(u, path, true, &leaf);
        if (dir_fd < 0)
                return dir_fd;

        bool existed = false;
        if (mkdirat(dir_fd, leaf, 0700) < 0) {
                if (errno != EEXIST)
                        return fail(u, -errno, "'%s': failed to create directory: %m", u->entry);
                existed = true;
        }

        fd = openat_tree(u, path, O_RDONLY|O_DIRECTORY);
        if (fd == -ENOTDIR || fd == -ELOOP) {
                /* Something else is in the way: the later entry wins. */
                r = remove_existing(u, dir_fd, leaf);
                if (r < 0)
                        return r;
                dir_fd = resolve_entry(u, path, true, &leaf);
                if (dir_fd < 0)
                        return dir_fd;
                if (mkdirat(dir_fd, leaf, 0700) < 0)
                        return fail(u, -errno, "'%s': failed to create directory: %m", u->entry);
                fd = openat_tree(u, path, O_RDONLY|O_DIRECTORY);
        }
        if (fd < 0)
                return refusal(u, fd, path);

        if (existed && (u->flags & TAR_UNPACK_OVERLAY)) {
                /* The entry says all there is about the directory: a lower layer's xattrs go. */
                r = xattrs_clear(u, fd);
                if (r < 0)
                        return r;
        }

        r = metadata_apply_fd(u, e, fd, true, NULL);
        if (r < 0)
                return r;
        r = dir_time_remember(u, path, e);
        if (r < 0)
                return r;

        /* Its entries most likely come next. */
        return parent_cache_set(u, path, TAKE_FD(fd), &(struct stat) {
                                        .st_mode = S_IFDIR | archive_entry_perm(e),
                                        .st_gid = archive_entry_gid(e) });
}

static int write_data(Unpacker *u, struct archive *a, int fd, struct archive_entry *e) {
        off_t end = 0;

        for (;;) {
                const void *buf;
                size_t size;
                la_int64_t offset;
                int r;

                r = archive_read_data_block(a, &buf, &size, &offset);
                if (r == ARCHIVE_EOF)
                        break;
                if (r != ARCHIVE_OK)
                        return fail(u, -EBADMSG, "'%s': failed to read data: %s", u->entry,
                                    decompressor_error(u->decompressor) ?: archive_error_string(a) ?:
                                    "unknown error");
                if (offset < 0)
                        return fail(u, -EBADMSG, "'%s': invalid data offset.", u->entry);

                for (size_t done = 0; done < size;) {
                        ssize_t n = pwrite(fd, (const uint8_t*) buf + done, size - done,
                                           (off_t) offset + (off_t) done);
                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                return fail(u, -errno, "'%s': failed to write: %m", u->entry);
                        }
                        done += (size_t) n;
                }
                end = MAX(end, (off_t) offset + (off_t) size);
        }

        /* A sparse file may end in a hole. */
        if (archive_entry_size_is_set(e) && archive_entry_size(e) > end &&
            ftruncate(fd, archive_entry_size(e)) < 0)
                return fail(u, -errno, "'%s': failed to set size: %m", u->entry);
        return 0;
}

static int unpack_regular(Unpacker *u, struct archive *a, struct archive_entry *e, char *path) {
        _cleanup_close_ int fd = -EBADF;
        const char *leaf;
        int dir_fd, r;

        dir_fd = resolve_entry(u, path, true, &leaf);
        if (dir_fd < 0)
                return dir_fd;

        /* Created with its final permission bits (what the umask lets through), so that usually
         * neither chmod nor chown is needed afterwards. */
        mode_t mode = archive_entry_perm(e) & 0777;
        for (unsigned attempt = 0;; attempt++) {
                fd = openat(dir_fd, leaf, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, mode);
                if (fd >= 0)
                        break;
                if (errno != EEXIST || attempt > 0)
                        return fail(u, -errno, "'%s': failed to create file: %m", u->entry);

                /* Never write into what is there: it may be a hardlink or a symlink. */
                r = remove_existing(u, dir_fd, leaf);
                if (r < 0)
                        return r;
                dir_fd = resolve_entry(u, path, true, &leaf);
                if (dir_fd < 0)
                        return dir_fd;
        }

        r = write_data(u, a, fd, e);
        if (r < 0)
                return r;

        gid_t gid = dir_fd == u->tree_fd ? new_file_gid(u, dir_fd, NULL) :
                    dir_fd == u->parent_fd ? u->parent_gid : (gid_t) -1;
        return metadata_apply_fd(u, e, fd, false, u->default_acls ? NULL : &(struct stat) {
                                         .st_uid = u->uid,
                                         .st_gid = gid,
                                         .st_mode = S_IFREG | (mode & ~u->umask) });
}

static int unpack_hardlink(Unpacker *u, struct archive_entry *e, char *path, const char *target) {
        _cleanup_free_ char *t = NULL;
        const char *leaf, *tleaf;
        int dir_fd, tdir_fd, r;

        r = normalize_path(u, target, true, &t);
        if (r < 0)
                return r;
        if (isempty(t) || streq(t, path))
                return fail(u, -EBADMSG, "'%s': invalid hardlink target '%s'.", u->entry, target);

        /* The target's directory is opened without the cache (which holds one fd only), through a
         * fresh lookup that refuses symlinks just the same. */
        char *slash = strrchr(t, '/');
        _cleanup_close_ int tfd = -EBADF;
        if (slash) {
                *slash = 0;
                tfd = openat_tree(u, t, O_PATH|O_DIRECTORY);
                if (tfd < 0)
                        return tfd == -ENOENT ?
                                fail(u, -ENOENT, "'%s': hardlink target '%s' does not exist.", u->entry,
                                     target) :
                                refusal(u, tfd, target);
                tleaf = slash + 1;
                tdir_fd = tfd;
        } else {
                tleaf = t;
                tdir_fd = u->tree_fd;
        }

        dir_fd = resolve_entry(u, path, true, &leaf);
        if (dir_fd < 0)
                return dir_fd;

        for (unsigned attempt = 0;; attempt++) {
                if (linkat(tdir_fd, tleaf, dir_fd, leaf, 0) >= 0)
                        return 0;
                if (errno == ENOENT)
                        return fail(u, -ENOENT, "'%s': hardlink target '%s' does not exist.", u->entry,
                                    target);
                if (errno == EPERM)
                        return fail(u, -EPERM, "'%s': hardlink to directory '%s' refused.", u->entry,
                                    target);
                if (errno != EEXIST || attempt > 0)
                        return fail(u, -errno, "'%s': failed to create hardlink: %m", u->entry);

                r = remove_existing(u, dir_fd, leaf);
                if (r < 0)
                        return r;
                dir_fd = resolve_entry(u, path, true, &leaf);
                if (dir_fd < 0)
                        return dir_fd;
        }
}

static int unpack_node(Unpacker *u, struct archive_entry *e, char *path, mode_t type) {
        const char *leaf, *target = NULL;
        int dir_fd, r;

        if (type == AE_IFLNK) {
                target = archive_entry_symlink(e);
                if (isempty(target))
                        return fail(u, -EBADMSG, "'%s': symlink without a target.", u->entry);
                if (strlen(target) >= PATH_MAX)
                        return fail(u, -ENAMETOOLONG, "'%s': symlink target too long.", u->entry);
        }

        dir_fd = resolve_entry(u, path, true, &leaf);
        if (dir_fd < 0)
                return dir_fd;

        for (unsigned attempt = 0;; attempt++) {
                if (type == AE_IFLNK)
                        r = RET_NERRNO(symlinkat(target, dir_fd, leaf));
                else
                        r = RET_NERRNO(mknodat(dir_fd, leaf, type | archive_entry_perm(e),
                                               type == AE_IFIFO ? 0 :
                                               makedev(archive_entry_rdevmajor(e),
                                                       archive_entry_rdevminor(e))));
                if (r >= 0)
                        break;
                if (r != -EEXIST || attempt > 0)
                        return fail(u, r, "'%s': failed to create: %s", u->entry, strerror(-r));

                r = remove_existing(u, dir_fd, leaf);
                if (r < 0)
                        return r;
                dir_fd = resolve_entry(u, path, true, &leaf);
                if (dir_fd < 0)
                        return dir_fd;
        }

        return metadata_apply_at(u, e, dir_fd, leaf, type == AE_IFLNK);
}

/* "dir/name", or "name" for the top of the tree. */
static char* path_child(const char *dir, const char *name) {
        char *p;

        if (isempty(dir))
                return strdup(name);
        return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

/* Removes from the directory dir_fd (path dir_path) everything lower layers put there, recursing into
 * what this layer put there too. */
static int opaque_clear(Unpacker *u, int dir_fd, const char *dir_path, unsigned depth) {
        _cleanup_closedir_ DIR *d = NULL;

        if (depth > TAR_DEPTH_MAX)
                return fail(u, -ELOOP, "'%s': directories nested too deep.", u->entry);
        d = opendir_dup(dir_fd);
        if (!d)
                return fail(u, -errno, "'%s': failed to read directory '%s': %m", u->entry, dir_path);

        for (;;) {
                _cleanup_free_ char *child = NULL;
                struct dirent *de;
                struct stat st;
                int r;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return fail(u, -errno, "'%s': failed to read directory '%s': %m", u->entry,
                                            dir_path);
                        return 0;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;

                child = path_child(dir_path, de->d_name);
                if (!child)
                        return -ENOMEM;

                if (!layer_has(u, child)) {
                        r = rm_rf_at(dirfd(d), de->d_name);
                        if (r < 0)
                                return fail(u, r, "'%s': failed to remove '%s': %s", u->entry, child,
                                            strerror(-r));
                        continue;
                }
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return fail(u, -errno, "'%s': failed to stat '%s': %m", u->entry, child);
                if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int fd = openat(dirfd(d), de->d_name,
                                                        O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
                        if (fd < 0)
                                return fail(u, -errno, "'%s': failed to open '%s': %m", u->entry, child);
                        r = opaque_clear(u, fd, child, depth + 1);
                        if (r < 0)
                                return r;
                }
        }
}

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define WHITEOUT_META_PREFIX ".wh..wh."

/* TAR_UNPACK_OVERLAY: an entry named .wh.*: returns 1 if it was a whiteout (and was applied), 0 if
 * it is an ordinary entry. */
static int unpack_whiteout(Unpacker *u, char *path) {
        _cleanup_free_ char *target = NULL;
        _cleanup_close_ int fd = -EBADF;
        char *slash = strrchr(path, '/');
        const char *leaf = slash ? slash + 1 : path, *name, *parent = slash ? path : "";
        int r;

        if (!startswith(leaf, WHITEOUT_PREFIX))
                return 0;
        if (slash)
                *slash = 0;

        if (streq(leaf, WHITEOUT_OPAQUE)) {
                if (!isempty(parent)) {
                        /* The marker says the directory is in this layer: make it if it is missing. */
                        r = open_parent(u, parent, true);
                        if (r < 0)
                                goto finish;
                        r = layer_path_add(u, parent);
                        if (r < 0)
                                goto finish;
                }
                parent_cache_clear(u);
                fd = isempty(parent) ? fcntl(u->tree_fd, F_DUPFD_CLOEXEC, 3) :
                                       openat_tree(u, parent, O_RDONLY|O_DIRECTORY);
                if (fd < 0) {
                        r = refusal(u, fd, parent);
                        goto finish;
                }
                r = opaque_clear(u, fd, parent, 0);
                if (r >= 0)
                        r = 1;
                goto finish;
        }
        if (startswith(leaf, WHITEOUT_META_PREFIX)) {
                log_debug("Skipping AUFS metadata '%s'.", u->entry);
                r = 1;
                goto finish;
        }

        name = leaf + (sizeof(WHITEOUT_PREFIX) - 1);
        if (isempty(name) || streq(name, ".") || streq(name, "..")) {
                r = fail(u, -EPERM, "'%s': invalid whiteout (names nothing in its directory).", u->entry);
                goto finish;
        }
        target = path_child(parent, name);
        if (!target) {
                r = -ENOMEM;
                goto finish;
        }
        if (layer_has(u, target)) {
                /* A whiteout hides lower layers only, never what its own layer adds. */
                r = 1;
                goto finish;
        }

        fd = isempty(parent) ? fcntl(u->tree_fd, F_DUPFD_CLOEXEC, 3) :
                               openat_tree(u, parent, O_PATH|O_DIRECTORY);
        if (fd == -ENOENT || fd == -ENOTDIR) {
                r = 1;          /* nothing below it to hide */
                goto finish;
        }
        if (fd < 0) {
                r = refusal(u, fd, parent);
                goto finish;
        }

        parent_cache_clear(u);
        r = rm_rf_at(fd, name);
        if (r < 0)
                r = fail(u, r, "'%s': failed to remove '%s': %s", u->entry, target, strerror(-r));
        else
                r = 1;

finish:
        if (slash)
                *slash = '/';
        return r;
}

/* TAR_UNPACK_OVERLAY: what comes before an entry is unpacked. Returns 1 if the entry was a whiteout. */
static int overlay_entry(Unpacker *u, char *path) {
        char *slash = strrchr(path, '/');
        int r;

        if (slash)
                *slash = 0;
        r = lower_dir_remember(u, slash ? path : "");
        if (slash)
                *slash = '/';
        if (r < 0)
                return r;

        r = unpack_whiteout(u, path);
        if (r != 0)
                return r;
        return layer_path_add(u, path);
}

static int unpack_entry(Unpacker *u, struct archive *a, struct archive_entry *e) {
        _cleanup_free_ char *path = NULL;
        const char *hardlink;
        mode_t type;
        int r;

        r = normalize_path(u, u->entry, false, &path);
        if (r < 0)
                return r;

        if (u->flags & TAR_UNPACK_OVERLAY) {
                r = overlay_entry(u, path);
                if (r != 0)
                        return r < 0 ? r : 0;
        }

        hardlink = archive_entry_hardlink(e);
        type = hardlink ? AE_IFREG : archive_entry_filetype(e);
        if (u->entry_func && type != AE_IFSOCK) {
                r = u->entry_func(path, type, u->userdata);
                if (r < 0)
                        return fail(u, r, "'%s': %s", u->entry, strerror(-r));
        }

        if (hardlink) {
                if (isempty(path))
                        return fail(u, -EBADMSG, "'%s': hardlink replacing the tree itself.", u->entry);
                return unpack_hardlink(u, e, path, hardlink);
        }

        if (isempty(path) && type != AE_IFDIR)
                return fail(u, -EBADMSG, "'%s': the top of the tree must be a directory.", u->entry);

        switch (type) {
        case AE_IFDIR:
                return unpack_directory(u, e, path);
        case AE_IFREG:
                return unpack_regular(u, a, e, path);
        case AE_IFLNK:
        case AE_IFCHR:
        case AE_IFBLK:
        case AE_IFIFO:
                return unpack_node(u, e, path, type);
        case AE_IFSOCK:
                /* A socket in an archive is a leftover of the system that made it; tar skips it too. */
                log_debug("Skipping socket '%s'.", u->entry);
                return 0;
        default:
                return fail(u, -EBADMSG, "'%s': unknown file type 0%o.", u->entry, (unsigned) type);
        }
}

static uint64_t reserve_default(const struct statvfs *sv) {
        uint64_t size = (uint64_t) sv->f_blocks * sv->f_frsize;

        return MIN(MAX(size / 100, TAR_UNPACK_RESERVE_MIN), TAR_UNPACK_RESERVE_MAX);
}

static int limits_init(Unpacker *u, const TarUnpackOptions *o) {
        struct statvfs sv;

        u->max_bytes = u->limit_shown = UINT64_MAX;
        if (o && o->max_bytes > 0) {
                /* Earlier parts of the same import used some of it. */
                u->max_bytes = o->max_bytes - MIN(o->bytes_before, o->max_bytes);
                u->limit_shown = o->max_bytes;
        }
        u->reserve = o ? o->reserve_bytes : 0;
        if (fstatvfs(u->tree_fd, &sv) < 0 || sv.f_blocks == 0) {
                /* No free space to go by (e.g. an odd file system): only the explicit limit. */
                log_debug("Cannot determine the free space of the target file system, no limit by it.");
                u->reserve = 0;
                return 0;
        }
        if (u->reserve == 0)
                u->reserve = reserve_default(&sv);

        uint64_t avail = (uint64_t) sv.f_bavail * sv.f_frsize,
                from_free = avail > u->reserve ? avail - u->reserve : 0;
        if (from_free < u->max_bytes) {
                u->max_bytes = u->limit_shown = from_free;
                u->max_bytes_from_free_space = true;
        }
        return 0;
}

/* Fails (and keeps failing) once the data read exceeds the limit or the target file system's free space
 * drops below the reserve. The latter is checked now and then: decompressed bytes do not count what small
 * files, directories and inodes take on disk, nor what others write meanwhile. */
static int limits_check(Unpacker *u) {
        char a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX];
        struct statvfs sv;

        if (u->limit_error < 0)
                return u->limit_error;

        if (u->bytes_out > u->max_bytes) {
                if (u->max_bytes_from_free_space)
                        u->limit_error = fail(u, -EFBIG, "The unpacked data exceeds the size limit of %s "
                                              "(the free space of the target file system less a reserve "
                                              "of %s).",
                                              format_bytes(a, sizeof(a), u->limit_shown),
                                              format_bytes(b, sizeof(b), u->reserve));
                else
                        u->limit_error = fail(u, -EFBIG, "The unpacked data exceeds the size limit of %s.",
                                              format_bytes(a, sizeof(a), u->limit_shown));
                return u->limit_error;
        }

        if (u->reserve == 0 ||
            (u->bytes_out - u->checked_bytes < SPACE_CHECK_BYTES &&
             u->entries - u->checked_entries < SPACE_CHECK_ENTRIES))
                return 0;
        u->checked_bytes = u->bytes_out;
        u->checked_entries = u->entries;
        if (fstatvfs(u->tree_fd, &sv) < 0)
                return 0;
        if ((uint64_t) sv.f_bavail * sv.f_frsize < u->reserve) {
                u->limit_error = fail(u, -ENOSPC, "Unpacking would leave less than %s free on the target "
                                      "file system (%s written).", format_bytes(a, sizeof(a), u->reserve),
                                      format_bytes(b, sizeof(b), u->bytes_out));
                return u->limit_error;
        }
        return 0;
}

static la_ssize_t read_cb(struct archive *a, void *userdata, const void **ret_buf) {
        Unpacker *u = userdata;
        size_t size;
        int r;

        r = decompressor_read(u->decompressor, ret_buf, &size);
        if (r < 0) {
                archive_set_error(a, -r, "%s", decompressor_error(u->decompressor) ?: strerror(-r));
                return -1;
        }
        u->bytes_out += size;
        r = limits_check(u);
        if (r < 0) {
                archive_set_error(a, -r, "%s", strna(u->error));
                return -1;
        }
        return (la_ssize_t) size;
}

/* libarchive's ARCHIVE_WARN covers refusals and damage (a sparse map it could not read, a header
 * nesting it gave up on, a size it could not parse) as well as irregularities of form after which the
 * entry is whole and read as GNU tar reads it. libarchive tells them apart only by its message, so the
 * accepted ones are listed by its start: any other warning stays fatal. An accepted entry is then checked
 * like any other (its name, type and hardlink target are resolved beneath the tree), so these do not
 * loosen what an archive can reach. */
static const struct {
        const char *prefix;
        const char *note;
} tolerated_warnings[] = {
        /* A name in a pax header that is not UTF-8 (without hdrcharset=BINARY): libarchive keeps the
         * bytes, as GNU tar does. Ownership is numeric, so user and group names do not matter. */
        { "Pathname can't be converted from", "name is not UTF-8, kept as bytes" },
        { "Linkname can't be converted from", "link target is not UTF-8, kept as bytes" },
        { "Uname can't be converted from",    "user name is not UTF-8, ignored" },
        { "Gname can't be converted from",    "group name is not UTF-8, ignored" },
        /* Several pax headers before one entry: libarchive up to 3.7 uses the last one (as GNU tar
         * does), then parses its own consumed buffer again for each one before it, which reports this.
         * A pax header really malformed is skipped from that record on (the ustar fields stand). */
        { "Ignoring malformed pax extended attribute", "a pax header before it skipped" },
};

static int warning_tolerate(Unpacker *u, struct archive *a, struct archive_entry *e) {
        const char *msg = archive_error_string(a);

        /* Only for an entry libarchive read a header of: an earlier, fatal warning may have been
         * overwritten by one of these (more than 32 special headers before an entry end in one). */
        if (!msg || !e || (archive_entry_filetype(e) == 0 && !archive_entry_hardlink(e)))
                return -EBADMSG;
        for (size_t i = 0; i < ELEMENTSOF(tolerated_warnings); i++)
                if (startswith(msg, tolerated_warnings[i].prefix)) {
                        note(u, "'%s': %s (libarchive: %.*s).", strna(archive_entry_pathname(e)),
                             tolerated_warnings[i].note, (int) (strlen(msg) - !!endswith(msg, ".")), msg);
                        return 0;
                }
        return -EBADMSG;
}

static int unpack_archive(Unpacker *u, TarUnpackStats *stats) {
        _cleanup_(archive_read_freep) struct archive *a = NULL;
        struct archive_entry *e;
        int r;

        a = archive_read_new();
        if (!a)
                return -ENOMEM;

        if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
            archive_read_support_format_gnutar(a) != ARCHIVE_OK) {
                r = fail(u, -EOPNOTSUPP, "libarchive lacks tar support: %s", archive_error_string(a));
                return r;
        }

        if (archive_read_open(a, u, NULL, read_cb, NULL) != ARCHIVE_OK) {
                const char *d = decompressor_error(u->decompressor);
                r = d ? fail(u, -EBADMSG, "%s", d) :
                        decompressor_bytes_in(u->decompressor) == 0 ?
                        fail(u, -EBADMSG, "The input is empty.") :
                        fail(u, -EBADMSG, "Not a tar archive: %s",
                             archive_error_string(a) ?: "unknown error");
                return r;
        }

        for (;;) {
                u->entry = NULL;
                r = archive_read_next_header(a, &e);
                if (r == ARCHIVE_EOF)
                        break;
                if (r == ARCHIVE_WARN && warning_tolerate(u, a, e) >= 0)
                        r = ARCHIVE_OK;
                if (r != ARCHIVE_OK) {
                        /* Warnings included: libarchive reports some refusals and damage as warnings. */
                        const char *name = r == ARCHIVE_WARN ? archive_entry_pathname(e) : NULL,
                                *d = decompressor_error(u->decompressor);

                        r = fail(u, -EBADMSG, "%s%s%sMalformed archive after %" PRIu64 " entries: %s",
                                 name ? "'" : "", name ?: "", name ? "': " : "", u->entries,
                                 d ?: archive_error_string(a) ?: "unknown error");
                        return r;
                }

                u->entry = archive_entry_pathname(e);
                r = unpack_entry(u, a, e);
                if (r < 0)
                        return r;
                u->entries++;
                r = limits_check(u);
                if (r < 0)
                        return r;

                if (u->progress)
                        progress_update(u->progress, decompressor_bytes_in(u->decompressor));
        }
        u->entry = NULL;

        /* An image layer may change nothing (an empty tar: its end-of-archive blocks only). */
        if (u->entries == 0 && !(u->flags & TAR_UNPACK_OVERLAY)) {
                r = fail(u, -EBADMSG, "Archive contains no entries.");
                return r;
        }

        parent_cache_clear(u);
        r = dir_times_apply(u);
        if (r < 0)
                return r;

        /* The rest (end-of-archive padding) is read too: it completes the digest, and a compressed stream
         * is only known to be intact once its end was checked. */
        r = decompressor_drain(u->decompressor);
        if (r < 0) {
                r = fail(u, r, "%s", decompressor_error(u->decompressor) ?: strerror(-r));
                return r;
        }

        stats->entries = u->entries;
        stats->bytes_in = decompressor_bytes_in(u->decompressor);
        stats->bytes_out = u->bytes_out;
        stats->compression = decompressor_compression(u->decompressor);
        stats->notes = u->notes;
        memcpy(stats->note, u->note, sizeof(stats->note));
        return decompressor_sha256(u->decompressor, stats->sha256);
}

static int unpack_internal(int input_fd, int tree_fd, TarUnpackFlags flags, uint64_t input_size,
                           Progress *progress, TarUnpackEntryFunc entry_func, void *userdata,
                           const TarUnpackOptions *options, TarUnpackStats *ret_stats,
                           char **reterr_message);

int tar_unpack(int input_fd, int tree_fd, TarUnpackFlags flags, uint64_t input_size, Progress *progress,
               TarUnpackStats *ret_stats, char **reterr_message) {
        return tar_unpack_full(input_fd, tree_fd, flags, input_size, progress, NULL, NULL, ret_stats,
                               reterr_message);
}

int tar_unpack_full(int input_fd, int tree_fd, TarUnpackFlags flags, uint64_t input_size, Progress *progress,
                    TarUnpackEntryFunc entry_func, void *userdata, TarUnpackStats *ret_stats,
                    char **reterr_message) {
        return unpack_internal(input_fd, tree_fd, flags, input_size, progress, entry_func, userdata,
                               /* options= */ NULL, ret_stats, reterr_message);
}

int tar_unpack_with(int input_fd, int tree_fd, TarUnpackFlags flags, uint64_t input_size, Progress *progress,
                    const TarUnpackOptions *options, TarUnpackStats *ret_stats, char **reterr_message) {
        return unpack_internal(input_fd, tree_fd, flags, input_size, progress, NULL, NULL, options,
                               ret_stats, reterr_message);
}

static int unpack_internal(int input_fd, int tree_fd, TarUnpackFlags flags, uint64_t input_size,
                           Progress *progress, TarUnpackEntryFunc entry_func, void *userdata,
                           const TarUnpackOptions *options, TarUnpackStats *ret_stats,
                           char **reterr_message) {
        Unpacker u = {
                .tree_fd = tree_fd,
                .flags = flags,
                .progress = progress,
                .entry_func = entry_func,
                .userdata = userdata,
                .parent_fd = -EBADF,
                .all_xattrs = options && options->all_xattrs,
        };
        TarUnpackStats stats = {};
        mode_t um;
        locale_t loc, old = (locale_t) 0;
        int r;

        assert(input_fd >= 0);
        assert(tree_fd >= 0);

        /* There is no way to read the umask without setting it. */
        um = umask(0);
        (void) umask(um);
        u.umask = um;
        u.uid = geteuid();
        u.gid = getegid();
        u.default_acls = fgetxattr(tree_fd, "system.posix_acl_default", NULL, 0) >= 0;
        (void) limits_init(&u, options);

        r = decompressor_new(input_fd, &u.decompressor);
        if (r == -EPROTONOSUPPORT)
                (void) fail(&u, r, "Unsupported compression (lz4, lzip or compress); "
                            "supported are gzip, xz, zstd and bzip2.");
        else if (r < 0)
                (void) fail(&u, r, "Failed to read input: %s", strerror(-r));
        else {
                /* Names in pax headers are UTF-8; with a C locale libarchive would fail to convert every
                 * non-ASCII one. Use a UTF-8 locale for this thread only. */
                loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
                if (loc)
                        old = uselocale(loc);

                if (progress)
                        progress_begin(progress, "Unpacking", input_size);
                r = unpack_archive(&u, &stats);
                if (r < 0 && u.limit_error < 0)
                        r = u.limit_error;      /* reported through a failed read: the cause */
                if (progress)
                        progress_end(progress);

                if (loc) {
                        uselocale(old);
                        freelocale(loc);
                }
        }

        parent_cache_clear(&u);
        for (size_t i = 0; i < u.n_dirs; i++)
                free(u.dirs[i].path);
        free(u.dirs);
        for (size_t i = 0; i < u.n_lower_dirs; i++)
                free(u.lower_dirs[i].path);
        free(u.lower_dirs);
        hashmap_free(u.lower_dirs_seen);
        if (u.layer_paths) {
                void *v;
                for (size_t i = 0; hashmap_iterate(u.layer_paths, &i, NULL, &v);)
                        free(v);
                hashmap_free(u.layer_paths);
        }
        free(u.top);
        decompressor_free(u.decompressor);

        if (r < 0) {
                if (reterr_message)
                        *reterr_message = TAKE_PTR(u.error);
                free(u.error);
                return r;
        }

        free(u.error);
        if (ret_stats)
                *ret_stats = stats;
        return 0;
}
