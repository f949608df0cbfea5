#!/bin/bash -eu
# ringside — ClusterFuzzLite build: the same build as OSS-Fuzz's
# (tools/oss-fuzz/build.sh; $SRC/ringside is the checkout under test).
exec bash -eu "$SRC/ringside/tools/oss-fuzz/build.sh"
