/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* OpenPGP signatures checked as apt checks them: by running gpgv(1) against a keyring of trusted
 * keys, and believing only its machine-readable status output. */

/* Verifies data_fd (from its start). With sig_fd >= 0 the signature is detached (Release.gpg);
 * otherwise data_fd is clear-signed (InRelease) and the signed text alone, without the armor, is
 * written to output_fd (if >= 0): parse only that, never the file as fetched.
 *
 * Returns 0 on a good signature by a key in keyring. -ENOKEY if the keyring is missing,
 * -EBADMSG for a bad, missing or untrusted signature (with a sentence in *reterr_message saying
 * which), -ENOENT if gpgv is not installed. Never logs above debug level. */
int gpgv_verify(const char *keyring, int data_fd, int sig_fd, int output_fd, char **reterr_message);
