/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "auto-update.h"
#include "decompress.h"
#include "oci-push.h"
#include "string-util.h"
#include "tests.h"

TEST(policy_strings) {
        for (AutoUpdatePolicy p = 0; p < _AUTO_UPDATE_POLICY_MAX; p++)
                ASSERT_EQ(auto_update_policy_from_string(auto_update_policy_to_string(p)), p);
        for (AutoUpdateAction a = 0; a < _AUTO_UPDATE_ACTION_MAX; a++)
                ASSERT_EQ(auto_update_action_from_string(auto_update_action_to_string(a)), a);
        ASSERT_EQ(auto_update_policy_from_string("Registry"), _AUTO_UPDATE_POLICY_INVALID);
        ASSERT_EQ(auto_update_policy_from_string(""), _AUTO_UPDATE_POLICY_INVALID);
        ASSERT_EQ(auto_update_policy_from_string(NULL), _AUTO_UPDATE_POLICY_INVALID);
        ASSERT_NULL(auto_update_policy_to_string(_AUTO_UPDATE_POLICY_MAX));
        ASSERT_STREQ(auto_update_policy_to_string(AUTO_UPDATE_PACKAGES), "packages");
        ASSERT_EQ(auto_update_policy_from_string("packages"), AUTO_UPDATE_PACKAGES);
        ASSERT_EQ(auto_update_policy_from_string("package"), _AUTO_UPDATE_POLICY_INVALID);
}

TEST(from_origin) {
        AutoUpdatePolicy p;
        char *cmd = NULL;

        ASSERT_OK(auto_update_from_origin(NULL, &p, &cmd));
        ASSERT_EQ(p, AUTO_UPDATE_NO);
        ASSERT_NULL(cmd);
        ASSERT_OK(auto_update_from_origin("{\"type\":\"registry\"}", &p, &cmd));
        ASSERT_EQ(p, AUTO_UPDATE_NO);
        ASSERT_OK(auto_update_from_origin("{\"auto_update\":\"registry\",\"health_cmd\":\"true\"}", &p,
                                          &cmd));
        ASSERT_EQ(p, AUTO_UPDATE_REGISTRY);
        ASSERT_STREQ(cmd, "true");
        cmd = mfree(cmd);
        ASSERT_OK(auto_update_from_origin("{\"auto_update\":\"local\",\"health_cmd\":\"\"}", &p, &cmd));
        ASSERT_EQ(p, AUTO_UPDATE_LOCAL);
        ASSERT_NULL(cmd);

        ASSERT_ERROR(auto_update_from_origin("{\"auto_update\":\"sometimes\"}", &p, NULL), EBADMSG);
        ASSERT_ERROR(auto_update_from_origin("{\"auto_update\":1}", &p, NULL), EBADMSG);
        ASSERT_ERROR(auto_update_from_origin("{\"auto_update\":\"no\",\"health_cmd\":[]}", &p, NULL),
                     EBADMSG);
        ASSERT_ERROR(auto_update_from_origin("[]", &p, NULL), EBADMSG);
        ASSERT_ERROR(auto_update_from_origin("{broken", &p, NULL), EBADMSG);
}

