/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apt-repo.h"
#include "deb-relation.h"
#include "deb-version.h"
#include "deb822.h"
#include "digest.h"
#include "error-util.h"
#include "decompress.h"
#include "download.h"
#include "fd-util.h"
#include "gpgv.h"
#include "log.h"
#include "string-table.h"
#include "string-util.h"
#include "strv.h"

#define RELEASE_SIZE_MAX (64U * 1024U * 1024U)
#define INDEX_SIZE_MAX (UINT64_C(1) << 30)

static const char* const deb_priority_table[_DEB_PRIORITY_MAX] = {
        [DEB_PRIORITY_REQUIRED]  = "required",
        [DEB_PRIORITY_IMPORTANT] = "important",
        [DEB_PRIORITY_STANDARD]  = "standard",
        [DEB_PRIORITY_OPTIONAL]  = "optional",
        [DEB_PRIORITY_EXTRA]     = "extra",
};

DEFINE_STRING_TABLE_LOOKUP(deb_priority, DebPriority);

typedef struct Loader {
        AptRepo *repo;
        const AptRepoOptions *options;
        const char *mirror;             /* of the index being read */
        char *error;
} Loader;

_printf_(3, 4)
static int fail(Loader *l, int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        r = error_messagev(&l->error, r, format, ap);
        va_end(ap);
        return r;
}

/* Hands the loader's message (or strerror's, if it has none) to the caller on failure; returns r. */
static int loader_done(Loader *l, int r, char **reterr_message) {
        if (r < 0 && reterr_message) {
                *reterr_message = TAKE_PTR(l->error);
                if (!*reterr_message)
                        *reterr_message = strdup(strerror(-r));
        }
        l->error = mfree(l->error);
        return r;
}

char* pgp_clearsigned_text(char *buf) {
        char *start, *end, *w;

        start = startswith(buf, "-----BEGIN PGP SIGNED MESSAGE-----") ? buf : NULL;
        if (!start)
                return NULL;
        /* Armor headers ("Hash: …") end at the first empty line. */
        start = strstr(start, "\n\n");
        if (!start)
                return NULL;
        start += 2;
        end = strstr(start, "\n-----BEGIN PGP SIGNATURE-----");
        if (!end)
                return NULL;
        end[1] = 0;

        /* Undo dash-escaping ("- -----…" → "-----…"). */
        w = start;
        for (char *r = start; *r;) {
                if ((r == start || r[-1] == '\n') && r[0] == '-' && r[1] == ' ')
                        r += 2;
                *w++ = *r++;
        }
        *w = 0;
        return start;
}

int parse_release_date(const char *s, usec_t *ret) {
        struct tm tm = {};
        const char *e;
        time_t t;

        /* The weekday is optional; the zone must be UTC (as Debian and Ubuntu write it). */
        e = strptime(s, "%a, %d %b %Y %H:%M:%S", &tm);
        if (!e)
                e = strptime(s, "%d %b %Y %H:%M:%S", &tm);
        if (!e)
                return -EBADMSG;
        e += strspn(e, " ");
        if (*e != 0 && strcmp(e, "UTC") != 0 && strcmp(e, "GMT") != 0 && strcmp(e, "+0000") != 0 &&
            strcmp(e, "Z") != 0)
                return -EBADMSG;
        t = timegm(&tm);
        if (t < 0)
                return -EBADMSG;
        *ret = (usec_t) t * USEC_PER_SEC;
        return 0;
}

static int read_fd_all(int fd, size_t max, char **ret, size_t *ret_size) {
        char *buf = NULL;
        size_t size = 0, allocated = 0;

        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        for (;;) {
                ssize_t n;

                if (GREEDY_REALLOC(buf, allocated, size + 65536 + 1) < 0) {
                        free(buf);
                        return -ENOMEM;
                }
                n = read(fd, buf + size, allocated - size - 1);
                if (n < 0) {
                        free(buf);
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > max) {
                        free(buf);
                        return -E2BIG;
                }
        }
        if (!buf && !(buf = malloc(1)))
                return -ENOMEM;
        buf[size] = 0;
        *ret = buf;
        if (ret_size)
                *ret_size = size;
        return 0;
}

static int mkdir_at(int dir_fd, const char *name) {
        if (mkdirat(dir_fd, name, 0755) < 0 && errno != EEXIST)
                return -errno;
        return RET_NERRNO(openat(dir_fd, name, O_RDONLY|O_DIRECTORY|O_CLOEXEC));
}

