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

// ExportFunc builds the capability a program publishes. The SDK takes ownership of the
// returned client. env is filled in concurrently: its accessors wait for it, so an ExportFunc
// that does not need the endowment to build its export (a Job, say) publishes at once.
type ExportFunc func(ctx context.Context, env *Env) (capnp.Client, error)

// Serve connects to the daemon, fetches the endowment while it builds the export and
// publishes it, then serves until the daemon hangs up (the instance ended), which is a normal
// return (nil).
func Serve(ctx context.Context, export ExportFunc) error {
	conn, err := daemonConn()
	if err != nil {
		return err
	}
	rc := wire.NewConn(conn, nil)
	defer rc.Close()
	host := schema.VatHost(rc.Bootstrap(ctx))
	defer host.Release()

	env := newEnv()
	defer env.release()
	client, err := export(ctx, env)
	if err != nil {
		go env.load(ctx, host) // export may be waiting for env: let it finish
		return fmt.Errorf("build export: %w", err)
	}
	// The publish goes out before the endowment is asked for: the daemon's create completes on
	// the publish.
	fut, release := sendPublish(ctx, host, client)
	go env.load(ctx, host)
	if err := awaitPublish(fut, release); err != nil {
		return err
	}
	// A failure to load the endowment reaches the program through Env's accessors; the end of
	// the connection is the end of the instance either way.
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

// load fetches the endowment into e and marks it ready (or failed).
func (e *Env) load(ctx context.Context, host schema.VatHost) {
	defer close(e.ready)
	fut, release := host.Endowment(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		e.err = fmt.Errorf("endowment: %w", wire.Decode(err))
		return
	}
	en, err := res.Endowment()
	if err != nil {
		e.err = fmt.Errorf("endowment: %w", err)
		return
	}
	e.err = e.fetch(ctx, host, en)
}

// sendPublish sends the publish call; it steals client.
func sendPublish(ctx context.Context, host schema.VatHost, client capnp.Client) (schema.VatHost_publish_Results_Future, capnp.ReleaseFunc) {
	return host.Publish(ctx, func(p schema.VatHost_publish_Params) error { return p.SetExport(client) })
}

func awaitPublish(fut schema.VatHost_publish_Results_Future, release capnp.ReleaseFunc) error {
	defer release()
	if _, err := fut.Struct(); err != nil {
		return fmt.Errorf("publish: %w", wire.Decode(err))
	}
	return nil
}
