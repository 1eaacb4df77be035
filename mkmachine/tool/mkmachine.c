/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "macro.h"
#include "progress.h"
#include "string-util.h"

static const char *arg_image_root = MKMACHINE_IMAGE_ROOT;
static bool arg_json = false;
static bool arg_quiet = false;
static bool arg_force = false;

typedef struct Verb {
        const char *name;
        int min_args;   /* not counting the verb */
        int max_args;   /* -1: unbounded */
        int (*run)(int argc, char *argv[]);
} Verb;

static int help(void) {
        printf("mkmachine [OPTIONS…] COMMAND …\n\n"
               "Build and manage systemd-nspawn machines.\n\n"
               "Commands:\n"
               "  help                        Show this help\n"
               "\nOptions:\n"
               "  -h --help                   Show this help\n"
               "     --version                Show package version\n"
               "     --image-root=DIR         Machine store (default: %s)\n"
               "     --json                   Print data as JSON\n"
               "  -q --quiet                  No progress output\n"
               "     --force                  Replace an existing machine\n",
               MKMACHINE_IMAGE_ROOT);
        return 0;
}

static int verb_help(int argc, char *argv[]) {
        return help();
}

static const Verb verbs[] = {
        { "help", 0, 0, verb_help },
};

enum {
        ARG_VERSION = 0x100,
        ARG_IMAGE_ROOT,
        ARG_JSON,
        ARG_FORCE,
};

static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help",       no_argument,       NULL, 'h'            },
                { "version",    no_argument,       NULL, ARG_VERSION    },
                { "image-root", required_argument, NULL, ARG_IMAGE_ROOT },
                { "json",       no_argument,       NULL, ARG_JSON       },
                { "quiet",      no_argument,       NULL, 'q'            },
                { "force",      no_argument,       NULL, ARG_FORCE      },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "+hq", options, NULL)) >= 0)
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
                case '?':
                        return -EINVAL;
                default:
                        assert(false);
                }
        return 1;
}

static int dispatch_verb(int argc, char *argv[]) {
        const char *name = argc > 0 ? argv[0] : "help";

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                const Verb *v = verbs + i;
                int n = argc > 0 ? argc - 1 : 0;

                if (!streq(v->name, name))
                        continue;
                if (n < v->min_args)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Too few arguments for '%s'.", name);
                if (v->max_args >= 0 && n > v->max_args)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Too many arguments for '%s'.", name);
                return v->run(argc, argv);
        }

        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Unknown command '%s'. See 'mkmachine --help'.", name);
}

int main(int argc, char *argv[]) {
        int r;

        log_parse_environment();

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        if (arg_quiet)
                progress_set_enabled(false);

        r = dispatch_verb(argc - optind, argv + optind);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
