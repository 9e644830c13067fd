#!/bin/sh
# `serve` (SageMaker's argument, and the default) starts the model server; anything else runs as given,
# so `docker run IMAGE sm-detect --help` works.
set -e
if [ "$#" -eq 0 ] || [ "$1" = "serve" ]; then
    exec serve
fi
exec "$@"
