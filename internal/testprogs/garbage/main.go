// Command garbage is a test program that attacks the daemon on its fd 3 with hostile Cap'n
// Proto frames (package wire/hostile). It takes no arguments: it reads the attack's name from
// its factory's data component "mode", speaking raw RPC (bootstrap, VatHost.component,
// Blob.read), then sends the attack and waits for the daemon to hang up, and exits with
// status 4. Modes:
//
//	self        a call pipelined on its own question (failure mode 1)
//	pipeline    a call pipelined on endowment's data (failure mode 2)
//	oversized   a frame header claiming 64 MiB (failure mode 4)
//	random      64 KiB of random bytes
//	flood       50000 calls, without reading an answer
//	disembargo  publish, then a sender loopback on publish's void answer
//	resolve     publish a promise, resolve it to the daemon's own VatHost
//	cycle       publish a promise, resolve it to itself
//	null        publish the null capability, and serve nothing
//	exit        publish a capability, and exit at once
//	hangup      shut its connection down, and live on
//
// Like every test program it refuses to run unless it is pid 1 with a socket on fd 3.
package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
	"golang.org/x/sys/unix"

	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire/hostile"
)

const daemonFD = 3

var (
	endowment = hostile.Method{Interface: schema.VatHost_TypeID, ID: 0}
	publish   = hostile.Method{Interface: schema.VatHost_TypeID, ID: 1}
	component = hostile.Method{Interface: schema.VatHost_TypeID, ID: 2}
	blobSize  = hostile.Method{Interface: schema.Blob_TypeID, ID: 0}
	blobRead  = hostile.Method{Interface: schema.Blob_TypeID, ID: 1}
)

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "garbage: refusing to run outside a vat")
		os.Exit(3)
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "garbage:", err)
		os.Exit(1)
	}
	os.Exit(4)
}

func run() error {
	conn, err := daemonConn()
	if err != nil {
		return err
	}
	defer conn.Close()
	r := hostile.NewReader(conn)
	boot, mode, err := readMode(conn, r)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "garbage: mode", mode)
	if err := attack(conn, r, boot, mode); err != nil {
		fmt.Fprintln(os.Stderr, "garbage: attack:", err) // the daemon may hang up midway
	}
	io.Copy(io.Discard, conn) // until the daemon hangs up
	return nil
}

func daemonConn() (net.Conn, error) {
	var st unix.Stat_t
	if err := unix.Fstat(daemonFD, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil, errors.New("fd 3 is not a socket")
	}
	f := os.NewFile(daemonFD, "factoryd")
	defer f.Close()
	return net.FileConn(f)
}

// readMode bootstraps, fetches the component "mode" (a Blob) and reads it. It returns the
// export id of the daemon's VatHost and the mode. Questions 0-2 are used.
func readMode(w io.Writer, r *hostile.Reader) (boot uint32, mode string, err error) {
	if _, err := w.Write(hostile.MustFrames(hostile.Bootstrap(0))); err != nil {
		return 0, "", err
	}
	if boot, err = awaitCap(r, 0); err != nil {
		return 0, "", fmt.Errorf("bootstrap: %w", err)
	}
	name := hostile.Payload{Ptrs: 1, Fill: func(s capnp.Struct) error { return s.SetText(0, "mode") }}
	if _, err := w.Write(hostile.MustFrames(hostile.Call(1, hostile.Import(boot), component, name))); err != nil {
		return 0, "", err
	}
	blob, err := awaitCap(r, 1)
	if err != nil {
		return 0, "", fmt.Errorf("component mode: %w", err)
	}
	read := hostile.Payload{DataWords: 2, Fill: func(s capnp.Struct) error { s.SetUint32(8, 64); return nil }}
	if _, err := w.Write(hostile.MustFrames(hostile.Call(2, hostile.Import(blob), blobRead, read))); err != nil {
		return 0, "", err
	}
	err = r.AwaitReturn(2, func(ret rpccp.Return) error {
		res, err := ret.Results()
		if err != nil {
			return err
		}
		p, err := res.Content()
		if err != nil {
			return err
		}
		d, err := p.Struct().Ptr(0)
		mode = strings.TrimSpace(string(d.Data()))
		return err
	})
	return boot, mode, err
}

// awaitCap returns the export id of the first capability of the results of question q.
func awaitCap(r *hostile.Reader, q uint32) (id uint32, err error) {
	err = r.AwaitReturn(q, func(ret rpccp.Return) error {
		res, err := ret.Results()
		if err != nil {
			return err
		}
		caps, err := res.CapTable()
		if err != nil {
			return err
		}
		if caps.Len() == 0 || caps.At(0).Which() != rpccp.CapDescriptor_Which_senderHosted {
			return errors.New("no capability in the results")
		}
		id = caps.At(0).SenderHosted()
		return nil
	})
	return id, err
}

// attack sends the frames of mode, on questions from 10 on.
func attack(w io.Writer, r *hostile.Reader, boot uint32, mode string) error {
	send := func(bs ...hostile.Builder) error {
		_, err := w.Write(hostile.MustFrames(bs...))
		return err
	}
	host := hostile.Import(boot)
	switch mode {
	case "self":
		return send(hostile.Call(10, hostile.Answer(10), endowment, hostile.Payload{}))
	case "pipeline":
		return send(hostile.Call(10, host, endowment, hostile.Payload{}),
			hostile.Call(11, hostile.Answer(10, 0), blobSize, hostile.Payload{}))
	case "oversized":
		_, err := w.Write(hostile.OversizedHeader())
		return err
	case "random":
		b := make([]byte, 64<<10)
		rand.Read(b)
		_, err := w.Write(b)
		return err
	case "flood":
		for q := uint32(10); q < 50010; q++ {
			if err := send(hostile.Call(q, host, endowment, hostile.Payload{})); err != nil {
				return err
			}
		}
		return nil
	case "disembargo":
		if err := send(hostile.Call(10, host, publish, hostile.Payload{Caps: []hostile.Cap{hostile.SenderHosted(1)}})); err != nil {
			return err
		}
		if err := r.AwaitReturn(10, func(rpccp.Return) error { return nil }); err != nil {
			return err
		}
		return send(hostile.SenderLoopback(hostile.Answer(10), 0))
	case "resolve":
		return send(hostile.Call(10, host, publish, hostile.Payload{Caps: []hostile.Cap{hostile.SenderPromise(1)}}),
			hostile.Resolve(1, hostile.ReceiverHosted(boot)))
	case "cycle":
		return send(hostile.Call(10, host, publish, hostile.Payload{Caps: []hostile.Cap{hostile.SenderPromise(1)}}),
			hostile.Resolve(1, hostile.SenderHosted(1)))
	case "exit":
		send(hostile.Call(10, host, publish, hostile.Payload{Caps: []hostile.Cap{hostile.SenderHosted(1)}}))
		os.Exit(5)
	case "hangup":
		if uc, ok := w.(*net.UnixConn); ok {
			uc.CloseWrite()
			uc.CloseRead()
		}
		time.Sleep(time.Hour) // the daemon ends it: it has no channel left
		return nil
	case "null":
		if err := send(hostile.Call(10, host, publish, hostile.Payload{Ptrs: 1})); err != nil {
			return err
		}
		time.Sleep(time.Hour) // serves nothing; the daemon kills it
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}
