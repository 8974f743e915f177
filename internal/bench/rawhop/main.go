// Command rawhop is the physical baseline of the benchmark's call figure: the same two hops as
// client → factoryd → yield, carrying raw 16-byte messages instead of Cap'n Proto calls.
//
//	rawhop relay SOCKET   listen on the unix socket SOCKET, start "rawhop echo" with one end of
//	                      a socketpair on its fd 3 (as factoryd starts a yield), and forward
//	                      16-byte messages between the first client and the echo process, both
//	                      ways, until the client hangs up
//	rawhop echo           answer every 16-byte message on fd 3 with itself, until end of file
//
// Every message is read with its own read(2)s and written with its own write(2): nothing is
// batched, as the Cap'n Proto transport batches nothing either. The relay and the echo process
// are separate Go processes, like the daemon and the yield.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"syscall"
)

// MessageSize is the size of every message.
const MessageSize = 16

func main() {
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "relay":
		err = relay(os.Args[2])
	case len(os.Args) == 2 && os.Args[1] == "echo":
		err = echo()
	default:
		err = errors.New("usage: rawhop relay SOCKET | rawhop echo")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rawhop:", err)
		os.Exit(1)
	}
}

// relay serves one client: it forwards its messages to a fresh echo process and back.
func relay(socket string) error {
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return err
	}
	defer ln.Close()
	back, cmd, err := startEcho()
	if err != nil {
		return err
	}
	c, err := ln.Accept()
	if err != nil {
		back.Close()
		cmd.Wait()
		return err
	}
	replies := make(chan error, 1)
	go func() { replies <- pump(c, back) }()
	err = pump(back, c)
	back.Close() // ends the replies pump; the echo process sees end of file and exits
	c.Close()
	return errors.Join(err, <-replies, cmd.Wait())
}

// startEcho starts this executable as "rawhop echo" with one end of a socketpair on fd 3, and
// returns the other end.
func startEcho() (net.Conn, *exec.Cmd, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "echo"), os.NewFile(uintptr(fds[1]), "echo-child")
	defer theirs.Close()
	defer mine.Close()
	cmd := exec.Command("/proc/self/exe", "echo")
	cmd.Env = []string{}
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start echo: %w", err)
	}
	c, err := net.FileConn(mine)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, nil, err
	}
	return c, cmd, nil
}

// echo answers every message on fd 3 with itself.
func echo() error {
	f := os.NewFile(3, "relay")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("fd 3: %w", err)
	}
	defer c.Close()
	return pump(c, c)
}

// pump copies messages from src to dst one at a time until src ends; end of file is not an
// error.
func pump(dst io.Writer, src io.Reader) error {
	var buf [MessageSize]byte
	for {
		if _, err := io.ReadFull(src, buf[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if _, err := dst.Write(buf[:]); err != nil {
			return err
		}
	}
}
