/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "deb-relation.h"
#include "deb-version.h"
#include "string-util.h"
#include "tests.h"

/* Writes l back in canonical form: "a (>= 1) | b:any, c". */
static char* format_list(const DebRelationList *l) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        ASSERT_NOT_NULL(f);
        for (size_t i = 0; i < l->n_groups; i++) {
                ASSERT_TRUE(l->groups[i].n_items > 0);
                for (size_t j = 0; j < l->groups[i].n_items; j++) {
                        const DebRelation *r = l->groups[i].items + j;

                        fprintf(f, "%s%s%s%s", i > 0 && j == 0 ? ", " : j > 0 ? " | " : "", r->name,
                                r->arch_qualifier ? ":" : "", r->arch_qualifier ?: "");
                        ASSERT_TRUE(r->op >= 0 && r->op < _DEB_RELATION_OP_MAX);
                        if (r->op == DEB_RELATION_ANY)
                                ASSERT_NULL(r->version);
                        else {
                                ASSERT_TRUE(deb_version_is_valid(r->version));
                                fprintf(f, " (%s %s)", deb_relation_op_to_string(r->op), r->version);
                        }
                }
        }
        ASSERT_EQ(fclose(f), 0);
        return text;
}

static void assert_parse(const char *s, const char *host_arch, const char *expected) {
        _cleanup_(deb_relation_list_freep) DebRelationList *l = NULL;
        _cleanup_free_ char *text = NULL;

        if (deb_relation_list_parse(s, host_arch, &l) < 0)
                _test_fail("failed to parse '%s'", s);
        ASSERT_NOT_NULL(l);
        text = format_list(l);
        if (!streq(text, expected))
                _test_fail("'%s' parsed as '%s', expected '%s'", s, text, expected);
}

TEST(parse) {
        assert_parse("", "amd64", "");
        assert_parse(" \n\t \r\n", "amd64", "");
        assert_parse("libc6", "amd64", "libc6");
        assert_parse("libc6 (>= 2.34), libbar2 | libbar3", "amd64", "libc6 (>= 2.34), libbar2 | libbar3");
        assert_parse("a1 (<< 1.0), b2(<=2), c3 (= 3), d4 (>= 4), e5 (>> 1:5-1+b1)", "amd64",
                     "a1 (<< 1.0), b2 (<= 2), c3 (= 3), d4 (>= 4), e5 (>> 1:5-1+b1)");
        /* The obsolete operators. */
        assert_parse("foo (< 1.0), bar (>2.0)", "amd64", "foo (<= 1.0), bar (>= 2.0)");
        /* White space and newlines between all tokens, none needed. */
        assert_parse("foo\n (\n>=\n1.0~rc1\n)\n,\n bar\t|\tbaz ,qux(=1)|quux", "amd64",
                     "foo (>= 1.0~rc1), bar | baz, qux (= 1) | quux");
        assert_parse("python3:any (>= 3.9), libfoo1:amd64, gcc:native, g++-12:arm64-ilp32", "amd64",
                     "python3:any (>= 3.9), libfoo1:amd64, gcc:native, g++-12:arm64-ilp32");
        assert_parse("g++ (>= 4), libstdc++6, a.b-c+d, 0ad, 9base", "amd64",
                     "g++ (>= 4), libstdc++6, a.b-c+d, 0ad, 9base");
        /* A realistic Depends line from a Packages file. */
        assert_parse("libc6 (>= 2.34), libgcc-s1 (>= 3.0), libstdc++6 (>= 12), zlib1g (>= 1:1.2.0),\n"
                     " debconf (>= 0.5) | debconf-2.0, perl:any", "amd64",
                     "libc6 (>= 2.34), libgcc-s1 (>= 3.0), libstdc++6 (>= 12), zlib1g (>= 1:1.2.0), "
                     "debconf (>= 0.5) | debconf-2.0, perl:any");
}