TEST(policy_check) {
        char *msg = NULL;

        ASSERT_OK(auto_update_policy_check(AUTO_UPDATE_NO, NULL, NULL));
        ASSERT_OK(auto_update_policy_check(AUTO_UPDATE_REGISTRY, "registry", NULL));
        ASSERT_OK(auto_update_policy_check(AUTO_UPDATE_LOCAL, "oci", NULL));
        ASSERT_ERROR(auto_update_policy_check(AUTO_UPDATE_REGISTRY, "tar", &msg), EINVAL);
        ASSERT_TRUE(strstr(msg, "--auto-update=registry") && strstr(msg, "'tar'"));
        msg = mfree(msg);
        ASSERT_ERROR(auto_update_policy_check(AUTO_UPDATE_LOCAL, "registry", &msg), EINVAL);
        ASSERT_TRUE(strstr(msg, "import-oci"));
        msg = mfree(msg);
        ASSERT_ERROR(auto_update_policy_check(AUTO_UPDATE_LOCAL, NULL, NULL), EINVAL);

        /* packages: only for bootstrapped machines; the image policies not for those. */
        ASSERT_OK(auto_update_policy_check(AUTO_UPDATE_PACKAGES, "bootstrap", NULL));
        ASSERT_OK(auto_update_policy_check(AUTO_UPDATE_NO, "bootstrap", NULL));
        ASSERT_ERROR(auto_update_policy_check(AUTO_UPDATE_PACKAGES, "registry", &msg), EINVAL);
        ASSERT_TRUE(strstr(msg, "--auto-update=packages") && strstr(msg, "OCI image") &&
                    strstr(msg, "--auto-update=registry"));
        msg = mfree(msg);
        ASSERT_ERROR(auto_update_policy_check(AUTO_UPDATE_PACKAGES, "oci", &msg), EINVAL);
        ASSERT_TRUE(strstr(msg, "--auto-update=local"));
        msg = mfree(msg);
        ASSERT_ERROR(auto_update_policy_check(AUTO_UPDATE_PACKAGES, "tar", &msg), EINVAL);
        ASSERT_TRUE(strstr(msg, "bootstrapped from a recipe") && strstr(msg, "'tar'"));
        msg = mfree(msg);
        ASSERT_ERROR(auto_update_policy_check(AUTO_UPDATE_PACKAGES, NULL, NULL), EINVAL);
        ASSERT_ERROR(auto_update_policy_check(AUTO_UPDATE_REGISTRY, "bootstrap", &msg), EINVAL);
        ASSERT_TRUE(strstr(msg, "--auto-update=registry") && strstr(msg, "--auto-update=packages"));
        msg = mfree(msg);
        ASSERT_ERROR(auto_update_policy_check(AUTO_UPDATE_LOCAL, "bootstrap", &msg), EINVAL);
        ASSERT_TRUE(strstr(msg, "import-oci") && strstr(msg, "--auto-update=packages"));
        msg = mfree(msg);
}

TEST(decide_packages) {
        ASSERT_EQ(auto_update_decide_packages(0), AUTO_UPDATE_CURRENT);
        ASSERT_EQ(auto_update_decide_packages(3), AUTO_UPDATE_PENDING);
        /* The digest decision has nothing to compare for this policy. */
        ASSERT_EQ(auto_update_decide(AUTO_UPDATE_PACKAGES, false, NULL, NULL), AUTO_UPDATE_SKIP);
        ASSERT_EQ(auto_update_decide(AUTO_UPDATE_PACKAGES, false, "a", "b"), AUTO_UPDATE_SKIP);

        /* Recorded like the others, by "set" or the creating verb. */
        {
                char *o = NULL;
                AutoUpdatePolicy p;

                ASSERT_OK(auto_update_origin_set("{\"type\":\"bootstrap\"}", AUTO_UPDATE_PACKAGES, NULL,
                                                 &o));
                ASSERT_OK(auto_update_from_origin(o, &p, NULL));
                ASSERT_EQ(p, AUTO_UPDATE_PACKAGES);
                free(o);
        }
}

TEST(origin_set) {
        char *o = NULL, *cmd = NULL;
        AutoUpdatePolicy p;

        ASSERT_OK(auto_update_origin_set("{\"type\":\"registry\"}", AUTO_UPDATE_REGISTRY, "curl -f x", &o));
        ASSERT_TRUE(strstr(o, "\"type\":\"registry\""));
        ASSERT_OK(auto_update_from_origin(o, &p, &cmd));
        ASSERT_EQ(p, AUTO_UPDATE_REGISTRY);
        ASSERT_STREQ(cmd, "curl -f x");
        cmd = mfree(cmd);

        /* Only what is given changes; "" removes the command. */
        {
                char *o2 = NULL;
                ASSERT_OK(auto_update_origin_set(o, _AUTO_UPDATE_POLICY_INVALID, "", &o2));
                ASSERT_OK(auto_update_from_origin(o2, &p, &cmd));
                ASSERT_EQ(p, AUTO_UPDATE_REGISTRY);
                ASSERT_NULL(cmd);
                free(o2);
        }
        o = mfree(o);
        ASSERT_ERROR(auto_update_origin_set("nope", AUTO_UPDATE_NO, NULL, &o), EBADMSG);
        ASSERT_OK(auto_update_origin_set(NULL, AUTO_UPDATE_NO, NULL, &o));
        ASSERT_STREQ(o, "{\"auto_update\":\"no\"}");
        free(o);
}

