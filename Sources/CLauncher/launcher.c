#include "launcher.h"

int mpm_launcher_abi_version(void) { return 1; }