TEST(architecture_restrictions) {
        static const char s[] =
                "foo [amd64], bar [!amd64], baz [i386 amd64], qux [ !i386  !armel ], x1 [linux-any], "
                "x2 [any-amd64], x3 [any-i386], x4 [kfreebsd-any], x5 [!linux-any], x6 [any], "
                "x7 (>= 1) [amd64]";

        assert_parse(s, "amd64", "foo, baz, qux, x1, x2, x6, x7 (>= 1)");
        assert_parse(s, "i386", "bar, baz, x1, x3, x6");
        assert_parse(s, "arm64", "bar, qux, x1, x6");
        /* Without a host architecture nothing is dropped. */
        assert_parse(s, NULL, "foo, bar, baz, qux, x1, x2, x3, x4, x5, x6, x7 (>= 1)");
        /* A group goes when all its alternatives go. */
        assert_parse("a1 [i386] | a2 [armel], b1", "amd64", "b1");
        assert_parse("a1 [i386] | a2, b1 | b2 [!amd64]", "amd64", "a2, b1");
        assert_parse("a1 [i386]", "amd64", "");
}

TEST(build_profiles) {
        /* No profile is active: a "<…>" list holds if all its terms are negated. */
        assert_parse("foo <!nocheck>, bar <nocheck>, baz <stage1 !nocheck>, qux <stage1> <!nocheck>, "
                     "quux <!a !b.c>, x1 <stage1> <cross>, x2 (>= 1) [amd64] <!nocheck>, "
                     "x3 [i386] <!nocheck>",
                     "amd64", "foo, qux, quux, x2 (>= 1)");
        assert_parse("a1 <stage1> | a2 <!stage1>", "amd64", "a2");
}

TEST(errors) {
        static const char* const bad[] = {
                "a", "a (>= 1)", "Foo", "fOO", "-foo", ".foo", "+foo", "foo,", "foo ,  \n", ",foo",
                "foo,,bar",
                ",", "|", "foo | | bar", "foo |", "| foo", "foo bar", "foo (>= )", "foo ()", "foo (1.0)",
                "foo (>= 1.0", "foo (>= 1.0 2)", "foo (>= a:1)", "foo (>= 1.0-)", "foo (== 1)",
                "foo (>=< 1)", "foo (=> 1)", "foo >= 1", "foo (>= 1) (>= 2)", "foo [", "foo []",
                "foo [amd64", "foo [amd64 !i386]", "foo [!i386 amd64]", "foo [AMD64]", "foo [! amd64]",
                "foo [amd64,i386]", "foo [amd64] [i386]", "foo [amd64] (>= 1)", "foo <>", "foo <!>",
                "foo <", "foo <nocheck", "foo <! nocheck>", "foo <nocheck> [amd64]", "foo <Stage1>",
                "foo:", "foo :any", "foo:Any", "foo: any", "foo:any:any", "${misc:Depends}",
                "foo, ${shlibs:Depends}", "foo\xff", "foo\x01", "foo;bar", "foo (>= 1))",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                DebRelationList *l = (DebRelationList*) 0x1;
                int r = deb_relation_list_parse(bad[i], "amd64", &l);

                if (r != -EBADMSG)
                        _test_fail("'%s': returned %i, expected -EBADMSG", bad[i], r);
                ASSERT_TRUE(l == (DebRelationList*) 0x1);       /* not touched on failure */
        }
}

TEST(op_table_roundtrip) {
        for (DebRelationOp op = 0; op < _DEB_RELATION_OP_MAX; op++)
                ASSERT_EQ(deb_relation_op_from_string(deb_relation_op_to_string(op)), op);
        ASSERT_STREQ(deb_relation_op_to_string(DEB_RELATION_ANY), "");
        ASSERT_STREQ(deb_relation_op_to_string(DEB_RELATION_GT), ">>");
        ASSERT_NULL(deb_relation_op_to_string(_DEB_RELATION_OP_MAX));
        ASSERT_NULL(deb_relation_op_to_string(_DEB_RELATION_OP_INVALID));
        ASSERT_EQ(deb_relation_op_from_string("<"), _DEB_RELATION_OP_INVALID);
        ASSERT_EQ(deb_relation_op_from_string(">"), _DEB_RELATION_OP_INVALID);
        ASSERT_EQ(deb_relation_op_from_string(NULL), _DEB_RELATION_OP_INVALID);
}