static int fetch(Loader *l, const char *url, int dir_fd, const char *name, uint64_t size, const char *sha256,
                 uint64_t max) {
        DownloadItem item = {
                .url = url,
                .dir_fd = dir_fd,
                .name = name,
                .size = size,
                .sha256 = sha256,
                .max_size = max,
        };
        _cleanup_free_ char *msg = NULL;
        uint64_t bytes = 0;
        int r;

        r = download_many(&item, 1, 1, NULL, &bytes, &msg);
        if (r < 0)
                return fail(l, r, "%s", msg ?: "Download failed.");
        l->repo->bytes_downloaded += bytes;
        return 0;
}

/* Fetches the Release of suite at mirror and checks its signature; returns the verified text. */
static int load_release(Loader *l, int lists_fd, const char *mirror, const char *suite, char **ret) {
        const AptRepoOptions *o = l->options;
        _cleanup_free_ char *url = NULL, *raw = NULL, *msg = NULL;
        _cleanup_close_ int fd = -EBADF, sig = -EBADF, out = -EBADF;
        bool detached = false;
        int r;

        if (asprintf(&url, "%s/dists/%s/InRelease", mirror, suite) < 0)
                return -ENOMEM;
        r = fetch(l, url, lists_fd, "InRelease", 0, NULL, RELEASE_SIZE_MAX);
        if (r < 0 && strstr(l->error ?: "", "HTTP status 404")) {
                /* No InRelease: Release and Release.gpg, as older archives have them. */
                l->error = mfree(l->error);
                free(url);
                if (asprintf(&url, "%s/dists/%s/Release", mirror, suite) < 0)
                        return -ENOMEM;
                r = fetch(l, url, lists_fd, "Release", 0, NULL, RELEASE_SIZE_MAX);
                if (r < 0 && strstr(l->error ?: "", "HTTP status 404")) {
                        l->error = mfree(l->error);
                        return fail(l, -ENOENT, "There is no suite '%s' at %s (no InRelease, no Release).",
                                    suite, mirror);
                }
                if (r < 0)
                        return r;
                free(url);
                if (asprintf(&url, "%s/dists/%s/Release.gpg", mirror, suite) < 0)
                        return -ENOMEM;
                r = fetch(l, url, lists_fd, "Release.gpg", 0, NULL, RELEASE_SIZE_MAX);
                if (r < 0 && !o->no_verify) {
                        if (strstr(l->error ?: "", "HTTP status 404")) {
                                l->error = mfree(l->error);
                                return fail(l, -EBADMSG, "The Release file of %s %s is not signed (there "
                                            "is neither InRelease nor Release.gpg).", mirror,
                                            suite);
                        }
                        return r;
                }
                l->error = mfree(l->error);
                detached = true;
        } else if (r < 0)
                return r;

        fd = openat(lists_fd, detached ? "Release" : "InRelease", O_RDONLY|O_CLOEXEC);
        if (fd < 0)
                return -errno;

        if (o->no_verify) {
                char *text;

                r = read_fd_all(fd, RELEASE_SIZE_MAX, &raw, NULL);
                if (r < 0)
                        return r;
                text = detached ? raw : pgp_clearsigned_text(raw);
                *ret = strdup(text ?: raw);
                return *ret ? 0 : -ENOMEM;
        }

        if (detached) {
                sig = openat(lists_fd, "Release.gpg", O_RDONLY|O_CLOEXEC);
                if (sig < 0)
                        return -errno;
        }
        out = memfd_create("release", MFD_CLOEXEC);
        if (out < 0)
                return -errno;

        r = gpgv_verify(o->keyring, fd, sig, detached ? -EBADF : out, &msg);
        if (r == -ENOKEY)
                return fail(l, r, "The keyring '%s' does not exist.", o->keyring);
        if (r == -ENOENT)
                return fail(l, r, "gpgv is not installed (apt install gpgv): cannot check signatures.");
        if (r < 0)
                return fail(l, r, "The Release file of %s %s is not correctly signed by a key in %s: %s.",
                            mirror, suite, o->keyring, msg ?: "verification failed");

        /* Parse what gpgv says was signed, not the file as downloaded. */
        return read_fd_all(detached ? fd : out, RELEASE_SIZE_MAX, ret, NULL);
}

