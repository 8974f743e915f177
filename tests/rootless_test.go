package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rootlessUID is the ordinary user the rootless daemon runs as.
const rootlessUID = 52031

// startRootless starts factoryd as an ordinary user, in a directory of its own, and returns
// that directory and a function running factoryctl as the same user.
func startRootless(t *testing.T) (string, func(stdin string, args ...string) (string, string, int)) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to start the daemon as another, ordinary user")
	}
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err != nil || strings.TrimSpace(string(b)) == "0" {
		t.Skip("unprivileged user namespaces are not allowed here")
	}
	dir := t.TempDir()
	openToOthers(t, dir)
	home := filepath.Join(dir, "home")
	require.NoError(t, os.Mkdir(home, 0o700))
	require.NoError(t, os.Chown(home, rootlessUID, rootlessUID))
	for _, b := range []string{"factoryd", "factoryctl", "probe"} {
		copyFile(t, bins[b], filepath.Join(dir, b))
	}
	socket := filepath.Join(home, "factoryd.sock")
	cred := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: rootlessUID, Gid: rootlessUID}}
	env := []string{"HOME=" + home, "PATH=/usr/bin:/bin"}

	var log bytes.Buffer
	d := exec.Command(filepath.Join(dir, "factoryd"), "--data", filepath.Join(home, "data"), "--socket", socket, "--log-level", "debug")
	d.SysProcAttr, d.Env, d.Stdout, d.Stderr = cred, env, &log, &log
	require.NoError(t, d.Start())
	t.Cleanup(func() {
		d.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- d.Wait() }()
		select {
		case err := <-done:
			assert.NoError(t, err, "factoryd log:\n%s", log.String())
		case <-time.After(20 * time.Second):
			d.Process.Kill()
			<-done
			t.Errorf("the rootless daemon did not stop; log:\n%s", log.String())
		}
	})
	require.Eventually(t, func() bool {
		c, err := net.Dial("unix", socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "factoryd did not start: %s", &log)

	ctl := func(stdin string, args ...string) (string, string, int) {
		cmd := exec.Command(filepath.Join(dir, "factoryctl"), append([]string{"--socket", socket, "--timeout", "30s"}, args...)...)
		cmd.SysProcAttr, cmd.Env = cred, env
		cmd.Stdin = strings.NewReader(stdin)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return out.String(), errOut.String(), code
	}
	return dir, ctl
}

// factoryd run by an ordinary user confines its instances the same way: namespaces, an empty
// root, fds 0-3, no environment, no network, seccomp; limits it cannot enforce are refused,
// not ignored.
func TestRootlessDaemonConfines(t *testing.T) {
	dir, ctl := startRootless(t)
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, code := ctl(stdin, args...)
		require.Equal(t, 0, code, "factoryctl %v: %s", args, errOut)
		return out
	}
	probe := filepath.Join(dir, "probe")
	must("", "factory", "new", "probe", "--program", probe, "--seal",
		"--syscall", "openat", "--syscall", "getdents64", "--syscall", "socket", "--syscall", "bind", "--syscall", "pidfd_open")
	must("", "factory", "new", "plain", "--program", probe, "--seal")

	p := must("", "whoami")
	assert.Contains(t, p, fmt.Sprintf("S-1-22-1-%d", rootlessUID))

	var v struct {
		Pid        int      `json:"pid"`
		Env        []string `json:"env"`
		FDs        []int    `json:"fds"`
		Root       []string `json:"root"`
		Interfaces []string `json:"interfaces"`
		OtherPids  []int    `json:"other_pids"`
	}
	require.NoError(t, json.Unmarshal([]byte(must("view", "run", "probe", "--input", "-")), &v))
	assert.Equal(t, 1, v.Pid, "its own pid namespace")
	assert.Empty(t, v.Env)
	assert.Equal(t, []int{0, 1, 2, 3}, v.FDs)
	assert.Equal(t, []string{"/", "/bin", "/bin/prog"}, v.Root)
	assert.Equal(t, []string{"lo"}, v.Interfaces)
	assert.Empty(t, v.OtherPids)

	// The same program without the declared syscalls cannot even look: seccomp is on.
	var blind struct {
		Root       []string `json:"root"`
		Interfaces []string `json:"interfaces"`
	}
	require.NoError(t, json.Unmarshal([]byte(must("view", "run", "plain", "--input", "-")), &blind))
	assert.NotContains(t, blind.Root, "/bin/prog", "openat is refused")
	assert.Empty(t, blind.Interfaces, "socket is refused")

	// A crash fails only that instance; the daemon serves on.
	_, _, code := ctl("crash", "run", "probe", "--input", "-")
	assert.Equal(t, 1, code)
	assert.Equal(t, "still here", must("echo:still here", "run", "probe", "--input", "-"))

	// Limits: enforced where the daemon has a cgroup it may write, refused otherwise.
	out, errOut, code := ctl("echo:limited", "run", "probe", "--input", "-", "--memory", "64MiB")
	if code == 0 {
		t.Logf("the rootless daemon has a cgroup it may write: the limit is enforced")
		assert.Equal(t, "limited", out)
	} else {
		t.Logf("no writable cgroup: %s", strings.TrimSpace(errOut))
		assert.Contains(t, errOut, "cgroup", "a limit that cannot be enforced is refused with the reason")
	}
}
