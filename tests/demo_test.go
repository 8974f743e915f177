package tests

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's first command must keep working.
func TestQuickStartDemo(t *testing.T) {
	cmd := exec.Command("go", "run", "./cmd/factory-demo")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "factory tax created (sealed)")
	assert.Contains(t, string(out), "tax due: 15900.00")
	assert.Contains(t, string(out), "stopped factoryd")
}
