/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podman.h"
#include "spawn-util.h"
#include "strv.h"
#include "tests.h"

/* Shaped like the output of Debian 12's podman 4.3 (trimmed to the fields we read and a few more). */
static const char ps_output[] =
        "[\n"
        "  {\n"
        "    \"AutoRemove\": false,\n"
        "    \"Command\": [\"/bin/busybox\", \"sleep\", \"600\"],\n"
        "    \"CreatedAt\": \"2 minutes ago\",\n"
        "    \"Exited\": false,\n"
        "    \"Id\": \"4a1c3f0e9b7d\",\n"
        "    \"Image\": \"localhost/bb:latest\",\n"
        "    \"Names\": [\"web\"],\n"
        "    \"Pid\": 4242,\n"
        "    \"State\": \"running\",\n"
        "    \"Status\": \"Up 2 minutes ago\",\n"
        "    \"Created\": 1764300000\n"
        "  },\n"
        "  {\n"
        "    \"Id\": \"9f00aa\", \"Image\": \"docker.io/library/nginx:latest\",\n"
        "    \"Names\": [\"later\", \"x\"],\n"
        "    \"Pid\": 0, \"State\": \"created\", \"Created\": \"2021-01-01T00:00:00Z\"\n"
        "  }\n"
        "]\n";

TEST(ps_parse) {
        PodmanContainer *l = NULL;
        size_t n = 0;

        ASSERT_OK(podman_ps_parse(ps_output, strlen(ps_output), &l, &n, NULL));
        ASSERT_EQ(n, 2U);
        ASSERT_STREQ(l[0].id, "4a1c3f0e9b7d");
        ASSERT_STREQ(l[0].name, "web");
        ASSERT_STREQ(l[0].image, "localhost/bb:latest");
        ASSERT_STREQ(l[0].state, "running");
        ASSERT_EQ(l[0].created, UINT64_C(1764300000) * USEC_PER_SEC);
        ASSERT_EQ(l[0].pid, 4242U);
        ASSERT_STREQ(l[1].name, "later");
        ASSERT_STREQ(l[1].state, "created");
        ASSERT_EQ(l[1].created, 0U);   /* podman 3's date strings are not parsed */
        ASSERT_EQ(l[1].pid, 0U);
        podman_container_array_free(l, n);
}

TEST(ps_empty) {
        PodmanContainer *l = (PodmanContainer*) 1;
        size_t n = 7;

        ASSERT_OK(podman_ps_parse("", 0, &l, &n, NULL));
        ASSERT_EQ(n, 0U);
        ASSERT_NULL(l);
        ASSERT_OK(podman_ps_parse(" \n", 2, &l, &n, NULL));
        ASSERT_EQ(n, 0U);
        ASSERT_OK(podman_ps_parse("[]\n", 3, &l, &n, NULL));
        ASSERT_EQ(n, 0U);
}

TEST(ps_bad) {
        static const struct {
                const char *text;
                int index;
        } bad[] = {
                { "{}", -1 },                                           /* not an array */
                { "[", -1 },                                            /* truncated */
                { "[] []", -1 },                                        /* trailing garbage */
                { "Error: cannot connect", -1 },
                { "[1]", 0 },                                           /* not an object */
                { "[{\"Id\": \"a\", \"State\": \"running\"}, {\"State\": \"running\"}]", 1 }, /* no Id */
                { "[{\"Id\": \"a\"}]", 0 },                             /* no State */
                { "[{\"Id\": 5, \"State\": \"running\"}]", 0 },         /* wrong type */
                { "[{\"Id\": \"a\", \"State\": \"x\", \"Names\": \"web\"}]", 0 },
                { "[{\"Id\": \"a\", \"State\": \"x\", \"Names\": [7]}]", 0 },
        };
        PodmanContainer *l = NULL;
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int index = 99;

                ASSERT_ERROR(podman_ps_parse(bad[i].text, strlen(bad[i].text), &l, &n, &index), EBADMSG);
                ASSERT_EQ(index, bad[i].index);
        }
        /* An embedded NUL is not JSON either. */
        ASSERT_ERROR(podman_ps_parse("[]\0[]", 5, &l, &n, NULL), EBADMSG);
        ASSERT_ERROR(podman_ps_parse("[]", PODMAN_OUTPUT_MAX + 1, &l, &n, NULL), E2BIG);
}

