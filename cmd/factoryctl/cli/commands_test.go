package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/internal/daemontest"
)

func TestFactoryNewSealShowLs(t *testing.T) {
	d := daemontest.Start(t, nil)
	out := mustCtl(t, d.Socket, "", "factory", "new", "tax", "--program", bin(t, taxprep), "--data", "rates="+rates)
	assert.Equal(t, "factory tax created (unsealed: install more, then 'factoryctl factory seal tax')\n", out)

	show := mustCtl(t, d.Socket, "", "factory", "show", "tax")
	assert.Contains(t, show, "factory:  tax\n")
	assert.Contains(t, show, "sealed:   no\n")
	assert.Contains(t, show, "verdict:  unsealed\n")
	assert.Contains(t, show, "rates  data  sha256:")

	assert.Equal(t, "factory tax sealed: discreet\n", mustCtl(t, d.Socket, "", "factory", "seal", "tax"))
	assert.Equal(t, "factory tax sealed: discreet\n", mustCtl(t, d.Socket, "", "factory", "seal", "tax"), "sealing twice")

	var info client.FactoryInfo
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, d.Socket, "", "factory", "show", "tax", "--json")), &info))
	assert.True(t, info.Sealed)
	assert.True(t, info.Discreet)
	require.Len(t, info.Components, 1)
	assert.Equal(t, "data", info.Components[0].Kind)

	mustCtl(t, d.Socket, "", "factory", "new", "kv", "--program", bin(t, kvstore), "--seal")
	ls := mustCtl(t, d.Socket, "", "factory", "ls")
	assert.Regexp(t, `(?m)^NAME\s+STATE`, ls)
	assert.Regexp(t, `(?m)^kv\s+discreet`, ls)
	assert.Regexp(t, `(?m)^tax\s+discreet`, ls)
	var all []client.FactoryInfo
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, d.Socket, "", "factory", "ls", "--json")), &all))
	assert.Len(t, all, 2)
}

func TestFactoryNewErrors(t *testing.T) {
	d := daemontest.Start(t, nil)
	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no program", []string{"factory", "new", "x"}, 2, "--program is required"},
		{"no name", []string{"factory", "new", "--program", "p"}, 2, "wrong number of arguments"},
		{"bad data flag", []string{"factory", "new", "x", "--program", "p", "--data", "nokey"}, 2, "is not KEY=VALUE"},
		{"missing program file", []string{"factory", "new", "x", "--program", "/nonexistent"}, 1, "no such file"},
		{"not executable", []string{"factory", "new", "x", "--program", rates}, 1, "not an ELF executable"},
		{"bad name", []string{"factory", "new", "a b", "--program", bin(t, kvstore)}, 1, "factory name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ctl(t, d.Socket, "", tt.args...)
			assert.Equal(t, tt.code, r.code, r.err)
			assert.Contains(t, r.err, tt.err)
			assert.Empty(t, r.out, "nothing on stdout when failing")
		})
	}
	ls := mustCtl(t, d.Socket, "", "factory", "ls", "--json")
	assert.Equal(t, "[]\n", ls, "failed publishes leave no factory behind")
}

func TestRun(t *testing.T) {
	d := daemontest.Start(t, nil)
	mustCtl(t, d.Socket, "", "factory", "new", "tax", "--program", bin(t, taxprep), "--data", "rates="+rates, "--seal")
	out := mustCtl(t, d.Socket, "income=20000", "run", "tax", "--input", "-")
	assert.Equal(t, "taxable income: 20000.00\ntax due: 3000.00\neffective rate: 15.00%\n", out)

	r := ctl(t, d.Socket, "income=lots", "run", "tax", "--input", "-")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "factoryctl: run tax: input \"income=lots\": not a non-negative amount\n", r.err)

	mustCtl(t, d.Socket, "", "factory", "new", "probe", "--program", bin(t, probe), "--seal")
	r = ctl(t, d.Socket, "stderr:visible to me", "run", "probe", "--input", "-", "--debug")
	assert.Equal(t, 0, r.code, r.err)
	assert.Equal(t, "visible to me", r.out)
	assert.Contains(t, r.err, "visible to me", "--debug shows the instance's stderr")
	assert.Contains(t, r.err, "out:visible to me", "--debug shows the instance's stdout")

	out = mustCtl(t, d.Socket, "", "run", "probe", "--input", "/dev/null", "--arg", "k=v")
	assert.Empty(t, out)
	r = ctl(t, d.Socket, "", "run", "probe", "--input", "/nonexistent")
	assert.Equal(t, 1, r.code)
	r = ctl(t, d.Socket, "", "run")
	assert.Equal(t, 2, r.code)
}

