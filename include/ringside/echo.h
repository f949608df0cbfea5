/*
 * ringside — "echo": ringside's own small test device (virtio ID 63, which
 * no specification assigns). Two request queues; every chain's readable
 * bytes are copied into its writable part (XORed with the config key when
 * ECHO_F_XOR is negotiated), and the used length is the bytes written.
 * It exists to exercise rings, transports and the reference driver with
 * real I/O, and as the test bed's simplest fuzz target.
 */
#ifndef RINGSIDE_ECHO_H
#define RINGSIDE_ECHO_H

#define ECHO_F_XOR 0          /* responses XORed with config.key */
#define ECHO_F_NOTIFY_KEY 1   /* writing key raises a config-change interrupt */

#define ECHO_NUM_QUEUES 2
#define ECHO_QUEUE_MAX 256

/* Config layout (little-endian). */
#define ECHO_CFG_REQUESTS 0   /* le32, ro: chains completed since reset */
#define ECHO_CFG_KEY 4        /* u8, rw: XOR key */
#define ECHO_CFG_KEY_WRITES 5 /* u8, ro: times key was written (wraps) */
#define ECHO_CFG_QUEUES 6     /* le16, ro: number of queues */
#define ECHO_CFG_BYTES 8      /* le64, ro: payload bytes echoed since reset */
#define ECHO_CFG_SIZE 16

#endif
