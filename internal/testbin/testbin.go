// Package testbin builds the project's programs once per test binary, for tests that need
// real executables (example programs run in vats, the daemon and CLI for end-to-end tests).
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

var (
	mu    sync.Mutex
	dir   string
	built = map[string]string{}
)

// Build compiles the package at pkg (an import path of this module, e.g.
// "github.com/factoryd/factoryd/examples/taxprep") as a static executable and returns its
// path. Results are cached for the life of the process; call Cleanup from TestMain.
func Build(pkg string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[pkg]; ok {
		return p, nil
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "factoryd-testbin-")
		if err != nil {
			return "", err
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return "", err
		}
		dir = d
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = moduleRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %v\n%s", pkg, err, b)
	}
	built[pkg] = out
	return out, nil
}

// MustBuild is Build for TestMain: it panics on failure.
func MustBuild(pkg string) string {
	p, err := Build(pkg)
	if err != nil {
		panic(err)
	}
	return p
}

// Cleanup removes every built executable.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
	}
	dir, built = "", map[string]string{}
}

// moduleRoot is the directory holding go.mod, found from this file's location.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return strings.TrimSuffix(filepath.Dir(file), filepath.FromSlash("/internal/testbin"))
}
