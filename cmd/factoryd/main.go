// Command factoryd is the factory daemon: it hosts factories and runs their confined
// instances, serving clients on a unix socket. See `factoryd --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/factoryd/factoryd/cmd/factoryd/daemoncmd"
	"github.com/factoryd/factoryd/vat"
)

func main() {
	vat.RunHelperIfRequested()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := daemoncmd.Main(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}
