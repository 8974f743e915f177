// Package daemoncmd is the factoryd command: flags, configuration, logging, the socket, and
// the daemon's run until its context is cancelled (SIGINT or SIGTERM).
package daemoncmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/factoryd/factoryd/billing"
	"github.com/factoryd/factoryd/config"
	"github.com/factoryd/factoryd/factory"
	"github.com/factoryd/factoryd/store"
	"github.com/factoryd/factoryd/vat"
)

const usage = `usage: factoryd [--data DIR] [--socket PATH] [--config FILE] [--log-level LEVEL]

factoryd hosts factories: it publishes builders' programs and runs confined instances of them
for requestors, who reach it with factoryctl or the Go client over a unix socket.

Defaults: data in $XDG_DATA_HOME/factoryd (else ~/.local/share/factoryd); socket at
$FACTORYD_SOCKET, else $XDG_RUNTIME_DIR/factoryd/factoryd.sock, else
~/.local/state/factoryd/factoryd.sock; config file (optional) at
$XDG_CONFIG_HOME/factoryd/config.json. SIGINT or SIGTERM stops it cleanly.

flags:
`

// Main runs the daemon with args (without the program name) until ctx is cancelled, and
// returns the process exit status. Errors go to stderr.
func Main(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "factoryd:", err)
		return 2
	}
	if err := run(ctx, cfg, stderr); err != nil {
		fmt.Fprintln(stderr, "factoryd:", err)
		return 1
	}
	return 0
}

func parseArgs(args []string, stderr io.Writer) (*config.Config, error) {
	fs := flag.NewFlagSet("factoryd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	data := fs.String("data", "", "data directory (state file and blobs)")
	socket := fs.String("socket", "", "unix socket to serve on")
	cfgFile := fs.String("config", "", "config file (JSON, see docs/operator.md)")
	level := fs.String("log-level", "", "trace, debug, info, warn, error or off (default info)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	cfg, err := config.Load(*cfgFile)
	if err != nil {
		return nil, err
	}
	if *data != "" {
		cfg.DataDir = *data
	}
	if *socket != "" {
		cfg.Socket = *socket
	}
	if *level != "" {
		cfg.LogLevel = *level
	}
	return cfg, nil
}

func newLogger(cfg *config.Config, w io.Writer) hclog.Logger {
	level := hclog.Info
	if cfg.LogLevel != "" {
		level = hclog.LevelFromString(cfg.LogLevel)
	}
	return hclog.New(&hclog.LoggerOptions{Name: "factoryd", Level: level, Output: w})
}

func run(ctx context.Context, cfg *config.Config, stderr io.Writer) error {
	log := newLogger(cfg, stderr)
	dataDir, socket := cfg.Paths()
	st, err := store.Open(dataDir, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := factory.New(log, st, factoryOptions(cfg))
	if err != nil {
		return err
	}
	ln, err := listen(socket)
	if err != nil {
		return err
	}
	log.Info("data directory", "path", dataDir)
	return d.Run(ctx, ln)
}

func factoryOptions(c *config.Config) *factory.Options {
	return &factory.Options{
		StartTimeout:    time.Duration(c.StartTimeout),
		MaxStartTimeout: time.Duration(c.MaxStartTimeout),
		MaxBlobSize:     c.MaxBlobSize,
		MaxInstances:    c.MaxInstances,
		DefaultLimits:   vatLimits(c.Limits.Default),
		MaxLimits:       vatLimits(c.Limits.Max),
		Vat: &vat.Options{
			HostIDBase: c.Vat.HostIDBase, HostIDCount: c.Vat.HostIDCount, Hostname: c.Vat.Hostname,
			Env: c.Vat.Env, OpenFiles: c.Vat.OpenFiles, Processes: c.Vat.Processes,
			Cgroups: vat.CgroupMode(c.Vat.Cgroups), Pool: c.Vat.Pool,
		},
		Billing: factory.BillingOptions{DefaultPeriod: time.Duration(c.Billing.DefaultPeriod),
			Bounds: billing.Bounds{MinPeriod: time.Duration(c.Billing.MinPeriod), MaxPeriod: time.Duration(c.Billing.MaxPeriod),
				MaxBitsPerSecond: c.Billing.MaxBitsPerSecond}},
		Access: accessOptions(c.Access),
	}
}

func accessOptions(a config.Access) factory.AccessOptions {
	var out factory.AccessOptions
	for _, g := range a.Grants {
		out.Grants = append(out.Grants, factory.CapabilityGrant{Capability: g.Capability, Users: g.Users, Groups: g.Groups})
	}
	return out
}

func vatLimits(r config.ResourceLimits) vat.Limits {
	return vat.Limits{MemoryBytes: uint64(r.Memory), Pids: r.Pids, CPUMillicores: uint32(r.CPU * 1000),
		CPUSeconds: r.CPUSeconds, OpenFiles: r.OpenFiles}
}

// listen serves on path, replacing a stale socket left by a daemon that died, but never one
// another daemon still answers on. Any local user may connect: what each may do is decided per
// call from its peer credentials.
func listen(path string) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create socket directory: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("another factoryd is serving on %s", path)
	} else if errors.Is(err, syscall.ECONNREFUSED) {
		os.Remove(path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
