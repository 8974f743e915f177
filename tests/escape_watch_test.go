package tests

// The escape suite's conspirators: listeners on the host's loopback and in its filesystem and
// abstract socket namespace, and a watcher of the signals this process receives. Each one is
// checked to work, from this process, before a hostile program tries to reach it.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// observation is something a conspirator received: a connection, or data.
type observation struct {
	endpoint string
	data     string
}

// conspirators listen where a hostile program is told to deliver its nonce.
type conspirators struct {
	t       *testing.T
	control string // what this process sends as the positive control

	mu   sync.Mutex // guards seen
	seen []observation

	endpoints []endpoint
	wg        sync.WaitGroup
}

// endpoint is one listener and how to reach it.
type endpoint struct {
	network, addr string // as the program dials it
	closer        interface{ Close() error }
}

func (e endpoint) String() string { return e.network + " " + e.addr }

// newConspirators starts the listeners of one kind: "tcp", "udp", "unix" (sockets in dir, made
// world-writable so that only the vat's mount namespace keeps the program out) or "abstract".
// Everything is closed when the test ends.
func newConspirators(t *testing.T, kind, dir, nonce string) *conspirators {
	c := &conspirators{t: t, control: "control-" + nonce}
	switch kind {
	case "tcp":
		c.listen("tcp", "127.0.0.1:0", true)
		c.listen("tcp", "[::1]:0", false)
	case "udp":
		c.listenPacket("udp", "127.0.0.1:0", true)
		c.listenPacket("udp", "[::1]:0", false)
	case "unix":
		for _, n := range []string{"unix", "unixpacket"} {
			c.listen(n, filepath.Join(dir, n+".sock"), true)
		}
		c.listenPacket("unixgram", filepath.Join(dir, "unixgram.sock"), true)
		for _, e := range c.endpoints {
			require.NoError(t, os.Chmod(e.addr, 0o777))
		}
	case "abstract":
		base := "@factoryd-escape-" + nonce
		c.listen("unix", base+"-stream", true)
		c.listen("unixpacket", base+"-packet", true)
		c.listenPacket("unixgram", base+"-dgram", true)
	default:
		t.Fatalf("no conspirator of kind %q", kind)
	}
	t.Cleanup(c.close)
	return c
}

func (c *conspirators) listen(network, addr string, required bool) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		if required {
			c.t.Fatalf("listen %s %s: %v", network, addr, err)
		}
		c.t.Logf("no %s listener on %s: %v", network, addr, err)
		return
	}
	e := endpoint{network: network, addr: ln.Addr().String(), closer: ln}
	c.endpoints = append(c.endpoints, e)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				defer conn.Close()
				c.observe(e, "") // a connection alone is a message
				conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				buf := make([]byte, 4096)
				for {
					n, err := conn.Read(buf)
					if n > 0 {
						c.observe(e, string(buf[:n]))
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
}

func (c *conspirators) listenPacket(network, addr string, required bool) {
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		if required {
			c.t.Fatalf("listen %s %s: %v", network, addr, err)
		}
		c.t.Logf("no %s listener on %s: %v", network, addr, err)
		return
	}
	e := endpoint{network: network, addr: pc.LocalAddr().String(), closer: pc}
	c.endpoints = append(c.endpoints, e)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		buf := make([]byte, 4096)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			c.observe(e, string(buf[:n]))
		}
	}()
}

func (c *conspirators) observe(e endpoint, data string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, observation{endpoint: e.String(), data: data})
}

func (c *conspirators) close() {
	for _, e := range c.endpoints {
		e.closer.Close()
	}
	c.wg.Wait()
}

// addrs are the addresses the program is given, for the networks of this kind.
func (c *conspirators) addrs() []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range c.endpoints {
		if !seen[e.addr] {
			seen[e.addr] = true
			out = append(out, e.addr)
		}
	}
	return out
}

