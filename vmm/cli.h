/* Command-line parsing for `hutch` and its subcommands. */
#ifndef HUTCH_VMM_CLI_H
#define HUTCH_VMM_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/config.h"

enum cli_command {
	CLI_EXIT, /* already handled (help, version) or failed: exit with cli_parse's code */
	CLI_RUN,
	CLI_CTL, /* `hutch ctl`: cfg->ctl says what to send where (ctl_main()) */
};

/*
 * Parses argv into cfg. Returns CLI_RUN or CLI_CTL to go on; CLI_EXIT with
 * *exit_code set after printing help, the version or one error line (exit 2).
 */
enum cli_command cli_parse(int argc, char **argv, struct vm_config *cfg, int *exit_code);

/*
 * A size: a decimal number, optionally followed by K, M, G, T, P or E
 * (powers of 1024, either case, optionally with iB or B); a bare number is
 * shifted left by bare_shift. 0, or -EINVAL (nothing written) for anything
 * else or an overflow.
 */
int cli_parse_size_in(const char *s, unsigned bare_shift, uint64_t *bytes);
/* --mem's sizes: "512M", "4G", "1T", "2048K"; bare numbers are MiB. */
int cli_parse_size(const char *s, uint64_t *bytes);

/* `hutch ctl` arguments: the length of KEY in KEY=VALUE or KEY:=JSON (':' follows), 0 for neither. */
size_t cli_ctl_key_len(const char *arg);

#endif
