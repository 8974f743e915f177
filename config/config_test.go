package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  string
	}{
		{"minimal", `{"version":1}`, ""},
		{"full", `{"version":1,"data_dir":"/d","socket":"/s","log_level":"debug","start_timeout":"5s",
			"max_start_timeout":"1m","max_blob_size":1024,"max_instances":10,
			"vat":{"host_id_base":100000,"host_id_count":1000,"hostname":"h","env":["A=1"],"open_files":32,"processes":64}}`, ""},
		{"unknown field", `{"version":1,"sockett":"/s"}`, `unknown field "sockett"`},
		{"wrong version", `{"version":2}`, "version 2"},
		{"no version", `{}`, "version 0"},
		{"bad duration", `{"version":1,"start_timeout":"soon"}`, "invalid duration"},
		{"numeric duration", `{"version":1,"start_timeout":5}`, "duration must be a string"},
		{"bad log level", `{"version":1,"log_level":"chatty"}`, "log_level"},
		{"negative", `{"version":1,"max_instances":-1}`, "must not be negative"},
		{"timeout above max", `{"version":1,"start_timeout":"2m","max_start_timeout":"1m"}`, "above max_start_timeout"},
		{"trailing", `{"version":1} {}`, "trailing data"},
		{"not json", `version: 1`, "invalid configuration"},
		{"access grant", `{"version":1,"access":{"grants":[{"capability":"backup","users":[34],"groups":[34]}]}}`, ""},
		{"grant to nobody", `{"version":1,"access":{"grants":[{"capability":"backup"}]}}`, "names no user and no group"},
		{"bad capability", `{"version":1,"access":{"grants":[{"capability":"","users":[1]}]}}`, "access.grants[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.in))
			if tt.err == "" {
				require.NoError(t, err)
				assert.Equal(t, Version, c.Version)
				return
			}
			assert.ErrorIs(t, err, ErrInvalid)
			assert.ErrorContains(t, err, tt.err)
		})
	}
	c, err := Parse([]byte(`{"version":1,"start_timeout":"5s"}`))
	require.NoError(t, err)
	assert.Equal(t, 5*time.Second, time.Duration(c.StartTimeout))
}

func TestLoad(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	c, err := Load("")
	require.NoError(t, err, "a missing default file means defaults")
	assert.Equal(t, Version, c.Version)

	_, err = Load(filepath.Join(t.TempDir(), "missing.json"))
	assert.Error(t, err, "a missing explicit file is an error")

	path := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "factoryd", "config.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	require.NoError(t, os.WriteFile(path, []byte(`{"version":1,"socket":"/x.sock"}`), 0o600))
	c, err = Load("")
	require.NoError(t, err)
	_, sock := c.Paths()
	assert.Equal(t, "/x.sock", sock)
}

func TestDefaultPaths(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv(SocketEnv, "")
	assert.Equal(t, "/home/u/.local/share/factoryd", DefaultDataDir())
	assert.Equal(t, "/home/u/.local/state/factoryd/factoryd.sock", DefaultSocket())
	assert.Equal(t, "/home/u/.config/factoryd/config.json", DefaultFile())

	t.Setenv("XDG_DATA_HOME", "/xdg/data")
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	assert.Equal(t, "/xdg/data/factoryd", DefaultDataDir())
	assert.Equal(t, "/run/user/1000/factoryd/factoryd.sock", DefaultSocket())

	t.Setenv(SocketEnv, "/elsewhere.sock")
	assert.Equal(t, "/elsewhere.sock", DefaultSocket())

	c := &Config{DataDir: "/d"}
	data, sock := c.Paths()
	assert.Equal(t, "/d", data)
	assert.Equal(t, "/elsewhere.sock", sock)
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		ok   bool
	}{
		{"64MiB", 64 << 20, true}, {"64M", 64 << 20, true}, {"1GiB", 1 << 30, true}, {"512k", 512 << 10, true},
		{"4096", 4096, true}, {"10B", 10, true}, {" 2 GiB ", 2 << 30, true},
		{"lots", 0, false}, {"-1M", 0, false}, {"1.5G", 0, false}, {"99999999999999999999T", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if !tt.ok {
				assert.ErrorIs(t, err, ErrInvalid)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLimitsConfig(t *testing.T) {
	c, err := Parse([]byte(`{"version":1,"limits":{"default":{"memory":"256MiB","cpu":0.5,"pids":128},
		"max":{"memory":4294967296,"cpu":2,"cpu_seconds":3600}},"vat":{"cgroups":"v1"}}`))
	require.NoError(t, err)
	assert.Equal(t, Size(256<<20), c.Limits.Default.Memory)
	assert.Equal(t, Size(4<<30), c.Limits.Max.Memory)
	assert.Equal(t, 0.5, c.Limits.Default.CPU)
	assert.Equal(t, uint32(3600), c.Limits.Max.CPUSeconds)
	_, err = Parse([]byte(`{"version":1,"vat":{"cgroups":"v3"}}`))
	assert.ErrorContains(t, err, "vat.cgroups")
	_, err = Parse([]byte(`{"version":1,"limits":{"default":{"memory":"huge"}}}`))
	assert.ErrorContains(t, err, "size")
}

func TestVatPoolConfig(t *testing.T) {
	c, err := Parse([]byte(`{"version":1,"vat":{"pool":16}}`))
	require.NoError(t, err)
	assert.Equal(t, 16, c.Vat.Pool)
	c, err = Parse([]byte(`{"version":1,"vat":{"pool":-1}}`))
	require.NoError(t, err)
	assert.Equal(t, -1, c.Vat.Pool, "no pool")
	for _, bad := range []string{`-2`, `257`} {
		_, err = Parse([]byte(`{"version":1,"vat":{"pool":` + bad + `}}`))
		assert.ErrorContains(t, err, "vat.pool", bad)
	}
}
