package tests

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/client"
)

const ratesFile = "../examples/taxprep/rates.txt"

func TestPublishSealRunRestart(t *testing.T) {
	d := newDaemon(t)
	d.mustCtl("", "factory", "new", "tax", "--program", bins["taxprep"], "--data", "rates="+ratesFile)
	show := d.mustCtl("", "factory", "show", "tax")
	assert.Contains(t, show, "sealed:   no")
	assert.Contains(t, d.mustCtl("", "factory", "seal", "tax"), "factory tax sealed: discreet")

	out := d.mustCtl("income=60000", "run", "tax", "--input", "-")
	// rates.txt: 10% up to 10000, 20% up to 50000, 30% above: 1000 + 8000 + 3000.
	assert.Contains(t, out, "tax due: 12000.00")

	d.stop()
	d.start()
	out2 := d.mustCtl("income=60000", "run", "tax", "--input", "-")
	assert.Equal(t, out, out2, "the factory survives a restart and computes the same")
	ls := d.mustCtl("", "factory", "ls")
	assert.Contains(t, ls, "tax")
	assert.Contains(t, ls, "discreet")
}

func TestKVClientOverRPC(t *testing.T) {
	d := newDaemon(t)
	out, err := runCmd(bins["kvclient"], "--socket", d.socket, "--program", bins["kvstore"],
		"alpha=1", "beta=two", "alpha", "beta", "-alpha", "alpha")
	require.NoError(t, err, out)
	assert.Equal(t, "alpha=1\nbeta=two\nalpha deleted=true\nalpha (not found)\n", out)
	out, err = runCmd(bins["kvclient"], "--socket", d.socket, "beta")
	require.NoError(t, err, out)
	assert.Equal(t, "beta (not found)\n", out, "a new instance is a new, empty store")
}

func TestKillingAVatFailsOnlyThatInstance(t *testing.T) {
	d := newDaemon(t)
	d.mustCtl("", "factory", "new", "probe", "--program", bins["probe"], "--seal")
	c := d.client()
	ctx := ctxT(t)
	r, err := c.Requestor(ctx, "probe")
	require.NoError(t, err)
	defer r.Release()
	victim, err := r.Create(ctx, nil)
	require.NoError(t, err)
	defer victim.Release()
	other, err := r.Create(ctx, nil)
	require.NoError(t, err)
	defer other.Release()
	info, err := victim.Info(ctx)
	require.NoError(t, err)

	// The vat is a descendant of the daemon this test started; it ends it by pid.
	require.NoError(t, syscall.Kill(int(info.Pid), syscall.SIGKILL))
	ended, err := victim.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, "killed by signal 9 (killed)", ended.EndReason)
	_, err = victim.Run(ctx, []byte("echo:x"))
	assert.Error(t, err)

	out, err := other.Run(ctx, []byte("echo:alive"))
	require.NoError(t, err)
	assert.Equal(t, "alive", string(out))
	assert.Equal(t, "serving", d.mustCtl("echo:serving", "run", "probe", "--input", "-"), "the daemon serves on")
	list := d.mustCtl("", "instance", "ls")
	assert.NotContains(t, list, ended.ID)
}

func TestInstanceKillByID(t *testing.T) {
	d := newDaemon(t)
	d.mustCtl("", "factory", "new", "kv", "--program", bins["kvstore"], "--seal")
	c := d.client()
	ctx := ctxT(t)
	r, err := c.Requestor(ctx, "kv")
	require.NoError(t, err)
	defer r.Release()
	inst, err := r.Create(ctx, nil)
	require.NoError(t, err)
	defer inst.Release()
	info, err := inst.Info(ctx)
	require.NoError(t, err)
	assert.Contains(t, d.mustCtl("", "instance", "ls"), info.ID)
	assert.Contains(t, d.mustCtl("", "instance", "kill", info.ID), "killed")
	ended, err := inst.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, "ended", ended.State)
	_, errOut, code := d.ctl("", "instance", "kill", info.ID)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "not found")
}