typedef struct IndexChoice {
        const char *want[3];            /* "main/binary-amd64/Packages.xz", ….gz, … */
        unsigned best;                  /* index into want, ELEMENTSOF(want) if none */
        const char *path, *sha256;
        uint64_t size;
} IndexChoice;

static int checksum_cb(const char *hash, uint64_t size, const char *path, void *userdata) {
        IndexChoice *c = userdata;

        for (unsigned i = 0; i < ELEMENTSOF(c->want) && i < c->best; i++)
                if (streq(path, c->want[i])) {
                        c->best = i;
                        c->path = path;
                        c->sha256 = hash;
                        c->size = size;
                }
        return 0;
}

typedef struct ReleaseInfo {
        char *sha256;                   /* the SHA256 field's value */
        const char *codename;
        const char *date;
        const char *valid_until;
        const char *components;
        const char *architectures;
} ReleaseInfo;

static int release_cb(const Deb822Paragraph *p, void *userdata) {
        ReleaseInfo *i = userdata;

        if (i->sha256)
                return 0;       /* only the first paragraph counts */
        i->sha256 = (char*) deb822_paragraph_get(p, "SHA256");
        i->codename = deb822_paragraph_get(p, "Codename");
        i->date = deb822_paragraph_get(p, "Date");
        i->valid_until = deb822_paragraph_get(p, "Valid-Until");
        i->components = deb822_paragraph_get(p, "Components");
        i->architectures = deb822_paragraph_get(p, "Architectures");
        return 0;
}

static bool word_in(const char *list, const char *word) {
        size_t l = strlen(word);

        for (const char *p = list; p && *p;) {
                p += strspn(p, " \t\n");
                size_t n = strcspn(p, " \t\n");
                if (n == l && strncmp(p, word, l) == 0)
                        return true;
                p += n;
        }
        return false;
}

static int add_package(Loader *l, const Deb822Paragraph *p) {
        AptRepo *repo = l->repo;
        const char *name = deb822_paragraph_get(p, "Package"), *size, *prio, *ess, *arch;
        DebPackage *pkg;
        char *end;

        arch = deb822_paragraph_get(p, "Architecture");
        if (!name || !arch)
                return fail(l, -EBADMSG, "Package index entry at line %u without Package or Architecture.",
                            p->line);
        if (!streq(arch, repo->architecture) && !streq(arch, "all"))
                return 0;

        if (GREEDY_REALLOC(repo->packages, repo->n_packages_allocated, repo->n_packages + 1) < 0)
                return -ENOMEM;
        pkg = repo->packages + repo->n_packages;
        *pkg = (DebPackage) {
                .name = name,
                .version = deb822_paragraph_get(p, "Version"),
                .architecture = arch,
                .filename = deb822_paragraph_get(p, "Filename"),
                .mirror = l->mirror,
                .sha256 = deb822_paragraph_get(p, "SHA256"),
                .depends = deb822_paragraph_get(p, "Depends"),
                .pre_depends = deb822_paragraph_get(p, "Pre-Depends"),
                .provides = deb822_paragraph_get(p, "Provides"),
                .multi_arch = deb822_paragraph_get(p, "Multi-Arch"),
                .priority = DEB_PRIORITY_OPTIONAL,
        };
        size = deb822_paragraph_get(p, "Size");
        if (!pkg->version || !pkg->filename || !pkg->sha256 || !size)
                return fail(l, -EBADMSG, "Package '%s' (line %u) lacks Version, Filename, Size or SHA256.",
                            name,
                            p->line);
        if (!deb_version_is_valid(pkg->version))
                return fail(l, -EBADMSG, "Package '%s' has an invalid version '%s'.", name, pkg->version);
        /* Filename is a path below the mirror that we put into a URL: no tricks. */
        if (pkg->filename[0] == '/' || strstr(pkg->filename, "..") || strpbrk(pkg->filename, " ?#%\\"))
                return fail(l, -EBADMSG, "Package '%s' has a suspicious Filename '%s'.", name,
                            pkg->filename);
        if (strlen(pkg->sha256) != 64 || strspn(pkg->sha256, "0123456789abcdefABCDEF") != 64)
                return fail(l, -EBADMSG, "Package '%s' has an invalid SHA256.", name);
        errno = 0;
        pkg->size = strtoull(size, &end, 10);
        if (errno != 0 || *end || end == size)
                return fail(l, -EBADMSG, "Package '%s' has an invalid Size '%s'.", name, size);
        prio = deb822_paragraph_get(p, "Priority");
        if (prio && deb_priority_from_string(prio) >= 0)
                pkg->priority = deb_priority_from_string(prio);
        ess = deb822_paragraph_get(p, "Essential");
        pkg->essential = ess && strcasecmp(ess, "yes") == 0;
        /* Pointers into repo->packages are taken only after all indexes are read (the array moves). */
        repo->n_packages++;
        return 0;
}

