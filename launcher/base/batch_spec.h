/*
 * batch_spec.h - "N" or "P%": how many slots a reload replaces at once
 * (--reload-batch, cluster-ctl reload --batch).  Shared by cluster-run and
 * cluster-ctl, so that both refuse the same values.
 */
#ifndef LAUNCHER_BATCH_SPEC_H
#define LAUNCHER_BATCH_SPEC_H

/* N from 1 to max (*n = N, *pct = 0), or P% from 1 to 100 (*n = 0,
 * *pct = P).  0, or -1 when s is neither. */
int batch_spec_parse(const char *s, int max, int *n, int *pct);

#endif
