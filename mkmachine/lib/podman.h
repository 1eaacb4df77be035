/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "macro.h"
#include "time-util.h"

/* What Podman reports about its containers and networks, read from the JSON its command line prints
 * (`podman ps --all --format json`, `podman network ls --format json`), so that mkmachine can show
 * Podman's containers beside the machines and compare address ranges. The parsers take strings (and
 * are fuzzed); spawn_capture() runs podman. Nothing here logs above debug level. */

/* Limits on what we accept from podman: more is not a host we can show in a table anyway. */
#define PODMAN_OUTPUT_MAX (16U * 1024U * 1024U)
#define PODMAN_ENTRIES_MAX 65536U

typedef struct PodmanContainer {
        char *id;               /* full container ID */
        char *name;             /* its first name */
        char *image;            /* the image it was created from, as podman names it */
        char *state;            /* "running", "exited", "created", "paused", … as podman says */
        usec_t created;         /* realtime, 0 if unknown */
        unsigned pid;           /* its main process, 0 if not running */
} PodmanContainer;

void podman_container_array_free(PodmanContainer *l, size_t n);

/* Parses the output of `podman ps --all --format json`: a JSON array of objects with Id, Names,
 * Image, State and Created (seconds since the epoch; podman < 4 wrote a date string there, which is
 * ignored). Empty output (or only white space) is an empty list, as older podman versions print
 * nothing when there are no containers. Entries are kept in the order podman gave them.
 * Errors: -EBADMSG (not JSON, not an array of objects, an entry without Id or State, a field of the
 * wrong type), -E2BIG (over PODMAN_OUTPUT_MAX bytes or PODMAN_ENTRIES_MAX entries), -ENOMEM. On
 * failure *reterr_index (if non-NULL) gets the index of the offending entry, or -1 if the document
 * as a whole is wrong. */
int podman_ps_parse(const char *text, size_t size, PodmanContainer **ret, size_t *ret_n,
                    int *reterr_index);

typedef struct PodmanNetwork {
        char *name;
        char **subnets;         /* "A.B.C.D/N" or IPv6 prefixes, as podman gives them */
} PodmanNetwork;

void podman_network_array_free(PodmanNetwork *l, size_t n);

/* Parses the output of `podman network ls --format json` (podman ≥ 4, netavark or CNI): a JSON
 * array of objects with "name" and "subnets": [{"subnet": …}, …]. A network without subnets (the
 * "none"/"host" kinds, or a macvlan with DHCP) has an empty list. Errors as podman_ps_parse(). */
int podman_networks_parse(const char *text, size_t size, PodmanNetwork **ret, size_t *ret_n,
                          int *reterr_index);