func TestVatsDieWithTheDaemon(t *testing.T) {
	d := newDaemon(t)
	d.mustCtl("", "factory", "new", "kv", "--program", bins["kvstore"], "--seal")
	c := d.client()
	ctx := ctxT(t)
	r, err := c.Requestor(ctx, "kv")
	require.NoError(t, err)
	inst, err := r.Create(ctx, nil)
	require.NoError(t, err)
	info, err := inst.Info(ctx)
	require.NoError(t, err)
	require.True(t, alive(int(info.Pid)))

	require.NoError(t, d.cmd.Process.Kill())
	d.wait(-1)
	assert.Eventually(t, func() bool { return !alive(int(info.Pid)) }, 5*time.Second, 10*time.Millisecond,
		"the vat dies with the daemon (parent-death signal)")
	inst.Release()
	r.Release()
	d.start() // a stale socket from a killed daemon is replaced
	assert.Contains(t, d.mustCtl("", "factory", "ls"), "kv")
}

func TestSignalStopsCleanly(t *testing.T) {
	d := newDaemon(t)
	d.mustCtl("", "factory", "new", "kv", "--program", bins["kvstore"], "--seal")
	c := d.client()
	ctx := ctxT(t)
	r, err := c.Requestor(ctx, "kv")
	require.NoError(t, err)
	defer r.Release()
	inst, err := r.Create(ctx, nil)
	require.NoError(t, err)
	defer inst.Release()
	info, err := inst.Info(ctx)
	require.NoError(t, err)
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGINT))
	d.wait(0)
	assert.False(t, alive(int(info.Pid)), "every instance ended")
	_, err = os.Stat(d.socket)
	assert.True(t, os.IsNotExist(err), "the socket is removed")
}

func TestBadFlagsAndFiles(t *testing.T) {
	dir := t.TempDir()
	out, err := runCmd(bins["factoryd"], "--bogus")
	assert.Equal(t, 2, exitCode(err), out)

	cfg := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{"version":1,"stat_timeout":"1s"}`), 0o600))
	out, err = runCmd(bins["factoryd"], "--config", cfg, "--data", dir, "--socket", filepath.Join(dir, "s"))
	assert.Equal(t, 2, exitCode(err))
	assert.Contains(t, out, `unknown field "stat_timeout"`)

	corrupt := filepath.Join(dir, "corrupt")
	require.NoError(t, os.MkdirAll(corrupt, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(corrupt, "factoryd.db"), make([]byte, 4096), 0o600))
	out, err = runCmd(bins["factoryd"], "--data", corrupt, "--socket", filepath.Join(dir, "s2"))
	assert.Equal(t, 1, exitCode(err))
	assert.Contains(t, out, "corrupt store")

	d := newDaemon(t)
	out, err = runCmd(bins["factoryd"], "--data", filepath.Join(dir, "other"), "--socket", d.socket)
	assert.Equal(t, 1, exitCode(err))
	assert.Contains(t, out, "another factoryd is serving")
	out, err = runCmd(bins["factoryd"], "--data", d.data, "--socket", filepath.Join(dir, "s3"))
	assert.Equal(t, 1, exitCode(err))
	assert.Contains(t, out, "data directory in use")

	_, errOut, code := d.ctl("", "factory", "new", "x")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--program is required")
	_, errOut, code = d.ctl("", "run", "nosuch")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `factory "nosuch": not found`)
	_, errOut, code = d.ctl("", "factory", "new", "bad", "--program", ratesFile)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "not an ELF executable")
	assert.NotContains(t, d.mustCtl("", "factory", "ls"), "bad", "a failed publish leaves no factory")
	_, errOut, code = d.ctl("", "--socket", filepath.Join(dir, "nothing-here"), "factory", "ls")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "connect to factoryd")
}

func TestFactoryctlUsesEnvSocket(t *testing.T) {
	d := newDaemon(t)
	cmd := execCmd(bins["factoryctl"], "whoami")
	cmd.Env = append(os.Environ(), client.SocketEnv+"="+d.socket)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "uid ")
}
