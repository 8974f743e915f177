package program

import (
	"context"
	"fmt"
	"net"
	"os"

	capnp "capnproto.org/go/capnp/v3"
	"golang.org/x/sys/unix"

	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire"
)

// DaemonFD is the fd on which a vat finds the daemon.
const DaemonFD = 3

// ExportFunc builds the capability a program publishes. It may call into env's capabilities.
// The SDK takes ownership of the returned client.
type ExportFunc func(ctx context.Context, env *Env) (capnp.Client, error)

// Serve connects to the daemon, builds the export and publishes it, then serves until the
// daemon hangs up (the instance ended), which is a normal return (nil).
func Serve(ctx context.Context, export ExportFunc) error {
	conn, err := daemonConn()
	if err != nil {
		return err
	}
	rc := wire.NewConn(conn, nil)
	defer rc.Close()
	host := schema.VatHost(rc.Bootstrap(ctx))
	defer host.Release()

	env, err := endowment(ctx, host)
	if err != nil {
		return err
	}
	defer env.release()
	client, err := export(ctx, env)
	if err != nil {
		return fmt.Errorf("build export: %w", err)
	}
	if err := publish(ctx, host, client); err != nil {
		return err
	}
	select {
	case <-rc.Done():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Main runs Serve and exits: 0 when the daemon hung up, 1 (after a message on stderr) on error.
func Main(export ExportFunc) {
	if err := Serve(context.Background(), export); err != nil {
		fmt.Fprintln(os.Stderr, "program:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func daemonConn() (net.Conn, error) {
	var st unix.Stat_t
	if err := unix.Fstat(DaemonFD, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil, fmt.Errorf("%w: fd %d is not a socket", ErrNotInVat, DaemonFD)
	}
	f := os.NewFile(DaemonFD, "factoryd")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotInVat, err)
	}
	return c, nil
}

func endowment(ctx context.Context, host schema.VatHost) (*Env, error) {
	fut, release := host.Endowment(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, fmt.Errorf("endowment: %w", wire.Decode(err))
	}
	en, err := res.Endowment()
	if err != nil {
		return nil, fmt.Errorf("endowment: %w", err)
	}
	return fetchEnv(ctx, host, en)
}

// publish steals client.
func publish(ctx context.Context, host schema.VatHost, client capnp.Client) error {
	fut, release := host.Publish(ctx, func(p schema.VatHost_publish_Params) error {
		return p.SetExport(client)
	})
	defer release()
	if _, err := fut.Struct(); err != nil {
		return fmt.Errorf("publish: %w", wire.Decode(err))
	}
	return nil
}
