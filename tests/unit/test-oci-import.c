/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading blobs through a blob source (here an in-memory one, as a registry client would be) with
 * their size and digest checked, and what the import looks for in a tree: an init, /usr. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "download.h"
#include "fd-util.h"
#include "fs-util.h"
#include "oci-import.h"
#include "string-util.h"
#include "tests.h"

#define ZEROS64 "0000000000000000000000000000000000000000000000000000000000000000"

typedef struct MemBlob {
        const char *digest;
        const char *data;
        size_t size;            /* 0: strlen(data) */
} MemBlob;

static int mem_open(void *userdata, const char *digest, int *ret_fd) {
        const MemBlob *b = userdata;
        int fd;

        for (; b->digest; b++) {
                if (!streq(b->digest, digest))
                        continue;
                fd = memfd_create("blob", MFD_CLOEXEC);
                ASSERT_TRUE(fd >= 0);
                ASSERT_OK(loop_write(fd, b->data, b->size ?: strlen(b->data)));
                ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
                *ret_fd = fd;
                return 0;
        }
        return -ENOENT;
}

static void digest_of(const char *s, char ret[80]) {
        char hex[65];

        sha256_hex(s, strlen(s), hex);
        snprintf(ret, 80, "sha256:%s", hex);
}

TEST(blob_read_verified) {
        char good[80], other[80], *buf = NULL, *msg = NULL;
        size_t n;

        digest_of("{\"hello\":1}", good);
        digest_of("something else", other);
        MemBlob blobs[] = {
                { good, "{\"hello\":1}" },
                { other, "tampered" },          /* served under a digest it does not have */
                {}
        };
        OciBlobSource src = { .open = mem_open, .userdata = blobs };

        ASSERT_OK(oci_blob_read_verified(&src, good, 11, &buf, &n, NULL));
        ASSERT_EQ(n, 11U);
        ASSERT_STREQ(buf, "{\"hello\":1}");
        buf = mfree(buf);

        ASSERT_ERROR(oci_blob_read_verified(&src, good, 10, &buf, &n, &msg), EBADMSG);    /* longer */
        ASSERT_TRUE(strstr(msg, "wrong size"));
        msg = mfree(msg);
        ASSERT_ERROR(oci_blob_read_verified(&src, good, 12, &buf, &n, &msg), EBADMSG);    /* shorter */
        msg = mfree(msg);
        ASSERT_ERROR(oci_blob_read_verified(&src, other, 8, &buf, &n, &msg), EBADMSG);
        ASSERT_TRUE(strstr(msg, "does not match its digest"));
        msg = mfree(msg);
        ASSERT_ERROR(oci_blob_read_verified(&src, "sha256:" ZEROS64, 1, &buf, &n, &msg), ENOENT);
        ASSERT_TRUE(strstr(msg, "missing"));
        msg = mfree(msg);
        ASSERT_ERROR(oci_blob_read_verified(&src, "sha512:00", 1, &buf, &n, &msg), EOPNOTSUPP);
        msg = mfree(msg);
        ASSERT_ERROR(oci_blob_read_verified(&src, good, OCI_JSON_SIZE_MAX + 1ULL, &buf, &n, &msg), E2BIG);
        msg = mfree(msg);
        ASSERT_NULL(buf);
}

TEST(source_kind_strings) {
        for (OciSourceKind k = 0; k < _OCI_SOURCE_KIND_MAX; k++)
                ASSERT_EQ(oci_source_kind_from_string(oci_source_kind_to_string(k)), k);
}

