/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fd-util.h"
#include "origin.h"
#include "store.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"

/* Records as import-tar, import-oci, pull, bootstrap and clone have written them, key for key. */
static const char *const records[] = {
        "{\"type\":\"tar\",\"source\":\"/srv/gnu.tar.zst\",\"compression\":\"zstd\",\"sha256\":\"9f86\","
        "\"size\":10240,\"entries\":12,\"created_usec\":1765000000000000,"
        "\"created\":\"2026-12-07 15:00:00 UTC\",\"tool\":\"mkmachine 0.1\"}",

        "{\"type\":\"oci\",\"source\":\"/srv/oci\",\"source_kind\":\"oci-layout\",\"reference\":\"latest\","
        "\"manifest_digest\":\"sha256:aa\",\"platform\":\"linux/amd64\",\"config_digest\":\"sha256:bb\","
        "\"layers\":3,\"added_usr\":true,\"exec\":{\"boot\":false,\"parameters\":[\"/bin/sh\",\"-c\","
        "\"echo \\\"hi\\\"\"],\"environment\":[\"PATH=/usr/bin\"],\"working_directory\":\"/srv\","
        "\"user\":\"1000\",\"exposed_ports\":[\"80/tcp\"]},\"exec_summary\":\"/bin/sh (as 1000) in /srv\","
        "\"created_usec\":1,\"created\":\"x\",\"tool\":\"mkmachine 0.1\",\"auto_update\":\"local\","
        "\"health_cmd\":\"true\"}",

        "{\"type\":\"registry\",\"tls_verify\":false,\"reference\":\"localhost:5000/app:1\","
        "\"registry\":\"localhost:5000\",\"repository\":\"app\",\"tag\":\"1\","
        "\"manifest_digest\":\"sha256:cc\","
        "\"image_manifest_digest\":\"sha256:dd\",\"blobs\":[\"sha256:dd\",\"sha256:ee\"],"
        "\"platform\":\"linux/arm64/v8\",\"config_digest\":\"sha256:ee\",\"layers\":0,"
        "\"exec\":{\"boot\":true},"
        "\"exec_summary\":\"boots its init\",\"created_usec\":2,\"created\":\"y\","
        "\"tool\":\"mkmachine 0.1\","
        "\"auto_update\":\"registry\",\"cloned_from\":\"app\",\"cloned_usec\":3}",

        "{\"type\":\"bootstrap\",\"source\":\"/usr/share/mkmachine/recipes/stable.recipe\","
        "\"recipe\":\"stable\","
        "\"mirror\":\"http://127.0.0.1:8080/debian\",\"suite\":\"stable\",\"verified\":true,"
        "\"packages\":140,"
        "\"archive\":[{\"suite\":\"stable\",\"mirror\":\"http://127.0.0.1:8080/debian\","
        "\"date\":\"Sat, 01 Nov 2026 10:00:00 UTC\",\"release_sha256\":\"ab\"},"
        "{\"suite\":\"stable-updates\","
        "\"mirror\":\"http://127.0.0.1:8080/debian\",\"date\":null,\"release_sha256\":\"cd\"}],"
        "\"created_usec\":4,\"created\":\"z\",\"tool\":\"mkmachine 0.1\",\"auto_update\":\"packages\","
        "\"health_cmd\":\"systemctl is-system-running\"}",

        /* A clone of a machine without a record. */
        "{\"cloned_from\":\"guest\",\"cloned_usec\":5}",

        "{}",
};

TEST(type_strings) {
        for (OriginType t = 0; t < _ORIGIN_TYPE_MAX; t++)
                ASSERT_EQ(origin_type_from_string(origin_type_to_string(t)), t);
        ASSERT_EQ(origin_type_from_string("Tar"), _ORIGIN_TYPE_INVALID);
        ASSERT_EQ(origin_type_from_string(NULL), _ORIGIN_TYPE_INVALID);
        ASSERT_NULL(origin_type_to_string(_ORIGIN_TYPE_MAX));
}

TEST(round_trip_as_written) {
        for (size_t i = 0; i < ELEMENTSOF(records); i++) {
                MachineOrigin *o = NULL;
                char *text = NULL;

                ASSERT_OK(origin_parse(records[i], strlen(records[i]), &o, NULL));
                ASSERT_OK(origin_format(o, &text));
                ASSERT_STREQ(text, records[i]);
                free(text);
                origin_free(o);
        }
}

