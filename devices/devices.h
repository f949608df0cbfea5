/*
 * ringside — private declarations of devices/: every device model's ops.
 * The public list is rs_devices[] in registry.c.
 */
#ifndef RINGSIDE_DEVICES_PRIV_H
#define RINGSIDE_DEVICES_PRIV_H

#include "ringside/vdev.h"

extern const struct vdev_ops echo_ops;
extern const struct vdev_ops console_ops;
extern const struct vdev_ops rng_ops;
extern const struct vdev_ops blk_ops;
extern const struct vdev_ops vmmci_ops;
extern const struct vdev_ops balloon_ops;
extern const struct vdev_ops net_ops;
extern const struct vdev_ops scsi_ops;

/* Test-only models, reached by "test-" names only (registry.c). */
extern const struct vdev_ops broken_ops;
extern const struct vdev_ops *const rs_test_devices[];

#endif
