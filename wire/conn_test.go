package wire

import (
	"encoding/binary"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A frame header claiming a huge segment must end the connection before anything that size is
// allocated (notes/capnp-go.md, failure mode 4).
func TestOversizedFrameClosesConnection(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	conn := NewConn(a, nil)
	hdr := make([]byte, 8)
	binary.LittleEndian.PutUint32(hdr[0:], 0)     // one segment
	binary.LittleEndian.PutUint32(hdr[4:], 8<<20) // of 8 Mi words = 64 MiB
	go b.Write(hdr)
	select {
	case <-conn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the connection survived an oversized frame")
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20), "no allocation near the claimed size")
}

func TestMessagesUnderTheLimitPass(t *testing.T) {
	a, b := net.Pipe()
	server := NewConn(a, nil)
	client := NewConn(b, nil)
	defer server.Close()
	defer client.Close()
	boot := client.Bootstrap(t.Context())
	defer boot.Release()
	require.NoError(t, boot.Resolve(t.Context()))
}
