/*
 * ringside — private declarations of the blk device and its backends (the
 * public part is ringside/blk.h): the backends' ops tables, so one backend
 * file can recognise another's objects (a fault wrapper around a mem
 * backend) without exposing their layouts.
 */
#ifndef RINGSIDE_DEVICES_BLK_H
#define RINGSIDE_DEVICES_BLK_H

#include "ringside/blk.h"

extern const struct world_backend_ops blk_mem_ops;
extern const struct world_backend_ops blk_file_ops;
extern const struct world_backend_ops blk_fault_ops;

#endif
