package vat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The assembly addresses spawnArgs by these offsets (spawn_amd64.s).
func TestSpawnArgsLayout(t *testing.T) {
	var a spawnArgs
	got := []uintptr{unsafe.Offsetof(a.clone), unsafe.Offsetof(a.path), unsafe.Offsetof(a.argv),
		unsafe.Offsetof(a.envv), unsafe.Offsetof(a.fprog), unsafe.Offsetof(a.sflags), unsafe.Offsetof(a.ctl),
		unsafe.Offsetof(a.msg), unsafe.Offsetof(a.msgFD), unsafe.Offsetof(a.zero), unsafe.Offsetof(a.sleep),
		unsafe.Offsetof(a.tries), unsafe.Offsetof(a.step), unsafe.Offsetof(a.errno), unsafe.Offsetof(a.listener)}
	for i, off := range got {
		assert.Equal(t, uintptr(8*i), off, "field %d", i)
	}
	assert.Equal(t, uintptr(64), unsafe.Sizeof(cloneArgs{}), "clone_args, version 0")
}

// parentOf reads a process's parent pid from /proc; 0 if it is gone.
func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

// children lists this process's children (zombies included).
func children(t *testing.T) map[int]bool {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	kids := map[int]bool{}
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && parentOf(pid) == os.Getpid() {
			kids[pid] = true
		}
	}
	return kids
}

func TestProgramIsTheDaemonsChild(t *testing.T) {
	s := newSpawnerWith(t, noPool)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := s.Spawn(ctx, Spec{Program: probePath})
	require.NoError(t, err)
	helper := p.Pid()
	t.Cleanup(func() { p.Kill(); <-p.Done(); p.Conn().Close() })
	require.NoError(t, p.WaitStarted(ctx))
	assert.NotEqual(t, helper, p.Pid(), "the vat is the program now, not the helper")
	assert.Equal(t, os.Getpid(), parentOf(p.Pid()), "the program is this process's child")
	require.Eventually(t, func() bool { return parentOf(helper) == 0 }, 5*time.Second, time.Millisecond,
		"the helper has exited and been reaped")
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	require.NoError(t, err)
	assert.Contains(t, string(b), "NSpid:\t"+strconv.Itoa(p.Pid())+"\t1\n", "pid 1 of its own pid namespace")
	assert.Contains(t, string(b), "NSsid:\t"+strconv.Itoa(p.Pid())+"\t1\n", "the leader of a session of its own")
	assert.Contains(t, string(b), "SigIgn:\t0000000000000000\n", "no signal ignored")
	assert.Contains(t, string(b), "NoNewPrivs:\t1\n")
	assert.Contains(t, string(b), "Seccomp:\t2\n")
	assert.Contains(t, string(b), "CapBnd:\t0000000000000000\n")
	assert.Contains(t, string(b), "CapEff:\t0000000000000000\n")
}

// A vat killed at any moment of its start leaves nothing: no program running unwatched (the
// helper may be killed after it started the program and before it said so), no zombie.
func TestKillDuringStartLeavesNothing(t *testing.T) {
	s := newSpawnerWith(t, noPool)
	before := children(t)
	for i := range 30 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p, err := s.Spawn(ctx, Spec{Program: probePath})
		require.NoError(t, err)
		time.Sleep(time.Duration(i) * 100 * time.Microsecond)
		require.NoError(t, p.Kill())
		select {
		case <-p.Done():
		case <-ctx.Done():
			t.Fatalf("run %d: the vat did not end", i)
		}
		cancel()
		p.Conn().Close()
		assert.Equal(t, before, children(t), "run %d: killed %v after its start began", i, time.Duration(i)*100*time.Microsecond)
	}
}

// The program's process fails its exec: the failure names the step and errno, and the process
// (the daemon's child) is reaped.
func TestExecFailureInTheChild(t *testing.T) {
	s := newSpawnerWith(t, noPool)
	script := filepath.Join(t.TempDir(), "script")
	require.NoError(t, os.WriteFile(script, []byte("not a program\n"), 0o755))
	before := children(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := s.Spawn(ctx, Spec{Program: script})
	require.NoError(t, err)
	err = p.WaitStarted(ctx)
	require.ErrorIs(t, err, ErrStart)
	assert.Contains(t, err.Error(), "exec: "+unix.ENOEXEC.Error())
	<-p.Done()
	p.Conn().Close()
	assert.Equal(t, ExitStatus{Code: 127}, p.Status(), "the program's process, not the helper, is the vat")
	assert.Equal(t, before, children(t))
}

// A program file still open for writing (ETXTBSY) is retried until it is closed.
func TestExecWaitsForTheProgramToBeClosed(t *testing.T) {
	s := newSpawnerWith(t, noPool)
	prog := filepath.Join(t.TempDir(), "probe")
	b, err := os.ReadFile(probePath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(prog, b, 0o755))
	w, err := os.OpenFile(prog, os.O_WRONLY, 0)
	require.NoError(t, err)
	closed := time.AfterFunc(50*time.Millisecond, func() { w.Close() })
	defer closed.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	p, err := s.Spawn(ctx, Spec{Program: prog})
	require.NoError(t, err)
	t.Cleanup(func() { p.Kill(); <-p.Done(); p.Conn().Close() })
	require.NoError(t, p.WaitStarted(ctx))
	assert.GreaterOrEqual(t, time.Since(start), 40*time.Millisecond, "the exec waited for the writer")
	buf := make([]byte, 1)
	p.Conn().SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = p.Conn().Read(buf)
	assert.NoError(t, err, "the program runs and reports")
}
