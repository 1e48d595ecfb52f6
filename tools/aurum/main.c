/* tools/aurum/main.c — the `aurum` command: dispatches to one subcommand per file (node, status,
 * watch, device, incr, add, keygen), prints the overview with --help and the version with --version.
 * Exit codes are shared by every subcommand (aurum_cli.h, man/aurum.1). Before any of them runs,
 * closed standard descriptors are reopened on /dev/null and SIGPIPE is ignored; after, a failed
 * write to standard output makes the exit status 1 (with a line on stderr). */
#include "aurum_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *what;
} commands[] = {
    { "node", aurum_node, "run a cluster node until Ctrl-C, then leave gracefully" },
    { "status", aurum_status, "a node's members, ring, devices, shared values, counters" },
    { "watch", aurum_watch, "follow a node's membership and device events live" },
    { "device", aurum_device, "run a simulated device against a node's device server" },
    { "incr", aurum_incr, "increment the shared counter through a node" },
    { "add", aurum_add, "add an element to the shared set through a node" },
    { "keygen", aurum_keygen, "write a new cluster key file (mode 0600)" },
};

static void overview(FILE *o) {
    fputs("usage: aurum COMMAND [ARGS...]   (aurum COMMAND --help for its flags)\n\n", o);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(o, "  %-8s %s\n", commands[i].name, commands[i].what);
    fputs("\nExit status: 0 success, 1 other failure, 2 bad flags, 3 node unreachable,\n"
          "4 bad or world-readable key file, 5 address cannot be bound (port in use).\n"
          "See aurum(1).\n", o);
}

/* A closed standard descriptor would be taken by the next file the process opens (libuv's
 * sockets and pipes, which it then refuses to close: an assertion, an abort); /dev/null holds
 * its place instead. */
static void reopen_standard_fds(void) {
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
        int got = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (got < 0) _exit(AURUM_EXIT_FAIL);
        if (got != fd) {
            dup2(got, fd);
            close(got);
        }
    }
}

static int run(int argc, char **argv) {
    if (argc < 2) {
        overview(stderr);
        return AURUM_EXIT_USAGE;
    }
    if (aurum_is_help(argv[1]) || !strcmp(argv[1], "help")) {
        overview(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("aurum %s\n", au_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "aurum: unknown command \"%s\" (aurum --help lists them)\n", argv[1]);
    return AURUM_EXIT_USAGE;
}

int main(int argc, char **argv) {
    reopen_standard_fds();
    /* A reader that went away (aurum node | head -1) is a write error to report, not a signal
     * that kills a node before it has left its cluster. */
    signal(SIGPIPE, SIG_IGN);
    int rc = run(argc, argv);
    /* Whatever a command printed must have reached standard output (a full disk, a closed
     * pipe): otherwise say so and fail, even if the command did all else. */
    int out = aurum_check_stdout(argc >= 2 && argv[1][0] != '-' ? argv[1] : "");
    if (!out && fclose(stdout) != 0)
        out = aurum_fail(argc >= 2 ? argv[1] : "", AURUM_EXIT_FAIL,
                         "cannot write to standard output: %s", strerror(errno));
    return rc ? rc : out;
}
