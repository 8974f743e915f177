package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/internal/testbin"
	"github.com/factoryd/factoryd/vat"
)

const (
	taxprep = "github.com/factoryd/factoryd/examples/taxprep"
	kvstore = "github.com/factoryd/factoryd/examples/kvstore"
	probe   = "github.com/factoryd/factoryd/internal/testprogs/probe"
	rates   = "../../../examples/taxprep/rates.txt"
)

func TestMain(m *testing.M) {
	vat.RunHelperIfRequested()
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// result is one factoryctl run.
type result struct {
	out, err string
	code     int
}

// ctl runs factoryctl in-process against socket.
func ctl(t *testing.T, socket, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := Main(ctx, append([]string{"--socket", socket}, args...),
		IO{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut})
	return result{out.String(), errOut.String(), code}
}

func mustCtl(t *testing.T, socket, stdin string, args ...string) string {
	t.Helper()
	r := ctl(t, socket, stdin, args...)
	require.Equal(t, 0, r.code, "factoryctl %v: %s", args, r.err)
	return r.out
}

func bin(t *testing.T, pkg string) string {
	t.Helper()
	p, err := testbin.Build(pkg)
	require.NoError(t, err)
	return p
}
