package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/rpc"
	"golang.org/x/sys/unix"

	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire"
)

// plainVat is the program started the plain way: fork/exec with one end of a socketpair on
// fd 3, no namespaces, no helper. The benchmark plays the daemon's part on the other end.
type plainVat struct {
	cmd    *exec.Cmd
	conn   *rpc.Conn
	export capnp.Client // what the program published; owned
}

// startPlain starts prog plainly and returns once it has published its capability. The
// program gets what a vat gets: an empty environment, /dev/null on fds 0-2, and the socket on
// fd 3.
func startPlain(ctx context.Context, prog string) (*plainVat, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "plain-rpc"), os.NewFile(uintptr(fds[1]), "plain-rpc-child")
	v := &plainVat{cmd: exec.Command(prog)}
	v.cmd.Args = []string{"prog"}
	v.cmd.Env = []string{}
	v.cmd.ExtraFiles = []*os.File{theirs}
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = v.cmd.Start()
	theirs.Close()
	if err != nil {
		mine.Close()
		return nil, fmt.Errorf("start %s: %w", prog, err)
	}
	nc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		v.stop()
		return nil, err
	}
	host := &plainHost{published: make(chan capnp.Client, 1)}
	v.conn = wire.NewConn(nc, &wire.Options{Bootstrap: capnp.Client(schema.VatHost_ServerToClient(host))})
	if v.export, err = host.await(ctx, v.conn); err != nil {
		v.stop()
		return nil, err
	}
	return v, nil
}

// stop hangs up, which makes the program exit, and waits for it; a program still running
// after 5s is killed by its pid.
func (v *plainVat) stop() error {
	v.export.Release()
	if v.conn != nil {
		v.conn.Close()
	}
	done := make(chan error, 1)
	go func() { done <- v.cmd.Wait() }()
	select {
	case err := <-done:
		// The program ends when its connection closes; how it reports that (a call of its
		// own failing as the host hangs up) does not matter to the benchmark.
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil
		}
		return err
	case <-time.After(5 * time.Second):
		v.cmd.Process.Kill()
		<-done
		return errors.New("plain program did not exit when its connection closed")
	}
}

// plainHost is the minimal VatHost the benchmark serves to a plain program: an empty
// endowment, and one publish.
type plainHost struct {
	published chan capnp.Client
}

// await returns the published capability (owned by the caller).
func (h *plainHost) await(ctx context.Context, conn *rpc.Conn) (capnp.Client, error) {
	select {
	case c := <-h.published:
		return c, nil
	case <-conn.Done():
		return capnp.Client{}, errors.New("plain program hung up before publishing")
	case <-ctx.Done():
		return capnp.Client{}, ctx.Err()
	}
}

// Endowment implements schema.VatHost_Server: nothing.
func (h *plainHost) Endowment(ctx context.Context, call schema.VatHost_endowment) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	en, err := res.NewEndowment()
	if err != nil {
		return err
	}
	if _, err := en.NewComponents(0); err != nil {
		return err
	}
	_, err = en.NewArgs(0)
	return err
}

// Publish implements schema.VatHost_Server: it accepts the first export.
func (h *plainHost) Publish(ctx context.Context, call schema.VatHost_publish) error {
	export := call.Args().Export().AddRef()
	select {
	case h.published <- export:
		return nil
	default:
		export.Release()
		return errors.New("published twice")
	}
}

// Component implements schema.VatHost_Server: there are none.
func (h *plainHost) Component(ctx context.Context, call schema.VatHost_component) error {
	return errors.New("no components")
}

// Arg implements schema.VatHost_Server: there are none.
func (h *plainHost) Arg(ctx context.Context, call schema.VatHost_arg) error {
	return errors.New("no arguments")
}

// Meter implements schema.VatHost_Server: a plain process has no billing channel.
func (h *plainHost) Meter(ctx context.Context, call schema.VatHost_meter) error {
	return errors.New("no meter")
}
