/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "deb-relation.h"
#include "deb-version.h"
#include "hashmap.h"
#include "resolve.h"
#include "string-util.h"
#include "strv.h"

#define CHAIN_MAX 12U

typedef struct Selected {
        DebPackage *package;
        const struct Selected *parent;  /* who needed it, NULL for a seed */
        const char *reason;             /* for seeds: "Essential", "Priority: required", "included" */
} Selected;

typedef struct Resolver {
        const AptRepo *repo;
        const ResolveOptions *options;
        Hashmap *selected;              /* name → Selected* */
        Selected **queue;
        size_t n_queue, allocated_queue, next;
        char *error;
} Resolver;

static bool excluded(Resolver *z, const char *name) {
        return strv_contains(z->options->exclude, name);
}

static int select_package(Resolver *z, DebPackage *pkg, const Selected *parent, const char *reason) {
        Selected *s;
        int r;

        if (hashmap_get(z->selected, pkg->name))
                return 0;

        s = calloc(1, sizeof(Selected));
        if (!s)
                return -ENOMEM;
        *s = (Selected) { .package = pkg, .parent = parent, .reason = reason };
        r = hashmap_put(z->selected, pkg->name, s);
        if (r < 0) {
                free(s);
                return r;
        }
        if (GREEDY_REALLOC(z->queue, z->allocated_queue, z->n_queue + 1) < 0)
                return -ENOMEM;
        z->queue[z->n_queue++] = s;
        return 1;
}

/* A package by that name and version, or the first provider that matches. */
static DebPackage* find_candidate(Resolver *z, const DebRelation *rel, bool only_selected) {
        const DebProviders *providers;
        DebPackage *pkg;

        pkg = apt_repo_find(z->repo, rel->name);
        if (pkg && deb_relation_matches(rel, pkg->name, pkg->version) && !excluded(z, pkg->name) &&
            (!only_selected || hashmap_get(z->selected, pkg->name)))
                return pkg;

        providers = apt_repo_providers(z->repo, rel->name);
        if (!providers)
                return NULL;

        /* Among providers: one already chosen, else the most important, then the first by name. */
        DebPackage *best = NULL;
        for (size_t i = 0; i < providers->n; i++) {
                DebPackage *p = providers->packages[i];
                bool chosen = hashmap_get(z->selected, p->name);

                if (!deb_relation_matches(rel, rel->name, providers->versions[i]) || excluded(z, p->name))
                        continue;
                if (apt_repo_find(z->repo, p->name) != p)
                        continue;       /* an older version of a package we would not install */
                if (only_selected) {
                        if (chosen)
                                return p;
                        continue;
                }
                if (!best || p->priority < best->priority ||
                    (p->priority == best->priority && strcmp(p->name, best->name) < 0))
                        best = p;
        }
        return best;
}

static char* relation_to_string(const DebRelation *r) {
        char *s;

        if (r->op == DEB_RELATION_ANY)
                return strdup(r->name);
        if (asprintf(&s, "%s (%s %s)", r->name, deb_relation_op_to_string(r->op), r->version) < 0)
                return NULL;
        return s;
}

static int unsatisfiable(Resolver *z, const Selected *s, const DebAlternatives *group, const char *field) {
        _cleanup_free_ char *what = NULL, *chain = NULL;
        size_t len = 0;
        FILE *f;

        f = open_memstream(&what, &len);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < group->n_items; i++) {
                _cleanup_free_ char *r = relation_to_string(group->items + i);
                fprintf(f, "%s%s", i > 0 ? " | " : "", strna(r));
        }
        fclose(f);

        f = open_memstream(&chain, &len);
        if (!f)
                return -ENOMEM;
        unsigned depth = 0;
        const Selected *p;
        for (p = s; p && depth < CHAIN_MAX; p = p->parent, depth++)
                fprintf(f, "%s%s", depth > 0 ? ", needed by " : "", p->package->name);
        for (p = s; p->parent; p = p->parent)
                ;
        fprintf(f, " (%s)", p->reason);
        fclose(f);

        if (asprintf(&z->error, "Cannot satisfy %s: %s, of %s.", field, what, chain) < 0)
                z->error = NULL;
        return -ESRCH;
}

