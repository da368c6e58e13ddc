#ifndef MPM_LAUNCHER_H
#define MPM_LAUNCHER_H

// The code that must run between clone and execve lives here, in C, because nothing
// in the child may allocate, take a lock or touch Swift's runtime. Swift prepares
// everything; the child only makes raw syscalls.

int mpm_launcher_abi_version(void);

#endif