static int packages_cb(const Deb822Paragraph *p, void *userdata) {
        return add_package(userdata, p);
}

static int providers_add(AptRepo *repo, const char *name, const char *version, DebPackage *pkg) {
        DebProviders *list = hashmap_get(repo->providers, name);

        if (!list) {
                /* The list owns the key: the name in the parsed Provides field goes away. */
                list = calloc(1, sizeof(DebProviders));
                if (!list)
                        return -ENOMEM;
                list->name = strdup(name);
                if (!list->name || hashmap_put(repo->providers, list->name, list) < 0) {
                        free(list->name);
                        free(list);
                        return -ENOMEM;
                }
        }
        if (GREEDY_REALLOC(list->packages, list->allocated, list->n + 1) < 0 ||
            GREEDY_REALLOC(list->versions, list->allocated_versions, list->n + 1) < 0)
                return -ENOMEM;
        list->versions[list->n] = NULL;
        if (version && !(list->versions[list->n] = strdup(version)))
                return -ENOMEM;
        list->packages[list->n++] = pkg;
        return 0;
}

/* Indexes the packages by name (the highest version wins) and by what they provide. */
static int build_maps(Loader *l) {
        AptRepo *repo = l->repo;

        for (size_t i = 0; i < repo->n_packages; i++) {
                DebPackage *pkg = repo->packages + i, *old = hashmap_get(repo->by_name, pkg->name);
                _cleanup_(deb_relation_list_freep) DebRelationList *provides = NULL;

                if (!old || deb_version_compare(pkg->version, old->version) > 0)
                        if (hashmap_put(repo->by_name, pkg->name, pkg) < 0)
                                return -ENOMEM;

                if (!pkg->provides)
                        continue;
                if (deb_relation_list_parse(pkg->provides, repo->architecture, &provides) < 0)
                        return fail(l, -EBADMSG, "Package '%s' has an invalid Provides field.", pkg->name);
                for (size_t g = 0; g < provides->n_groups; g++)
                        for (size_t k = 0; k < provides->groups[g].n_items; k++) {
                                const DebRelation *x = provides->groups[g].items + k;
                                int r;

                                /* Only "Provides: name" and "Provides: name (= version)" mean something. */
                                if (x->op != DEB_RELATION_ANY && x->op != DEB_RELATION_EQ)
                                        return fail(l, -EBADMSG,
                                                    "Package '%s' provides '%s' with a relation "
                                                    "other than '='.", pkg->name, x->name);
                                r = providers_add(repo, x->name, x->version, pkg);
                                if (r < 0)
                                        return r;
                        }
        }
        return 0;
}

