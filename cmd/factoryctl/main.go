// Command factoryctl drives factoryd: it publishes programs as factories, runs confined
// instances of them and inspects what the daemon holds. See `factoryctl help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/factoryd/factoryd/cmd/factoryctl/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Stdio())
	stop()
	os.Exit(code)
}
