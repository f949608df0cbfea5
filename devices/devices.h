/*
 * ringside — private declarations of devices/: every device model's ops.
 * The public list is rs_devices[] in registry.c.
 */
#ifndef RINGSIDE_DEVICES_PRIV_H
#define RINGSIDE_DEVICES_PRIV_H

#include "ringside/vdev.h"

extern const struct vdev_ops echo_ops;

#endif
