#include "cmd/commands.h"

#include <stdio.h>

#define TNGWG_VERSION "0.1.0"

int cmd_version(int argc, char **argv)
{
	printf("tng-wg %s (protocol tng-wg/1)\n", TNGWG_VERSION);
	return 0;
}
