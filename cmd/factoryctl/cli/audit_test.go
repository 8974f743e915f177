package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/internal/daemontest"
)

func TestAuditDiscreetAndLeaky(t *testing.T) {
	d := daemontest.Start(t, nil)
	manual := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(manual, "ch1"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(manual, "ch1", "intro.txt"), []byte("hello"), 0o644))
	mustCtl(t, d.Socket, "", "factory", "new", "fmt", "--program", bin(t, kvstore), "--seal")
	mustCtl(t, d.Socket, "", "factory", "new", "tax", "--program", bin(t, taxprep), "--data", "rates="+rates,
		"--sensory", "manual="+manual, "--sensory", "table="+rates, "--factory", "formatter=fmt", "--seal")
	mustCtl(t, d.Socket, "", "factory", "new", "freetax", "--program", bin(t, taxprep), "--data", "rates="+rates,
		"--hole", "telemetry=usage analytics", "--factory", "formatter=fmt", "--seal")
	mustCtl(t, d.Socket, "", "factory", "new", "bundle", "--program", bin(t, kvstore),
		"--factory", "a=freetax", "--factory", "b=tax", "--seal")

	out := mustCtl(t, d.Socket, "", "factory", "audit", "tax")
	assert.Contains(t, out, "factory tax (sealed)")
	assert.Regexp(t, `manual  sensory  not a hole: a tree served by this daemon`, out)
	assert.Regexp(t, `table  sensory  not a hole: a read-only view of an immutable blob`, out)
	assert.Contains(t, out, "└─ factory fmt: no components")
	assert.Contains(t, out, "holes (0):\n  none")
	assert.Contains(t, out, "verdict: DISCREET")

	out = mustCtl(t, d.Socket, "", "factory", "audit", "bundle")
	assert.Contains(t, out, "telemetry  hole  HOLE", "a nested factory's hole is shown in the tree")
	assert.Contains(t, out, "(factory fmt, shown above)", "a factory reached twice is drawn once")
	assert.Contains(t, out, "freetax/telemetry")
	assert.Contains(t, out, "verdict: NOT DISCREET — 1 hole(s)")
	assert.Contains(t, out, "reply timing over holes")

	var rep client.Report
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, d.Socket, "", "factory", "audit", "bundle", "--json")), &rep))
	assert.Len(t, rep.Factories, 4)
	assert.Len(t, rep.Holes, 1)
	assert.False(t, rep.Discreet)

	r := ctl(t, d.Socket, "", "factory", "audit", "nosuch")
	assert.Equal(t, 1, r.code)
}

func TestDeclaredSyscalls(t *testing.T) {
	d := daemontest.Start(t, nil)
	mustCtl(t, d.Socket, "", "factory", "new", "p", "--program", bin(t, probe), "--syscall", "openat",
		"--syscall", "getdents64", "--seal")
	assert.Contains(t, mustCtl(t, d.Socket, "", "factory", "audit", "p"),
		"syscalls declared beyond the default allowlist (more kernel surface): getdents64 openat")
	r := ctl(t, d.Socket, "", "factory", "new", "q", "--program", bin(t, probe), "--syscall", "mount")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, `syscall "mount" may not be declared`)
}

func TestAuditOfADraft(t *testing.T) {
	d := daemontest.Start(t, nil)
	mustCtl(t, d.Socket, "", "factory", "new", "draft", "--program", bin(t, kvstore), "--hole", "box=outbox")
	out := mustCtl(t, d.Socket, "", "factory", "audit", "draft")
	assert.Contains(t, out, "unsealed draft: this may still change")
	assert.Contains(t, out, "NOT DISCREET")
}

func TestCompareAndVerify(t *testing.T) {
	d := daemontest.Start(t, nil)
	mustCtl(t, d.Socket, "", "factory", "new", "clean", "--program", bin(t, kvstore), "--seal")
	mustCtl(t, d.Socket, "", "factory", "new", "leaky", "--program", bin(t, kvstore), "--hole", "box=outbox", "--seal")
	assert.Equal(t, "extraHoles: leaky has a hole clean does not accept\n",
		mustCtl(t, d.Socket, "", "factory", "compare", "leaky", "clean"))
	assert.Equal(t, "subset: every hole of clean is one leaky accepts\n",
		mustCtl(t, d.Socket, "", "factory", "compare", "clean", "leaky"))
	r := ctl(t, d.Socket, "", "factory", "compare", "clean")
	assert.Equal(t, 2, r.code)

	c := d.Client(t)
	ctx := t.Context()
	req, err := c.Requestor(ctx, "clean")
	require.NoError(t, err)
	defer req.Release()
	inst, err := req.Create(ctx, nil)
	require.NoError(t, err)
	defer inst.Release()
	info, err := inst.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, "yes: instance "+info.ID+" was created by factory clean\n",
		mustCtl(t, d.Socket, "", "factory", "verify", "clean", "--instance", info.ID))
	assert.Equal(t, "no: instance "+info.ID+" was not created by factory leaky\n",
		mustCtl(t, d.Socket, "", "factory", "verify", "leaky", "--instance", info.ID))
	r = ctl(t, d.Socket, "", "factory", "verify", "clean")
	assert.Equal(t, 2, r.code)
	r = ctl(t, d.Socket, "", "factory", "verify", "clean", "--instance", "i-0000")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "not found")
}

func TestDropboxAndAuditLog(t *testing.T) {
	d := daemontest.Start(t, nil)
	mustCtl(t, d.Socket, "", "factory", "new", "freetax", "--program", bin(t, taxprep), "--data", "rates="+rates,
		"--hole", "telemetry=usage analytics", "--seal")
	mustCtl(t, d.Socket, "income=42", "run", "freetax", "--input", "-")
	out := mustCtl(t, d.Socket, "", "factory", "dropbox", "freetax", "telemetry")
	assert.Regexp(t, regexp.MustCompile(`^1 \S+ \S+ "income=42"\n$`), out)
	var msgs []client.DropboxMessage
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, d.Socket, "", "factory", "dropbox", "freetax", "telemetry", "--json")), &msgs))
	require.Len(t, msgs, 1)
	assert.Empty(t, mustCtl(t, d.Socket, "", "factory", "dropbox", "freetax", "telemetry", "--after", "1"))

	log := mustCtl(t, d.Socket, "", "audit", "log", "--factory", "freetax")
	for _, action := range []string{"factory.created", "program.set", "component.installed", "factory.sealed",
		"instance.created", "instance.ended"} {
		assert.Contains(t, log, action)
	}
	assert.Contains(t, log, `telemetry hole "usage analytics"`)
	var entries []client.AuditEntry
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, d.Socket, "", "audit", "log", "--json", "--limit", "2")), &entries))
	assert.Len(t, entries, 2)
}