TEST(op_satisfied) {
        static const struct {
                DebRelationOp op;
                bool lt, eq, gt;        /* satisfied by cmp < 0, == 0, > 0 */
        } cases[] = {
                { DEB_RELATION_ANY, true,  true,  true  },
                { DEB_RELATION_LT,  true,  false, false },
                { DEB_RELATION_LE,  true,  true,  false },
                { DEB_RELATION_EQ,  false, true,  false },
                { DEB_RELATION_GE,  false, true,  true  },
                { DEB_RELATION_GT,  false, false, true  },
        };

        ASSERT_EQ(ELEMENTSOF(cases), (size_t) _DEB_RELATION_OP_MAX);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ASSERT_EQ(deb_relation_op_satisfied(cases[i].op, -7), cases[i].lt);
                ASSERT_EQ(deb_relation_op_satisfied(cases[i].op, 0), cases[i].eq);
                ASSERT_EQ(deb_relation_op_satisfied(cases[i].op, 1), cases[i].gt);
        }
        ASSERT_FALSE(deb_relation_op_satisfied(_DEB_RELATION_OP_INVALID, 0));
        ASSERT_FALSE(deb_relation_op_satisfied(_DEB_RELATION_OP_MAX, 0));
}

TEST(matches) {
        _cleanup_(deb_relation_list_freep) DebRelationList *l = NULL;
        const DebRelation *any, *ge, *lt, *eq;

        ASSERT_OK(deb_relation_list_parse("mail-transport-agent, libc6 (>= 2.36), foo (<< 1.0~), "
                                          "bar:any (= 1:2.0-1)", "amd64", &l));
        ASSERT_EQ(l->n_groups, 4u);
        any = l->groups[0].items;
        ge = l->groups[1].items;
        lt = l->groups[2].items;
        eq = l->groups[3].items;
        ASSERT_NULL(any->arch_qualifier);
        ASSERT_STREQ(eq->arch_qualifier, "any");

        ASSERT_TRUE(deb_relation_matches(any, "mail-transport-agent", NULL));
        ASSERT_TRUE(deb_relation_matches(any, "mail-transport-agent", "1.0"));
        ASSERT_FALSE(deb_relation_matches(any, "mail-transport", NULL));

        ASSERT_TRUE(deb_relation_matches(ge, "libc6", "2.36-9+deb12u4"));
        ASSERT_TRUE(deb_relation_matches(ge, "libc6", "2.36"));
        ASSERT_TRUE(deb_relation_matches(ge, "libc6", "1:2.0"));
        ASSERT_FALSE(deb_relation_matches(ge, "libc6", "2.35-9"));
        ASSERT_FALSE(deb_relation_matches(ge, "libc6", "2.36~rc1"));
        ASSERT_FALSE(deb_relation_matches(ge, "libc6", NULL));  /* an unversioned Provides */
        ASSERT_FALSE(deb_relation_matches(ge, "libc7", "3"));

        ASSERT_TRUE(deb_relation_matches(lt, "foo", "0.9"));
        ASSERT_TRUE(deb_relation_matches(lt, "foo", "1.0~~"));
        ASSERT_FALSE(deb_relation_matches(lt, "foo", "1.0~"));
        ASSERT_FALSE(deb_relation_matches(lt, "foo", "1.0"));

        ASSERT_TRUE(deb_relation_matches(eq, "bar", "1:2.0-1"));
        ASSERT_TRUE(deb_relation_matches(eq, "bar", "1:2.0-01"));
        ASSERT_FALSE(deb_relation_matches(eq, "bar", "2.0-1"));
        ASSERT_FALSE(deb_relation_matches(eq, "bar", "1:2.0-1+b1"));
}

TEST(long_list) {
        _cleanup_(deb_relation_list_freep) DebRelationList *l = NULL;
        _cleanup_free_ char *s = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&s, &size);

        ASSERT_NOT_NULL(f);
        for (unsigned i = 0; i < 5000; i++)
                fprintf(f, "%spkg%u (>= %u.0) | alt%u:any [amd64] <!nocheck> | gone%u [i386]",
                        i > 0 ? ",\n " : "", i, i, i, i);
        ASSERT_EQ(fclose(f), 0);

        ASSERT_OK(deb_relation_list_parse(s, "amd64", &l));
        ASSERT_EQ(l->n_groups, 5000u);
        for (size_t i = 0; i < l->n_groups; i++) {
                char name[32];

                ASSERT_EQ(l->groups[i].n_items, 2u);
                snprintf(name, sizeof(name), "pkg%zu", i);
                ASSERT_STREQ(l->groups[i].items[0].name, name);
                ASSERT_STREQ(l->groups[i].items[1].arch_qualifier, "any");
        }
}

DEFINE_TEST_MAIN
