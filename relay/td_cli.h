/* td_cli.h: the administrative subcommands of tandem-relay (users, grant, revoke, grants, audit).
 * They open the same store as the server (--root DIR, default ".", state in ROOT/.tandem; or
 * --db FILE) and work while the relay runs: SQLite's WAL and busy timeout serialise the writers. */
#ifndef TD_CLI_H
#define TD_CLI_H

/* 1 when arg names a subcommand ("users", "grant", "revoke", "grants", "audit"), else 0. */
int td_cli_is_subcommand(const char *arg);

/* Runs the subcommand argv[1] with its arguments. Prints results on stdout and errors on stderr.
 * Returns the exit status: 0 on success, 1 on any failure (usage included). */
int td_cli_main(int argc, char **argv);

#endif