static int tree_new(char dir[static 64]) {
        int fd;

        strcpy(dir, "/tmp/test-oci-import.XXXXXX");
        ASSERT_TRUE(mkdtemp(dir));
        fd = open(dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        return fd;
}

static void tree_free(const char *dir, int fd) {
        _cleanup_close_ int tmp = open("/tmp", O_RDONLY|O_DIRECTORY|O_CLOEXEC);

        safe_close(fd);
        ASSERT_OK(rm_rf_at(tmp, dir + 5));
}

static void write_exec(int dir_fd, const char *path, mode_t mode) {
        _cleanup_close_ int fd = openat(dir_fd, path, O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, mode);

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(loop_write(fd, "x", 1));
        ASSERT_OK(fchmod(fd, mode));
}

TEST(tree_has_init) {
        char dir[64];
        int fd = tree_new(dir);

        ASSERT_FALSE(oci_tree_has_init(fd));

        /* Busybox's init: not a reason to boot. */
        ASSERT_OK(mkdirat(fd, "bin", 0755));
        ASSERT_OK(mkdirat(fd, "sbin", 0755));
        write_exec(fd, "bin/busybox", 0755);
        ASSERT_OK(symlinkat("/bin/busybox", fd, "sbin/init"));
        ASSERT_FALSE(oci_tree_has_init(fd));

        /* A link out of the tree is resolved inside it. */
        ASSERT_OK(unlinkat(fd, "sbin/init", 0));
        ASSERT_OK(symlinkat("/usr/lib/systemd/systemd", fd, "sbin/init"));
        ASSERT_FALSE(oci_tree_has_init(fd));

        ASSERT_OK(mkdirat(fd, "usr", 0755));
        ASSERT_OK(mkdirat(fd, "usr/lib", 0755));
        ASSERT_OK(mkdirat(fd, "usr/lib/systemd", 0755));
        write_exec(fd, "usr/lib/systemd/systemd", 0644);
        ASSERT_FALSE(oci_tree_has_init(fd));   /* not executable */
        ASSERT_OK(fchmodat(fd, "usr/lib/systemd/systemd", 0755, 0));
        ASSERT_TRUE(oci_tree_has_init(fd));
        tree_free(dir, fd);
}

TEST(tree_make_runnable) {
        char dir[64];
        int fd = tree_new(dir);
        struct stat st;
        bool added;

        ASSERT_OK(oci_tree_make_runnable(fd, &added));
        ASSERT_TRUE(added);
        ASSERT_OK(fstatat(fd, "usr", &st, AT_SYMLINK_NOFOLLOW));
        ASSERT_TRUE(S_ISDIR(st.st_mode));
        ASSERT_OK(oci_tree_make_runnable(fd, &added));
        ASSERT_FALSE(added);

        /* Something else called usr stays as it is. */
        ASSERT_OK(unlinkat(fd, "usr", AT_REMOVEDIR));
        ASSERT_OK(symlinkat("/elsewhere", fd, "usr"));
        ASSERT_OK(oci_tree_make_runnable(fd, &added));
        ASSERT_FALSE(added);
        ASSERT_OK(fstatat(fd, "usr", &st, AT_SYMLINK_NOFOLLOW));
        ASSERT_TRUE(S_ISLNK(st.st_mode));
        tree_free(dir, fd);
}

/* An uncompressed layer with etc/hello. */
static size_t make_layer(char *buf, size_t size) {
        struct archive *a = archive_write_new();
        struct archive_entry *e;
        size_t used = 0;

        ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        ASSERT_EQ(archive_write_open_memory(a, buf, size, &used), ARCHIVE_OK);
        e = archive_entry_new();
        archive_entry_set_pathname(e, "etc");
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
        archive_entry_clear(e);
        archive_entry_set_pathname(e, "etc/hello");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, 3);
        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
        ASSERT_EQ(archive_write_data(a, "hi\n", 3), 3);
        archive_entry_free(e);
        ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        return used;
}

/* A whole image served from memory, as a registry client would serve it: an index, a manifest, a
 * config and a layer, resolved from the index's descriptor and unpacked. */
