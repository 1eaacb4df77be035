/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "fd-util.h"
#include "json-util.h"
#include "podman.h"
#include "string-util.h"
#include "strv.h"

void podman_container_array_free(PodmanContainer *l, size_t n) {
        for (size_t i = 0; l && i < n; i++) {
                free(l[i].id);
                free(l[i].name);
                free(l[i].image);
                free(l[i].state);
        }
        free(l);
}

void podman_network_array_free(PodmanNetwork *l, size_t n) {
        for (size_t i = 0; l && i < n; i++) {
                free(l[i].name);
                strv_free(l[i].subnets);
        }
        free(l);
}

/* The document as an array: NULL (and *ret_empty) for empty output, else a new reference. */
static int parse_array(const char *text, size_t size, json_object **ret, int *reterr_index) {
        _cleanup_(json_object_putp) json_object *j = NULL;
        json_tokener *tok;
        size_t i = 0;

        if (size > PODMAN_OUTPUT_MAX)
                return -E2BIG;
        while (i < size && IN_SET_CHAR(text[i], ' ', '\t', '\n', '\r'))
                i++;
        if (i == size) {
                *ret = NULL;
                return 0;
        }
        /* json-c stops at the first NUL and takes an int length. */
        if (memchr(text, 0, size))
                goto bad;

        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        j = json_tokener_parse_ex(tok, text, (int) size);
        if (json_tokener_get_error(tok) != json_tokener_success) {
                json_tokener_free(tok);
                goto bad;
        }
        /* Nothing but white space may follow the document (the text need not be NUL-terminated). */
        for (i = json_tokener_get_parse_end(tok); i < size; i++)
                if (!IN_SET_CHAR(text[i], ' ', '\t', '\r', '\n')) {
                        json_tokener_free(tok);
                        goto bad;
                }
        json_tokener_free(tok);
        if (!j || !json_object_is_type(j, json_type_array))
                goto bad;
        if (json_object_array_length(j) > PODMAN_ENTRIES_MAX)
                return -E2BIG;
        *ret = TAKE_PTR(j);
        return 0;
bad:
        if (reterr_index)
                *reterr_index = -1;
        return -EBADMSG;
}

/* A string member: NULL if absent or null; -EBADMSG if it has another type. */
static int get_string(json_object *o, const char *key, const char **ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !v) {
                *ret = NULL;
                return 0;
        }
        if (!json_object_is_type(v, json_type_string))
                return -EBADMSG;
        *ret = json_object_get_string(v);
        return 0;
}

static int strdup_or_null(const char *s, char **ret) {
        if (!s) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int parse_container(json_object *o, PodmanContainer *c) {
        const char *id, *image, *state, *name = NULL;
        json_object *v;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return -EBADMSG;
        r = get_string(o, "Id", &id);
        if (r >= 0)
                r = get_string(o, "Image", &image);
        if (r >= 0)
                r = get_string(o, "State", &state);
        if (r < 0)
                return r;
        if (isempty(id) || isempty(state))
                return -EBADMSG;

        if (json_object_object_get_ex(o, "Names", &v) && v) {
                json_object *n;

                if (!json_object_is_type(v, json_type_array))
                        return -EBADMSG;
                n = json_object_array_length(v) > 0 ? json_object_array_get_idx(v, 0) : NULL;
                if (n && !json_object_is_type(n, json_type_string))
                        return -EBADMSG;
                name = n ? json_object_get_string(n) : NULL;
        }

        /* Podman 4 writes seconds since the epoch; podman 3 a date string, which we don't parse. */
        if (json_object_object_get_ex(o, "Created", &v) && json_object_is_type(v, json_type_int)) {
                int64_t t = json_object_get_int64(v);
                if (t > 0 && (uint64_t) t < UINT64_MAX / USEC_PER_SEC)
                        c->created = (usec_t) t * USEC_PER_SEC;
        }
        if (json_object_object_get_ex(o, "Pid", &v) && json_object_is_type(v, json_type_int)) {
                int64_t p = json_object_get_int64(v);
                if (p > 0 && p <= INT32_MAX)
                        c->pid = (unsigned) p;
        }

        if (strdup_or_null(id, &c->id) < 0 || strdup_or_null(name ?: "", &c->name) < 0 ||
            strdup_or_null(image ?: "", &c->image) < 0 || strdup_or_null(state, &c->state) < 0)
                return -ENOMEM;
        return 0;
}

/* Parses a JSON array of objects into a new array of n elements of element_size bytes, each filled by
 * parse; on failure the elements parsed so far are freed with free_array and, for a malformed element,
 * its index goes to *reterr_index. */
static int parse_objects(const char *text, size_t size, size_t element_size,
                         int (*parse)(json_object *o, void *element),
                         void (*free_array)(void *l, size_t n),
                         void **ret, size_t *ret_n, int *reterr_index) {
        _cleanup_(json_object_putp) json_object *a = NULL;
        uint8_t *l = NULL;
        size_t n;
        int r;

        assert(text || size == 0);
        assert(ret);
        assert(ret_n);

        r = parse_array(text, size, &a, reterr_index);
        if (r < 0)
                return r;
        n = a ? json_object_array_length(a) : 0;
        if (n > 0) {
                l = calloc(n, element_size);
                if (!l)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                r = parse(json_object_array_get_idx(a, i), l + i * element_size);
                if (r < 0) {
                        free_array(l, n);
                        if (reterr_index && r == -EBADMSG)
                                *reterr_index = (int) i;
                        return r;
                }
        }
        *ret = l;
        *ret_n = n;
        return 0;
}

static int parse_container_element(json_object *o, void *element) {
        return parse_container(o, element);
}

static void container_array_free(void *l, size_t n) {
        podman_container_array_free(l, n);
}

int podman_ps_parse(const char *text, size_t size, PodmanContainer **ret, size_t *ret_n,
                    int *reterr_index) {
        return parse_objects(text, size, sizeof(PodmanContainer), parse_container_element,
                             container_array_free, (void**) ret, ret_n, reterr_index);
}

static int parse_network(json_object *o, PodmanNetwork *net) {
        const char *name;
        json_object *v;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return -EBADMSG;
        r = get_string(o, "name", &name);
        if (r < 0)
                return r;
        if (isempty(name))
                return -EBADMSG;
        net->name = strdup(name);
        if (!net->name)
                return -ENOMEM;

        net->subnets = calloc(1, sizeof(char*));
        if (!net->subnets)
                return -ENOMEM;
        if (!json_object_object_get_ex(o, "subnets", &v) || !v)
                return 0;
        if (!json_object_is_type(v, json_type_array))
                return -EBADMSG;
        for (size_t i = 0; i < json_object_array_length(v); i++) {
                json_object *s = json_object_array_get_idx(v, i);
                const char *subnet;

                if (!s || !json_object_is_type(s, json_type_object))
                        return -EBADMSG;
                r = get_string(s, "subnet", &subnet);
                if (r < 0)
                        return r;
                if (isempty(subnet))
                        return -EBADMSG;
                if (strv_extend(&net->subnets, subnet) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int parse_network_element(json_object *o, void *element) {
        return parse_network(o, element);
}

static void network_array_free(void *l, size_t n) {
        podman_network_array_free(l, n);
}

int podman_networks_parse(const char *text, size_t size, PodmanNetwork **ret, size_t *ret_n,
                          int *reterr_index) {
        return parse_objects(text, size, sizeof(PodmanNetwork), parse_network_element, network_array_free,
                             (void**) ret, ret_n, reterr_index);
}
