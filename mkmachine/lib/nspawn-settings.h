/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ini.h"
#include "macro.h"

/* The machine settings mkmachine manages, as they go into /etc/systemd/nspawn/NAME.nspawn (see
 * systemd.nspawn(5)). Files in /etc/systemd/nspawn are trusted by systemd-nspawn, so network and bind
 * settings are honoured there (unlike a .nspawn next to the image), and systemd-nspawn@.service runs
 * with --settings=override, so the file wins over the unit's command line.
 *
 * Only the keys we own are rewritten; everything else a person wrote into the file stays. */

#define NSPAWN_PORTS_MAX 256U
#define NSPAWN_BINDS_MAX 256U

typedef enum NetworkMode {
        NETWORK_VETH,           /* VirtualEthernet=yes: a ve-NAME/host0 pair, networkd does DHCP */
        NETWORK_ZONE,           /* Zone=NAME: a vz-NAME bridge shared by machines of the zone */
        NETWORK_BRIDGE,         /* Bridge=IF: an existing host bridge */
        NETWORK_HOST,           /* Private=no, VirtualEthernet=no: the host's network */
        NETWORK_NONE,           /* Private=yes, VirtualEthernet=no: loopback only */
        _NETWORK_MODE_MAX,
        _NETWORK_MODE_INVALID = -EINVAL,
} NetworkMode;

typedef enum PrivateUsersMode {
        PRIVATE_USERS_PICK,     /* what systemd-nspawn@.service does (-U) */
        PRIVATE_USERS_IDENTITY,
        PRIVATE_USERS_NO,
        _PRIVATE_USERS_MODE_MAX,
        _PRIVATE_USERS_MODE_INVALID = -EINVAL,
} PrivateUsersMode;

typedef enum PortProtocol {
        PORT_TCP,
        PORT_UDP,
        _PORT_PROTOCOL_MAX,
        _PORT_PROTOCOL_INVALID = -EINVAL,
} PortProtocol;

typedef struct NspawnPort {
        PortProtocol protocol;
        uint16_t host;
        uint16_t guest;
} NspawnPort;

typedef struct NspawnBind {
        char *source;           /* absolute host path */
        char *destination;      /* absolute path in the machine */
        bool read_only;
        bool idmap;
        bool idmap_set;         /* "idmap" or "noidmap" was given (see nspawn_settings_idmap_binds()) */
} NspawnBind;

typedef struct NspawnSettings {
        NetworkMode network;    /* _NETWORK_MODE_INVALID: leave as is */
        char *network_name;     /* zone or bridge name */
        NspawnPort *ports;
        size_t n_ports;
        bool ports_set;         /* replace the file's Port= lines (possibly by none) */
        NspawnBind *binds;
        size_t n_binds;
        bool binds_set;
        PrivateUsersMode private_users; /* _INVALID: leave as is */
        int boot;               /* -1: leave as is */
        char **parameters;      /* with boot=0: the command line; NULL: leave as is */
        char **environment;     /* K=V; NULL: leave as is */
        char *working_directory;
        char *user;
} NspawnSettings;

void nspawn_settings_done(NspawnSettings *s);
/* An empty settings object: everything "leave as is". */
void nspawn_settings_init(NspawnSettings *s);

const char* network_mode_to_string(NetworkMode m) _pure_;
NetworkMode network_mode_from_string(const char *s) _pure_;
const char* private_users_mode_to_string(PrivateUsersMode m) _pure_;
PrivateUsersMode private_users_mode_from_string(const char *s) _pure_;
const char* port_protocol_to_string(PortProtocol p) _pure_;
PortProtocol port_protocol_from_string(const char *s) _pure_;

/* Parses --network=veth|zone:NAME|bridge:IF|host|none into s. -EINVAL on anything else. */
int nspawn_settings_parse_network(NspawnSettings *s, const char *value);

/* Parses "[tcp:|udp:]HOST[:GUEST]" (GUEST defaults to HOST), as systemd.nspawn's Port=. */
int nspawn_port_parse(const char *value, NspawnPort *ret);
/* Formats a port as Port= wants it ("tcp:8080:80"); buf must hold NSPAWN_PORT_STRING_MAX. */
#define NSPAWN_PORT_STRING_MAX 20U
char* nspawn_port_format(const NspawnPort *p, char *buf, size_t size);

