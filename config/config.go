// Package config is factoryd's operator configuration: default paths derived from the XDG
// base directories (or the home directory), and an optional versioned JSON file, decoded
// strictly (an unknown field is an error, not a silent default).
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/factoryd/factoryd/access"
)

// Version is the config file version this build reads.
const Version = 1

// ErrInvalid: the config file is malformed or holds an unusable value.
var ErrInvalid = errors.New("invalid configuration")

// Config is the daemon's configuration. Zero values mean the built-in defaults.
type Config struct {
	Version         int      `json:"version"`
	DataDir         string   `json:"data_dir,omitempty"`
	Socket          string   `json:"socket,omitempty"`
	LogLevel        string   `json:"log_level,omitempty"`
	StartTimeout    Duration `json:"start_timeout,omitempty"`
	MaxStartTimeout Duration `json:"max_start_timeout,omitempty"`
	MaxBlobSize     int64    `json:"max_blob_size,omitempty"`
	MaxInstances    int      `json:"max_instances,omitempty"`
	Limits          Limits   `json:"limits"`
	Vat             Vat      `json:"vat"`
	Billing         Billing  `json:"billing"`
	Access          Access   `json:"access"`
}

// Access is the operator's access policy for client tokens.
type Access struct {
	// Grants are positive confinement: capability SIDs added to the groups of the tokens of
	// given unix users and groups, e.g. {"capability": "backup", "users": [34]}. They widen
	// what those clients open by name; a yield's confined token keeps its confinement.
	Grants []Grant `json:"grants,omitempty"`
}

// Grant gives Capability to the peers whose uid is one of Users or whose gids include one of
// Groups.
type Grant struct {
	Capability string   `json:"capability"`
	Users      []uint32 `json:"users,omitempty"`
	Groups     []uint32 `json:"groups,omitempty"`
}

// Billing bounds the billing channels requestors may grant instances.
type Billing struct {
	// DefaultPeriod applies when a requestor grants ceilings without a period. Default 1s.
	DefaultPeriod Duration `json:"default_period,omitempty"`
	// MinPeriod and MaxPeriod bound the period a requestor may choose. Defaults 1s and 24h.
	MinPeriod Duration `json:"min_period,omitempty"`
	MaxPeriod Duration `json:"max_period,omitempty"`
	// MaxBitsPerSecond refuses ceilings that would give one instance's channel more capacity.
	// Default 100 (above that, TCSEC calls a covert channel high bandwidth).
	MaxBitsPerSecond float64 `json:"max_bits_per_second,omitempty"`
}

// Limits are what instances may use: the defaults a requestor gets without asking, and the
// most it may ask for.
type Limits struct {
	Default ResourceLimits `json:"default"`
	Max     ResourceLimits `json:"max"`
}

// ResourceLimits bound one instance; zero means no bound of that kind.
type ResourceLimits struct {
	Memory     Size    `json:"memory,omitempty"`
	Pids       uint32  `json:"pids,omitempty"`
	CPU        float64 `json:"cpu,omitempty"` // cores: 0.5 is half a core
	CPUSeconds uint32  `json:"cpu_seconds,omitempty"`
	OpenFiles  uint32  `json:"open_files,omitempty"`
}

// Vat configures the confinement of every instance.
type Vat struct {
	HostIDBase  uint32   `json:"host_id_base,omitempty"`
	HostIDCount uint32   `json:"host_id_count,omitempty"`
	Hostname    string   `json:"hostname,omitempty"`
	Env         []string `json:"env,omitempty"`
	OpenFiles   uint64   `json:"open_files,omitempty"`
	Processes   uint64   `json:"processes,omitempty"`
	// Cgroups picks the hierarchy for limits: "" (detect), "v1", "v2" or "off".
	Cgroups string `json:"cgroups,omitempty"`
	// Pool is how many helpers wait, namespaces and cgroup made, for instances to start: 0 for
	// the default (4), -1 for none, at most MaxPool.
	Pool int `json:"pool,omitempty"`
}

// MaxPool bounds vat.pool: each waiting helper holds its namespaces, a cgroup, two host ids
// and about 1.5 MB of memory of its own.
const MaxPool = 256

// Duration is a time.Duration written as a Go duration string ("10s").
type Duration time.Duration