TEST(every_field) {
        MachineOrigin *o = NULL;

        ASSERT_OK(origin_parse(records[1], strlen(records[1]), &o, NULL));
        ASSERT_EQ(o->type, ORIGIN_OCI);
        ASSERT_EQ(o->tls_verify, -1);
        ASSERT_STREQ(o->source, "/srv/oci");
        ASSERT_STREQ(o->source_kind, "oci-layout");
        ASSERT_STREQ(o->reference, "latest");
        ASSERT_STREQ(o->manifest_digest, "sha256:aa");
        ASSERT_STREQ(o->platform, "linux/amd64");
        ASSERT_STREQ(o->config_digest, "sha256:bb");
        ASSERT_EQ(o->layers, 3u);
        ASSERT_EQ(o->added_usr, 1);
        ASSERT_NOT_NULL(o->exec);
        ASSERT_EQ(o->exec->boot, 0);
        ASSERT_EQ(strv_length(o->exec->parameters), 3u);
        ASSERT_STREQ(o->exec->parameters[2], "echo \"hi\"");
        ASSERT_STREQ(o->exec->environment[0], "PATH=/usr/bin");
        ASSERT_STREQ(o->exec->working_directory, "/srv");
        ASSERT_STREQ(o->exec->user, "1000");
        ASSERT_STREQ(o->exec->exposed_ports[0], "80/tcp");
        ASSERT_STREQ(o->exec_summary, "/bin/sh (as 1000) in /srv");
        ASSERT_EQ(o->created_usec, 1u);
        ASSERT_STREQ(o->created, "x");
        ASSERT_STREQ(o->tool, "mkmachine 0.1");
        ASSERT_EQ(o->auto_update, AUTO_UPDATE_LOCAL);
        ASSERT_EQ(origin_auto_update(o), AUTO_UPDATE_LOCAL);
        ASSERT_STREQ(origin_health_cmd(o), "true");
        ASSERT_NULL(o->blobs);
        ASSERT_EQ(o->size, ORIGIN_NUMBER_UNSET);
        ASSERT_NULL(o->archive);
        origin_free(o);

        ASSERT_OK(origin_parse(records[0], strlen(records[0]), &o, NULL));
        ASSERT_EQ(o->type, ORIGIN_TAR);
        ASSERT_STREQ(o->compression, "zstd");
        ASSERT_STREQ(o->sha256, "9f86");
        ASSERT_EQ(o->size, 10240u);
        ASSERT_EQ(o->entries, 12u);
        ASSERT_EQ(o->created_usec, UINT64_C(1765000000000000));
        ASSERT_EQ(origin_auto_update(o), AUTO_UPDATE_NO);
        ASSERT_NULL(origin_health_cmd(o));
        ASSERT_NULL(o->exec);
        origin_free(o);

        ASSERT_OK(origin_parse(records[2], strlen(records[2]), &o, NULL));
        ASSERT_EQ(o->type, ORIGIN_REGISTRY);
        ASSERT_EQ(o->tls_verify, 0);
        ASSERT_STREQ(o->registry, "localhost:5000");
        ASSERT_STREQ(o->repository, "app");
        ASSERT_STREQ(o->tag, "1");
        ASSERT_STREQ(o->image_manifest_digest, "sha256:dd");
        ASSERT_EQ(strv_length(o->blobs), 2u);
        ASSERT_STREQ(o->blobs[1], "sha256:ee");
        ASSERT_EQ(o->layers, 0u);
        ASSERT_EQ(o->exec->boot, 1);
        ASSERT_NULL(o->exec->parameters);
        ASSERT_STREQ(o->cloned_from, "app");
        ASSERT_EQ(o->cloned_usec, 3u);
        origin_free(o);

        ASSERT_OK(origin_parse(records[3], strlen(records[3]), &o, NULL));
        ASSERT_EQ(o->type, ORIGIN_BOOTSTRAP);
        ASSERT_STREQ(o->recipe, "stable");
        ASSERT_STREQ(o->mirror, "http://127.0.0.1:8080/debian");
        ASSERT_STREQ(o->suite, "stable");
        ASSERT_EQ(o->verified, 1);
        ASSERT_EQ(o->packages, 140u);
        ASSERT_EQ(o->n_archive, 2u);
        ASSERT_STREQ(o->archive[0].date, "Sat, 01 Nov 2026 10:00:00 UTC");
        ASSERT_NULL(o->archive[1].date);
        ASSERT_STREQ(o->archive[1].suite, "stable-updates");
        ASSERT_STREQ(o->archive[1].release_sha256, "cd");
        ASSERT_EQ(origin_auto_update(o), AUTO_UPDATE_PACKAGES);
        origin_free(o);
}

