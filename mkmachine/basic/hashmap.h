/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "macro.h"

/* A map from strings to pointers: open addressing, linear probing, FNV-1a. Keys are not copied: they
 * must stay valid as long as the map (typically they point into a parsed index buffer). */
typedef struct Hashmap Hashmap;

Hashmap* hashmap_new(void);
Hashmap* hashmap_free(Hashmap *h);
DEFINE_POINTER_CLEANUP(Hashmap*, hashmap_free);

/* Sets key to value. Returns 1 if the key was new, 0 if its value was replaced, -ENOMEM. */
int hashmap_put(Hashmap *h, const char *key, void *value);
/* The value of key, or NULL. */
void* hashmap_get(const Hashmap *h, const char *key);
size_t hashmap_size(const Hashmap *h);

/* Iterates in no particular order: for (size_t i = 0; hashmap_iterate(h, &i, &k, &v);) … */
bool hashmap_iterate(const Hashmap *h, size_t *i, const char **ret_key, void **ret_value);
