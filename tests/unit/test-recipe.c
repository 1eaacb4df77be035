/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "fd-util.h"
#include "recipe.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"

static int parse_string(const char *s, Recipe **ret, unsigned *line, const char **what) {
        _cleanup_fclose_ FILE *f = fmemopen((void*) s, strlen(s), "re");
        ASSERT_NOT_NULL(f);
        return recipe_parse(f, "/etc/mkmachine/recipes/test.conf", "test", ret, line, what);
}

TEST(full_recipe) {
        _cleanup_(recipe_freep) Recipe *r = NULL;

        ASSERT_OK(parse_string(
                "[Recipe]\nDescription=Test\nBase=bookworm\n"
                "[Distribution]\nDistribution=ubuntu\nSuite=jammy\nComponents=main universe\n"
                "Architecture=amd64\nMirror=http://127.0.0.1:8080/ubuntu\n"
                "Keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg\n"
                "[Packages]\nVariant=standard\nInclude=systemd dbus\nInclude=iproute2 dbus\nExclude=vim\n"
                "[Setup]\nHostname=web-1\nLocale=C.UTF-8\nTimezone=Europe/Berlin\nRootLocked=no\n"
                "EnableServices=systemd-networkd.service\n"
                "[Files]\nCopy=files/motd:/etc/motd\nCopy=/srv/key.pub:/root/.ssh/authorized_keys\n"
                "[Run]\nCommand=echo hello\nCommand=apt-get clean\n",
                &r, NULL, NULL));

        ASSERT_STREQ(r->base, "bookworm");
        ASSERT_EQ(r->distribution, DISTRIBUTION_UBUNTU);
        ASSERT_STREQ(r->suite, "jammy");
        ASSERT_EQ(strv_length(r->components), 2u);
        ASSERT_EQ(r->variant, VARIANT_STANDARD);
        ASSERT_EQ(strv_length(r->include), 3u);         /* duplicates dropped */
        ASSERT_STREQ(r->include[2], "iproute2");
        ASSERT_STREQ(r->exclude[0], "vim");
        ASSERT_STREQ(r->hostname, "web-1");
        ASSERT_EQ(r->root_locked, 0);
        ASSERT_EQ(r->n_files, 2u);
        ASSERT_STREQ(r->files[0].source, "/etc/mkmachine/recipes/files/motd");
        ASSERT_STREQ(r->files[0].target, "/etc/motd");
        ASSERT_STREQ(r->commands[1], "apt-get clean");
        ASSERT_OK(recipe_verify(r, NULL));
}

TEST(empty_value_resets_list) {
        _cleanup_(recipe_freep) Recipe *r = NULL;

        ASSERT_OK(parse_string("[Packages]\nInclude=a b\nInclude=\nInclude=c\n", &r, NULL, NULL));
        ASSERT_EQ(strv_length(r->include), 1u);
        ASSERT_STREQ(r->include[0], "c");
}