TEST(build) {
        MachineOrigin *o = origin_new();
        OriginExec *x;
        char *text = NULL;

        ASSERT_NOT_NULL(o);
        o->type = ORIGIN_BOOTSTRAP;
        o->source = strdup("/r");
        o->verified = false;
        ASSERT_OK(origin_archive_add(o, "s", "m", NULL, "h"));
        x = origin_exec_new(o);
        ASSERT_NOT_NULL(x);
        x->boot = true;
        ASSERT_OK(strv_extend(&x->parameters, "/init"));
        o->health_cmd = strdup("");
        ASSERT_OK(origin_format(o, &text));
        ASSERT_STREQ(text, "{\"type\":\"bootstrap\",\"source\":\"/r\",\"verified\":false,"
                     "\"archive\":[{\"suite\":\"s\",\"mirror\":\"m\",\"date\":null,"
                     "\"release_sha256\":\"h\"}],\"exec\":{\"boot\":true,"
                     "\"parameters\":[\"/init\"]},\"health_cmd\":\"\"}");
        ASSERT_NULL(origin_health_cmd(o));
        free(text);
        origin_free(o);

        /* Empty lists stay lists. */
        o = NULL;
        ASSERT_OK(origin_parse("{\"blobs\":[],\"archive\":[]}", 25, &o, NULL));
        ASSERT_NOT_NULL(o->blobs);
        ASSERT_NOT_NULL(o->archive);
        ASSERT_OK(origin_format(o, &text));
        ASSERT_STREQ(text, "{\"blobs\":[],\"archive\":[]}");
        free(text);
        origin_free(o);
}

TEST(unknown_keys_kept) {
        static const char in[] = "{\"future\":{\"a\":[1,2.5,null]},\"type\":\"tar\","
                "\"exec\":{\"x\":1,\"boot\":true},"
                "\"archive\":[{\"y\":\"z\",\"suite\":\"s\"}],\"last\":\"k\",\"none\":null}";
        MachineOrigin *o = NULL;
        char *text = NULL;

        ASSERT_OK(origin_parse(in, strlen(in), &o, NULL));
        ASSERT_OK(origin_format(o, &text));
        /* Known keys in their order, unknown ones after them, in theirs. */
        ASSERT_STREQ(text, "{\"type\":\"tar\",\"archive\":[{\"suite\":\"s\",\"date\":null,\"y\":\"z\"}],"
                     "\"exec\":{\"boot\":true,\"x\":1},\"future\":{\"a\":[1,2.5,null]},\"last\":\"k\","
                     "\"none\":null}");
        free(text);
        origin_free(o);
}

TEST(setters) {
        MachineOrigin *o = NULL;
        char *text = NULL, **l = NULL;

        ASSERT_OK(origin_parse("{\"x\":1,\"type\":\"oci\",\"health_cmd\":\"a\"}", 37, &o, NULL));
        ASSERT_OK(origin_set_string(&o->source, "/s"));
        ASSERT_OK(origin_set_string(&o->source, NULL));
        ASSERT_NULL(o->source);
        ASSERT_OK(origin_set_strv(&o->blobs, (char *[]) { NULL }));
        ASSERT_NOT_NULL(o->blobs);
        ASSERT_OK(strv_extend(&l, "d"));
        ASSERT_OK(origin_set_strv(&o->blobs, l));
        strv_free(l);
        ASSERT_STREQ(o->blobs[0], "d");

        /* set --auto-update=: only what is given changes, "" removes the command, unknown keys stay. */
        ASSERT_OK(origin_set_update_policy(o, AUTO_UPDATE_LOCAL, NULL));
        ASSERT_STREQ(origin_health_cmd(o), "a");
        ASSERT_OK(origin_set_update_policy(o, _AUTO_UPDATE_POLICY_INVALID, ""));
        ASSERT_NULL(o->health_cmd);
        ASSERT_EQ(origin_auto_update(o), AUTO_UPDATE_LOCAL);
        ASSERT_OK(origin_format(o, &text));
        ASSERT_STREQ(text, "{\"type\":\"oci\",\"blobs\":[\"d\"],\"auto_update\":\"local\",\"x\":1}");
        free(text);
        origin_free(o);
        ASSERT_EQ(origin_auto_update(NULL), AUTO_UPDATE_NO);
        ASSERT_NULL(origin_health_cmd(NULL));
}

static void refused(const char *json, const char *field) {
        MachineOrigin *o = NULL;
        char *msg = NULL;

        printf("# %s\n", json);
        ASSERT_ERROR(origin_parse(json, strlen(json), &o, &msg), EBADMSG);
        ASSERT_NULL(o);
        ASSERT_NOT_NULL(msg);
        if (field && !strstr(msg, field)) {
                printf("# message: %s\n", msg);
                ASSERT_TRUE(false);
        }
        free(msg);
}

