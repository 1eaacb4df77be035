/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "deb-relation.h"
#include "deb-version.h"
#include "string-table.h"
#include "string-util.h"

static const char* const deb_relation_op_table[_DEB_RELATION_OP_MAX] = {
        [DEB_RELATION_ANY] = "",
        [DEB_RELATION_LT]  = "<<",
        [DEB_RELATION_LE]  = "<=",
        [DEB_RELATION_EQ]  = "=",
        [DEB_RELATION_GE]  = ">=",
        [DEB_RELATION_GT]  = ">>",
};
DEFINE_STRING_TABLE_LOOKUP(deb_relation_op, DebRelationOp);

DebRelationList* deb_relation_list_free(DebRelationList *l) {
        if (!l)
                return NULL;

        free(l->groups);
        free(l->relations);
        free(l->strings);
        return mfree(l);
}

static bool char_is_ws(char c) {
        return IN_SET_CHAR(c, ' ', '\t', '\n', '\r');
}

static const char* skip_ws(const char *p) {
        while (char_is_ws(*p))
                p++;
        return p;
}

static bool char_is_lower_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Package names and build profile names. */
static size_t span_name(const char *p) {
        size_t n = 0;

        while (char_is_lower_alnum(p[n]) || IN_SET_CHAR(p[n], '+', '-', '.'))
                n++;
        return n;
}

static size_t span_arch(const char *p) {
        size_t n = 0;

        while (char_is_lower_alnum(p[n]) || p[n] == '-')
                n++;
        return n;
}

/* We only run on Linux, so "linux-any" is as good as "any". */
static bool arch_matches(const char *arch, size_t n, const char *host_arch) {
        size_t h = strlen(host_arch);

        if ((n == h && memcmp(arch, host_arch, n) == 0) ||
            (n == 3 && memcmp(arch, "any", 3) == 0) ||
            (n == 9 && memcmp(arch, "linux-any", 9) == 0))
                return true;
        return n == h + 4 && memcmp(arch, "any-", 4) == 0 && memcmp(arch + 4, host_arch, h) == 0;
}

typedef struct Strings {
        char *buf;
        size_t size, used;
} Strings;

/* Every string we keep is followed in the input by a character we do not keep (a delimiter) or by the
 * input's end, so a copy of all of them with their NULs fits into strlen(input) + 1 bytes. */
static char* strings_add(Strings *s, const char *p, size_t n) {
        char *c;

        assert(s->used + n + 1 <= s->size);
        c = memcpy(s->buf + s->used, p, n);
        c[n] = 0;
        s->used += n + 1;
        return c;
}

static int parse_op(const char **pp, DebRelationOp *ret) {
        const char *p = *pp;
        DebRelationOp op;

        if (p[0] == '<') {
                op = p[1] == '<' ? DEB_RELATION_LT : DEB_RELATION_LE;
                p += IN_SET_CHAR(p[1], '<', '=') ? 2 : 1;
        } else if (p[0] == '>') {
                op = p[1] == '>' ? DEB_RELATION_GT : DEB_RELATION_GE;
                p += IN_SET_CHAR(p[1], '>', '=') ? 2 : 1;
        } else if (p[0] == '=') {
                op = DEB_RELATION_EQ;
                p++;
        } else
                return -EBADMSG;

        *pp = p;
        *ret = op;
        return 0;
}

/* Parses one relation starting at *pp (not white space) and leaves *pp after it and the white space
 * that follows. *ret_keep tells whether its restrictions let it apply here. */
