/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "podman.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* podman's output is parsed as it comes; the promise is no crash, no leak, and on success entries
 * that each have an ID and a state (what `mkmachine list` prints unchecked). The same bytes go
 * through the network list parser, which shares the document handling. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        PodmanContainer *l = NULL;
        PodmanNetwork *nets = NULL;
        size_t n = 0, n_nets = 0;
        int index = -2;

        if (size > 256 * 1024)
                return 0;

        if (podman_ps_parse((const char*) data, size, &l, &n, &index) >= 0) {
                for (size_t i = 0; i < n; i++)
                        assert(l[i].id && l[i].id[0] && l[i].state && l[i].state[0] && l[i].name &&
                               l[i].image);
                podman_container_array_free(l, n);
        } else
                assert(index >= -1 || index == -2);

        if (podman_networks_parse((const char*) data, size, &nets, &n_nets, NULL) >= 0) {
                for (size_t i = 0; i < n_nets; i++)
                        assert(nets[i].name && nets[i].subnets);
                podman_network_array_free(nets, n_nets);
        }
        return 0;
}