TEST(malformed_refused) {
        refused("", NULL);
        refused("null", NULL);
        refused("[]", NULL);
        refused("\"tar\"", NULL);
        refused("{\"type\":\"tar\"", NULL);
        refused("{\"type\":\"tar\"} {}", NULL);
        refused("{\"type\":\"tar\",}", NULL);
        refused("{'type':'tar'}", NULL);
        refused("{\"type\":\"nope\"}", "'type'");
        refused("{\"type\":1}", "'type'");
        refused("{\"source\":[]}", "'source'");
        refused("{\"source\":null}", "'source'");
        refused("{\"source\":\"a\\u0000b\"}", "'source'");
        refused("{\"size\":-1}", "'size'");
        refused("{\"size\":1.5}", "'size'");
        refused("{\"size\":\"1\"}", "'size'");
        refused("{\"entries\":18446744073709551615}", "'entries'");
        refused("{\"tls_verify\":0}", "'tls_verify'");
        refused("{\"verified\":\"yes\"}", "'verified'");
        refused("{\"blobs\":\"sha256:aa\"}", "'blobs'");
        refused("{\"blobs\":[\"a\",null]}", "'blobs'");
        refused("{\"exec\":[]}", "'exec'");
        refused("{\"exec\":{\"boot\":1}}", "'exec.boot'");
        refused("{\"exec\":{\"parameters\":[1]}}", "'exec.parameters'");
        refused("{\"exec\":{\"user\":{}}}", "'exec.user'");
        refused("{\"archive\":{}}", "'archive'");
        refused("{\"archive\":[1]}", "'archive[0].'");
        refused("{\"archive\":[{\"suite\":\"s\"},{\"date\":5}]}", "'archive[1].date'");
        refused("{\"auto_update\":\"sometimes\"}", "'auto_update'");
        refused("{\"auto_update\":1}", "'auto_update'");
        refused("{\"health_cmd\":[]}", "'health_cmd'");
        refused("{\"cloned_usec\":true}", "'cloned_usec'");

        /* A NUL byte anywhere, and a record larger than any we write. */
        MachineOrigin *o = NULL;
        char *msg = NULL, *big;

        ASSERT_ERROR(origin_parse("{}\0", 3, &o, &msg), EBADMSG);
        msg = mfree(msg);
        big = malloc(ORIGIN_SIZE_MAX + 1);
        ASSERT_NOT_NULL(big);
        memset(big, ' ', ORIGIN_SIZE_MAX + 1);
        ASSERT_ERROR(origin_parse(big, ORIGIN_SIZE_MAX + 1, &o, &msg), E2BIG);
        ASSERT_NOT_NULL(msg);
        free(msg);
        free(big);

        /* Deep nesting in an unknown key is refused, not recursed into without bound. */
        char deep[200];
        size_t n = 0;
        deep[n++] = '{';
        memcpy(deep + n, "\"x\":", 4);
        n += 4;
        for (size_t i = 0; i < 60; i++)
                deep[n++] = '[';
        for (size_t i = 0; i < 60; i++)
                deep[n++] = ']';
        deep[n++] = '}';
        deep[n] = 0;
        refused(deep, NULL);
}

TEST(not_terminated) {
        static const char buf[] = { '{', '"', 't', 'y', 'p', 'e', '"', ':', '"', 't', 'a', 'r', '"', '}' };
        MachineOrigin *o = NULL;

        ASSERT_OK(origin_parse(buf, sizeof(buf), &o, NULL));
        ASSERT_EQ(o->type, ORIGIN_TAR);
        origin_free(o);
        /* Whitespace after the object is fine, as a file would have it. */
        ASSERT_OK(origin_parse("{}\n ", 4, &o, NULL));
        origin_free(o);
}

TEST(xattr) {
        char dir[] = "/tmp/test-origin-XXXXXX";
        MachineOrigin *o = NULL, *p = NULL;
        char *a = NULL, *b = NULL;
        int fd;

        ASSERT_NOT_NULL(mkdtemp(dir));
        fd = open(dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_ERROR(origin_read(fd, &o, NULL), ENODATA);
        ASSERT_OK(origin_parse(records[3], strlen(records[3]), &o, NULL));
        if (origin_write(fd, o) < 0) {
                origin_free(o);
                (void) close(fd);
                (void) rmdir(dir);
                test_skip("no trusted.* xattrs here (not root?)");
        }
        ASSERT_OK(origin_read(fd, &p, NULL));
        ASSERT_OK(origin_format(o, &a));
        ASSERT_OK(origin_format(p, &b));
        ASSERT_STREQ(a, b);
        ASSERT_STREQ(b, records[3]);
        ASSERT_TRUE(fsetxattr(fd, ORIGIN_XATTR, "{\"type\":2}", 10, 0) >= 0);
        origin_free(p);
        p = NULL;
        ASSERT_ERROR(origin_read(fd, &p, NULL), EBADMSG);
        free(a);
        free(b);
        origin_free(o);
        (void) close(fd);
        ASSERT_OK(rmdir(dir));
}

DEFINE_TEST_MAIN
