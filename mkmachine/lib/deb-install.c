/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deb-install.h"
#include "digest.h"
#include "download.h"
#include "dpkg-db.h"
#include "strv.h"
#include "fd-util.h"
#include "fs-util.h"
#include "log.h"
#include "string-util.h"
#include "tar-unpack.h"

#define MEMBER_SIZE_MAX (UINT64_C(4) << 30)

static int copy_member(struct archive *a, int fd) {
        for (;;) {
                const void *buf;
                size_t size;
                la_int64_t offset;
                int r;

                r = archive_read_data_block(a, &buf, &size, &offset);
                if (r == ARCHIVE_EOF)
                        return 0;
                if (r != ARCHIVE_OK)
                        return -EBADMSG;
                if ((uint64_t) offset + size > MEMBER_SIZE_MAX)
                        return -E2BIG;
                if (pwrite(fd, buf, size, offset) != (ssize_t) size)
                        return errno > 0 ? -errno : -EIO;
        }
}

/* Reads the .deb's members: control.tar.* into a memfd (if ret_control is non-NULL) and data.tar.* into
 * another. */
static int deb_read_members(int deb_fd, int *ret_control, int *ret_data, char **reterr_message) {
        _cleanup_close_ int control = -EBADF, data = -EBADF;
        struct archive *a;
        struct archive_entry *e;
        bool binary = false;
        int r;

        a = archive_read_new();
        if (!a)
                return -ENOMEM;
        if (archive_read_support_format_ar(a) != ARCHIVE_OK ||
            archive_read_open_fd(a, deb_fd, 64 * 1024) != ARCHIVE_OK) {
                r = -EBADMSG;
                goto finish;
        }

        for (;;) {
                const char *name;
                int *target;

                r = archive_read_next_header(a, &e);
                if (r == ARCHIVE_EOF)
                        break;
                if (r != ARCHIVE_OK) {
                        r = -EBADMSG;
                        goto finish;
                }
                name = archive_entry_pathname(e);
                if (streq_ptr(name, "debian-binary")) {
                        char v[16] = {};
                        if (archive_read_data(a, v, sizeof(v) - 1) < 4 || !startswith(v, "2.")) {
                                r = -EBADMSG;
                                goto finish;
                        }
                        binary = true;
                        continue;
                }
                if (name && startswith(name, "data.tar"))
                        target = &data;
                else if (name && startswith(name, "control.tar") && ret_control)
                        target = &control;
                else
                        continue;
                if (!binary || *target >= 0) {
                        r = -EBADMSG;
                        goto finish;
                }
                *target = memfd_create(name, MFD_CLOEXEC);
                if (*target < 0) {
                        r = -errno;
                        goto finish;
                }
                r = copy_member(a, *target);
                if (r < 0)
                        goto finish;
                if (lseek(*target, 0, SEEK_SET) < 0) {
                        r = -errno;
                        goto finish;
                }
                if (target == &data)
                        break;  /* the last member that matters */
        }
        if (data < 0 || (ret_control && control < 0)) {
                r = -EBADMSG;
                goto finish;
        }
        if (ret_control)
                *ret_control = TAKE_FD(control);
        *ret_data = TAKE_FD(data);
        r = 0;

finish:
        if (r == -EBADMSG && reterr_message && !*reterr_message)
                *reterr_message = strdup(archive_error_string(a) ?: "not a Debian binary package");
        archive_read_free(a);
        return r;
}

#define CONTROL_MEMBERS_MAX 32U
#define CONTROL_SIZE_MAX (UINT64_C(64) << 20)

typedef struct ControlMember {
        char *name;
        char *data;
        size_t size;
        mode_t mode;
} ControlMember;

typedef struct ControlMembers {
        ControlMember m[CONTROL_MEMBERS_MAX];
        size_t n;
} ControlMembers;

static void control_members_done(ControlMembers *c) {
        for (size_t i = 0; i < c->n; i++) {
                free(c->m[i].name);
                free(c->m[i].data);
        }
        c->n = 0;
}

static const ControlMember* control_member(const ControlMembers *c, const char *name) {
        for (size_t i = 0; i < c->n; i++)
                if (streq(c->m[i].name, name))
                        return &c->m[i];
        return NULL;
}