TEST(resolve_and_unpack_from_a_blob_source) {
        static char layer[16384], bad_layer[16384];
        _cleanup_free_ char *config = NULL, *manifest = NULL, *index = NULL, *msg = NULL;
        _cleanup_(oci_platform_done) OciPlatform want = {};
        char layer_d[80], config_d[80], manifest_d[80], index_d[80], hex[65], dir[64];
        size_t layer_size = make_layer(layer, sizeof(layer));
        OciImage *img = NULL;
        int fd;

        sha256_hex(layer, layer_size, hex);
        snprintf(layer_d, sizeof(layer_d), "sha256:%s", hex);
        ASSERT_TRUE(asprintf(&config, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":"
                             "[\"/bin/true\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
                             layer_d) > 0);
        digest_of(config, config_d);
        ASSERT_TRUE(asprintf(&manifest, "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":"
                             "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},\"layers\":"
                             "[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
                             oci_media_type_to_string(OCI_MEDIA_MANIFEST),
                             oci_media_type_to_string(OCI_MEDIA_CONFIG), config_d, strlen(config),
                             oci_media_type_to_string(OCI_MEDIA_LAYER), layer_d, layer_size) > 0);
        digest_of(manifest, manifest_d);
        ASSERT_TRUE(asprintf(&index, "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\","
                             "\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\","
                             "\"architecture\":\"amd64\"}}]}",
                             oci_media_type_to_string(OCI_MEDIA_MANIFEST), manifest_d,
                             strlen(manifest)) > 0);
        digest_of(index, index_d);

        MemBlob blobs[] = {
                { index_d, index },
                { manifest_d, manifest },
                { config_d, config },
                { layer_d, layer, layer_size },
                {}
        };
        OciBlobSource src = { .open = mem_open, .userdata = blobs };

        ASSERT_OK(oci_platform_parse("linux/amd64", &want));
        ASSERT_OK(oci_image_resolve_descriptor(&src, OCI_MEDIA_INDEX, index_d, strlen(index), &want, &img,
                                               NULL));
        ASSERT_STREQ(img->manifest_digest, manifest_d);
        ASSERT_STREQ(img->config_digest, config_d);
        ASSERT_EQ(img->n_layers, 1U);

        fd = tree_new(dir);
        ASSERT_OK(oci_image_unpack(&src, img, fd, NULL, NULL, NULL));
        _cleanup_free_ char *hello = NULL;
        ASSERT_OK(read_full_file_at(fd, "etc/hello", 64, &hello, NULL));
        ASSERT_STREQ(hello, "hi\n");
        tree_free(dir, fd);

        /* The layer served changed in one byte of its content: unpacked, but the import fails. */
        memcpy(bad_layer, layer, layer_size);
        bad_layer[layer_size - 1030] ^= 1;      /* in the data or padding, not in a header */
        blobs[3].data = bad_layer;
        fd = tree_new(dir);
        ASSERT_ERROR(oci_image_unpack(&src, img, fd, NULL, NULL, &msg), EBADMSG);
        printf("# %s\n", msg);
        ASSERT_TRUE(strstr(msg, "does not match its digest"));
        msg = mfree(msg);
        tree_free(dir, fd);
        oci_image_free(img);
        img = NULL;

        /* The index's descriptor claimed to be a manifest (CVE-2021-41190), another platform. */
        ASSERT_ERROR(oci_image_resolve_descriptor(&src, OCI_MEDIA_MANIFEST, index_d, strlen(index), &want,
                                                  &img, &msg), EBADMSG);
        printf("# %s\n", msg);
        msg = mfree(msg);
        oci_platform_done(&want);
        ASSERT_OK(oci_platform_parse("linux/riscv64", &want));
        ASSERT_ERROR(oci_image_resolve_descriptor(&src, OCI_MEDIA_INDEX, index_d, strlen(index), &want,
                                                  &img, &msg), ENOENT);
        ASSERT_TRUE(strstr(msg, "linux/amd64"));
        ASSERT_NULL(img);
}

/* A layer with etc/.wh.hello: removes etc/hello. */
static size_t make_whiteout_layer(char *buf, size_t size) {
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        size_t used = 0;

        ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        ASSERT_EQ(archive_write_open_memory(a, buf, size, &used), ARCHIVE_OK);
        archive_entry_set_pathname(e, "etc/.wh.hello");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, 0);
        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
        archive_entry_free(e);
        ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        return used;
}