static int parse_relation(const char **pp, const char *host_arch, Strings *strings, DebRelation *ret,
                          bool *ret_keep) {
        DebRelation rel = {
                .op = DEB_RELATION_ANY,
        };
        const char *p = *pp;
        bool keep = true;
        size_t n;
        int r;

        n = span_name(p);
        if (n < 2 || !char_is_lower_alnum(p[0]))
                return -EBADMSG;
        rel.name = strings_add(strings, p, n);
        p += n;

        if (*p == ':') {
                n = span_arch(++p);
                if (n == 0)
                        return -EBADMSG;
                rel.arch_qualifier = strings_add(strings, p, n);
                p += n;
        }
        p = skip_ws(p);

        if (*p == '(') {
                p = skip_ws(p + 1);
                r = parse_op(&p, &rel.op);
                if (r < 0)
                        return r;
                p = skip_ws(p);
                n = strcspn(p, " \t\n\r)");
                if (n == 0)
                        return -EBADMSG;
                rel.version = strings_add(strings, p, n);
                if (!deb_version_is_valid(rel.version))
                        return -EBADMSG;
                p = skip_ws(p + n);
                if (*p != ')')
                        return -EBADMSG;
                p = skip_ws(p + 1);
        }

        if (*p == '[') {
                bool plain = false, negated = false, matched = false;

                for (p = skip_ws(p + 1); *p != ']'; p = skip_ws(p + n)) {
                        bool neg = *p == '!';

                        p += neg;
                        n = span_arch(p);
                        if (n == 0)
                                return -EBADMSG;
                        if (neg)
                                negated = true;
                        else
                                plain = true;
                        if (host_arch && arch_matches(p, n, host_arch))
                                matched = true;
                }
                /* Empty, or positive and negated architectures mixed. */
                if (plain == negated)
                        return -EBADMSG;
                if (host_arch && matched != plain)
                        keep = false;
                p = skip_ws(p + 1);
        }

        if (*p == '<') {
                bool satisfied = false;

                while (*p == '<') {
                        bool all_negated = true;
                        size_t n_terms = 0;

                        for (p = skip_ws(p + 1); *p != '>'; p = skip_ws(p + n)) {
                                bool neg = *p == '!';

                                p += neg;
                                n = span_name(p);
                                if (n == 0)
                                        return -EBADMSG;
                                if (!neg)
                                        all_negated = false;
                                n_terms++;
                        }
                        if (n_terms == 0)
                                return -EBADMSG;
                        if (all_negated)
                                satisfied = true;
                        p = skip_ws(p + 1);
                }
                /* With no build profile active, a list holds if all its terms are negated. */
                if (!satisfied)
                        keep = false;
        }

        *pp = p;
        *ret = rel;
        *ret_keep = keep;
        return 0;
}

int deb_relation_list_parse(const char *s, const char *host_arch, DebRelationList **ret) {
        _cleanup_(deb_relation_list_freep) DebRelationList *l = NULL;
        size_t n_relations = 0, n_relations_allocated = 0, n_groups_allocated = 0, k = 0;
        Strings strings;
        const char *p;
        int r;

        assert(s);
        assert(ret);

        l = calloc(1, sizeof(DebRelationList));
        if (!l)
                return -ENOMEM;
        strings = (Strings) {
                .size = strlen(s) + 1,
        };
        strings.buf = l->strings = malloc(strings.size);
        if (!l->strings)
                return -ENOMEM;

        p = skip_ws(s);
        while (*p) {
                size_t n_items = 0;

                for (;;) {
                        DebRelation rel;
                        bool keep;

                        r = parse_relation(&p, host_arch, &strings, &rel, &keep);
                        if (r < 0)
                                return r;
                        if (keep) {
                                if (GREEDY_REALLOC(l->relations, n_relations_allocated, n_relations + 1) < 0)
                                        return -ENOMEM;
                                l->relations[n_relations++] = rel;
                                n_items++;
                        }
                        if (*p != '|')
                                break;
                        p = skip_ws(p + 1);
                }

                if (n_items > 0) {
                        if (GREEDY_REALLOC(l->groups, n_groups_allocated, l->n_groups + 1) < 0)
                                return -ENOMEM;
                        /* items is set below, once l->relations stops moving. */
                        l->groups[l->n_groups++] = (DebAlternatives) {
                                .n_items = n_items,
                        };
                }

                if (*p == 0)
                        break;
                if (*p != ',')
                        return -EBADMSG;
                p = skip_ws(p + 1);
                if (*p == 0)
                        return -EBADMSG;        /* a trailing ',' */
        }

        for (size_t i = 0; i < l->n_groups; i++) {
                l->groups[i].items = l->relations + k;
                k += l->groups[i].n_items;
        }
        assert(k == n_relations);

        *ret = TAKE_PTR(l);
        return 0;
}

bool deb_relation_op_satisfied(DebRelationOp op, int cmp) {
        switch (op) {
        case DEB_RELATION_ANY:
                return true;
        case DEB_RELATION_LT:
                return cmp < 0;
        case DEB_RELATION_LE:
                return cmp <= 0;
        case DEB_RELATION_EQ:
                return cmp == 0;
        case DEB_RELATION_GE:
                return cmp >= 0;
        case DEB_RELATION_GT:
                return cmp > 0;
        default:
                return false;
        }
}

bool deb_relation_matches(const DebRelation *r, const char *name, const char *version) {
        assert(r);
        assert(name);

        if (!streq(r->name, name))
                return false;
        if (r->op == DEB_RELATION_ANY)
                return true;
        if (!version || !r->version)
                return false;
        return deb_relation_op_satisfied(r->op, deb_version_compare(version, r->version));
}
