/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include "macro.h"

/* Cleanup helpers for libarchive's objects: _cleanup_(archive_read_freep) struct archive *a = NULL; */
DEFINE_POINTER_CLEANUP_RENAME(struct archive*, archive_read_free, archive_read_freep);
DEFINE_POINTER_CLEANUP_RENAME(struct archive*, archive_write_free, archive_write_freep);
DEFINE_POINTER_CLEANUP_RENAME(struct archive_entry*, archive_entry_free, archive_entry_freep);
DEFINE_POINTER_CLEANUP_RENAME(struct archive_entry_linkresolver*, archive_entry_linkresolver_free,
                              archive_entry_linkresolver_freep);
