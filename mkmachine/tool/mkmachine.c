/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The command line: options, help, the verb table (with the options each verb takes) and dispatch. */

#include "config.h"
#include "log.h"
#include "machine-glue.h"
#include "machine-template.h"
#include "progress-bar.h"
#include "string-util.h"
#include "strv.h"
#include "tool.h"

const char *arg_image_root = MKMACHINE_IMAGE_ROOT;
bool arg_json = false;
bool arg_quiet = false;
bool arg_force = false;
bool arg_strip_top = false;
const char *arg_name = NULL;
const char *arg_mirror = NULL;
const char *arg_security_mirror = NULL;
const char *arg_keyring = NULL;
const char *arg_recipe = NULL;
const char *arg_cache_dir = MKMACHINE_CACHE_DIR;
char **arg_include = NULL;
char **arg_exclude = NULL;
bool arg_no_verify = false;
bool arg_fresh = false;
const char *arg_platform = NULL;
int arg_tls_verify = -1;
const char *arg_format = NULL;
bool arg_ephemeral = false;
AutoUpdatePolicy arg_auto_update = _AUTO_UPDATE_POLICY_INVALID;
const char *arg_health_cmd = NULL;
bool arg_dry_run = false;
Compression arg_compress = COMPRESSION_GZIP;
TarUnpackOptions arg_unpack = {};

enum {
        ARG_VERSION = 0x100,
        ARG_IMAGE_ROOT,
        ARG_JSON,
        ARG_FORCE,
        ARG_STRIP_TOP,
        ARG_NAME,
        ARG_RECIPE,
        ARG_MIRROR,
        ARG_SECURITY_MIRROR,
        ARG_KEYRING,
        ARG_INCLUDE,
        ARG_EXCLUDE,
        ARG_NO_VERIFY,
        ARG_CACHE_DIR,
        ARG_FRESH,
        ARG_PLATFORM,
        ARG_TLS_VERIFY,
        ARG_FORMAT,
        ARG_EPHEMERAL,
        ARG_AUTO_UPDATE,
        ARG_HEALTH_CMD,
        ARG_DRY_RUN,
        ARG_COMPRESS,
        ARG_MAX_SIZE,
        ARG_XATTRS,
        _ARG_LAST = ARG_XATTRS,
};

/* The options a verb takes, as a mask: a bit for each ARG_ from ARG_IMAGE_ROOT on, and one for all the
 * machine settings options of machine-glue.h. -h, --version, -q and the two that say where mkmachine
 * keeps its state (--image-root, --cache-dir: a wrapper or alias passes them to every command) apply
 * to every verb. */
#define OPT(arg) (UINT64_C(1) << ((arg) - ARG_IMAGE_ROOT))
#define OPT_SETTINGS (UINT64_C(1) << 63)
#define OPTS_GLOBAL (OPT(ARG_IMAGE_ROOT) | OPT(ARG_CACHE_DIR))
/* What every verb that makes a machine takes. */
#define OPTS_NEW (OPT(ARG_JSON) | OPT(ARG_FORCE) | OPT(ARG_AUTO_UPDATE) | OPT(ARG_HEALTH_CMD) | OPT_SETTINGS)
#define OPTS_UNPACK (OPT(ARG_MAX_SIZE) | OPT(ARG_XATTRS))
#define OPTS_OCI (OPTS_NEW | OPTS_UNPACK | OPT(ARG_PLATFORM))
#define OPTS_BOOTSTRAP (OPTS_NEW | OPT(ARG_NAME) | OPT(ARG_RECIPE) | OPT(ARG_MIRROR) |            \
                        OPT(ARG_SECURITY_MIRROR) | OPT(ARG_KEYRING) | OPT(ARG_INCLUDE) |             \
                        OPT(ARG_EXCLUDE) | OPT(ARG_NO_VERIFY) | OPT(ARG_FRESH))
#define OPTS_ALL UINT64_MAX
_Static_assert(_ARG_LAST - ARG_IMAGE_ROOT < 63, "too many options for the mask");

/* The options given, and how each was spelled (for the error that refuses one). */
static uint64_t arg_given = 0;
static const char *arg_given_as[64] = {};

