package vat

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

var probePath string

func TestMain(m *testing.M) {
	RunHelperIfRequested()
	dir, err := os.MkdirTemp("", "vat-test-")
	if err != nil {
		panic(err)
	}
	probePath = filepath.Join(dir, "probe")
	cmd := exec.Command("go", "build", "-o", probePath, "./testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type probeReport struct {
	Pid        int      `json:"pid"`
	UID        int      `json:"uid"`
	GID        int      `json:"gid"`
	Groups     []int    `json:"groups"`
	Env        []string `json:"env"`
	FDs        []int    `json:"fds"`
	Root       []string `json:"root"`
	Interfaces []string `json:"interfaces"`
	Hostname   string   `json:"hostname"`
	CreateErr  string   `json:"create_err"`
	WalkErr    string   `json:"walk_err"`
	NetErr     string   `json:"net_err"`
}

// lookAround are the syscalls the probe declares to inspect its vat.
var lookAround = []string{"openat", "getdents64", "socket", "bind", "getgroups"}

// newSpawner returns a Spawner with the default pool of ready helpers.
func newSpawner(t *testing.T) *Spawner {
	return newSpawnerWith(t, nil)
}

// newSpawnerWith returns a Spawner with opts, closed when the test ends.
func newSpawnerWith(t *testing.T, opts *Options) *Spawner {
	t.Helper()
	s, err := NewSpawner(opts)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// noPool makes a Spawner start every helper on demand, for tests that count what a vat holds.
var noPool = &Options{Pool: -1}

func spawnProbe(t *testing.T, s *Spawner, spec Spec) (*Process, *probeReport) {
	t.Helper()
	spec.Program = probePath
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := s.Spawn(ctx, spec)
	require.NoError(t, err)
	t.Cleanup(func() { p.Kill(); <-p.Done(); p.Conn().Close() })
	require.NoError(t, p.WaitStarted(ctx))
	var r probeReport
	p.Conn().SetReadDeadline(time.Now().Add(10 * time.Second))
	require.NoError(t, json.NewDecoder(bufio.NewReader(p.Conn())).Decode(&r))
	return p, &r
}

func TestConfinedView(t *testing.T) {
	s := newSpawner(t)
	outR, outW, err := os.Pipe()
	require.NoError(t, err)
	defer outR.Close()
	p, r := spawnProbe(t, s, Spec{Stdout: outW, Stderr: outW, Syscalls: lookAround})
	outW.Close()

	assert.Equal(t, 1, r.Pid, "the program is pid 1 of its own pid namespace")
	assert.Equal(t, []int{0, 1, 2, 3}, r.FDs, "only fds 0-3 are open")
	assert.Empty(t, r.Env, "the environment is empty")
	assert.Equal(t, []string{"lo"}, r.Interfaces, "no network but loopback")
	assert.Equal(t, "yield", r.Hostname)
	assert.Equal(t, []string{"/ 20000000755", "/bin 20000000755", "/bin/prog 755"}, r.Root,
		"the root holds only the program")
	assert.Contains(t, r.CreateErr, "read-only file system")
	if s.Rootless() {
		assert.Equal(t, 0, r.UID)
	} else {
		assert.Equal(t, programUID, r.UID)
		assert.Equal(t, programUID, r.GID)
		assert.Empty(t, r.Groups, "no supplementary groups")
	}

	_, err = p.Conn().Write([]byte{0})
	require.NoError(t, err)
	<-p.Done()
	out := make([]byte, 100)
	n, _ := outR.Read(out)
	assert.Equal(t, "probe stdout\nprobe stderr\n", string(out[:n]))
	assert.Equal(t, ExitStatus{}, p.Status())
}

func TestSeccompRefusesUndeclaredSyscalls(t *testing.T) {
	s := newSpawner(t)
	_, r := spawnProbe(t, s, Spec{})
	assert.Contains(t, r.CreateErr, "operation not permitted")
	assert.Contains(t, r.WalkErr, "operation not permitted")
	assert.Contains(t, r.NetErr, "operation not permitted")
	assert.Empty(t, r.Root)
	assert.Equal(t, []int{0, 1, 2, 3}, r.FDs, "fstat is allowed")
}

func TestSeccompLogModeNamesRefusals(t *testing.T) {
	s := newSpawner(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := s.Spawn(ctx, Spec{Program: probePath, LogSyscalls: true})
	require.NoError(t, err)
	defer p.Conn().Close()
	var mu sync.Mutex
	var names []string
	served := make(chan struct{})
	go func() {
		defer close(served)
		p.ServeRefusals(func(name string) { mu.Lock(); names = append(names, name); mu.Unlock() })
	}()
	var r probeReport
	p.Conn().SetReadDeadline(time.Now().Add(10 * time.Second))
	require.NoError(t, json.NewDecoder(bufio.NewReader(p.Conn())).Decode(&r))
	assert.Contains(t, r.CreateErr, "operation not permitted", "log mode refuses all the same")
	p.Kill()
	<-p.Done()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeRefusals did not return after the vat exited")
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, names, "openat", "the refused syscall is named")
	assert.Contains(t, names, "socket")
}

func TestCheckSyscalls(t *testing.T) {
	assert.NoError(t, CheckSyscalls([]string{"openat", "socket"}))
	assert.ErrorIs(t, CheckSyscalls([]string{"mount"}), ErrInvalidPolicy)
	assert.ErrorIs(t, CheckSyscalls([]string{"ptrace"}), ErrInvalidPolicy)
	assert.ErrorIs(t, CheckSyscalls([]string{"frobnicate"}), ErrInvalidPolicy)
	assert.Equal(t, "openat", SyscallName(int(syscallNumbers["openat"])))
}

func TestPoolIsUsedAndRefilled(t *testing.T) {
	s := newSpawnerWith(t, &Options{Pool: 2})
	require.Eventually(t, func() bool { return len(s.pool.ready) == 2 }, 10*time.Second, 5*time.Millisecond)
	waiting := (<-s.pool.ready)
	s.pool.ready <- waiting
	p, r := spawnProbe(t, s, Spec{Syscalls: lookAround})
	assert.Equal(t, 1, r.Pid)
	assert.Equal(t, []string{"/ 20000000755", "/bin 20000000755", "/bin/prog 755"}, r.Root,
		"a pooled helper builds the same root")
	assert.NotNil(t, p)
	require.Eventually(t, func() bool { return len(s.pool.ready) == 2 }, 10*time.Second, 5*time.Millisecond,
		"the pool refills")

	// A waiting helper that died is not handed out.
	dead := <-s.pool.ready
	dead.p.Kill()
	<-dead.p.Done()
	s.pool.ready <- dead
	spawnProbe(t, s, Spec{})
}

func TestPoolCloseEndsWaitingHelpers(t *testing.T) {
	s, err := NewSpawner(&Options{Pool: 3})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(s.pool.ready) == 3 }, 10*time.Second, 5*time.Millisecond)
	var pids []int
	for range 3 {
		h := <-s.pool.ready
		pids = append(pids, h.p.Pid())
		s.pool.ready <- h
	}
	require.NoError(t, s.Close())
	for _, pid := range pids {
		assert.ErrorIs(t, unix.Kill(pid, 0), unix.ESRCH, "helper %d is gone", pid)
	}
}

