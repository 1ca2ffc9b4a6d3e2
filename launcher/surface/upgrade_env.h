/*
 * upgrade_env.h - the environment variables one image of an upgrade
 * hands the next (surface/upgrade.c, upgrade_crash.c).  None reaches a
 * worker: the image that reads them unsets them.
 */
#ifndef CLUSTER_RUN_UPGRADE_ENV_H
#define CLUSTER_RUN_UPGRADE_ENV_H

/* the state's fd */
#define UPGRADE_STATE_ENV "CLUSTER_RUN_UPGRADE_STATE"
/* the old binary's fd, beside the state's: the way back works even when
 * the state cannot be read */
#define UPGRADE_OLD_ENV "CLUSTER_RUN_UPGRADE_OLD"
/* set when the old binary takes its state back ... */
#define UPGRADE_FALLBACK_ENV "CLUSTER_RUN_UPGRADE_FALLBACK"
/* ... and why the new one gave it back */
#define UPGRADE_REFUSED_ENV "CLUSTER_RUN_UPGRADE_REFUSED"

#endif
