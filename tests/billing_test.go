package tests

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/billing"
	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/store"
)

// ackCounter counts the "ack N" lines a storming probe writes to its stdout: charges it was
// told are durable.
type ackCounter struct {
	mu    sync.Mutex
	units uint64
	buf   []byte
}

func (a *ackCounter) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.buf = append(a.buf, p...)
	for {
		line, rest, ok := bytes.Cut(a.buf, []byte("\n"))
		if !ok {
			break
		}
		if n, ok := strings.CutPrefix(string(line), "ack "); ok && n == "1" {
			a.units++
		}
		a.buf = rest
	}
	return len(p), nil
}

func (a *ackCounter) acked() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.units
}

// Every charge acknowledged before the daemon is killed with SIGKILL is in the ledger after it
// restarts, and the chain verifies; several times over.
func TestChargesSurviveKill9(t *testing.T) {
	d := newDaemon(t)
	d.mustCtl("", "factory", "new", "meter", "--program", bins["probe"], "--charge", "pages=1", "--seal")
	grant := &billing.Limits{Period: time.Second, Ceilings: map[string]billing.Ceiling{"pages": {PerPeriod: 1 << 30, Total: 1 << 40}}}
	const instances = 4
	for round := range 3 {
		c := d.client()
		ctx := ctxT(t)
		r, err := c.Requestor(ctx, "meter")
		require.NoError(t, err)
		counters := map[string]*ackCounter{}
		for range instances {
			ack := &ackCounter{}
			inst, err := r.Create(ctx, &client.CreateOptions{Billing: grant, Stdout: ack})
			require.NoError(t, err)
			info, err := inst.Info(ctx)
			require.NoError(t, err)
			counters[info.ID] = ack
			go inst.Run(ctx, []byte("storm:pages:1:128"))
		}
		// Kill somewhere inside a period, after at least one period has been recorded.
		time.Sleep(1500*time.Millisecond + rand.N(2000*time.Millisecond))
		require.NoError(t, d.cmd.Process.Signal(syscall.SIGKILL))
		d.cmd.Wait()
		d.cmd = nil
		c.Close()
		var total uint64
		acked := map[string]uint64{}
		for id, ack := range counters {
			acked[id] = ack.acked()
			total += acked[id]
		}
		require.Positive(t, total, "round %d: no charge was acknowledged before the kill", round)

		d.start()
		c = d.client()
		entries, err := c.LedgerAll(ctxT(t), client.LedgerQuery{Factory: "meter"})
		require.NoError(t, err)
		recorded := map[string]uint64{}
		for _, e := range entries {
			recorded[e.Instance] += e.Units
		}
		for id, n := range acked {
			assert.GreaterOrEqual(t, recorded[id], n, "round %d: instance %s: acknowledged charges missing from the ledger", round, id)
		}
		out := d.mustCtl("", "billing", "verify", "--checkpoints", filepath.Join(d.dir, "heads.json"))
		assert.Contains(t, out, " ok\n", "round %d", round)
		assert.NotContains(t, out, "BROKEN")
		t.Logf("round %d: %d charges acknowledged before the kill, all in the ledger (%d entries)", round, total, len(entries))
	}
}

// Tampering with the data file is detected by billing verify.
func TestLedgerTamperingDetected(t *testing.T) {
	d := newDaemon(t)
	d.mustCtl("", "factory", "new", "tax", "--program", bins["taxprep"], "--data", "rates=../examples/taxprep/rates.txt",
		"--charge", "returns=1", "--seal")
	for range 3 {
		d.mustCtl("income=100", "run", "tax", "--input", "-", "--ceiling", "returns=1")
	}
	heads := filepath.Join(d.dir, "heads.json")
	d.mustCtl("", "billing", "verify", "--checkpoints", heads)
	d.stop()

	// Rewrite an entry's units in place, as someone with the file might.
	st, err := store.Open(d.data, nil)
	require.NoError(t, err)
	ids, err := st.LedgerFactories()
	require.NoError(t, err)
	require.Len(t, ids, 1)
	entries, err := st.Ledger(store.LedgerQuery{Factory: ids[0]})
	require.NoError(t, err)
	require.Len(t, entries, 3)
	require.NoError(t, st.Close())
	db := filepath.Join(d.data, store.DBFile)
	raw, err := os.ReadFile(db)
	require.NoError(t, err)
	hash := entries[1].Hash
	i := bytes.Index(raw, hash[:])
	require.Positive(t, i, "the entry's hash is in the file")
	raw[i] ^= 0xff
	require.NoError(t, os.WriteFile(db, raw, 0o600))

	d.start()
	out, errOut, code := d.ctl("", "billing", "verify", "--checkpoints", heads)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "BROKEN")
	assert.Contains(t, errOut, "ledger verification failed")
}