/* The regular files at the top of control.tar.*, into memory. */
static int control_read(int fd, ControlMembers *ret, char **reterr_message) {
        struct archive *a;
        struct archive_entry *e;
        uint64_t total = 0;
        int r;

        a = archive_read_new();
        if (!a)
                return -ENOMEM;
        if (archive_read_support_filter_all(a) != ARCHIVE_OK ||
            archive_read_support_format_tar(a) != ARCHIVE_OK ||
            archive_read_support_format_gnutar(a) != ARCHIVE_OK ||
            archive_read_open_fd(a, fd, 64 * 1024) != ARCHIVE_OK) {
                r = -EBADMSG;
                goto finish;
        }
        for (;;) {
                const char *name;
                ControlMember *m;
                la_int64_t size;

                r = archive_read_next_header(a, &e);
                if (r == ARCHIVE_EOF)
                        break;
                if (r != ARCHIVE_OK) {
                        r = -EBADMSG;
                        goto finish;
                }
                name = archive_entry_pathname(e);
                if (!name) {
                        r = -EBADMSG;
                        goto finish;
                }
                while (startswith(name, "./"))
                        name += 2;
                if (isempty(name) || archive_entry_filetype(e) != AE_IFREG)
                        continue;       /* "./" itself; dpkg refuses anything else in the info db */
                size = archive_entry_size(e);
                total += (uint64_t) MAX(size, (la_int64_t) 0);
                if (size < 0 || total > CONTROL_SIZE_MAX || ret->n >= CONTROL_MEMBERS_MAX ||
                    strchr(name, '/')) {
                        r = -EBADMSG;
                        goto finish;
                }
                m = &ret->m[ret->n];
                *m = (ControlMember) {
                        .name = strdup(name),
                        .data = malloc((size_t) size + 1),
                        .size = (size_t) size,
                        .mode = archive_entry_perm(e) & 0755,
                };
                ret->n++;
                if (!m->name || !m->data) {
                        r = -ENOMEM;
                        goto finish;
                }
                if (archive_read_data(a, m->data, m->size) != (la_ssize_t) m->size) {
                        r = -EBADMSG;
                        goto finish;
                }
                m->data[m->size] = 0;
        }
        r = 0;

finish:
        if (r == -EBADMSG && reterr_message && !*reterr_message)
                (void) asprintf(reterr_message, "malformed control.tar: %s",
                                archive_error_string(a) ?: "unexpected member");
        archive_read_free(a);
        return r;
}

typedef struct FileLists {
        FILE *list;             /* dpkg's info/PKG.list: every path as the package names it */
        FILE *paths;            /* the non-directories, with /bin, /lib… as under the merged /usr */
        FILE *regular;          /* the regular files (and hardlinks), if non-NULL */
} FileLists;

static int file_lists_add(const char *path, mode_t type, void *userdata) {
        static const char *const merged[] = { "bin/", "sbin/", "lib/", "lib32/", "lib64/", "libx32/" };
        FileLists *l = userdata;

        if (strchr(path, '\n'))
                return -EBADMSG;        /* can't go into a list file */
        if (isempty(path))
                fputs("/.\n", l->list);
        else
                fprintf(l->list, "/%s\n", path);
        if (type != S_IFDIR) {
                bool usr = false;

                for (size_t i = 0; i < ELEMENTSOF(merged); i++)
                        usr = usr || startswith(path, merged[i]);
                fprintf(l->paths, "%s%s\n", usr ? "usr/" : "", path);
        }
        if (type == S_IFREG && l->regular)
                fprintf(l->regular, "%s\n", path);
        return ferror(l->list) || ferror(l->paths) || (l->regular && ferror(l->regular)) ? -ENOMEM : 0;
}

/* The MD5 of the file at path in the tree, as dpkg records conffiles and file hashes. -EOPNOTSUPP if it
 * is no regular file. */
static int file_md5(int tree_fd, const char *path, char **ret) {
        _cleanup_close_ int fd = -EBADF;
        char h[2 * EVP_MAX_MD_SIZE + 1];
        struct stat st;
        int r;

        fd = openat_in_root(tree_fd, path, O_RDONLY|O_NOFOLLOW|O_NONBLOCK, 0);
        if (fd == -ELOOP || fd == -ENOENT)
                return -EOPNOTSUPP;
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EOPNOTSUPP;

        r = fd_digest_hex(fd, EVP_md5(), h);
        if (r < 0)
                return r;
        *ret = strdup(h);
        return *ret ? 0 : -ENOMEM;
}

/* "MD5  PATH\n" for each of the '\n'-separated paths (relative to the tree) that is a regular file. */
static int md5sums_make(int tree_fd, const char *paths, char **ret) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;
        int r;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        for (const char *p = paths; *p;) {
                size_t n = strcspn(p, "\n");
                _cleanup_free_ char *path = strndup(p, n), *hash = NULL;

                if (!path)
                        return -ENOMEM;
                p += n + (p[n] == '\n');
                r = file_md5(tree_fd, path, &hash);
                if (r == -EOPNOTSUPP)
                        continue;       /* replaced by another package's entry since */
                if (r < 0)
                        return r;
                fprintf(f, "%s  %s\n", hash, path);
        }
        if (fflush(f) != 0 || ferror(f) || fclose(TAKE_PTR(f)) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* Writes data into dir_fd/path (never through a symlink at the end) with exactly mode: a new file if how
 * is O_EXCL, replacing what is there if O_TRUNC. */
static int write_at(int dir_fd, const char *path, const void *data, size_t size, mode_t mode, int how) {
        _cleanup_close_ int fd = -EBADF;

        assert(how == O_EXCL || how == O_TRUNC);

        fd = openat(dir_fd, path, O_WRONLY|O_CREAT|how|O_CLOEXEC|O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode) < 0)
                return -errno;
        return loop_write(fd, data, size);
}