typedef struct Verb {
        const char *name;
        int min_args;   /* not counting the verb */
        int max_args;   /* -1: unbounded */
        uint64_t options;
        int (*run)(int argc, char *argv[]);
} Verb;

static int help(void) {
        printf("mkmachine [OPTIONS…] COMMAND …\n\n"
               "Build and manage systemd-nspawn machines.\n\n"
               "Commands:\n"
               "  bootstrap RECIPE            Build a machine from a recipe (also: mkmachine RECIPE)\n"
               "  import-tar FILE|- NAME      Create machine NAME from a tar archive\n"
               "  import-oci SOURCE NAME      Create machine NAME from an OCI image (directory or archive)\n"
               "  pull REFERENCE [NAME]       Create a machine from an image in a registry\n"
               "  prune                       Remove cached image blobs no machine uses\n"
               "  list                        List machines (stored, running) and Podman containers\n"
               "  show NAME                   Show a machine and its origin\n"
               "  status NAME                 Show whether a machine runs: its unit, leader, addresses\n"
               "  doctor                      Check what machines need from this host, with fixes\n"
               "  remove NAME                 Remove a machine, its settings and its enablement\n"
               "  create TEMPLATE@INSTANCE    Make an instance of a template machine (see TEMPLATES)\n"
               "  set NAME                    Change the settings of a machine (see below)\n"
               "  start NAME                  Start a machine (systemd-nspawn@NAME.service)\n"
               "  stop NAME                   Stop a machine\n"
               "  export NAME FILE|-          Write a machine's tree to a tar archive\n"
               "  rename OLD NEW              Rename a machine\n"
               "  clone SOURCE NAME           Copy a machine\n"
               "  push NAME REFERENCE         Upload a machine as an OCI image to a registry\n"
               "  auto-update [NAME…]         Update machines (new image, package updates), rollback\n"
               "  help                        Show this help\n"
               "\nOptions:\n"
               "  -h --help                   Show this help\n"
               "     --version                Show package version\n"
               "     --image-root=DIR         Machine store (default: %s)\n"
               "     --json                   Print data as JSON\n"
               "  -q --quiet                  No progress output\n"
               "     --force                  Replace an existing machine; remove: stop it first;\n"
               "                              export: also a running machine\n"
               "     --strip-top              Unpack the archive's single top-level directory\n"
               "     --name=NAME              Name of the machine to bootstrap (default: the recipe's)\n"
               "     --recipe=FILE            Bootstrap from this recipe file\n"
               "     --mirror=URL             Archive to bootstrap from\n"
               "     --security-mirror=URL    Where the recipe's Security= suite is (default: the\n"
               "                              host's apt sources, else /debian-security beside it)\n"
               "     --keyring=FILE           Keys the archive's Release must be signed with\n"
               "     --include=PKG,…          Install these packages too\n"
               "     --exclude=PKG,…          Never install these packages\n"
               "     --no-verify              Accept an unsigned archive (dangerous)\n"
               "     --fresh                  Bootstrap anew, not from the cached tree of the recipe\n"
               "     --cache-dir=DIR          Package and image blob cache (default: %s)\n"
               "     --platform=OS/ARCH[/VAR] Image platform to import (default: the host's)\n"
               "     --tls-verify=BOOL        pull: false accepts any certificate and plain HTTP\n"
               "     --format=FORMAT          export: tar, tar.gz, tar.zst or tar.xz (default: from\n"
               "                              the file name)\n"
               "     --ephemeral              create: run the instance on the template's tree under a\n"
               "                              throw-away overlay, not on a clone\n"
               "     --auto-update=POLICY     pull, import-oci, bootstrap, set: registry, local,\n"
               "                              packages or no\n"
               "     --health-cmd=CMD         set: command that must succeed in the machine after\n"
               "                              an update (\"\" removes it)\n"
               "     --dry-run                auto-update: only report what would be updated\n"
               "     --compress=gzip|zstd     push: layer compression (default: gzip)\n"
               "     --max-size=BYTES         import-tar, import-oci, pull: at most this much unpacked\n"
               "                              data (K, M, G, T suffixes; default: the store's free\n"
               "                              space less a reserve)\n"
               "     --xattrs=safe|all        import-tar, import-oci, pull: which extended attributes\n"
               "                              to keep (safe: user.*, security.capability, ACLs)\n",
               MKMACHINE_IMAGE_ROOT, MKMACHINE_CACHE_DIR);
        machine_glue_help();
        printf("\nA machine name can be TEMPLATE@INSTANCE: instance INSTANCE of machine TEMPLATE, which\n"
               "runs as machine TEMPLATE.INSTANCE ('start' creates a missing one as a clone).\n");
        return 0;
}

