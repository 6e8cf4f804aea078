/* `hutch ctl`: the command-line client of the control socket (vmm/api.h). */
#ifndef HUTCH_VMM_CTL_H
#define HUTCH_VMM_CTL_H

#include <stddef.h>

#include "vmm/config.h"

#define CTL_TIMEOUT_MS 30000 /* for the answer, once connected */

/*
 * Writes cfg's request line, newline included: {"command":NAME} plus
 * "arguments" when cfg has any (KEY=VALUE a string, KEY:=JSON verbatim).
 * Returns its length, or -ENOSPC when it does not fit in size.
 */
int ctl_build_request(const struct ctl_config *cfg, char *buf, size_t size);

/*
 * Sends cfg's command and prints the answer; returns the exit status: 0 on
 * success, 1 on an error response ("hutch: ctl: MESSAGE" on stderr), 2 when
 * no answer came (cannot connect, connection lost, timeout, garbage).
 */
int ctl_main(const struct ctl_config *cfg);

#endif