int deb_unpack_register(int deb_fd, int tree_fd, int info_fd, const char *package, const char *version,
                        int out_dir_fd, const char *out_name, char **reterr_message) {
        _cleanup_close_ int control_fd = -EBADF, data_fd = -EBADF;
        _cleanup_(control_members_done) ControlMembers members = {};
        _cleanup_(dpkg_control_done) DpkgControl control = {};
        _cleanup_strv_free_ char **conffiles = NULL, **hashes = NULL;
        _cleanup_free_ char *list = NULL, *paths = NULL, *regular = NULL, *md5sums = NULL, *paragraph = NULL,
                *out = NULL;
        size_t list_size = 0, paths_size = 0, regular_size = 0;
        const ControlMember *m;
        FileLists lists = {};
        bool supported = true, make_md5sums;
        int r;

        assert(deb_fd >= 0);
        assert(tree_fd >= 0);
        assert(info_fd >= 0);
        assert(out_dir_fd >= 0);

        r = deb_read_members(deb_fd, &control_fd, &data_fd, reterr_message);
        if (r < 0)
                return r;
        r = control_read(control_fd, &members, reterr_message);
        if (r < 0)
                return r;

        m = control_member(&members, "control");
        if (!m) {
                if (reterr_message)
                        *reterr_message = strdup("no control file");
                return -EBADMSG;
        }
        r = dpkg_control_parse(m->data, m->size, &control, reterr_message);
        if (r < 0)
                return r;
        if (!streq(control.package, package) || !streq(control.version, version)) {
                if (reterr_message)
                        (void) asprintf(reterr_message, "the package is %s %s, the index says %s %s",
                                        control.package, control.version, package, version);
                return -EBADMSG;
        }
        m = control_member(&members, "conffiles");
        if (m) {
                r = dpkg_conffiles_parse(m->data, m->size, &conffiles);
                if (r == -EOPNOTSUPP)
                        supported = false;
                else if (r < 0) {
                        if (reterr_message)
                                *reterr_message = strdup("malformed conffiles");
                        return r;
                }
        }
        for (size_t i = 0; i < members.n; i++)
                if (!streq(members.m[i].name, "control") && !strchr(members.m[i].name, '.') &&
                    !dpkg_info_member_ok(members.m[i].name))
                        supported = false;      /* dpkg knows what to do with it */

        /* A package without md5sums gets them made, for which the regular files are listed too. */
        make_md5sums = !control_member(&members, "md5sums");
        lists.list = open_memstream(&list, &list_size);
        lists.paths = open_memstream(&paths, &paths_size);
        if (make_md5sums)
                lists.regular = open_memstream(&regular, &regular_size);
        if (!lists.list || !lists.paths || (make_md5sums && !lists.regular))
                r = -ENOMEM;
        else
                r = tar_unpack_full(data_fd, tree_fd, TAR_UNPACK_SYMLINKS_IN_TREE, 0, NULL, file_lists_add,
                                    &lists, NULL, reterr_message);
        if (lists.list && fclose(lists.list) != 0)
                r = r < 0 ? r : -ENOMEM;
        if (lists.paths && fclose(lists.paths) != 0)
                r = r < 0 ? r : -ENOMEM;
        if (lists.regular && fclose(lists.regular) != 0)
                r = r < 0 ? r : -ENOMEM;
        if (r < 0 || !supported)
                return r < 0 ? r : 0;

        STRV_FOREACH(c, conffiles) {
                char *h = NULL;

                r = file_md5(tree_fd, *c, &h);
                if (r == -EOPNOTSUPP)
                        return 0;       /* dpkg follows symlinks there: leave it to dpkg */
                if (r >= 0)
                        r = strv_push(&hashes, h);
                if (r < 0) {
                        free(h);
                        return r;
                }
        }

        /* Made of what was unpacked, as dpkg makes them. */
        if (make_md5sums) {
                r = md5sums_make(tree_fd, regular, &md5sums);
                if (r < 0)
                        return r;
                r = write_at(info_fd, strjoina(control.info_name, ".md5sums"), md5sums, strlen(md5sums),
                             0644, O_EXCL);
                if (r < 0)
                        return r;
        }

        /* The info files (as dpkg's tmp.ci gets renamed), then the list, then what says it is done. */
        for (size_t i = 0; i < members.n; i++) {
                const ControlMember *c = &members.m[i];
                _cleanup_free_ char *name = NULL;

                if (streq(c->name, "control") || strchr(c->name, '.'))
                        continue;
                if (asprintf(&name, "%s.%s", control.info_name, c->name) < 0)
                        return -ENOMEM;
                r = write_at(info_fd, name, c->data, c->size, c->mode, O_EXCL);
                if (r < 0)
                        return r;
        }
        r = write_at(info_fd, strjoina(control.info_name, ".list"), list, list_size, 0644, O_EXCL);
        if (r < 0)
                return r;

        r = dpkg_status_paragraph(&control, conffiles, hashes, &paragraph);
        if (r < 0)
                return r;
        m = control_member(&members, "control");
        r = write_at(out_dir_fd, strjoina(out_name, ".control"), m->data, m->size, 0644, O_EXCL);
        if (r < 0)
                return r;
        r = write_at(out_dir_fd, strjoina(out_name, ".paths"), paths, paths_size, 0600, O_EXCL);
        if (r < 0)
                return r;
        if (asprintf(&out, "%s\n%s", control.info_name, paragraph) < 0)
                return -ENOMEM;
        r = write_at(out_dir_fd, out_name, out, strlen(out), 0600, O_EXCL);
        if (r < 0)
                return r;
        return 1;
}

