/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* Copies everything below the directory src_fd into the (empty) directory dst_fd, and the metadata of
 * src_fd itself onto dst_fd: file types incl. devices, FIFOs and sockets, ownership, modes, times,
 * extended attributes (ACLs and security.capability included) and hardlinks. File data is reflinked
 * where the file system can (FICLONE), else copied in the kernel with copy_file_range(), else with
 * read()/write(); holes stay holes. Never follows symlinks and never crosses into another file system
 * (-EXDEV). Returns 0 or a negative errno; *reterr_path (if non-NULL) names the file that failed. */
int copy_tree_at(int src_fd, int dst_fd, uint64_t *ret_bytes, char **reterr_path);
