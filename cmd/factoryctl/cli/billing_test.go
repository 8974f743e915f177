package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/internal/daemontest"
)

func TestBillingCommands(t *testing.T) {
	d := daemontest.Start(t, nil)
	mustCtl(t, d.Socket, "", "factory", "new", "tax", "--program", bin(t, taxprep), "--data", "rates="+rates,
		"--charge", "returns=1", "--seal")
	assert.Contains(t, mustCtl(t, d.Socket, "", "factory", "show", "tax"), "charges:  returns (quantum 1)\n")

	audit := mustCtl(t, d.Socket, "", "factory", "audit", "tax", "--ceiling", "returns=5/10", "--period", "2s")
	assert.Contains(t, audit, "charges its instances may make (the billing channel to its builder): returns (quantum 1)")
	assert.Contains(t, audit, "billing channel of an instance with these ceilings: 1.29 bit/s (audit), 2.58 bits per 2s period")

	// The requestor consents to pay; the charge is in the ledger when run returns.
	out := mustCtl(t, d.Socket, "income=20000", "run", "tax", "--input", "-", "--ceiling", "returns=5", "--period", "1s")
	assert.Contains(t, out, "tax due: 3000.00")
	var entries []client.LedgerEntry
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, d.Socket, "", "billing", "ledger", "--json")), &entries))
	require.Len(t, entries, 1)
	e := entries[0]
	assert.Equal(t, "tax", e.Factory)
	assert.Equal(t, "returns", e.Kind)
	assert.Equal(t, uint64(1), e.Units)
	assert.Len(t, e.Hash, 64)

	table := mustCtl(t, d.Socket, "", "billing", "ledger", "--factory", "tax")
	assert.Contains(t, table, e.Instance)
	assert.Contains(t, table, "totals:\n  tax  returns  1\n")
	assert.Contains(t, mustCtl(t, d.Socket, "", "billing", "ledger", "--instance", e.Instance), e.Hash[:12])
	assert.Equal(t, "no entries you may see\n", mustCtl(t, d.Socket, "", "billing", "ledger", "--instance", "i-none"))

	// Without consent nothing is charged.
	mustCtl(t, d.Socket, "income=20000", "run", "tax", "--input", "-")
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, d.Socket, "", "billing", "ledger", "--json")), &entries))
	assert.Len(t, entries, 1)

	cps := filepath.Join(t.TempDir(), "heads.json")
	v := mustCtl(t, d.Socket, "", "billing", "verify", "--checkpoints", cps)
	assert.Regexp(t, `tax\s+payee\s+1\s+1:[0-9a-f]{12}\s+ok`, v)
	saved, err := os.ReadFile(cps)
	require.NoError(t, err)
	assert.Contains(t, string(saved), e.Hash, "the head is remembered for next time")
	mustCtl(t, d.Socket, "", "billing", "verify", "--checkpoints", cps)

	// A forged checkpoint (a head the chain never held) is reported as a broken chain.
	forged := strings.Replace(string(saved), e.Hash, strings.Repeat("0", 64), 1)
	require.NoError(t, os.WriteFile(cps, []byte(forged), 0o600))
	r := ctl(t, d.Socket, "", "billing", "verify", "--checkpoints", cps)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.out, "BROKEN")
	assert.Contains(t, r.err, "ledger verification failed: 1 chain(s) broken")

	usage := mustCtl(t, d.Socket, "", "instance", "usage", e.Instance)
	assert.Contains(t, usage, "instance:     "+e.Instance)
	assert.Contains(t, usage, "wall time:")
	var u client.Usage
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, d.Socket, "", "instance", "usage", e.Instance, "--json")), &u))
	assert.False(t, u.Live)
	assert.Positive(t, u.Wall)

	for _, bad := range [][]string{
		{"run", "tax", "--ceiling", "returns=x"},
		{"run", "tax", "--period", "1s"},
		{"run", "tax", "--ceiling", "returns=1", "--ceiling", "returns=2"},
		{"factory", "new", "t2", "--program", bin(t, taxprep), "--charge", "returns=0"},
		{"billing", "ledger", "--factory", "tax", "--instance", e.Instance},
		{"instance", "usage"},
	} {
		assert.Equal(t, 2, ctl(t, d.Socket, "", bad...).code, "%v", bad)
	}
	r = ctl(t, d.Socket, "", "run", "tax", "--ceiling", "coffee=1")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "undeclared kind")
	r = ctl(t, d.Socket, "", "instance", "usage", "i-none")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "not found")
}
