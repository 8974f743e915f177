package factory

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/client"
)

// One user cannot hold more connections than the operator allows; closing one makes room.
func TestConnectionsPerUserAreBounded(t *testing.T) {
	h := newHarness(t, &Options{MaxConnectionsPerUser: 3})
	ctx := ctxT(t)
	extra := []*client.Client{h.dial(), h.dial()}
	for _, c := range extra {
		_, err := c.Whoami(ctx)
		require.NoError(t, err)
	}
	over := h.dial() // the socket accepts; the daemon hangs up
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := over.Whoami(cctx)
	assert.Error(t, err)
	over.Close()

	extra[0].Close()
	eventually(t, "the closed connection is forgotten", func() bool {
		c := h.dial()
		defer c.Close()
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := c.Whoami(cctx)
		return err == nil
	})
	extra[1].Close()
}