static int verb_help(int argc, char *argv[]) {
        return help();
}

static const Verb verbs[] = {
        { "bootstrap",     0, 1,  OPTS_BOOTSTRAP,                               verb_bootstrap   },
        { "import-tar",    2, 2,  OPTS_NEW | OPTS_UNPACK | OPT(ARG_STRIP_TOP),  verb_import_tar  },
        { "import-oci",    2, 2,  OPTS_OCI,                                     verb_import_oci  },
        { "pull",          1, 2,  OPTS_OCI | OPT(ARG_TLS_VERIFY),               verb_pull        },
        { "prune",         0, 0,  OPT(ARG_JSON),                                verb_prune       },
        { "list",          0, 0,  OPT(ARG_JSON),                                verb_list        },
        { "show",          1, 1,  OPT(ARG_JSON),                                verb_show        },
        { "status",        1, 1,  OPT(ARG_JSON),                                verb_status      },
        { "doctor",        0, 0,  OPT(ARG_JSON),                                verb_doctor      },
        { "remove",        1, 1,  OPT(ARG_FORCE),                               verb_remove      },
        { "create",        1, 1,  OPT(ARG_JSON) | OPT(ARG_EPHEMERAL) | OPT_SETTINGS, verb_create },
        { "rename",        2, 2,  0,                                            verb_rename      },
        { "clone",         2, 2,  OPT(ARG_JSON) | OPT(ARG_FORCE) | OPT_SETTINGS, verb_clone      },
        { "export",        2, 2,  OPT(ARG_FORCE) | OPT(ARG_FORMAT),             verb_export      },
        { "push",          2, 2,  OPT(ARG_JSON) | OPT(ARG_COMPRESS) | OPT(ARG_TLS_VERIFY), verb_push },
        { "auto-update",   0, -1, OPT(ARG_JSON) | OPTS_UNPACK | OPT(ARG_DRY_RUN) | OPT(ARG_TLS_VERIFY),
                                                                                verb_auto_update },
        { "set",           1, 1,  OPT(ARG_AUTO_UPDATE) | OPT(ARG_HEALTH_CMD) | OPT_SETTINGS, verb_set },
        /* Settings options make a missing TEMPLATE@INSTANCE with them. */
        { "start",         1, 1,  OPT_SETTINGS,                                 verb_start       },
        { "stop",          1, 1,  0,                                            verb_stop        },
        /* Called by the restart drop-in (machine-config.h), not by people: not in --help. */
        { "__unit-helper", 2, 2,  0,                                            verb_unit_helper },
        /* Called by mkmachine-build@NAME.service (mkmachine-generator), not by people. */
        { "__ensure",      1, 1,  OPTS_ALL,                                     verb_ensure      },
        { "help",          0, 0,  0,                                            verb_help        },
};

/* Refuses the first option given that the verb does not take: silently ignoring it would let a
 * typo or a misplaced option look like it had applied. */
static int check_options(const char *verb, uint64_t takes) {
        uint64_t extra = arg_given & ~(takes | OPTS_GLOBAL);

        if (extra == 0)
                return 0;
        for (unsigned b = 0; b < 64; b++)
                if (extra & (UINT64_C(1) << b))
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "'%s' does not take --%s. See "
                                               "'mkmachine --help'.", verb, arg_given_as[b]);
        return 0;
}



