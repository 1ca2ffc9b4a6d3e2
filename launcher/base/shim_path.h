/*
 * shim_path.h - where the shim library is.
 */
#ifndef LAUNCHER_SHIM_PATH_H
#define LAUNCHER_SHIM_PATH_H

#include <stddef.h>

/* Fill buf with the shim's absolute path; -1 (after one line on stderr)
 * when it cannot be found or cannot be put in LD_PRELOAD. */
int shim_path_find(char *buf, size_t len);

#endif