static int load_index(Loader *l, int indexes_fd, const char *mirror, const char *suite,
                      const char *index_sums, const char *component) {
        AptRepo *repo = l->repo;
        _cleanup_free_ char *xz = NULL, *gz = NULL, *plain = NULL, *url = NULL, *sums = NULL, *buf = NULL;
        _cleanup_(decompressor_freep) Decompressor *d = NULL;
        _cleanup_close_ int fd = -EBADF;
        IndexChoice c = {};
        size_t size = 0, allocated = 0;
        unsigned line = 0;
        int r;

        if (asprintf(&xz, "%s/binary-%s/Packages.xz", component, repo->architecture) < 0 ||
            asprintf(&gz, "%s/binary-%s/Packages.gz", component, repo->architecture) < 0 ||
            asprintf(&plain, "%s/binary-%s/Packages", component, repo->architecture) < 0)
                return -ENOMEM;
        c = (IndexChoice) { .want = { xz, gz, plain }, .best = ELEMENTSOF(c.want) };

        /* The checksum list is parsed destructively: work on a copy for each component. */
        sums = strdup(index_sums);
        if (!sums)
                return -ENOMEM;
        r = deb822_parse_checksums(sums, 64, checksum_cb, &c);
        if (r < 0)
                return fail(l, -EBADMSG, "The SHA256 list of the Release file of %s is malformed.",
                            suite);
        if (!c.path)
                return fail(l, -ENOENT, "The Release file of %s %s lists no Packages index for %s/%s.",
                            mirror, suite, component, repo->architecture);
        if (c.size > INDEX_SIZE_MAX)
                return fail(l, -E2BIG, "The index %s is too large.", c.path);

        /* Cached by digest: a warm cache fetches nothing. */
        if (file_verify_at(indexes_fd, c.sha256, c.size, c.sha256) < 0) {
                if (asprintf(&url, "%s/dists/%s/%s", mirror, suite, c.path) < 0)
                        return -ENOMEM;
                r = fetch(l, url, indexes_fd, c.sha256, c.size, c.sha256, 0);
                if (r < 0)
                        return r;
        }

        fd = openat(indexes_fd, c.sha256, O_RDONLY|O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = decompressor_new(fd, &d);
        if (r < 0)
                return fail(l, r, "Failed to read %s: %s", c.path, strerror(-r));
        for (;;) {
                const void *chunk;
                size_t n;

                r = decompressor_read(d, &chunk, &n);
                if (r < 0)
                        return fail(l, -EBADMSG, "%s: %s", c.path, decompressor_error(d) ?: strerror(-r));
                if (n == 0)
                        break;
                if (size + n > INDEX_SIZE_MAX)
                        return fail(l, -E2BIG, "%s is too large uncompressed.", c.path);
                if (GREEDY_REALLOC(buf, allocated, size + n + 1) < 0)
                        return -ENOMEM;
                memcpy(buf + size, chunk, n);
                size += n;
        }
        if (!buf && !(buf = strdup("")))
                return -ENOMEM;
        buf[size] = 0;

        l->mirror = mirror;
        r = deb822_parse_buffer(buf, size, packages_cb, l, &line);
        if (r == -EBADMSG || r == -E2BIG)
                return fail(l, -EBADMSG, "%s/dists/%s/%s:%u: malformed package index.", mirror,
                            suite, c.path, line);
        if (r < 0)
                return r;

        /* The packages point into the buffer: it lives as long as the repo. */
        r = strv_push(&repo->buffers, buf);
        if (r < 0)
                return r;
        TAKE_PTR(buf);
        return 0;
}

/* Whether the Release's Components list has component: as such, or as the last part of a path, as the
 * Debian security archive lists "updates/main" for the indexes under main/. */
static bool release_has_component(const char *list, const char *component) {
        size_t l = strlen(component);

        if (!list || word_in(list, component))
                return true;
        for (const char *p = list; *p;) {
                p += strspn(p, " \t\n");
                size_t n = strcspn(p, " \t\n");
                if (n > l && p[n - l - 1] == '/' && strncmp(p + n - l, component, l) == 0)
                        return true;
                p += n;
        }
        return false;
}

static int load_indexes(Loader *l, int indexes_fd, char * const *components) {
        AptRepo *repo = l->repo;
        int r;

        STRV_FOREACH(c, components) {
                if (!release_has_component(repo->release_components, *c))
                        return fail(l, -ENOENT, "%s %s has no component '%s' (it has: %s).", repo->mirror,
                                    repo->suite, *c, repo->release_components);
                r = load_index(l, indexes_fd, repo->mirror, repo->suite, repo->index_sums, *c);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < repo->n_updates; i++) {
                const AptSuite *u = repo->updates + i;

                STRV_FOREACH(c, components) {
                        if (!release_has_component(u->release_components, *c))
                                return fail(l, -ENOENT, "%s %s has no component '%s' (it has: %s).",
                                            u->mirror, u->suite, *c, u->release_components);
                        r = load_index(l, indexes_fd, u->mirror, u->suite, u->index_sums, *c);
                        if (r < 0)
                                return r;
                }
        }
        return build_maps(l);
}

int apt_repo_load_indexes(AptRepo *repo, char * const *components, const AptRepoOptions *o,
                          char **reterr_message) {
        _cleanup_close_ int indexes_fd = -EBADF;
        Loader l = { .repo = repo, .options = o };
        int r;

        indexes_fd = mkdir_at(o->cache_fd, "indexes");
        r = indexes_fd < 0 ? indexes_fd : load_indexes(&l, indexes_fd, components);
        return loader_done(&l, r, reterr_message);
}

/* Parses the verified Release text of suite and checks it: a SHA256 list, not expired (Valid-Until), and
 * packages for architecture. */
static int check_release(Loader *l, const char *mirror, const char *suite, const char *architecture,
                         char *release, ReleaseInfo *info, usec_t *ret_valid_until) {
        const AptRepoOptions *o = l->options;
        unsigned line = 0;
        int r;

        r = deb822_parse_buffer(release, strlen(release), release_cb, info, &line);
        if (r < 0)
                return fail(l, -EBADMSG, "The Release file of %s %s is malformed (line %u).", mirror, suite,
                            line);
        if (!info->sha256)
                return fail(l, -EBADMSG, "The Release file of %s %s has no SHA256 list.", mirror, suite);

        *ret_valid_until = 0;
        if (info->valid_until) {
                usec_t now = o->now > 0 ? o->now : now_usec(CLOCK_REALTIME);

                if (parse_release_date(info->valid_until, ret_valid_until) < 0)
                        return fail(l, -EBADMSG, "The Release file of %s has an invalid Valid-Until '%s'.",
                                    suite, info->valid_until);
                if (*ret_valid_until < now && !o->no_verify)
                        return fail(l, -EBADMSG,
                                    "The Release file of %s %s expired on %s (Valid-Until); the mirror "
                                    "is outdated or replaying old data.", mirror, suite, info->valid_until);
        }
        if (info->architectures && !word_in(info->architectures, architecture))
                return fail(l, -ENOENT, "%s %s has no packages for %s (it has: %s).", mirror, suite,
                            architecture, info->architectures);
        return 0;
}

int apt_repo_add_suite(AptRepo *repo, const char *suite, const char *mirror, const AptRepoOptions *o,
                       char **reterr_message) {
        _cleanup_close_ int lists_fd = -EBADF;
        Loader l = { .repo = repo, .options = o };
        ReleaseInfo info = {};
        AptSuite *u;
        usec_t valid_until;
        int r;

        assert(repo);
        assert(suite);
        assert(o);

        if (GREEDY_REALLOC(repo->updates, repo->n_updates_allocated, repo->n_updates + 1) < 0)
                return -ENOMEM;
        u = repo->updates + repo->n_updates;
        *u = (AptSuite) {
                .mirror = strdup(mirror ?: repo->mirror),
                .suite = strdup(suite),
        };
        repo->n_updates++;      /* apt_repo_free() frees it, whatever happens below */
        if (!u->mirror || !u->suite)
                return -ENOMEM;
        while (endswith(u->mirror, "/"))
                u->mirror[strlen(u->mirror) - 1] = 0;

        lists_fd = mkdir_at(o->cache_fd, "lists");
        r = lists_fd;
        if (r >= 0)
                r = load_release(&l, lists_fd, u->mirror, suite, &u->release);
        if (r >= 0)
                r = sha256_hex(u->release, strlen(u->release), u->release_sha256);
        if (r >= 0) {
                r = check_release(&l, u->mirror, suite, repo->architecture, u->release, &info, &valid_until);
        }
        if (r >= 0) {
                u->index_sums = info.sha256;
                u->release_components = info.components;
                u->date = info.date;
        }
        return loader_done(&l, r, reterr_message);
}

int apt_repo_load(const char *mirror, const char *suite, char * const *components, const char *architecture,
                  const AptRepoOptions *o, AptRepo **ret, char **reterr_message) {
        _cleanup_(apt_repo_freep) AptRepo *repo = NULL;
        _cleanup_close_ int lists_fd = -EBADF, indexes_fd = -EBADF;
        Loader l = { .options = o };
        ReleaseInfo info = {};
        int r;

        assert(mirror);
        assert(suite);
        assert(architecture);
        assert(o);
        assert(ret);

        repo = calloc(1, sizeof(AptRepo));
        if (!repo)
                return -ENOMEM;
        l.repo = repo;
        repo->mirror = strdup(mirror);
        repo->suite = strdup(suite);
        repo->architecture = strdup(architecture);
        repo->by_name = hashmap_new();
        repo->providers = hashmap_new();
        if (!repo->mirror || !repo->suite || !repo->architecture || !repo->by_name || !repo->providers)
                return -ENOMEM;
        while (endswith(repo->mirror, "/"))
                repo->mirror[strlen(repo->mirror) - 1] = 0;

        lists_fd = mkdir_at(o->cache_fd, "lists");
        indexes_fd = mkdir_at(o->cache_fd, "indexes");
        if (lists_fd < 0 || indexes_fd < 0) {
                r = lists_fd < 0 ? lists_fd : indexes_fd;
                goto finish;
        }

        r = load_release(&l, lists_fd, repo->mirror, suite, &repo->release);
        if (r < 0)
                goto finish;
        r = sha256_hex(repo->release, strlen(repo->release), repo->release_sha256);
        if (r < 0)
                goto finish;
        r = check_release(&l, repo->mirror, suite, architecture, repo->release, &info, &repo->valid_until);
        if (r < 0)
                goto finish;
        repo->codename = info.codename;
        repo->date = info.date;

        repo->index_sums = info.sha256;
        repo->release_components = info.components;

        if (!o->release_only) {
                r = load_indexes(&l, indexes_fd, components);
                if (r < 0)
                        goto finish;
        }

        *ret = TAKE_PTR(repo);
        r = 0;

finish:
        return loader_done(&l, r, reterr_message);
}

int apt_repo_new_from_index(const char *architecture, const char *text, AptRepo **ret,
                            char **reterr_message) {
        _cleanup_(apt_repo_freep) AptRepo *repo = NULL;
        _cleanup_free_ char *buf = NULL;
        Loader l = {};
        unsigned line = 0;
        int r;

        assert(architecture);
        assert(text);
        assert(ret);

        repo = calloc(1, sizeof(AptRepo));
        if (!repo)
                return -ENOMEM;
        l.repo = repo;
        repo->mirror = strdup("index");
        repo->suite = strdup("index");
        repo->architecture = strdup(architecture);
        repo->by_name = hashmap_new();
        repo->providers = hashmap_new();
        buf = strdup(text);
        if (!repo->mirror || !repo->suite || !repo->architecture || !repo->by_name || !repo->providers ||
            !buf)
                return -ENOMEM;

        r = deb822_parse_buffer(buf, strlen(buf), packages_cb, &l, &line);
        if (r == -EBADMSG || r == -E2BIG)
                r = fail(&l, -EBADMSG, "Line %u: malformed package index.", line);
        if (r >= 0)
                r = strv_push(&repo->buffers, buf);
        if (r >= 0) {
                TAKE_PTR(buf);
                r = build_maps(&l);
        }
        if (r < 0) {
                if (reterr_message)
                        *reterr_message = TAKE_PTR(l.error);
                free(l.error);
                return r;
        }
        free(l.error);
        *ret = TAKE_PTR(repo);
        return 0;
}

static void providers_free(DebProviders *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n; i++)
                free(p->versions[i]);
        free(p->versions);
        free(p->packages);
        free(p->name);
        free(p);
}