func TestInstanceLsKill(t *testing.T) {
	d := daemontest.Start(t, nil)
	mustCtl(t, d.Socket, "", "factory", "new", "kv", "--program", bin(t, kvstore), "--seal")
	c := d.Client(t)
	ctx := t.Context()
	r, err := c.Requestor(ctx, "kv")
	require.NoError(t, err)
	defer r.Release()
	inst, err := r.Create(ctx, nil)
	require.NoError(t, err)
	defer inst.Release()
	info, err := inst.Info(ctx)
	require.NoError(t, err)

	assert.Contains(t, mustCtl(t, d.Socket, "", "instance", "ls"), info.ID)
	var list []client.InstanceInfo
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, d.Socket, "", "instance", "ls", "--json")), &list))
	require.Len(t, list, 1)
	assert.Equal(t, "running", list[0].State)

	assert.Equal(t, "instance "+info.ID+" killed\n", mustCtl(t, d.Socket, "", "instance", "kill", info.ID))
	res := ctl(t, d.Socket, "", "instance", "kill", info.ID)
	assert.Equal(t, 1, res.code)
	assert.Contains(t, res.err, "not found")
	assert.Equal(t, "[]\n", mustCtl(t, d.Socket, "", "instance", "ls", "--json"))
}

func TestFactoryDestroy(t *testing.T) {
	d := daemontest.Start(t, nil)
	mustCtl(t, d.Socket, "", "factory", "new", "kv", "--program", bin(t, kvstore), "--seal")
	assert.Equal(t, "factory kv destroyed\n", mustCtl(t, d.Socket, "", "factory", "destroy", "kv"))
	r := ctl(t, d.Socket, "", "factory", "destroy", "kv")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "not found")
}

func TestWhoami(t *testing.T) {
	d := daemontest.Start(t, nil)
	out := mustCtl(t, d.Socket, "", "whoami")
	uid := os.Getuid()
	assert.Regexp(t, `^uid \d+ \(uid \d+, gid \d+, pid \d+\)\n`, out)
	assert.Contains(t, out, fmt.Sprintf("user          S-1-22-1-%d (Unix User %d)\n", uid, uid))
	assert.Contains(t, out, "S-1-1-0 (Everyone) ENABLED")
	assert.Contains(t, out, fmt.Sprintf("S-1-22-2-%d (Unix Group %d) ENABLED", os.Getgid(), os.Getgid()))
	var p client.Principal
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, d.Socket, "", "whoami", "--json")), &p))
	assert.Positive(t, p.PID)
	assert.Equal(t, fmt.Sprintf("S-1-22-1-%d", uid), p.User)
	assert.Contains(t, p.Groups, "S-1-5-11", "Authenticated Users")
}

func TestUsageAndHelp(t *testing.T) {
	r := ctl(t, "/nonexistent.sock", "")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.out, "factory new NAME")
	assert.Contains(t, r.out, "instance kill ID")
	r = ctl(t, "/nonexistent.sock", "", "factory", "frobnicate")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.err, "unknown command")
	r = ctl(t, "/nonexistent.sock", "", "factory", "ls")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.err, "connect to factoryd at /nonexistent.sock")
	r = ctl(t, "/nonexistent.sock", "", "factory", "ls", "--help")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.err, "usage: factoryctl factory ls")
}

func TestRunWithLimits(t *testing.T) {
	d := daemontest.Start(t, nil)
	mustCtl(t, d.Socket, "", "factory", "new", "probe", "--program", bin(t, probe), "--seal")
	r := ctl(t, d.Socket, "hog", "run", "probe", "--input", "-", "--memory", "48MiB")
	if strings.Contains(r.err, "need cgroups") {
		t.Skip("no cgroups on this machine")
	}
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "factoryctl: run probe: instance ended: memory limit 48 MiB exceeded\n", r.err)
	assert.Equal(t, "ok", mustCtl(t, d.Socket, "echo:ok", "run", "probe", "--input", "-", "--memory", "64MiB",
		"--cpu", "0.5", "--cpu-time", "10s", "--pids", "64"))
	for _, bad := range [][]string{{"--memory", "lots"}, {"--cpu", "-1"}, {"--cpu", "x"}} {
		r := ctl(t, d.Socket, "", append([]string{"run", "probe"}, bad...)...)
		assert.Equal(t, 2, r.code, "%v", bad)
	}
}