// UnmarshalJSON reads "10s"-style durations.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"10s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Load reads the config file at path. A missing file at the default path (path == "") is not
// an error: the defaults apply.
func Load(path string) (*Config, error) {
	explicit := path != ""
	if !explicit {
		path = DefaultFile()
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return &Config{Version: Version}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(b)
}

// Parse decodes a config file's content strictly.
func Parse(b []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	c := new(Config)
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the config object", ErrInvalid)
	}
	if c.Version != Version {
		return nil, fmt.Errorf("%w: version %d, this build reads version %d", ErrInvalid, c.Version, Version)
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	switch c.LogLevel {
	case "", "trace", "debug", "info", "warn", "error", "off":
	default:
		return fmt.Errorf("%w: log_level %q (want trace, debug, info, warn, error or off)", ErrInvalid, c.LogLevel)
	}
	if c.StartTimeout < 0 || c.MaxStartTimeout < 0 || c.MaxBlobSize < 0 || c.MaxInstances < 0 {
		return fmt.Errorf("%w: limits must not be negative", ErrInvalid)
	}
	if c.MaxStartTimeout != 0 && c.StartTimeout > c.MaxStartTimeout {
		return fmt.Errorf("%w: start_timeout is above max_start_timeout", ErrInvalid)
	}
	if c.Vat.Pool < -1 || c.Vat.Pool > MaxPool {
		return fmt.Errorf("%w: vat.pool %d (want -1 for none, 0 for the default, or up to %d)", ErrInvalid, c.Vat.Pool, MaxPool)
	}
	switch c.Vat.Cgroups {
	case "", "v1", "v2", "off":
	default:
		return fmt.Errorf("%w: vat.cgroups %q (want v1, v2, off or nothing to detect)", ErrInvalid, c.Vat.Cgroups)
	}
	b := c.Billing
	if b.DefaultPeriod < 0 || b.MinPeriod < 0 || b.MaxPeriod < 0 || b.MaxBitsPerSecond < 0 {
		return fmt.Errorf("%w: billing bounds must not be negative", ErrInvalid)
	}
	if b.MaxPeriod != 0 && b.MinPeriod > b.MaxPeriod {
		return fmt.Errorf("%w: billing.min_period is above billing.max_period", ErrInvalid)
	}
	if c.Limits.Default.CPU < 0 || c.Limits.Max.CPU < 0 {
		return fmt.Errorf("%w: a CPU share must not be negative", ErrInvalid)
	}
	for i, g := range c.Access.Grants {
		if _, err := access.CapabilitySID(g.Capability); err != nil {
			return fmt.Errorf("%w: access.grants[%d]: capability %q: %v", ErrInvalid, i, g.Capability, err)
		}
		if len(g.Users) == 0 && len(g.Groups) == 0 {
			return fmt.Errorf("%w: access.grants[%d] (%s) names no user and no group", ErrInvalid, i, g.Capability)
		}
	}
	return nil
}

// Paths returns the data directory and socket, with defaults filled in.
func (c *Config) Paths() (dataDir, socket string) {
	dataDir, socket = c.DataDir, c.Socket
	if dataDir == "" {
		dataDir = DefaultDataDir()
	}
	if socket == "" {
		socket = DefaultSocket()
	}
	return dataDir, socket
}

// xdg returns $env, or home/fallback when it is unset.
func xdg(env, fallback string) string {
	if d := os.Getenv(env); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, fallback)
}

// DefaultDataDir is $XDG_DATA_HOME/factoryd, else ~/.local/share/factoryd.
func DefaultDataDir() string { return filepath.Join(xdg("XDG_DATA_HOME", ".local/share"), "factoryd") }

// DefaultFile is $XDG_CONFIG_HOME/factoryd/config.json, else ~/.config/factoryd/config.json.
func DefaultFile() string {
	return filepath.Join(xdg("XDG_CONFIG_HOME", ".config"), "factoryd", "config.json")
}

// SocketEnv names the environment variable that overrides the default socket.
const SocketEnv = "FACTORYD_SOCKET"

// DefaultSocket is $FACTORYD_SOCKET; else $XDG_RUNTIME_DIR/factoryd/factoryd.sock; else
// $XDG_STATE_HOME/factoryd/factoryd.sock, else ~/.local/state/factoryd/factoryd.sock.
func DefaultSocket() string {
	if s := os.Getenv(SocketEnv); s != "" {
		return s
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "factoryd", "factoryd.sock")
	}
	return filepath.Join(xdg("XDG_STATE_HOME", ".local/state"), "factoryd", "factoryd.sock")
}
