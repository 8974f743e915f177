package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// rawRelay is the call figure's baseline: a rawhop relay process (standing where factoryd
// stands) with its echo process (standing where the yield stands), and one client connection
// to it carrying 16-byte messages.
type rawRelay struct {
	cmd     *exec.Cmd
	log     *os.File
	done    chan struct{} // closed once cmd.Wait returned
	waitErr error
	client  *rawClient
}

// startRaw starts the relay and connects to it.
func (h *harness) startRaw(ctx context.Context) (*rawRelay, error) {
	socket := h.path("relay.sock")
	log, err := os.Create(h.path("relay.log"))
	if err != nil {
		return nil, err
	}
	r := &rawRelay{cmd: exec.Command(h.bins.rawhop, "relay", socket), log: log, done: make(chan struct{})}
	r.cmd.Stdout, r.cmd.Stderr = log, log
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start relay: %w", err)
	}
	go func() { r.waitErr = r.cmd.Wait(); close(r.done) }()
	conn, err := r.dial(ctx, socket)
	if err != nil {
		return nil, errors.Join(err, r.close())
	}
	r.client = newRawClient(conn)
	return r, nil
}

// dial connects to the relay once it listens. The relay serves only the first connection,
// so this is also the benchmark's connection.
func (r *rawRelay) dial(ctx context.Context, socket string) (net.Conn, error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", socket); err == nil {
			return c, nil
		}
		select {
		case <-r.done:
			return nil, fmt.Errorf("relay exited at start: %v", r.waitErr)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil, errors.New("relay did not listen within 10s")
}

// close hangs up, which ends the relay and its echo process, and waits for the relay; one
// still running after 5s is killed by its pid.
func (r *rawRelay) close() error {
	defer r.log.Close()
	if r.client != nil {
		r.client.close()
	}
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
		return errors.New("relay did not exit when its client hung up")
	}
	if r.client == nil {
		return nil // killed or failed at start: its status says nothing
	}
	return r.waitErr
}

// rawClient multiplexes calls from any number of goroutines over one connection, as an RPC
// connection does: each message carries its call's id in its first 8 bytes, and one reader
// hands every answer to its caller.
//
// Concurrency: wmu serialises writes (one write(2) per message); mu guards the fields after it.
type rawClient struct {
	conn net.Conn
	wmu  sync.Mutex

	mu      sync.Mutex
	next    uint64
	waiting map[uint64]chan struct{}
	err     error // set once the reader stopped

	readerDone chan struct{}
}

func newRawClient(conn net.Conn) *rawClient {
	c := &rawClient{conn: conn, waiting: map[uint64]chan struct{}{}, readerDone: make(chan struct{})}
	go c.readLoop()
	return c
}

// call sends one message and waits for its echo.
func (c *rawClient) call(ctx context.Context) error {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	id := c.next
	c.next++
	c.waiting[id] = ch
	c.mu.Unlock()
	var msg [16]byte
	binary.LittleEndian.PutUint64(msg[:8], id)
	copy(msg[8:], payload[8:])
	c.wmu.Lock()
	_, err := c.conn.Write(msg[:])
	c.wmu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-c.readerDone:
		return c.readErr()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *rawClient) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// readLoop hands each answer to its caller until the connection fails or closes.
func (c *rawClient) readLoop() {
	defer close(c.readerDone)
	var msg [16]byte
	for {
		_, err := io.ReadFull(c.conn, msg[:])
		if err == nil && !bytes.Equal(msg[8:], payload[8:]) {
			err = fmt.Errorf("echo answered %q", msg[:])
		}
		c.mu.Lock()
		if err != nil {
			c.err = fmt.Errorf("raw connection: %w", err)
			c.mu.Unlock()
			return
		}
		id := binary.LittleEndian.Uint64(msg[:8])
		ch := c.waiting[id]
		delete(c.waiting, id)
		c.mu.Unlock()
		if ch != nil {
			ch <- struct{}{}
		}
	}
}

// close closes the connection and waits for the reader.
func (c *rawClient) close() {
	c.conn.Close()
	<-c.readerDone
}
