package vat

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const hybridMountinfo = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`

func TestParseCgroupTables(t *testing.T) {
	mounts := parseMounts(hybridMountinfo)
	require.Len(t, mounts, 5)
	assert.Equal(t, mount{point: "/sys/fs/cgroup/memory", controllers: []string{"rw", "memory"}}, mounts[2])
	assert.True(t, mounts[4].v2)
	self := parseSelfCgroup("9:name=systemd:/\n4:memory:/jail/x\n2:cpu,cpuacct:/a\n0::/user.slice/s\n")
	assert.Equal(t, "/jail/x", self["memory"])
	assert.Equal(t, "/a", self["cpu"])
	assert.Equal(t, "/a", self["cpuacct"])
	assert.Equal(t, "/user.slice/s", self[""])
}

func TestDetectV1InFakeHierarchy(t *testing.T) {
	root := t.TempDir()
	var mi string
	for i, c := range v1Controllers {
		require.NoError(t, os.MkdirAll(filepath.Join(root, c, "jail"), 0o755))
		mi += "3" + string(rune('0'+i)) + " 1 0:1 / " + filepath.Join(root, c) + " rw - cgroup cgroup rw," + c + "\n"
	}
	d, err := detectCgroups(CgroupV1, mi, "4:memory:/jail\n8:pids:/jail\n1:cpu:/jail\n2:cpuacct:/jail\n")
	require.NoError(t, err)
	assert.Equal(t, "v1", d.kind())
	assert.DirExists(t, filepath.Join(root, "memory", "jail", cgroupBase), "under the daemon's own cgroup")
	d.close()
	assert.NoDirExists(t, filepath.Join(root, "memory", "jail", cgroupBase), "removed when empty")

	_, err = detectCgroups(CgroupV1, "", "")
	assert.Error(t, err, "no controllers mounted")
	d, err = detectCgroups(CgroupOff, mi, "")
	assert.NoError(t, err)
	assert.Nil(t, d)
}

func TestBytes(t *testing.T) {
	for in, want := range map[uint64]string{64 << 20: "64 MiB", 2 << 30: "2 GiB", 1536: "1536 bytes", 4096: "4 KiB"} {
		assert.Equal(t, want, Bytes(in))
	}
}

// A daemon killed with -9 leaves its vats' (empty) cgroups behind; the next one removes those
// old enough not to be another daemon's in the making, and nothing else.
func TestSweepStaleCgroups(t *testing.T) {
	base := t.TempDir()
	now := time.Now()
	self := os.Getpid()
	old := vatDirName(self, now.Add(-2*staleAge))
	young := vatDirName(self, now.Add(-staleAge/2))
	orphan := vatDirName(deadPid(t), now.Add(-staleAge/2))
	for _, name := range []string{old, young, orphan, "daemon", "vat-x-y"} {
		require.NoError(t, os.Mkdir(filepath.Join(base, name), 0o755))
	}
	assert.Equal(t, 2, sweepStale(base, now))
	ents, err := os.ReadDir(base)
	require.NoError(t, err)
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	assert.ElementsMatch(t, []string{young, "daemon", "vat-x-y"}, left)
	pid, born, ok := vatDirBirth(young)
	require.True(t, ok)
	assert.Equal(t, self, pid)
	assert.Equal(t, now.Add(-staleAge/2).UnixNano(), born.UnixNano())
}

// deadPid returns the pid of a process that has exited and been reaped.
func deadPid(t *testing.T) int {
	cmd := exec.Command("/bin/true")
	require.NoError(t, cmd.Run())
	return cmd.Process.Pid
}