static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help",       no_argument,       NULL, 'h'            },
                { "version",    no_argument,       NULL, ARG_VERSION    },
                { "image-root", required_argument, NULL, ARG_IMAGE_ROOT },
                { "json",       no_argument,       NULL, ARG_JSON       },
                { "quiet",      no_argument,       NULL, 'q'            },
                { "force",      no_argument,       NULL, ARG_FORCE      },
                { "strip-top",  no_argument,       NULL, ARG_STRIP_TOP  },
                { "name",       required_argument, NULL, ARG_NAME       },
                { "recipe",     required_argument, NULL, ARG_RECIPE     },
                { "mirror",     required_argument, NULL, ARG_MIRROR     },
                { "security-mirror", required_argument, NULL, ARG_SECURITY_MIRROR },
                { "keyring",    required_argument, NULL, ARG_KEYRING    },
                { "include",    required_argument, NULL, ARG_INCLUDE    },
                { "exclude",    required_argument, NULL, ARG_EXCLUDE    },
                { "no-verify",  no_argument,       NULL, ARG_NO_VERIFY  },
                { "cache-dir",  required_argument, NULL, ARG_CACHE_DIR  },
                { "fresh",      no_argument,       NULL, ARG_FRESH      },
                { "platform",   required_argument, NULL, ARG_PLATFORM   },
                { "tls-verify", required_argument, NULL, ARG_TLS_VERIFY },
                { "format",     required_argument, NULL, ARG_FORMAT     },
                { "ephemeral",  no_argument,       NULL, ARG_EPHEMERAL  },
                { "auto-update", required_argument, NULL, ARG_AUTO_UPDATE },
                { "health-cmd", required_argument, NULL, ARG_HEALTH_CMD },
                { "dry-run",    no_argument,       NULL, ARG_DRY_RUN    },
                { "compress",   required_argument, NULL, ARG_COMPRESS   },
                { "max-size",   required_argument, NULL, ARG_MAX_SIZE   },
                { "xattrs",     required_argument, NULL, ARG_XATTRS     },
                MACHINE_GLUE_OPTIONS,
                {}
        };
        int c, index = -1;

        while ((c = getopt_long(argc, argv, "hq" MACHINE_GLUE_SHORT_OPTIONS, options, &index)) >= 0) {
                unsigned bit = c >= ARG_IMAGE_ROOT && c <= _ARG_LAST ? (unsigned) (c - ARG_IMAGE_ROOT) :
                        c >= ARG_GLUE_FIRST || c == 'p' || c == 'v' ? 63 : 64;

                if (bit < 64) {
                        arg_given |= UINT64_C(1) << bit;
                        arg_given_as[bit] = index >= 0 ? options[index].name : c == 'p' ? "port" : "bind";
                }
                index = -1;
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("mkmachine %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_IMAGE_ROOT:
                        arg_image_root = optarg;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case 'q':
                        arg_quiet = true;
                        break;
                case ARG_FORCE:
                        arg_force = true;
                        break;
                case ARG_STRIP_TOP:
                        arg_strip_top = true;
                        break;
                case ARG_NAME:
                        arg_name = optarg;
                        break;
                case ARG_RECIPE:
                        arg_recipe = optarg;
                        break;
                case ARG_MIRROR:
                        arg_mirror = optarg;
                        break;
                case ARG_SECURITY_MIRROR:
                        arg_security_mirror = optarg;
                        break;
                case ARG_KEYRING:
                        arg_keyring = optarg;
                        break;
                case ARG_INCLUDE:
                case ARG_EXCLUDE:
                        /* "a,b c": commas and spaces separate, as in the recipe's Include=. */
                        for (const char *p = optarg; *p;) {
                                size_t n = strcspn(p, ", ");
                                if (n > 0) {
                                        _cleanup_free_ char *w = strndup(p, n);
                                        if (!w || strv_extend(c == ARG_INCLUDE ? &arg_include : &arg_exclude,
                                                              w) < 0)
                                                return log_oom();
                                }
                                p += n;
                                p += strspn(p, ", ");
                        }
                        break;
                case ARG_NO_VERIFY:
                        arg_no_verify = true;
                        break;
                case ARG_CACHE_DIR:
                        arg_cache_dir = optarg;
                        break;
                case ARG_FRESH:
                        arg_fresh = true;
                        break;
                case ARG_PLATFORM:
                        arg_platform = optarg;
                        break;
                case ARG_TLS_VERIFY:
                        arg_tls_verify = parse_boolean(optarg);
                        if (arg_tls_verify < 0)
                                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                                       "Invalid --tls-verify='%s': use true or false.",
                                                       optarg);
                        break;
                case ARG_AUTO_UPDATE:
                        arg_auto_update = auto_update_policy_from_string(optarg);
                        if (arg_auto_update < 0)
                                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                                       "Invalid --auto-update='%s': use registry, local, "
                                                       "packages or no.", optarg);
                        break;
                case ARG_HEALTH_CMD:
                        arg_health_cmd = optarg;
                        break;
                case ARG_DRY_RUN:
                        arg_dry_run = true;
                        break;
                case ARG_COMPRESS:
                        if (streq(optarg, "gzip"))
                                arg_compress = COMPRESSION_GZIP;
                        else if (streq(optarg, "zstd"))
                                arg_compress = COMPRESSION_ZSTD;
                        else
                                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                                       "Invalid --compress='%s': use gzip or zstd.", optarg);
                        break;
                case ARG_MAX_SIZE:
                        if (parse_size(optarg, &arg_unpack.max_bytes) < 0 || arg_unpack.max_bytes == 0)
                                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                                       "Invalid --max-size='%s': use a number of bytes "
                                                       "with an optional K, M, G or T suffix.", optarg);
                        break;
                case ARG_XATTRS:
                        if (!streq(optarg, "safe") && !streq(optarg, "all"))
                                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                                       "Invalid --xattrs='%s': use safe or all.", optarg);
                        arg_unpack.all_xattrs = streq(optarg, "all");
                        break;
                case ARG_FORMAT:
                        arg_format = optarg;
                        break;
                case ARG_EPHEMERAL:
                        arg_ephemeral = true;
                        break;
                case '?':
                        return -EINVAL;
                default: {
                        int r = machine_glue_parse_option(c, optarg);
                        if (r < 0)
                                return r;
                        assert(r > 0);
                }
                }
        }
        return 1;
}