// checkControl is the positive control: every endpoint, reached from this process, observes
// the control message. Then it forgets what it saw.
func (c *conspirators) checkControl(t *testing.T) {
	t.Helper()
	require.NotEmpty(t, c.endpoints)
	for _, e := range c.endpoints {
		conn, err := net.DialTimeout(e.network, e.addr, 2*time.Second)
		require.NoError(t, err, "positive control: dial %s", e)
		_, err = conn.Write([]byte(c.control))
		require.NoError(t, err, "positive control: write to %s", e)
		conn.Close()
	}
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		got := map[string]bool{}
		for _, o := range c.seen {
			if o.data == c.control {
				got[o.endpoint] = true
			}
		}
		return len(got) == len(c.endpoints)
	}, 5*time.Second, 10*time.Millisecond, "positive control: every conspirator hears this process")
	c.mu.Lock()
	c.seen = nil
	c.mu.Unlock()
}

// assertNothingObserved waits a moment for anything in flight, then fails for each thing a
// conspirator observed since the control.
func (c *conspirators) assertNothingObserved(t *testing.T, channel string) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.seen {
		t.Errorf("%s channel OPEN: the conspirator at %s observed %q from inside the vat", channel, o.endpoint, o.data)
	}
}

// signalWatcher records the signals this process receives that a program might send it.
type signalWatcher struct {
	ch   chan os.Signal
	done chan struct{}

	mu  sync.Mutex // guards got
	got []os.Signal
}

var watchedSignals = []os.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP, syscall.SIGTERM}

func newSignalWatcher() *signalWatcher {
	w := &signalWatcher{ch: make(chan os.Signal, 64), done: make(chan struct{})}
	signal.Notify(w.ch, watchedSignals...)
	go func() {
		defer close(w.done)
		for s := range w.ch {
			w.mu.Lock()
			w.got = append(w.got, s)
			w.mu.Unlock()
		}
	}()
	return w
}

// take returns and forgets what was received.
func (w *signalWatcher) take() []os.Signal {
	w.mu.Lock()
	defer w.mu.Unlock()
	got := w.got
	w.got = nil
	return got
}

// checkControl signals this process and requires the watcher to see it.
func (w *signalWatcher) checkControl(t *testing.T) {
	t.Helper()
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
	var got []os.Signal
	require.Eventually(t, func() bool {
		got = append(got, w.take()...)
		return len(got) > 0
	}, 5*time.Second, 5*time.Millisecond, "positive control: the watcher sees a signal sent to this process")
}

func (w *signalWatcher) stop() {
	signal.Stop(w.ch)
	close(w.ch)
	<-w.done
}

// childTracker remembers every child this process had, polling /proc: the vats' helpers are
// its children, and their cgroup directories are named after their pids.
type childTracker struct {
	stopc chan struct{}
	done  chan struct{}

	mu   sync.Mutex // guards pids
	pids map[int]bool
}

func newChildTracker() *childTracker {
	c := &childTracker{stopc: make(chan struct{}), done: make(chan struct{}), pids: map[int]bool{}}
	go func() {
		defer close(c.done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			c.poll()
			select {
			case <-c.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return c
}

func (c *childTracker) poll() {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", os.Getpid()))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(b)) {
			var pid int
			if _, err := fmt.Sscan(field, &pid); err == nil {
				c.add(pid)
			}
		}
	}
}

func (c *childTracker) add(pid int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pids[pid] = true
}

func (c *childTracker) has(pid int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pids[pid]
}

func (c *childTracker) stop() {
	close(c.stopc)
	<-c.done
}

// sleeper is a process this test starts for a program to try to signal.
type sleeper struct {
	pid  int
	done chan struct{}
	kill func()
}

func startSleeper(t *testing.T) *sleeper {
	t.Helper()
	p, err := os.StartProcess("/bin/sleep", []string{"sleep", "600"}, &os.ProcAttr{})
	if errors.Is(err, os.ErrNotExist) {
		p, err = os.StartProcess("/usr/bin/sleep", []string{"sleep", "600"}, &os.ProcAttr{})
	}
	require.NoError(t, err)
	s := &sleeper{pid: p.Pid, done: make(chan struct{})}
	go func() {
		p.Wait()
		close(s.done)
	}()
	s.kill = func() {
		p.Kill()
		<-s.done
	}
	return s
}

func (s *sleeper) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}
