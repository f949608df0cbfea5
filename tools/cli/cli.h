/*
 * ringside CLI — shared declarations of the subcommands.
 */
#ifndef RINGSIDE_CLI_H
#define RINGSIDE_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "ringside/guest.h"
#include "ringside/machine.h"

/* The machine the demonstration runs when none is given: the echo device on
 * every transport, and the split ring forced on one modern device so both
 * ring kinds run. */
#define CLI_DEFAULT_DEMO_SPEC                                                             \
	"mem=64M pci:echo pci-modern:echo pci-legacy:echo mmio:echo mmio-legacy:echo "     \
	"pci-modern:echo,packed=off,msix=off"

int cmd_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Print "ringside: <msg>" to stderr; returns 2 (usage/input error status). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic seconds, for benchmarks only (never inside the device stack). */
double cli_now(void);

/* One reference-driver session: which interface of device i to use. */
struct demo_iface {
	enum gdrv_transport transport;
	const char *label;
};

#endif
