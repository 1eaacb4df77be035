/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdint.h>
#include <string.h>

#include "hashmap.h"

typedef struct Bucket {
        const char *key;
        void *value;
} Bucket;

struct Hashmap {
        Bucket *buckets;
        size_t n_buckets;       /* a power of two, or 0 */
        size_t n_entries;
};

static uint64_t hash_string(const char *s) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (; *s; s++) {
                h ^= (uint8_t) *s;
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

Hashmap* hashmap_new(void) {
        return calloc(1, sizeof(Hashmap));
}

Hashmap* hashmap_free(Hashmap *h) {
        if (!h)
                return NULL;
        free(h->buckets);
        return mfree(h);
}

static Bucket* find(const Hashmap *h, const char *key) {
        size_t mask = h->n_buckets - 1;

        for (size_t i = hash_string(key) & mask;; i = (i + 1) & mask) {
                Bucket *b = h->buckets + i;
                if (!b->key || strcmp(b->key, key) == 0)
                        return b;
        }
}

static int resize(Hashmap *h) {
        Hashmap n = { .n_buckets = h->n_buckets ? h->n_buckets * 2 : 64 };

        if (size_multiply_overflow(sizeof(Bucket), n.n_buckets))
                return -ENOMEM;
        n.buckets = calloc(n.n_buckets, sizeof(Bucket));
        if (!n.buckets)
                return -ENOMEM;
        for (size_t i = 0; i < h->n_buckets; i++)
                if (h->buckets[i].key)
                        *find(&n, h->buckets[i].key) = h->buckets[i];
        free(h->buckets);
        h->buckets = n.buckets;
        h->n_buckets = n.n_buckets;
        return 0;
}

int hashmap_put(Hashmap *h, const char *key, void *value) {
        Bucket *b;

        assert(h);
        assert(key);

        /* Keep the load at most 1/2: probes stay short. */
        if ((h->n_entries + 1) * 2 > h->n_buckets && resize(h) < 0)
                return -ENOMEM;

        b = find(h, key);
        if (b->key) {
                b->value = value;
                return 0;
        }
        *b = (Bucket) { .key = key, .value = value };
        h->n_entries++;
        return 1;
}

void* hashmap_get(const Hashmap *h, const char *key) {
        if (!h || h->n_entries == 0)
                return NULL;
        return find(h, key)->value;
}

size_t hashmap_size(const Hashmap *h) {
        return h ? h->n_entries : 0;
}

bool hashmap_iterate(const Hashmap *h, size_t *i, const char **ret_key, void **ret_value) {
        for (; h && *i < h->n_buckets; (*i)++)
                if (h->buckets[*i].key) {
                        if (ret_key)
                                *ret_key = h->buckets[*i].key;
                        if (ret_value)
                                *ret_value = h->buckets[*i].value;
                        (*i)++;
                        return true;
                }
        return false;
}
