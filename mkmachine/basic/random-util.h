/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <inttypes.h>

/* Returns 64 random bits from getrandom(); for temporary names, not for keys. */
uint64_t random_u64(void);
