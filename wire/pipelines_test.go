package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/schema"
)

func TestSchemaTables(t *testing.T) {
	tb, err := factorydTables()
	require.NoError(t, err)
	tests := []struct {
		name   string
		method methodKey
		want   []capField
	}{
		{"Daemon.uploadBlob", methodKey{schema.Daemon_TypeID, 0}, []capField{{0, schema.BlobUpload_TypeID}}},
		{"BlobUpload.commit", methodKey{schema.BlobUpload_TypeID, 1}, []capField{{1, schema.Blob_TypeID}}},
		{"Builder.seal", methodKey{schema.Builder_TypeID, 5}, []capField{{0, schema.Requestor_TypeID}}},
		{"Requestor.create: a forwarder", methodKey{schema.Requestor_TypeID, 0}, []capField{{0, anyInterface}}},
		{"Tree.get: an untyped capability", methodKey{schema.Tree_TypeID, 1}, nil},
		{"Blob.size: data only", methodKey{schema.Blob_TypeID, 0}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.True(t, tb.known(tt.method))
			assert.Equal(t, tt.want, tb.capFields[tt.method])
		})
	}
	assert.False(t, tb.known(methodKey{0x1234, 0}), "an interface of a yield's own")
	assert.Len(t, tb.classifyOnly, len(classifyOnlyMethods))
	assert.True(t, tb.classifyOnly[methodKey{schema.Requestor_TypeID, 4}], "Requestor.control")
}

func TestServes(t *testing.T) {
	tb, err := factorydTables()
	require.NoError(t, err)
	tests := []struct {
		name  string
		iface uint64
		m     methodKey
		want  bool
	}{
		{"own method", schema.Blob_TypeID, methodKey{schema.Blob_TypeID, 2}, true},
		{"no such method", schema.Blob_TypeID, methodKey{schema.Blob_TypeID, 3}, false},
		{"another interface's", schema.Blob_TypeID, methodKey{schema.BlobUpload_TypeID, 0}, false},
		{"unknown interface", 0x1234, methodKey{0x1234, 0}, false},
		{"a forwarder", anyInterface, methodKey{0x1234, 0}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tb.serves(tt.iface, tt.m), "got %v, want %v", !tt.want, tt.want)
		})
	}
}