AptRepo* apt_repo_free(AptRepo *r) {
        const char *key;
        void *v;

        if (!r)
                return NULL;
        for (size_t i = 0; hashmap_iterate(r->providers, &i, &key, &v);)
                providers_free(v);
        hashmap_free(r->providers);
        hashmap_free(r->by_name);
        free(r->packages);
        strv_free(r->buffers);
        for (size_t i = 0; i < r->n_updates; i++) {
                free(r->updates[i].mirror);
                free(r->updates[i].suite);
                free(r->updates[i].release);
        }
        free(r->updates);
        free(r->release);
        free(r->architecture);
        free(r->suite);
        free(r->mirror);
        return mfree(r);
}

DebPackage* apt_repo_find(const AptRepo *r, const char *name) {
        return hashmap_get(r->by_name, name);
}

const DebProviders* apt_repo_providers(const AptRepo *r, const char *name) {
        return hashmap_get(r->providers, name);
}

/* The value of the deb822 field name (one line) in paragraph p, or NULL. */
static char* deb822_line_value(char *p, const char *name, size_t *ret_len) {
        size_t l = strlen(name);

        for (char *line = p; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
                if (strncasecmp(line, name, l) == 0 && line[l] == ':') {
                        char *v = line + l + 1;
                        v += strspn(v, " \t");
                        *ret_len = strcspn(v, "\n");
                        return v;
                }
        return NULL;
}

/* The URI of the first "deb" entry of text whose suites include want, or (want NULL) whose suites are
 * not security suites: 1 and the URI in *ret, or 0. */
static int sources_entry(char *text, bool deb822, const char *want, char **ret) {
        if (deb822) {
                /* Paragraphs with Types: deb, URIs:, Suites:. */
                for (char *p = text; p && *p;) {
                        char *end = strstr(p, "\n\n");
                        char *uris, *suites, *types, *enabled;
                        size_t n_uris = 0, n_suites = 0, n_types = 0, n_enabled = 0;

                        if (end)
                                *end = 0;
                        uris = deb822_line_value(p, "URIs", &n_uris);
                        suites = deb822_line_value(p, "Suites", &n_suites);
                        types = deb822_line_value(p, "Types", &n_types);
                        enabled = deb822_line_value(p, "Enabled", &n_enabled);
                        if (uris && suites && types && n_uris > 0 &&
                            !(enabled && strncasecmp(enabled, "no", 2) == 0)) {
                                _cleanup_free_ char *s = strndup(suites, n_suites),
                                                    *t = strndup(types, n_types);

                                if (!s || !t)
                                        return -ENOMEM;
                                if (word_in(t, "deb") &&
                                    (want ? word_in(s, want) : !strstr(s, "-security"))) {
                                        *ret = strndup(uris, strcspn(uris, " \t\n"));
                                        return *ret ? 1 : -ENOMEM;
                                }
                        }
                        p = end ? end + 2 : NULL;
                }
                return 0;
        }

        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
                char *w = line + strspn(line, " \t");
                char uri[1024], suite[256];

                if (!startswith(w, "deb ") && !startswith(w, "deb\t"))
                        continue;
                w += 4;
                w += strspn(w, " \t");
                if (*w == '[') {
                        w = strchr(w, ']');
                        if (!w)
                                continue;
                        w++;
                }
                if (sscanf(w, "%1023s %255s", uri, suite) != 2)
                        continue;
                if (want ? !streq(suite, want) : !!strstr(suite, "-security"))
                        continue;
                *ret = strdup(uri);
                return *ret ? 1 : -ENOMEM;
        }
        return 0;
}

