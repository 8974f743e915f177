package factory

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/audit"
	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/store"
	"github.com/factoryd/factoryd/vat"
)

func TestResolveLimits(t *testing.T) {
	d := &Daemon{opts: (&Options{
		DefaultLimits: vat.Limits{MemoryBytes: 256 << 20, Pids: 64},
		MaxLimits:     vat.Limits{MemoryBytes: 1 << 30, CPUMillicores: 2000},
	}).withDefaults()}
	tests := []struct {
		name  string
		asked vat.Limits
		want  vat.Limits
		err   error
	}{
		{"defaults, and the maximum where there is no default", vat.Limits{},
			vat.Limits{MemoryBytes: 256 << 20, Pids: 64, CPUMillicores: 2000}, nil},
		{"asked within the maxima", vat.Limits{MemoryBytes: 512 << 20, CPUMillicores: 500, CPUSeconds: 9},
			vat.Limits{MemoryBytes: 512 << 20, Pids: 64, CPUMillicores: 500, CPUSeconds: 9}, nil},
		{"memory above the maximum", vat.Limits{MemoryBytes: 2 << 30}, vat.Limits{}, ErrLimit},
		{"CPU above the maximum", vat.Limits{CPUMillicores: 4000}, vat.Limits{}, ErrLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.resolveLimits(tt.asked)
			if tt.err != nil {
				assert.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// A requestor learns which limit ended its instance; the builder learns nothing of it.
func TestLimitKillReportsReasonToRequestorOnly(t *testing.T) {
	h := newHarness(t, nil)
	if _, err := h.d.vats.Cgroups(); err != nil {
		t.Skipf("no cgroups: %v", err)
	}
	r := h.publish("probe", probe, nil)
	ctx := ctxT(t)
	inst, err := r.Create(ctx, &client.CreateOptions{Limits: client.Limits{MemoryBytes: 48 << 20}})
	require.NoError(t, err)
	defer inst.Release()
	_, err = inst.Run(ctx, []byte("hog"))
	require.Error(t, err)
	info, err := inst.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, "memory limit 48 MiB exceeded", info.EndReason)

	h.d.audit.flush()
	entries, err := h.d.st.AuditEntries(func(e *storeAuditEntry) bool { return e.Action == audit.InstanceEnded }, 0)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.False(t, entries[0].Public, "only its requestor sees that it ended")
	assert.Empty(t, entries[0].Detail, "and nobody reads how from the log")

	_, err = r.Create(ctx, &client.CreateOptions{Limits: client.Limits{MemoryBytes: 1 << 20}})
	assert.ErrorIs(t, err, client.ErrInvalid, "below the minimum a vat needs")
}

// Operator limits no instance could start under stop the daemon at start, not every create.
func TestOperatorLimitsBelowTheMinimumAreRefused(t *testing.T) {
	for _, o := range []Options{
		{DefaultLimits: vat.Limits{Pids: 8}},
		{MaxLimits: vat.Limits{MemoryBytes: 1 << 20}},
	} {
		st, err := store.Open(t.TempDir(), nil)
		require.NoError(t, err)
		_, err = New(nil, st, &o)
		assert.ErrorIs(t, err, vat.ErrInvalidPolicy)
		st.Close()
	}
}