static int dispatch_verb(int argc, char *argv[]) {
        const char *name = argc > 0 ? argv[0] : "help";

        if (argc == 0 && arg_recipe) {
                int r = check_options("bootstrap", OPTS_BOOTSTRAP);
                return r < 0 ? r : run_bootstrap(arg_recipe);
        }

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                const Verb *v = verbs + i;
                int n = argc > 0 ? argc - 1 : 0;

                if (!streq(v->name, name))
                        continue;
                if (n < v->min_args)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Too few arguments for '%s'.",
                                               name);
                if (v->max_args >= 0 && n > v->max_args)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Too many arguments for '%s'.",
                                               name);
                int r = check_options(name, v->options);
                if (r < 0)
                        return r;
                /* TEMPLATE@INSTANCE → TEMPLATE.INSTANCE, for every verb that takes a machine name. */
                r = template_resolve_args(name, argc, argv);
                if (r < 0)
                        return r;
                return v->run(argc, argv);
        }

        /* "mkmachine jammy": a recipe's name as the command. */
        if (recipe_exists(name)) {
                int r = check_options(name, OPTS_BOOTSTRAP);
                return r < 0 ? r : run_bootstrap(name);
        }

        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Unknown command '%s'. See 'mkmachine --help'.",
                               name);
}

int main(int argc, char *argv[]) {
        int r;

        log_parse_environment();
        log_set_before_write(progress_bar_clear);

        r = machine_glue_split_argv(&argc, argv);
        if (r < 0)
                return EXIT_FAILURE;
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        if (arg_quiet)
                progress_bar_set_enabled(false);

        r = dispatch_verb(argc - optind, argv + optind);
        machine_glue_done();
        template_done();
        if (r == -EINTR && store_interrupted_signal() > 0) {
                /* Die by the signal, as the caller expects of an interrupted command. */
                (void) signal(store_interrupted_signal(), SIG_DFL);
                (void) raise(store_interrupted_signal());
                return 128 + store_interrupted_signal();
        }
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
