package factory

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/internal/testbin"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
	"github.com/factoryd/factoryd/wire"
)

func buildProgram(pkg string) (string, error) { return testbin.Build(pkg) }

func wireDecode(err error) error { return wire.Decode(err) }

// uploadTree writes files (path -> content) into a temporary directory and uploads it as a
// tree; the tree is released when the test ends.
func uploadTree(t *testing.T, c *client.Client, files map[string]string) *client.Tree {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, p)
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(content), 0o644))
	}
	tr, err := c.UploadTree(context.Background(), dir)
	require.NoError(t, err)
	t.Cleanup(tr.Release)
	return tr
}

type schemaControlParams = schema.Requestor_control_Params

type storeAuditEntry = store.AuditEntry

// processAlive reports whether pid exists (and is not a zombie we could still see).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return !errors.Is(err, syscall.ESRCH)
}
