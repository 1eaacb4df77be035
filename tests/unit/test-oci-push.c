/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What "mkmachine push" builds, read back by our own parsers and by the tools: a layer whose digest,
 * size and diff_id are right and whose content unpacks to the tree, a config and a manifest that parse
 * to what was put in. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "download.h"
#include "fd-util.h"
#include "fs-util.h"
#include "nspawn-settings.h"
#include "oci-image.h"
#include "oci-push.h"
#include "string-util.h"
#include "strv.h"
#include "tar-unpack.h"
#include "tests.h"

static char dir[64];

static bool strv_same(char * const *a, char * const *b) {
        if (strv_length(a) != strv_length(b))
                return false;
        for (size_t i = 0; a && a[i]; i++)
                if (!streq(a[i], b[i]))
                        return false;
        return true;
}

static int setup(void) {
        _cleanup_close_ int fd = -EBADF;

        strcpy(dir, "/tmp/test-oci-push.XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(dir));
        fd = open(dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(mkdirat(fd, "tree", 0755));
        ASSERT_OK(mkdirat(fd, "tree/etc", 0755));
        ASSERT_OK(mkdirat(fd, "out", 0755));
        ASSERT_OK(mkdirat(fd, "tmp", 0755));
        {
                _cleanup_close_ int f = openat(fd, "tree/etc/hello", O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC,
                                               0640);
                ASSERT_TRUE(f >= 0);
                ASSERT_OK(loop_write(f, "hello world\n", 12));
                ASSERT_OK(fchmod(f, 0640));
        }
        ASSERT_OK(symlinkat("etc/hello", fd, "tree/link"));
        return TAKE_FD(fd);
}

static void layer(Compression c, const char *zcat) {
        _cleanup_close_ int fd = setup(), tree = openat(fd, "tree", O_RDONLY|O_DIRECTORY|O_CLOEXEC),
                out = openat(fd, "out", O_RDONLY|O_DIRECTORY|O_CLOEXEC), blob = -EBADF;
        _cleanup_free_ char *msg = NULL, *text = NULL, *diff = NULL, *cmd = NULL;
        OciPackedLayer l = {};
        char hex[65];
        struct stat st;

        ASSERT_OK(oci_layer_pack(tree, c, strjoina(dir, "/tmp"), NULL, NULL, &blob, &l, &msg));
        ASSERT_EQ(l.compression, c);
        ASSERT_OK(fstat(blob, &st));
        ASSERT_EQ(l.size, (uint64_t) st.st_size);
        ASSERT_OK(fd_digest_hex(blob, EVP_sha256(), hex));
        ASSERT_STREQ(l.digest, strjoina("sha256:", hex));

        /* The diff_id is the digest of the uncompressed tar, as the decompressor in a shell sees it. */
        ASSERT_TRUE(asprintf(&cmd, "%s </proc/%i/fd/%i | sha256sum | cut -d' ' -f1 | tr -d '\\n'", zcat,
                             (int) getpid(), blob) > 0);
        diff = test_command_output(cmd);
        ASSERT_STREQ(l.diff_id, strjoina("sha256:", diff));

        /* Unpacked again, it is the tree. */
        ASSERT_TRUE(lseek(blob, 0, SEEK_SET) == 0);
        ASSERT_OK(tar_unpack(blob, out, 0, l.size, NULL, NULL, &msg));
        ASSERT_OK(read_full_file_at(out, "etc/hello", 1024, &text, NULL));
        ASSERT_STREQ(text, "hello world\n");
        ASSERT_OK(fstatat(out, "etc/hello", &st, 0));
        ASSERT_EQ(st.st_mode & 07777, 0640u);
        ASSERT_OK(fstatat(out, "link", &st, AT_SYMLINK_NOFOLLOW));
        ASSERT_TRUE(S_ISLNK(st.st_mode));

        ASSERT_OK(rm_rf_at(AT_FDCWD, dir));
}

TEST(layer_gzip) {
        layer(COMPRESSION_GZIP, "gzip -dc");
}

TEST(layer_zstd) {
        layer(COMPRESSION_ZSTD, "zstd -dc");
}

TEST(layer_other_compression_refused) {
        _cleanup_close_ int fd = setup(), tree = openat(fd, "tree", O_RDONLY|O_DIRECTORY|O_CLOEXEC),
                blob = -EBADF;
        _cleanup_free_ char *msg = NULL;
        OciPackedLayer l = {};

        ASSERT_ERROR(oci_layer_pack(tree, COMPRESSION_NONE, strjoina(dir, "/tmp"), NULL, NULL, &blob, &l,
                                    &msg), EOPNOTSUPP);
        ASSERT_TRUE(blob < 0);
        ASSERT_OK(rm_rf_at(AT_FDCWD, dir));
}

TEST(config_and_manifest_read_back) {
        static const char diff[] = "sha256:a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447";
        _cleanup_(oci_config_freep) OciConfig *c = NULL, *b = NULL;
        _cleanup_(oci_manifest_freep) OciManifest *m = NULL;
        _cleanup_(nspawn_settings_done) NspawnSettings s;
        _cleanup_free_ char *json = NULL, *boot = NULL, *manifest = NULL, *msg = NULL;
        OciPlatform p = { .os = (char*) "linux", .architecture = (char*) "arm64", .variant = (char*) "v8" };
        OciPackedLayer l = { .size = 1234, .compression = COMPRESSION_ZSTD };
        char cdigest[OCI_DIGEST_STRING_MAX];

        nspawn_settings_init(&s);
        ASSERT_OK(strv_extend_strv(&s.parameters, STRV_MAKE("/bin/sh", "-c", "echo \"hi\" $HOME")));
        ASSERT_OK(strv_extend_strv(&s.environment, STRV_MAKE("A=b c", "PATH=/usr/bin")));
        s.working_directory = strdup("/srv");
        s.user = strdup("1000:1000");
        ASSERT_TRUE(s.working_directory && s.user);

        ASSERT_OK(oci_push_config_json(&p, diff, false, &s, &json));
        ASSERT_OK(oci_config_parse(json, strlen(json), &c, &msg));
        ASSERT_STREQ(c->platform.os, "linux");
        ASSERT_STREQ(c->platform.architecture, "arm64");
        ASSERT_STREQ(c->platform.variant, "v8");
        ASSERT_TRUE(strv_same(c->entrypoint, s.parameters));
        ASSERT_NULL(c->cmd);
        ASSERT_TRUE(strv_same(c->env, s.environment));
        ASSERT_STREQ(c->working_dir, "/srv");
        ASSERT_STREQ(c->user, "1000:1000");
        ASSERT_EQ(strv_length(c->diff_ids), 1u);
        ASSERT_STREQ(c->diff_ids[0], diff);

        /* A booting machine's image carries no command. */
        ASSERT_OK(oci_push_config_json(&p, diff, true, &s, &boot));
        ASSERT_OK(oci_config_parse(boot, strlen(boot), &b, &msg));
        ASSERT_NULL(b->entrypoint);
        ASSERT_NULL(b->env);

        snprintf(l.digest, sizeof(l.digest), "sha256:%064x", 7);
        snprintf(cdigest, sizeof(cdigest), "sha256:%064x", 9);
        ASSERT_OK(oci_push_manifest_json(cdigest, strlen(json), &l, &manifest));
        ASSERT_OK(oci_manifest_parse(manifest, strlen(manifest), _OCI_MEDIA_TYPE_INVALID, &m, &msg));
        ASSERT_STREQ(m->config.digest, cdigest);
        ASSERT_EQ(m->config.size, (uint64_t) strlen(json));
        ASSERT_EQ(m->n_layers, 1u);
        ASSERT_STREQ(m->layers[0].digest, l.digest);
        ASSERT_EQ(m->layers[0].size, 1234u);
        ASSERT_TRUE(strstr(m->layers[0].media_type_string, "zstd"));
}

DEFINE_TEST_MAIN
