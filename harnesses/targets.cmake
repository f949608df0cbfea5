# ringside fuzz targets: which transports every device gets a target on.
#
# Every device in rs_devices[] (devices/registry.c, read when CMake
# configures) gets one target per transport family below, named
# <device>_<family>; a device not (yet) in the table gets none, so the build
# never depends on a device that has not landed.
#
# Families: keys of the target names; the machine-spec transport is the key
# with '_' turned into '-'.
set(RS_FUZZ_TRANSPORTS pci_modern pci_legacy mmio mmio_legacy)

# Devices that exist on fewer transports. Keep in step with .only_transport
# in harnesses/seeds.c (the generic target uses that).
set(RS_FUZZ_ONLY_vmmci pci_legacy)

# Devices whose host-side state still survives machine_reset (a model that
# keeps host state across a guest reset but has no vdev_ops.host_reset yet):
# their corpus tests, and the machine target's while any of them is in the
# table, run each input once instead of twice-with-the-same-hash. Found by
# that very check; remove a name once its model implements host_reset.
set(RS_FUZZ_NONDETERMINISTIC)
