package store

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The crash test: a child process (this test binary, re-executed) runs a storm of charges
// through a LedgerWriter and prints each acknowledged entry the moment Submit returns; the
// parent kills it with SIGKILL at a random moment, reopens the store and checks that every
// acknowledged entry is there, unchanged, and that every chain verifies.
//
// Handshake (environment and files, parent → child):
//
//	env  crashDirEnv    a directory the parent created under os.TempDir()
//	file <dir>/parent   the parent's pid, written by the parent before starting the child
//
// The child refuses to run (the test fails) unless the variable names such a directory and
// the file names its parent; without the variable the child test is skipped. Child → parent:
// stdout lines "ack <factory hex> <seq> <hash hex>", one write per line.
const crashDirEnv = "FACTORYD_LEDGER_CRASH_DIR"

func TestLedgerCrashChild(t *testing.T) {
	dir, ok := os.LookupEnv(crashDirEnv)
	if !ok {
		t.Skip("runs only as the child of TestLedgerCrash")
	}
	require.NoError(t, checkCrashDir(dir), "refusing to run the charge storm")
	s, err := Open(dir, nil)
	require.NoError(t, err)
	// Fold often, so that kills land in the middle of folds too.
	w := s.NewLedgerWriter(&LedgerWriterOptions{FoldAt: 512})
	var mu sync.Mutex // one write per acknowledgement
	var wg sync.WaitGroup
	for p := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				n := 1 + i%3
				es := make([]LedgerEntry, n)
				for j := range es {
					es[j] = testEntry(byte(1+(p+j)%4), uint32(1000+p%5), fmt.Sprintf("i-%d", p), uint64(i))
				}
				got, err := w.Submit(context.Background(), es...)
				if err != nil {
					t.Errorf("submit: %v", err)
					return
				}
				var b strings.Builder
				for _, e := range got {
					fmt.Fprintf(&b, "ack %s %d %s\n", e.Factory, e.Seq, e.Hash)
				}
				mu.Lock()
				_, err = os.Stdout.WriteString(b.String())
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait() // until killed
}

// checkCrashDir accepts only a directory under the temp dir holding the parent's marker.
func checkCrashDir(dir string) error {
	if !filepath.IsAbs(dir) || !strings.HasPrefix(filepath.Clean(dir), filepath.Clean(os.TempDir())+string(filepath.Separator)) {
		return fmt.Errorf("%s=%q is not a directory under %s", crashDirEnv, dir, os.TempDir())
	}
	b, err := os.ReadFile(filepath.Join(dir, "parent"))
	if err != nil {
		return fmt.Errorf("%s=%q has no parent marker: %w", crashDirEnv, dir, err)
	}
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getppid()) {
		return fmt.Errorf("%s=%q was created by process %s, not by my parent %d", crashDirEnv, dir, b, os.Getppid())
	}
	return nil
}

type ack struct {
	factory FactoryID
	seq     uint64
	hash    LedgerHash
}

func parseAck(line string) (ack, bool) {
	var a ack
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "ack" {
		return a, false
	}
	fb, err1 := hex.DecodeString(f[1])
	seq, err2 := strconv.ParseUint(f[2], 10, 64)
	err3 := a.hash.UnmarshalText([]byte(f[3]))
	if err1 != nil || err2 != nil || err3 != nil || len(fb) != len(a.factory) {
		return a, false
	}
	copy(a.factory[:], fb)
	a.seq = seq
	return a, true
}

func TestLedgerCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	for round := range 5 {
		killAfter := time.Duration(50+r.IntN(700)) * time.Millisecond
		t.Run(fmt.Sprintf("round %d, kill after %v", round, killAfter), func(t *testing.T) {
			dir := t.TempDir()
			crashRound(t, dir, killAfter)
			crashRound(t, dir, killAfter/2) // and again on the recovered store
		})
	}
}

// crashRound runs the child on dir, kills it killAfter its first acknowledgement, and checks
// the store.
func crashRound(t *testing.T, dir string, killAfter time.Duration) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "parent"), []byte(strconv.Itoa(os.Getpid())), 0o600))
	cmd := exec.Command(os.Args[0], "-test.run=^TestLedgerCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with this test, too
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	killed := false
	t.Cleanup(func() {
		if !killed { // the test failed before the kill: do not leave the child behind
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	acks := make(chan ack, 1<<16)
	var lines sync.WaitGroup
	lines.Add(1)
	go func() {
		defer lines.Done()
		defer close(acks)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := parseAck(sc.Text()); ok {
				acks <- a
			}
		}
	}()
	var got []ack
	first, ok := <-acks
	require.True(t, ok, "the child acknowledged nothing")
	got = append(got, first)
	timer := time.NewTimer(killAfter)
	for collecting := true; collecting; {
		select {
		case a, ok := <-acks:
			if !ok {
				t.Fatal("the child stopped before it was killed")
			}
			got = append(got, a)
		case <-timer.C:
			collecting = false
		}
	}
	require.Equal(t, pid, cmd.Process.Pid)
	require.NoError(t, cmd.Process.Kill(), "SIGKILL to pid %d", pid) // os.Process signals its own pid
	killed = true
	for a := range acks { // lines written before the kill are acknowledged too
		got = append(got, a)
	}
	lines.Wait()
	err = cmd.Wait()
	require.Error(t, err, "the child was killed")

	s, err := Open(dir, nil)
	require.NoError(t, err)
	defer s.Close()
	heads := map[FactoryID]LedgerHead{}
	fs, err := s.LedgerFactories()
	require.NoError(t, err)
	for _, f := range fs {
		heads[f], err = s.VerifyLedger(f)
		require.NoError(t, err)
	}
	for _, a := range got {
		require.LessOrEqual(t, a.seq, heads[a.factory].Seq, "acknowledged entry %s/%d lost", a.factory, a.seq)
		list, err := s.Ledger(LedgerQuery{Factory: a.factory, After: LedgerPos{Seq: a.seq - 1}, Limit: 1})
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, a.hash, list[0].Hash, "acknowledged entry %s/%d changed", a.factory, a.seq)
	}
	var total uint64
	for _, h := range heads {
		total += h.Seq
	}
	t.Logf("%d acknowledged before the kill, %d in the ledger after it", len(got), total)
	assert.GreaterOrEqual(t, total, uint64(len(got)))
}
