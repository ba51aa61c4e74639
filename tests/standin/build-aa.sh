#!/usr/bin/env bash
# Builds the stand-in Attestation Agent into build/standin/aa-standin (see build.sh).
exec "$(dirname "$0")/build.sh" aa