static int write_string_at(int dir_fd, const char *path, const char *content, mode_t mode) {
        return write_at(dir_fd, path, content, strlen(content), mode, O_TRUNC);
}

int tree_prepare(int tree_fd, const char *architecture) {
        static const char *const dirs[] = {
                "usr/bin", "usr/sbin", "usr/lib", "etc", "var/lib/dpkg/info", "var/lib/dpkg/updates",
                "var/lib/dpkg/triggers", "var/cache/mkmachine-debs", "proc", "sys", "dev", "run", "tmp",
        };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                r = mkdir_p_at(tree_fd, dirs[i], 0755, 0755);
                if (r < 0)
                        return r;
        }
        if (fchmodat(tree_fd, "tmp", 01777, 0) < 0)
                return -errno;

        /* Merged /usr, as debootstrap makes it and usr-is-merged insists on. */
        static const char *const links[][2] = {
                { "bin", "usr/bin" }, { "sbin", "usr/sbin" }, { "lib", "usr/lib" },
        };
        for (size_t i = 0; i < ELEMENTSOF(links); i++)
                if (symlinkat(links[i][1], tree_fd, links[i][0]) < 0 && errno != EEXIST)
                        return -errno;
        if (streq(architecture, "amd64")) {
                r = mkdir_p_at(tree_fd, "usr/lib64", 0755, 0755);
                if (r < 0)
                        return r;
                if (symlinkat("usr/lib64", tree_fd, "lib64") < 0 && errno != EEXIST)
                        return -errno;
        }

        r = write_string_at(tree_fd, "var/lib/dpkg/status", "", 0644);
        if (r >= 0)
                r = write_string_at(tree_fd, "var/lib/dpkg/available", "", 0644);
        if (r >= 0)
                r = write_string_at(tree_fd, "var/lib/dpkg/arch", strjoina(architecture, "\n"), 0644);
        if (r >= 0)
                /* 101: "action forbidden by policy" — no service starts while we install. */
                r = write_string_at(tree_fd, "usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0755);
        return r;
}

/* A built tree is what packages and their scripts made: its symlinks must not lead us out of it. */
int tree_resume(int tree_fd) {
        _cleanup_close_ int fd = -EBADF;

        fd = openat_in_root(tree_fd, "var/cache", O_PATH|O_DIRECTORY, 0);
        if (fd < 0)
                return fd;
        if (mkdirat(fd, "mkmachine-debs", 0755) < 0 && errno != EEXIST)
                return -errno;
        fd = safe_close(fd);
        fd = openat_in_root(tree_fd, "usr/sbin", O_PATH|O_DIRECTORY, 0);
        if (fd < 0)
                return fd;
        return write_string_at(fd, "policy-rc.d", "#!/bin/sh\nexit 101\n", 0755);
}

int tree_finish(int tree_fd) {
        int r;

        r = unlinkat_in_root(tree_fd, "usr/sbin/policy-rc.d", 0);
        if (r < 0 && r != -ENOENT)
                return r;
        r = unlinkat_in_root(tree_fd, "var/cache/mkmachine-debs", AT_REMOVEDIR);
        if (r < 0 && r != -ENOENT)
                return r;
        return 0;
}