func TestKillThroughPidfd(t *testing.T) {
	s := newSpawner(t)
	p, _ := spawnProbe(t, s, Spec{})
	require.NoError(t, p.Kill())
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("vat did not die")
	}
	assert.Equal(t, ExitStatus{Signal: unix.SIGKILL}, p.Status())
	assert.NoError(t, p.Kill(), "killing an ended vat is not an error")
	assert.Equal(t, "killed by signal 9 (killed)", p.Status().String())
}

func TestExitStatus(t *testing.T) {
	s := newSpawner(t)
	p, _ := spawnProbe(t, s, Spec{})
	_, err := p.Conn().Write([]byte{7})
	require.NoError(t, err)
	<-p.Done()
	assert.Equal(t, ExitStatus{Code: 7}, p.Status())
	assert.Equal(t, "exited with status 7", p.Status().String())
}

func TestHostIDsAreReturned(t *testing.T) {
	s := newSpawnerWith(t, noPool)
	if s.Rootless() {
		t.Skip("rootless vats all run as the daemon's uid")
	}
	p, _ := spawnProbe(t, s, Spec{})
	s.ids.mu.Lock()
	assert.Len(t, s.ids.used, 1)
	s.ids.mu.Unlock()
	p.Kill()
	<-p.Done()
	s.ids.mu.Lock()
	assert.Empty(t, s.ids.used)
	s.ids.mu.Unlock()
}

func TestStartFailureNamesStep(t *testing.T) {
	s := newSpawner(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.Spawn(ctx, Spec{Program: "/nonexistent/program"})
	assert.ErrorIs(t, err, ErrStart)

	dir := t.TempDir() // a directory cannot be mounted over the program file
	p, err := s.Spawn(ctx, Spec{Program: dir})
	require.NoError(t, err, "the failure is the helper's, learnt after")
	err = p.WaitStarted(ctx)
	require.ErrorIs(t, err, ErrStart)
	assert.Contains(t, err.Error(), "program: attach program:")
	<-p.Done()
	p.Conn().Close()
}

func TestNoFDLeak(t *testing.T) {
	s := newSpawnerWith(t, noPool)
	before := countFDs(t)
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p, err := s.Spawn(ctx, Spec{Program: probePath})
		require.NoError(t, err)
		require.NoError(t, p.WaitStarted(ctx))
		cancel()
		p.Kill()
		<-p.Done()
		p.Conn().Close()
	}
	assert.Equal(t, before, countFDs(t))
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}

func TestCheckProgram(t *testing.T) {
	text := filepath.Join(t.TempDir(), "script")
	require.NoError(t, os.WriteFile(text, []byte("#!/bin/sh\necho hi\n"), 0o755))
	tests := []struct {
		name    string
		path    string
		wantErr string
	}{
		{"static go binary", probePath, ""},
		{"shell script", text, "not an ELF executable"},
		{"dynamic binary", "/bin/ls", "dynamically linked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Open(tt.path)
			require.NoError(t, err)
			defer f.Close()
			err = CheckProgram(f)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, ErrNotExecutable)
			assert.True(t, strings.Contains(err.Error(), tt.wantErr), "got %v, want %q", err, tt.wantErr)
		})
	}
}
