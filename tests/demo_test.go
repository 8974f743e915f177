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
	for _, want := range []string{
		"factory tax created (sealed)",
		"verdict: DISCREET",
		"verdict: NOT DISCREET — 1 hole(s)",
		"extraHoles: freetax has a hole tax does not accept",
		"tax due: 15900.00",
		`"income=85000 deductions=12000"`, // what the leaky factory's builder reads
		"stopped factoryd",
	} {
		assert.Contains(t, string(out), want)
	}
}
