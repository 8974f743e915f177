package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/digest"
	"github.com/factoryd/factoryd/internal/testbin"
)

const module = "github.com/factoryd/factoryd/"

// binaries are the executables a run needs, built from this module's source.
type binaries struct {
	factoryd string // the daemon under test (profd when profiling)
	ping     string // the program, run confined and plain
	rawhop   string // the relay and echo of the call baseline
	charger  string // the program of the billing figure
}

func buildBinaries(profile bool) (binaries, error) {
	daemon := "cmd/factoryd"
	if profile {
		daemon = "internal/bench/profd"
	}
	var b binaries
	for _, p := range []struct {
		pkg string
		out *string
	}{{daemon, &b.factoryd}, {"internal/testprogs/ping", &b.ping}, {"internal/bench/rawhop", &b.rawhop},
		{"internal/testprogs/charger", &b.charger}} {
		path, err := testbin.Build(module + p.pkg)
		if err != nil {
			return binaries{}, err
		}
		*p.out = path
	}
	return b, nil
}

// harness is what every figure runs against: a daemon with the ping program published as a
// sealed factory, and a client connected to it. close ends all of it.
type harness struct {
	dir       string
	bins      binaries
	progress  io.Writer
	profiling bool // the daemon is profd

	daemonCfg  daemonConfig
	daemonEnv  []string
	daemon     *daemonProc
	client     *client.Client
	req        *client.Requestor
	pingDigest digest.Digest // the ping program's blob, also the program of the audit's factories
}

// newHarness builds the binaries, starts the daemon in a fresh temporary directory and
// publishes ping as the sealed factory "ping".
func newHarness(ctx context.Context, opts *Options) (*harness, error) {
	h := &harness{progress: opts.Progress, profiling: opts.ProfileDir != "",
		daemonCfg: newDaemonConfig(max(4096, 2*opts.Sizes.maxYields()), opts.Sizes.BillingPeriod)}
	if opts.ProfileDir != "" {
		h.daemonEnv = append(h.daemonEnv, profileEnv+"="+opts.ProfileDir)
	}
	if err := h.setUp(ctx); err != nil {
		return nil, errors.Join(err, h.close())
	}
	return h, nil
}

// setUp makes the temporary directory, builds the binaries, starts the daemon and publishes
// ping; on error, close undoes what was done.
func (h *harness) setUp(ctx context.Context) error {
	var err error
	if h.dir, err = os.MkdirTemp("", "factory-bench-"); err != nil {
		return err
	}
	// The daemon's vats run as unprivileged uids that must reach the program blob.
	if err := os.Chmod(h.dir, 0o755); err != nil {
		return err
	}
	h.logf("building factoryd, ping, rawhop and charger")
	if h.bins, err = buildBinaries(h.profiling); err != nil {
		return err
	}
	if err := h.startDaemon(ctx); err != nil {
		return err
	}
	h.req, h.pingDigest, err = publishPing(ctx, h.client, h.bins.ping)
	return err
}

// startDaemon starts the daemon and connects the client.
func (h *harness) startDaemon(ctx context.Context) error {
	var err error
	if h.daemon, err = startDaemon(ctx, h.bins.factoryd, h.dir, h.daemonCfg, h.daemonEnv); err != nil {
		return err
	}
	h.client, err = client.Dial(ctx, h.daemon.socket)
	return err
}

// restartDaemon stops the daemon and starts a fresh process on the same data directory, so
// that a figure starts from a daemon that nothing else has run through.
func (h *harness) restartDaemon(ctx context.Context) error {
	h.req.Release()
	h.req = nil
	err := errors.Join(h.client.Close(), h.daemon.stop())
	h.client, h.daemon = nil, nil
	if err != nil {
		return err
	}
	if err := h.startDaemon(ctx); err != nil {
		return err
	}
	h.req, err = h.client.Requestor(ctx, "ping") // the factory survived the restart
	return err
}

// profileEnv names the directory where profd writes its profiles.
const profileEnv = "FACTORYD_BENCH_PROFILE_DIR"

// publishPing uploads the ping program and seals it as the factory "ping"; it returns the
// factory's requestor facet and the program's digest.
func publishPing(ctx context.Context, c *client.Client, prog string) (*client.Requestor, digest.Digest, error) {
	d, err := c.UploadFile(ctx, prog)
	if err != nil {
		return nil, d, fmt.Errorf("upload ping: %w", err)
	}
	b, err := c.NewFactory(ctx, "ping")
	if err != nil {
		return nil, d, err
	}
	defer b.Release()
	if err := b.SetProgram(ctx, d); err != nil {
		return nil, d, err
	}
	r, err := b.Seal(ctx)
	return r, d, err
}

// close ends the client, the daemon (and with it every yield), the built binaries and the
// temporary directory. It may be called on a half-built harness.
func (h *harness) close() error {
	var errs []error
	h.req.Release()
	if h.client != nil {
		errs = append(errs, h.client.Close())
	}
	if h.daemon != nil {
		errs = append(errs, h.daemon.stop())
	}
	testbin.Cleanup()
	if h.dir != "" {
		errs = append(errs, os.RemoveAll(h.dir))
	}
	return errors.Join(errs...)
}

// path names a file in the harness's temporary directory.
func (h *harness) path(name string) string { return filepath.Join(h.dir, name) }

// logf reports progress, when a progress writer was given.
func (h *harness) logf(format string, args ...any) {
	if h.progress != nil {
		fmt.Fprintf(h.progress, "factory-bench: "+format+"\n", args...)
	}
}