/* Parses "SRC:DST[:OPT[,OPT]]" with OPT ro, rw, idmap or noidmap (DST defaults to SRC); both absolute
 * and normalized, no ':' in the paths. Does not check that SRC exists (the caller does, to name it in
 * the error). */
int nspawn_bind_parse(const char *value, NspawnBind *ret);
/* Formats a bind as the value of Bind= (or of BindReadOnly= if b->read_only: the key says it, not the
 * value), "SRC:DST" with ":idmap" if b->idmap; nspawn_bind_parse() reads it back. */
int nspawn_bind_format(const NspawnBind *b, char **ret);

int nspawn_settings_add_port(NspawnSettings *s, const NspawnPort *p);
/* Takes over the strings of *b on success. */
int nspawn_settings_add_bind(NspawnSettings *s, NspawnBind *b);

/* Merges what an image asks for (image, from oci_config_to_nspawn_settings()) under the user's own
 * options (user, changed in place): the user's boot choice, command (a non-empty parameters list),
 * working directory and user win; the environment is the image's with the user's variables replacing
 * those of the same name. A machine that boots gets no command, working directory or user (they make
 * no sense with Boot=yes, and nspawn refuses User= there). */
int nspawn_settings_merge_image(NspawnSettings *user, const NspawnSettings *image);

/* Writes the settings that are set into ini, keeping every other line. */
int nspawn_settings_apply(const NspawnSettings *s, IniFile *ini);

/* Reads back what mkmachine manages from a parsed file, for "show". Unknown keys are ignored; values
 * we cannot parse give -EBADMSG with the line in *reterr_line. */
int nspawn_settings_from_ini(const IniFile *ini, NspawnSettings *ret, unsigned *reterr_line);
/* The same as systemd-nspawn reads the file: an assignment of one of our keys whose value we cannot read
 * is skipped (the value before stays), as are the ini's ignored lines (ini_parse_lenient()); their line
 * numbers, in order, go to *ret_ignored (if non-NULL; freed by the caller) and their number to
 * *ret_n_ignored. Fails only with -ENOMEM. Where mkmachine reads less than systemd-nspawn (a Bind=
 * option it does not know), such a line is in effect for the machine but not in ret: callers say so. */
int nspawn_settings_from_ini_lenient(const IniFile *ini, NspawnSettings *ret, unsigned **ret_ignored,
                                     size_t *ret_n_ignored);

/* 0 if w can be a word of Parameters= or Environment=: -EINVAL for a control character other than tab,
 * DEL, or invalid UTF-8 (a newline cannot be expressed in a .nspawn file at all). */
int nspawn_word_check(const char *w);
/* Joins words so that systemd-nspawn's config_parse_strv() (252 and 257+) reads back exactly these
 * words: plain words as they are, others as runs in single or double quotes (no escapes exist there; a
 * backslash is literal). -EINVAL if a word fails nspawn_word_check(). */
int nspawn_words_quote(char * const *l, char **ret);
/* The inverse, exactly as systemd-nspawn splits: white space separates, quotes group and are removed,
 * backslashes are literal. -EINVAL on an unterminated quote (nspawn ignores such a line). */
int nspawn_words_split(const char *s, char ***ret);

/* The n bytes at s are an environment variable name systemd accepts: letters, digits, '_', not
 * starting with a digit. */
bool nspawn_env_name_is_valid(const char *s, size_t n);
/* s is a user name or number for User=: [A-Za-z0-9_.-], not starting with '-' or '.'. */
bool nspawn_user_is_valid(const char *s);
/* p is a normalized absolute path that reads back unchanged in WorkingDirectory=, Bind= and units: no
 * control characters, tabs, backslashes or ':', valid UTF-8, not ending in white space. */
bool nspawn_path_is_valid(const char *p);

/* Checks every value of s that goes into the file (command words, environment, working directory,
 * user, bind paths, network name): 0, or -EINVAL with a message naming the field and the reason.
 * nspawn_settings_apply() runs it first and writes nothing if it fails. */
int nspawn_settings_check(const NspawnSettings *s, char **reterr_message);

/* Splits a value of our own .machine files (unit-file style) into words, honouring double and single
 * quotes and C escapes (\n, \t, \xNN). -EINVAL on an unterminated quote. */
int split_quoted(const char *s, char ***ret);