static const char network_output[] =
        "[{\"name\": \"podman\", \"id\": \"2f25\", \"driver\": \"bridge\",\n"
        "  \"network_interface\": \"podman0\",\n"
        "  \"subnets\": [{\"subnet\": \"10.88.0.0/16\", \"gateway\": \"10.88.0.1\"},\n"
        "                {\"subnet\": \"fd00:88::/64\"}], \"ipv6_enabled\": true},\n"
        " {\"name\": \"lan\", \"driver\": \"macvlan\", \"subnets\": null},\n"
        " {\"name\": \"home\", \"subnets\": [{\"subnet\": \"192.168.7.0/24\"}]}]";

TEST(networks_parse) {
        static const char no_name[] = "[{\"subnets\": []}]";
        static const char empty_subnet[] = "[{\"name\": \"a\"}, {\"name\": \"b\", \"subnets\": [{}]}]";
        PodmanNetwork *l = NULL;
        size_t n = 0;
        int index = 99;

        ASSERT_OK(podman_networks_parse(network_output, strlen(network_output), &l, &n, NULL));
        ASSERT_EQ(n, 3U);
        ASSERT_STREQ(l[0].name, "podman");
        ASSERT_EQ(strv_length(l[0].subnets), 2U);
        ASSERT_STREQ(l[0].subnets[0], "10.88.0.0/16");
        ASSERT_STREQ(l[0].subnets[1], "fd00:88::/64");
        ASSERT_EQ(strv_length(l[1].subnets), 0U);
        ASSERT_STREQ(l[2].subnets[0], "192.168.7.0/24");
        podman_network_array_free(l, n);

        ASSERT_ERROR(podman_networks_parse(no_name, strlen(no_name), &l, &n, &index), EBADMSG);
        ASSERT_EQ(index, 0);
        ASSERT_ERROR(podman_networks_parse(empty_subnet, strlen(empty_subnet), &l, &n, &index), EBADMSG);
        ASSERT_EQ(index, 1);
}

TEST(spawn_capture) {
        char *echo[] = { (char*) "sh", (char*) "-c", (char*) "echo out; echo err >&2", NULL };
        char *failing[] = { (char*) "sh", (char*) "-c", (char*) "echo broken >&2; exit 3", NULL };
        char *slow[] = { (char*) "sleep", (char*) "10", NULL };
        char *missing[] = { (char*) "mkmachine-no-such-program", NULL };
        _cleanup_free_ char *out = NULL, *err = NULL;
        size_t size = 0;
        usec_t start;

        ASSERT_OK(spawn_capture(echo, 5 * USEC_PER_SEC, &out, &size, &err));
        ASSERT_STREQ(out, "out\n");
        ASSERT_EQ(size, 4U);
        ASSERT_NULL(err);       /* only on failure */

        ASSERT_ERROR(spawn_capture(failing, 5 * USEC_PER_SEC, &out, &size, &err), EPROTO);
        ASSERT_STREQ(err, "broken\n");

        ASSERT_ERROR(spawn_capture(missing, 5 * USEC_PER_SEC, &out, &size, NULL), ENOENT);

        /* A stuck program is killed: never hangs. */
        start = now_usec(CLOCK_MONOTONIC);
        ASSERT_ERROR(spawn_capture(slow, 200 * USEC_PER_MSEC, &out, &size, NULL), ETIMEDOUT);
        ASSERT_TRUE(now_usec(CLOCK_MONOTONIC) - start < 5 * USEC_PER_SEC);
}

DEFINE_TEST_MAIN