static int resolve_field(Resolver *z, Selected *s, const char *field, const char *value) {
        _cleanup_(deb_relation_list_freep) DebRelationList *list = NULL;
        int r;

        if (!value)
                return 0;
        r = deb_relation_list_parse(value, z->repo->architecture, &list);
        if (r < 0) {
                if (asprintf(&z->error, "Package '%s' has an invalid %s field.", s->package->name,
                             field) < 0)
                        z->error = NULL;
                return -EBADMSG;
        }

        for (size_t g = 0; g < list->n_groups; g++) {
                const DebAlternatives *group = list->groups + g;
                DebPackage *pick = NULL;

                /* Already satisfied by something chosen? Then nothing to add. */
                for (size_t i = 0; i < group->n_items && !pick; i++)
                        pick = find_candidate(z, group->items + i, true);
                if (pick)
                        continue;

                for (size_t i = 0; i < group->n_items && !pick; i++)
                        pick = find_candidate(z, group->items + i, false);
                if (!pick)
                        return unsatisfiable(z, s, group, field);

                r = select_package(z, pick, s, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int package_compare(const void *a, const void *b) {
        return strcmp((*(DebPackage* const*) a)->name, (*(DebPackage* const*) b)->name);
}

static int seed(Resolver *z) {
        _cleanup_free_ DebPackage **all = NULL;
        size_t n = 0;
        void *v;
        int r;

        /* In name order, so that the result does not depend on the hash table's. */
        all = calloc(MAX(hashmap_size(z->repo->by_name), (size_t) 1), sizeof(DebPackage*));
        if (!all)
                return -ENOMEM;
        for (size_t i = 0; hashmap_iterate(z->repo->by_name, &i, NULL, &v);)
                all[n++] = v;
        qsort(all, n, sizeof(DebPackage*), package_compare);

        for (size_t i = 0; i < n; i++) {
                DebPackage *pkg = all[i];

                if (excluded(z, pkg->name))
                        continue;
                if (pkg->essential)
                        r = select_package(z, pkg, NULL, "Essential");
                else if (pkg->priority <= z->options->priority)
                        r = select_package(z, pkg, NULL, pkg->priority == DEB_PRIORITY_REQUIRED ?
                                           "Priority: required" : "Priority");
                else
                        continue;
                if (r < 0)
                        return r;
        }

        STRV_FOREACH(inc, z->options->include) {
                DebRelation rel = { .name = *inc, .op = DEB_RELATION_ANY };
                DebPackage *pkg;

                if (excluded(z, *inc)) {
                        if (asprintf(&z->error, "Package '%s' is both included and excluded.", *inc) < 0)
                                z->error = NULL;
                        return -EINVAL;
                }
                pkg = find_candidate(z, &rel, false);
                if (!pkg) {
                        if (asprintf(&z->error, "Package '%s' (included) is not in %s %s.", *inc,
                                     z->repo->mirror,
                                     z->repo->suite) < 0)
                                z->error = NULL;
                        return -ENOENT;
                }
                r = select_package(z, pkg, NULL, "included");
                if (r < 0)
                        return r;
        }
        return 0;
}

int deb_resolve(const AptRepo *repo, const ResolveOptions *options, DebPackage ***ret, size_t *ret_n,
                char **reterr_message) {
        Resolver z = { .repo = repo, .options = options };
        DebPackage **list = NULL;
        int r;

        assert(repo);
        assert(options);
        assert(ret);
        assert(ret_n);

        z.selected = hashmap_new();
        if (!z.selected)
                return -ENOMEM;

        r = seed(&z);
        /* Breadth first: the chain in an error message is the shortest one. */
        for (; r >= 0 && z.next < z.n_queue; z.next++) {
                Selected *s = z.queue[z.next];

                r = resolve_field(&z, s, "Pre-Depends", s->package->pre_depends);
                if (r >= 0)
                        r = resolve_field(&z, s, "Depends", s->package->depends);
        }

        if (r >= 0) {
                list = calloc(MAX(z.n_queue, (size_t) 1), sizeof(DebPackage*));
                if (!list)
                        r = -ENOMEM;
        }
        if (r >= 0) {
                for (size_t i = 0; i < z.n_queue; i++)
                        list[i] = z.queue[i]->package;
                qsort(list, z.n_queue, sizeof(DebPackage*), package_compare);
                *ret = list;
                *ret_n = z.n_queue;
        }

        for (size_t i = 0; i < z.n_queue; i++)
                free(z.queue[i]);
        free(z.queue);
        hashmap_free(z.selected);

        if (r < 0) {
                if (reterr_message)
                        *reterr_message = TAKE_PTR(z.error);
                free(z.error);
                return r;
        }
        free(z.error);
        return 0;
}