TEST(errors_name_line_and_what) {
        static const struct {
                const char *text;
                int error;
                unsigned line;
        } cases[] = {
                { "[Distribution]\nDistribution=fedora\n", EINVAL, 2 },
                { "[Distribution]\nSuite=jammy\nNoEquals\n", EBADMSG, 3 },
                { "[Distribution]\nSuit=jammy\n", EBADMSG, 2 },
                { "[Nope]\nA=b\n", EBADMSG, 2 },
                { "[Packages]\nInclude=ok bad;name\n", EINVAL, 2 },
                { "[Packages]\nVariant=huge\n", EINVAL, 2 },
                { "[Setup]\nRootLocked=perhaps\n", EINVAL, 2 },
                { "[Setup]\nTimezone=../../etc/shadow\n", EINVAL, 2 },
                { "[Files]\nCopy=../secret:/etc/x\n", EINVAL, 2 },
                { "[Files]\nCopy=a:relative\n", EINVAL, 2 },
                { "[Distribution]\nMirror=ftp://x\n", EINVAL, 2 },
                { "[Distribution]\nKeyring=relative.gpg\n", EINVAL, 2 },
                { "[Recipe]\nBase=../x\n", EINVAL, 2 },
                { "[Distribution]\nSecurity=a/b\n", EINVAL, 2 },
                { "[Distribution]\nSourcesFormat=yaml\n", EINVAL, 2 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(recipe_freep) Recipe *r = NULL;
                const char *what = NULL;
                unsigned line = 0;

                ASSERT_ERROR(parse_string(cases[i].text, &r, &line, &what), cases[i].error);
                ASSERT_EQ(line, cases[i].line);
                ASSERT_NOT_NULL(what);
                ASSERT_NULL(r);
        }
}

TEST(security_and_sources_format) {
        _cleanup_(recipe_freep) Recipe *base = NULL, *r = NULL, *unset = NULL;

        ASSERT_OK(parse_string("[Distribution]\nDistribution=debian\nSuite=trixie\nComponents=main\n"
                               "Security=trixie-security\nSourcesFormat=deb822\n", &base, NULL, NULL));
        ASSERT_STREQ(base->security, "trixie-security");
        ASSERT_EQ(base->sources_format, SOURCES_FORMAT_DEB822);

        /* Unset: inherited from the base; an empty value resets. */
        ASSERT_OK(parse_string("[Recipe]\nBase=trixie\n", &r, NULL, NULL));
        ASSERT_NULL(r->security);
        ASSERT_EQ(r->sources_format, _SOURCES_FORMAT_INVALID);
        ASSERT_OK(recipe_merge_base(r, base));
        ASSERT_STREQ(r->security, "trixie-security");
        ASSERT_EQ(r->sources_format, SOURCES_FORMAT_DEB822);

        ASSERT_OK(parse_string("[Distribution]\nSecurity=x\nSecurity=\nSourcesFormat=one-line\n"
                               "SourcesFormat=\n", &unset, NULL, NULL));
        ASSERT_NULL(unset->security);
        ASSERT_EQ(unset->sources_format, _SOURCES_FORMAT_INVALID);
}

TEST(verify_requires_distribution) {
        _cleanup_(recipe_freep) Recipe *r = NULL;
        const char *what = NULL;

        ASSERT_OK(parse_string("[Distribution]\nSuite=jammy\n", &r, NULL, NULL));
        ASSERT_ERROR(recipe_verify(r, &what), EINVAL);
        ASSERT_STREQ(what, "[Distribution] Distribution= is not set");
}

TEST(merge_base) {
        _cleanup_(recipe_freep) Recipe *base = NULL, *r = NULL;

        ASSERT_OK(parse_string("[Distribution]\nDistribution=debian\nSuite=bookworm\nComponents=main\n"
                               "Updates=bookworm-updates\n"
                               "[Packages]\nInclude=systemd dbus\n[Files]\nCopy=a:/a\n", &base, NULL, NULL));
        ASSERT_OK(parse_string("[Recipe]\nBase=bookworm\n[Distribution]\nUpdates=bookworm-backports\n"
                               "[Packages]\nInclude=nginx dbus\n[Files]\nCopy=b:/b\n", &r, NULL, NULL));
        ASSERT_OK(recipe_merge_base(r, base));
        ASSERT_OK(recipe_verify(r, NULL));
        ASSERT_STREQ(r->suite, "bookworm");
        ASSERT_EQ(strv_length(r->updates), 2u);
        ASSERT_TRUE(strv_contains(r->updates, "bookworm-updates"));
        ASSERT_TRUE(strv_contains(r->updates, "bookworm-backports"));
        ASSERT_EQ(strv_length(r->include), 3u);
        ASSERT_STREQ(r->include[0], "systemd");
        ASSERT_STREQ(r->include[2], "nginx");
        ASSERT_EQ(r->n_files, 2u);
        ASSERT_STREQ(r->files[0].target, "/a");
        ASSERT_STREQ(r->files[1].target, "/b");
}

static void write_recipe(const char *dir, const char *name, const char *text) {
        _cleanup_free_ char *path = NULL;
        _cleanup_fclose_ FILE *f = NULL;

        ASSERT_TRUE(asprintf(&path, "%s/%s.conf", dir, name) > 0);
        f = fopen(path, "we");
        ASSERT_NOT_NULL(f);
        ASSERT_TRUE(fputs(text, f) >= 0);
}

TEST(load_base_next_to_the_recipe) {
        _cleanup_(recipe_freep) Recipe *r = NULL;
        _cleanup_free_ char *msg = NULL, *path = NULL;
        char dir[] = "/tmp/test-recipe.XXXXXX";

        ASSERT_NOT_NULL(mkdtemp(dir));
        write_recipe(dir, "os", "[Distribution]\nDistribution=debian\nSuite=bookworm\nComponents=main\n"
                     "Keyring=/k.gpg\n[Run]\nCommand=echo os\n");
        write_recipe(dir, "web", "[Recipe]\nBase=os\n[Run]\nCommand=echo web 1\nCommand=echo web 2\n");
        write_recipe(dir, "site", "[Recipe]\nBase=web\n[Run]\nCommand=echo site\n");

        /* Loaded as a file: its bases are found next to it, not in the (empty) search path. */
        ASSERT_TRUE(asprintf(&path, "%s/site.conf", dir) > 0);
        ASSERT_OK(recipe_load(path, STRV_MAKE("/nonexistent"), &r, &msg));
        ASSERT_STREQ(r->suite, "bookworm");
        ASSERT_EQ(strv_length(r->commands), 4u);
        ASSERT_EQ(r->n_base_commands, 3u);
        ASSERT_STREQ(r->commands[3], "echo site");
        ASSERT_NOT_NULL(r->base_recipe);
        ASSERT_STREQ(r->base_recipe->name, "web");
        ASSERT_EQ(r->base_recipe->n_base_commands, 1u);
        ASSERT_STREQ(r->base_recipe->base_recipe->name, "os");
        ASSERT_NULL(r->base_recipe->base_recipe->base_recipe);

        /* A base that is nowhere is named. */
        write_recipe(dir, "orphan", "[Recipe]\nBase=missing\n");
        free(path);
        ASSERT_TRUE(asprintf(&path, "%s/orphan.conf", dir) > 0);
        recipe_freep(&r);
        ASSERT_ERROR(recipe_load(path, STRV_MAKE("/nonexistent"), &r, &msg), ENOENT);
        ASSERT_TRUE(strstr(msg, "No recipe 'missing'") != NULL);

        ASSERT_OK(system(strjoina("rm -rf ", dir)));
}

TEST(enum_tables_roundtrip) {
        for (Distribution d = 0; d < _DISTRIBUTION_MAX; d++)
                ASSERT_EQ(distribution_from_string(distribution_to_string(d)), d);
        ASSERT_EQ(distribution_from_string("fedora"), _DISTRIBUTION_INVALID);
        for (Variant v = 0; v < _VARIANT_MAX; v++)
                ASSERT_EQ(variant_from_string(variant_to_string(v)), v);
        ASSERT_EQ(variant_from_string("buildd"), _VARIANT_INVALID);
        for (SourcesFormat f = 0; f < _SOURCES_FORMAT_MAX; f++)
                ASSERT_EQ(sources_format_from_string(sources_format_to_string(f)), f);
        ASSERT_EQ(sources_format_from_string("two-line"), _SOURCES_FORMAT_INVALID);
}

TEST(shipped_recipes_parse) {
        const char *src = getenv("MKMACHINE_SOURCE_ROOT");
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_free_ char *dir = NULL;
        unsigned n = 0;

        if (!src)
                test_skip("MKMACHINE_SOURCE_ROOT not set");
        ASSERT_TRUE(asprintf(&dir, "%s/recipes", src) > 0);
        d = opendir(dir);
        ASSERT_NOT_NULL(d);

        for (struct dirent *de; (de = readdir(d)); ) {
                _cleanup_(recipe_freep) Recipe *r = NULL;
                _cleanup_fclose_ FILE *f = NULL;
                _cleanup_free_ char *path = NULL, *name = NULL;
                const char *what = NULL;
                unsigned line = 0;
                const char *e = endswith(de->d_name, ".conf");

                if (!e)
                        continue;
                name = strndup(de->d_name, (size_t) (e - de->d_name));
                ASSERT_TRUE(asprintf(&path, "%s/%s", dir, de->d_name) > 0);
                f = fopen(path, "re");
                ASSERT_NOT_NULL(f);
                if (recipe_parse(f, path, name, &r, &line, &what) < 0) {
                        fprintf(stderr, "%s:%u: %s\n", path, line, what);
                        ASSERT_TRUE(false);
                }
                ASSERT_OK(recipe_verify(r, &what));
                ASSERT_NOT_NULL(r->keyring);
                ASSERT_EQ(r->root_locked, 1);
                ASSERT_TRUE(strv_contains(r->enable_services, "systemd-networkd.service"));
                /* The fixes released since: SUITE-updates of the same archive. */
                ASSERT_TRUE(strv_contains(r->updates, strjoina(r->suite, "-updates")));
                /* Security fixes: Debian's from the security archive (Security=, a mirror of its own),
                 * Ubuntu's from the same archive (Updates=). */
                if (r->distribution == DISTRIBUTION_DEBIAN) {
                        ASSERT_STREQ(r->security, strjoina(r->suite, "-security"));
                        ASSERT_FALSE(strv_contains(r->updates, strjoina(r->suite, "-security")));
                } else {
                        ASSERT_NULL(r->security);
                        ASSERT_TRUE(strv_contains(r->updates, strjoina(r->suite, "-security")));
                }
                /* The machine's sources as that release's installer writes them: one-line up to
                 * Debian 12 and Ubuntu 22.04, deb822 from Debian 13 and Ubuntu 24.04 on. */
                if (streq(r->suite, "bookworm") || streq(r->suite, "jammy"))
                        ASSERT_EQ(r->sources_format, SOURCES_FORMAT_ONE_LINE);
                else
                        ASSERT_EQ(r->sources_format, SOURCES_FORMAT_DEB822);
                n++;
        }
        ASSERT_EQ(n, 4u);
}

DEFINE_TEST_MAIN
