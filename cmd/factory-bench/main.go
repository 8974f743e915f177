// Command factory-bench measures factoryd against the targets of DESIGN.md, each figure with
// its baseline in the same run, and prints a table (and JSON with --json FILE). See
// docs/BENCHMARKS.md and `factory-bench --help`.
//
//	go run ./cmd/factory-bench            # the full run: a few minutes
//	go run ./cmd/factory-bench --quick    # the smoke test: well under a minute
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/factoryd/factoryd/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
