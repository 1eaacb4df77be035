/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive-util.h"
#include "error-util.h"
#include "fd-util.h"
#include "log.h"
#include "oci-push.h"
#include "store.h"
#include "string-util.h"
#include "strv.h"
#include "tar-pack.h"


static void digest_final(EVP_MD_CTX *ctx, char ret[static OCI_DIGEST_STRING_MAX]) {
        unsigned char md[32];
        unsigned n = 0;

        (void) EVP_DigestFinal_ex(ctx, md, &n);
        strcpy(ret, "sha256:");
        for (unsigned k = 0; k < 32; k++)
                sprintf(ret + 7 + 2 * k, "%02x", md[k]);
}

/* The compressing side: reads the tar from the pipe, hashes it (diff_id), compresses it with libarchive's
 * raw format and filter, and the output callback hashes (digest) and writes the blob. */
typedef struct Packer {
        int pipe_fd;
        int out_fd;
        Compression compression;
        EVP_MD_CTX *tar_ctx, *blob_ctx;
        uint64_t size;
        int result;
        char *error;
} Packer;

static la_ssize_t blob_write(struct archive *a, void *userdata, const void *buf, size_t n) {
        Packer *p = userdata;

        int r = loop_write(p->out_fd, buf, n);

        if (r < 0) {
                archive_set_error(a, -r, "Failed to write the layer: %s", strerror(-r));
                return -1;
        }
        (void) EVP_DigestUpdate(p->blob_ctx, buf, n);
        p->size += n;
        return (la_ssize_t) n;
}

static void* packer_thread(void *userdata) {
        Packer *p = userdata;
        _cleanup_(archive_write_freep) struct archive *a = archive_write_new();
        struct archive_entry *e = NULL;
        uint8_t buf[64 * 1024];
        int k;

        p->result = -ENOMEM;
        if (!a)
                goto drain;
        p->result = -EIO;
        k = p->compression == COMPRESSION_GZIP ? archive_write_add_filter_gzip(a) :
                archive_write_add_filter_zstd(a);
        if (k != ARCHIVE_OK || archive_write_set_format_raw(a) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
            archive_write_open2(a, p, NULL, blob_write, NULL, NULL) != ARCHIVE_OK)
                goto fail;
        e = archive_entry_new();
        if (!e)
                goto fail;
        archive_entry_set_filetype(e, AE_IFREG);
        if (archive_write_header(a, e) != ARCHIVE_OK)
                goto fail;
        for (;;) {
                ssize_t n = read(p->pipe_fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        p->result = -errno;
                        goto drain;
                }
                if (n == 0)
                        break;
                (void) EVP_DigestUpdate(p->tar_ctx, buf, (size_t) n);
                if (archive_write_data(a, buf, (size_t) n) != n)
                        goto fail;
        }
        if (archive_write_close(a) != ARCHIVE_OK)
                goto fail;
        archive_entry_free(e);
        p->result = 0;
        return NULL;

fail:
        if (asprintf(&p->error, "Failed to compress the layer: %s", archive_error_string(a) ?: "?") < 0)
                p->error = NULL;
drain:
        archive_entry_free(e);
        /* Keep reading, so that the archiver is not stuck on a full pipe. */
        while (read(p->pipe_fd, buf, sizeof(buf)) > 0)
                ;
        return NULL;
}

int oci_layer_pack(int tree_fd, Compression c, const char *tmp_dir, const volatile sig_atomic_t *interrupted,
                   Progress *progress, int *ret_fd, OciPackedLayer *ret, char **reterr_message) {
        _cleanup_close_ int out_fd = -EBADF, rfd = -EBADF, wfd = -EBADF;
        Packer p = { .compression = c };
        TarPackJob job;
        pthread_t thread;
        int pipefd[2], r;

        assert(tree_fd >= 0);
        assert(ret_fd);
        assert(ret);

        if (c != COMPRESSION_GZIP && c != COMPRESSION_ZSTD)
                return error_message(reterr_message, -EOPNOTSUPP,
                                     "Layers are compressed with gzip or zstd, not %s.",
                                     strna(compression_to_string(c)));

        out_fd = open(tmp_dir, O_TMPFILE|O_RDWR|O_CLOEXEC, 0600);
        if (out_fd < 0)
                return error_message(reterr_message, -errno, "Failed to create a temporary file in %s: %m",
                                     tmp_dir);
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        rfd = pipefd[0];
        wfd = pipefd[1];

        p.pipe_fd = rfd;
        p.out_fd = out_fd;
        p.tar_ctx = EVP_MD_CTX_new();
        p.blob_ctx = EVP_MD_CTX_new();
        if (!p.tar_ctx || !p.blob_ctx ||
            EVP_DigestInit_ex(p.tar_ctx, EVP_sha256(), NULL) != 1 ||
            EVP_DigestInit_ex(p.blob_ctx, EVP_sha256(), NULL) != 1) {
                r = -ENOMEM;
                goto finish;
        }
        /* The archiving child first, then the thread that compresses what it writes (see
         * tar_pack_start()); the child holds the pipe's write end, its end is the thread's EOF. */
        r = tar_pack_start(tree_fd, wfd, COMPRESSION_NONE, ORIGIN_XATTR, interrupted, progress, &job);
        if (r < 0)
                goto finish;
        wfd = safe_close(wfd);
        r = -pthread_create(&thread, NULL, packer_thread, &p);
        if (r < 0) {
                (void) kill(job.pid, SIGKILL);
                (void) tar_pack_wait(&job, NULL, progress, NULL, NULL);
                goto finish;
        }
        r = tar_pack_wait(&job, interrupted, progress, NULL, reterr_message);
        (void) pthread_join(thread, NULL);
        if (r >= 0 && p.result < 0) {
                r = p.result;
                if (reterr_message && !*reterr_message)
                        *reterr_message = TAKE_PTR(p.error);
        }
        if (r < 0)
                goto finish;

        *ret = (OciPackedLayer) { .size = p.size, .compression = c };
        digest_final(p.tar_ctx, ret->diff_id);
        digest_final(p.blob_ctx, ret->digest);
        if (lseek(out_fd, 0, SEEK_SET) < 0) {
                r = -errno;
                goto finish;
        }
        *ret_fd = TAKE_FD(out_fd);
        r = 0;

finish:
        EVP_MD_CTX_free(p.tar_ctx);
        EVP_MD_CTX_free(p.blob_ctx);
        free(p.error);
        return r;
}