typedef struct CountingSource {
        MemBlob *blobs;
        unsigned opens[2];      /* of blobs[0] and blobs[1] */
} CountingSource;

static int counting_open(void *userdata, const char *digest, int *ret_fd) {
        CountingSource *c = userdata;

        for (size_t k = 0; k < ELEMENTSOF(c->opens); k++)
                if (streq(c->blobs[k].digest, digest))
                        c->opens[k]++;
        return mem_open(c->blobs, digest, ret_fd);
}

/* Unpacks layers (indexes into blobs: 0 adds etc/hello, 1 removes it) and returns whether etc/hello is
 * there, counting how often each blob was opened. */
static bool unpack_layers(MemBlob *blobs, const unsigned *layers, size_t n, CountingSource *c) {
        OciImage img = { .n_layers = n };
        OciBlobSource src = { .open = counting_open, .userdata = c };
        OciLayer l[8];
        char dir[64];
        bool there;
        int fd;

        ASSERT_TRUE(n <= ELEMENTSOF(l));
        *c = (CountingSource) { .blobs = blobs };
        for (size_t k = 0; k < n; k++)
                l[k] = (OciLayer) {
                        .digest = (char*) blobs[layers[k]].digest,
                        .size = blobs[layers[k]].size,
                        .compression = COMPRESSION_NONE,
                };
        img.layers = l;

        fd = tree_new(dir);
        ASSERT_OK(oci_image_unpack(&src, &img, fd, NULL, NULL, NULL));
        there = faccessat(fd, "etc/hello", F_OK, AT_SYMLINK_NOFOLLOW) >= 0;
        tree_free(dir, fd);
        return there;
}

TEST(duplicate_layers) {
        static char add[16384], del[16384];
        size_t add_size = make_layer(add, sizeof(add)), del_size = make_whiteout_layer(del, sizeof(del));
        char add_d[80], del_d[80], hex[65];
        CountingSource c;

        sha256_hex(add, add_size, hex);
        snprintf(add_d, sizeof(add_d), "sha256:%s", hex);
        sha256_hex(del, del_size, hex);
        snprintf(del_d, sizeof(del_d), "sha256:%s", hex);
        MemBlob blobs[] = {
                { add_d, add, add_size },
                { del_d, del, del_size },
                {}
        };

        /* Listed twice in a row (or thrice): unpacked once, same result. */
        ASSERT_TRUE(unpack_layers(blobs, (const unsigned[]) { 0, 0 }, 2, &c));
        ASSERT_EQ(c.opens[0], 1U);
        ASSERT_TRUE(unpack_layers(blobs, (const unsigned[]) { 0, 0, 0 }, 3, &c));
        ASSERT_EQ(c.opens[0], 1U);
        ASSERT_FALSE(unpack_layers(blobs, (const unsigned[]) { 0, 0, 1 }, 3, &c));
        ASSERT_EQ(c.opens[0], 1U);
        ASSERT_EQ(c.opens[1], 1U);
        ASSERT_FALSE(unpack_layers(blobs, (const unsigned[]) { 0, 1, 1 }, 3, &c));
        ASSERT_EQ(c.opens[1], 1U);

        /* Again after a layer that deleted what it added: applied again there, re-creating it. Skipping
         * it would give a different tree than docker or podman. */
        ASSERT_TRUE(unpack_layers(blobs, (const unsigned[]) { 0, 1, 0 }, 3, &c));
        ASSERT_EQ(c.opens[0], 2U);
        ASSERT_EQ(c.opens[1], 1U);
        ASSERT_FALSE(unpack_layers(blobs, (const unsigned[]) { 0, 1, 0, 0, 1 }, 5, &c));
        ASSERT_EQ(c.opens[0], 2U);
        ASSERT_EQ(c.opens[1], 2U);
}

DEFINE_TEST_MAIN