TEST(decide) {
        const char *a = "sha256:aaaa", *b = "sha256:bbbb";

        ASSERT_EQ(auto_update_decide(AUTO_UPDATE_NO, false, a, b), AUTO_UPDATE_SKIP);
        ASSERT_EQ(auto_update_decide(AUTO_UPDATE_REGISTRY, true, a, NULL), AUTO_UPDATE_PINNED);
        ASSERT_EQ(auto_update_decide(AUTO_UPDATE_REGISTRY, false, a, a), AUTO_UPDATE_CURRENT);
        ASSERT_EQ(auto_update_decide(AUTO_UPDATE_REGISTRY, false, a, b), AUTO_UPDATE_PENDING);
        ASSERT_EQ(auto_update_decide(AUTO_UPDATE_LOCAL, false, a, b), AUTO_UPDATE_PENDING);
        ASSERT_EQ(auto_update_decide(AUTO_UPDATE_LOCAL, false, NULL, b), AUTO_UPDATE_PENDING);
        ASSERT_EQ(auto_update_decide(AUTO_UPDATE_REGISTRY, false, a, NULL), AUTO_UPDATE_SKIP);
        ASSERT_EQ(auto_update_decide(_AUTO_UPDATE_POLICY_INVALID, false, a, b), AUTO_UPDATE_SKIP);
}

TEST(push_documents) {
        OciPlatform p = { .os = (char*) "linux", .architecture = (char*) "arm64", .variant = (char*) "v8" };
        NspawnSettings s = {
                .boot = 0,
                .parameters = (char*[]) { (char*) "/bin/app", (char*) "--serve", NULL },
                .environment = (char*[]) { (char*) "A=b", NULL },
                .working_directory = (char*) "/srv",
                .user = (char*) "www",
        };
        OciPackedLayer l = { .digest = "sha256:1111", .diff_id = "sha256:2222", .size = 42,
                             .compression = COMPRESSION_ZSTD };
        char *j = NULL;

        ASSERT_OK(oci_push_config_json(&p, "sha256:2222", false, &s, &j));
        ASSERT_STREQ(j, "{\"architecture\":\"arm64\",\"variant\":\"v8\",\"os\":\"linux\","
                     "\"rootfs\":{\"type\":"
                     "\"layers\",\"diff_ids\":[\"sha256:2222\"]},\"config\":{\"Entrypoint\":[\"/bin/app\","
                     "\"--serve\"],\"Env\":[\"A=b\"],\"WorkingDir\":\"/srv\",\"User\":\"www\"}}");
        j = mfree(j);
        /* A booting machine's image names no command. */
        ASSERT_OK(oci_push_config_json(&p, "sha256:2222", true, &s, &j));
        ASSERT_TRUE(strstr(j, "\"config\":{}"));
        j = mfree(j);

        ASSERT_OK(oci_push_manifest_json("sha256:3333", 7, &l, &j));
        ASSERT_STREQ(j, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                     "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
                     "\"sha256:3333\",\"size\":7},\"layers\":[{\"mediaType\":"
                     "\"application/vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"sha256:1111\","
                     "\"size\":42}]}");
        free(j);
}

TEST(layer_pack_refuses_other_compression) {
        char *msg = NULL;
        Progress progress = {};
        OciPackedLayer l;
        int fd = -EBADF;

        ASSERT_ERROR(oci_layer_pack(0, COMPRESSION_XZ, "/tmp", NULL, &progress, &fd, &l, &msg),
                     EOPNOTSUPP);
        ASSERT_TRUE(msg && strstr(msg, "gzip or zstd"));
        free(msg);
}

DEFINE_TEST_MAIN