static json_object* strv_json(char * const *l) {
        json_object *a = json_object_new_array();

        STRV_FOREACH(i, l)
                json_object_array_add(a, json_object_new_string(*i));
        return a;
}

static int to_string(json_object *j, char **ret) {
        const char *s;

        if (!j)
                return -ENOMEM;
        s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN|JSON_C_TO_STRING_NOSLASHESCAPE);
        *ret = s ? strdup(s) : NULL;
        json_object_put(j);
        return *ret ? 0 : -ENOMEM;
}

int oci_push_config_json(const OciPlatform *p, const char *diff_id, bool boot,
                         const NspawnSettings *settings, char **ret) {
        json_object *j = json_object_new_object(), *rootfs = json_object_new_object(),
                *config = json_object_new_object(), *ids = json_object_new_array();

        assert(p && p->os && p->architecture);
        assert(diff_id);

        if (!j || !rootfs || !config || !ids) {
                json_object_put(j);
                json_object_put(rootfs);
                json_object_put(config);
                json_object_put(ids);
                return -ENOMEM;
        }
        json_object_object_add(j, "architecture", json_object_new_string(p->architecture));
        if (p->variant)
                json_object_object_add(j, "variant", json_object_new_string(p->variant));
        json_object_object_add(j, "os", json_object_new_string(p->os));
        json_object_array_add(ids, json_object_new_string(diff_id));
        json_object_object_add(rootfs, "type", json_object_new_string("layers"));
        json_object_object_add(rootfs, "diff_ids", ids);
        json_object_object_add(j, "rootfs", rootfs);

        /* A booting machine's image has no command: its init is found by whoever runs it. */
        if (!boot && settings) {
                if (settings->parameters)
                        json_object_object_add(config, "Entrypoint", strv_json(settings->parameters));
                if (settings->environment)
                        json_object_object_add(config, "Env", strv_json(settings->environment));
                if (settings->working_directory)
                        json_object_object_add(config, "WorkingDir",
                                               json_object_new_string(settings->working_directory));
                if (settings->user)
                        json_object_object_add(config, "User", json_object_new_string(settings->user));
        }
        json_object_object_add(j, "config", config);
        return to_string(j, ret);
}

static json_object* descriptor(const char *media_type, const char *digest, uint64_t size) {
        json_object *d = json_object_new_object();

        if (!d)
                return NULL;
        json_object_object_add(d, "mediaType", json_object_new_string(media_type));
        json_object_object_add(d, "digest", json_object_new_string(digest));
        json_object_object_add(d, "size", json_object_new_uint64(size));
        return d;
}

int oci_push_manifest_json(const char *config_digest, uint64_t config_size, const OciPackedLayer *layer,
                           char **ret) {
        json_object *j = json_object_new_object(), *layers = json_object_new_array();

        assert(config_digest);
        assert(layer);

        if (!j || !layers) {
                json_object_put(j);
                json_object_put(layers);
                return -ENOMEM;
        }
        json_object_object_add(j, "schemaVersion", json_object_new_int(2));
        json_object_object_add(j, "mediaType",
                               json_object_new_string("application/vnd.oci.image.manifest.v1+json"));
        json_object_object_add(j, "config", descriptor("application/vnd.oci.image.config.v1+json",
                                                       config_digest, config_size));
        json_object_array_add(layers, descriptor(layer->compression == COMPRESSION_ZSTD ?
                                                 "application/vnd.oci.image.layer.v1.tar+zstd" :
                                                 "application/vnd.oci.image.layer.v1.tar+gzip",
                                                 layer->digest, layer->size));
        json_object_object_add(j, "layers", layers);
        return to_string(j, ret);
}