// asUser runs factoryctl as another unix user against d.
func (d *daemon) asUser(uid uint32, stdin string, args ...string) (string, string, int) {
	d.t.Helper()
	cmd := exec.Command(bins["factoryctl"], append([]string{"--socket", d.socket, "--timeout", "30s"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	cmd.Env = []string{"HOME=/nonexistent", "PATH=/usr/bin:/bin"}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(d.t, err)
	}
	return out.String(), errOut.String(), code
}

func (d *daemon) mustAsUser(uid uint32, stdin string, args ...string) string {
	d.t.Helper()
	out, errOut, code := d.asUser(uid, stdin, args...)
	require.Equal(d.t, 0, code, "uid %d: factoryctl %v: %s", uid, args, errOut)
	return out
}

// openToOthers lets other users reach the daemon's socket.
func openToOthers(t *testing.T, dir string) {
	for p := dir; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		require.NoError(t, os.Chmod(p, 0o755))
	}
}

// Payees see their factories' bills, payers their own charges and usage; nobody anything else.
func TestBillingIsolationBetweenUsers(t *testing.T) {
	d := newDaemon(t)
	openToOthers(t, d.dir)
	const builder, alice, bob, stranger = 52001, 52002, 52003, 52004
	prog := filepath.Join(d.dir, "taxprep")
	copyFile(t, bins["taxprep"], prog)
	rates := filepath.Join(d.dir, "rates.txt")
	copyFile(t, "../examples/taxprep/rates.txt", rates)
	d.mustAsUser(builder, "", "factory", "new", "tax", "--program", prog, "--data", "rates="+rates, "--charge", "returns=1", "--seal")
	d.mustAsUser(alice, "income=100", "run", "tax", "--input", "-", "--ceiling", "returns=2")
	d.mustAsUser(bob, "income=200", "run", "tax", "--input", "-", "--ceiling", "returns=2")
	d.mustAsUser(bob, "income=300", "run", "tax", "--input", "-", "--ceiling", "returns=2")

	ledger := func(uid uint32) []client.LedgerEntry {
		var out []client.LedgerEntry
		require.NoError(t, json.Unmarshal([]byte(d.mustAsUser(uid, "", "billing", "ledger", "--json")), &out))
		return out
	}
	payers := func(es []client.LedgerEntry) map[uint32]int {
		out := map[uint32]int{}
		for _, e := range es {
			out[e.PayerUID]++
		}
		return out
	}
	assert.Equal(t, map[uint32]int{alice: 1, bob: 2}, payers(ledger(builder)), "the payee reads the whole bill")
	aliceSees := ledger(alice)
	assert.Equal(t, map[uint32]int{alice: 1}, payers(aliceSees), "alice reads only her charges")
	assert.Equal(t, map[uint32]int{bob: 2}, payers(ledger(bob)))
	assert.Empty(t, ledger(stranger))

	// Usage is the requestor's alone: not the builder's, not another requestor's.
	id := aliceSees[0].Instance
	assert.Contains(t, d.mustAsUser(alice, "", "instance", "usage", id), "cpu time:")
	for _, uid := range []uint32{builder, bob} {
		_, errOut, code := d.asUser(uid, "", "instance", "usage", id)
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, "not found", "uid %d", uid)
	}

	verify := d.mustAsUser(alice, "", "billing", "verify", "--checkpoints", "")
	assert.Regexp(t, `tax\s+payer\s+1\s+3:`, verify, "alice verifies the chain, holding one entry of it")
	assert.Regexp(t, `tax\s+payee\s+3\s+3:`, d.mustAsUser(builder, "", "billing", "verify", "--checkpoints", ""))
	assert.Equal(t, "no ledgers you may see\n", d.mustAsUser(stranger, "", "billing", "verify", "--checkpoints", ""))
	_, errOut, code := d.asUser(stranger, "", "billing", "verify", "--factory", "tax", "--checkpoints", "")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "permission denied")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o755))
}