static int host_apt_find(const char *root, const char *want, char **ret) {
        _cleanup_free_ char *dir = NULL, *list = NULL;
        struct dirent **names = NULL;
        char *found = NULL;
        int n, r = 0;

        if (asprintf(&dir, "%s/etc/apt/sources.list.d", streq(root, "/") ? "" : root) < 0 ||
            asprintf(&list, "%s/etc/apt/sources.list", streq(root, "/") ? "" : root) < 0)
                return -ENOMEM;

        n = scandir(dir, &names, NULL, alphasort);
        for (int i = 0; i < n; i++) {
                const char *name = names[i]->d_name;
                bool deb822 = endswith(name, ".sources");

                if (r == 0 && (deb822 || endswith(name, ".list"))) {
                        _cleanup_free_ char *text = NULL;

                        if (read_full_file_at(AT_FDCWD, strjoina(dir, "/", name), 1024 * 1024, &text,
                                              NULL) >= 0)
                                r = sources_entry(text, deb822, want, &found);
                }
                free(names[i]);
        }
        free(names);

        if (r == 0) {
                _cleanup_free_ char *text = NULL;
                if (read_full_file_at(AT_FDCWD, list, 1024 * 1024, &text, NULL) >= 0)
                        r = sources_entry(text, false, want, &found);
        }
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;

        while (endswith(found, "/"))
                found[strlen(found) - 1] = 0;
        *ret = found;
        return 0;
}

int host_apt_mirror(const char *root, char **ret) {
        assert(root);
        assert(ret);
        return host_apt_find(root, NULL, ret);
}

int host_apt_suite_mirror(const char *root, const char *suite, char **ret) {
        assert(root);
        assert(suite);
        assert(ret);
        return host_apt_find(root, suite, ret);
}

int apt_security_mirror_beside(const char *mirror, char **ret) {
        _cleanup_free_ char *m = NULL;
        char *slash;

        assert(mirror);
        assert(ret);

        m = strdup(mirror);
        if (!m)
                return -ENOMEM;
        while (endswith(m, "/"))
                m[strlen(m) - 1] = 0;
        slash = strrchr(m, '/');
        /* "scheme://host/…/debian": a path component, not the host. */
        if (!slash || slash == m || slash[-1] == '/' || !streq(slash + 1, "debian") || !strstr(m, "://") ||
            slash < strstr(m, "://") + 3)
                return -EINVAL;
        if (asprintf(ret, "%s-security", m) < 0)
                return -ENOMEM;
        return 0;
}
