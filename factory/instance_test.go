package factory

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	taxprep = "github.com/factoryd/factoryd/examples/taxprep"
	kvstore = "github.com/factoryd/factoryd/examples/kvstore"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

var rates = []byte("0 0.10\n10000 0.20\n50000 0.30\n")

func TestRunJob(t *testing.T) {
	h := newHarness(t, nil)
	r := h.publish("tax", taxprep, map[string][]byte{"rates": rates})
	ctx := ctxT(t)
	inst, err := r.Create(ctx, nil)
	require.NoError(t, err)
	out, err := inst.Run(ctx, []byte("income=60000 deductions=0"))
	require.NoError(t, err)
	// 10000*0.10 + 40000*0.20 + 10000*0.30 = 12000
	assert.Contains(t, string(out), "tax due: 12000.00")
	assert.Equal(t, 1, h.liveInstances())
	inst.Release()
	eventually(t, "instance ends when released", func() bool { return h.liveInstances() == 0 })
}
