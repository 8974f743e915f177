package wire

import (
	"errors"
	"fmt"
	"testing"

	"capnproto.org/go/capnp/v3/exc"
	"github.com/stretchr/testify/assert"
)

func TestErrorRoundTrip(t *testing.T) {
	for _, code := range codes {
		t.Run(string(code), func(t *testing.T) {
			sent := NewError(code, fmt.Errorf("factory %q: it broke", "tax"))
			// What a peer receives: the text, annotated by the RPC layer at each hop.
			received := exc.Annotate("", "factory.capnp:Builder.seal",
				errors.New("@0x9a2b.@5: "+sent.Error()))
			got := Decode(received)
			assert.Equal(t, code, CodeOf(got))
			assert.Equal(t, `factory "tax": it broke`, got.Error())
			assert.ErrorIs(t, got, &Error{Code: code})
			other := ErrInternal
			if code == CodeInternal {
				other = ErrSealed
			}
			assert.NotErrorIs(t, got, other, "codes do not match each other")
		})
	}
}

func TestUnavailableIsOverloaded(t *testing.T) {
	assert.Equal(t, exc.Overloaded, exc.TypeOf(NewError(CodeUnavailable, errors.New("stopping"))))
	assert.Equal(t, exc.Failed, exc.TypeOf(NewError(CodeSealed, errors.New("sealed"))))
}

func TestDecodeStripsAnnotations(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"two hops", "factory.capnp:Job.run: @0xbf3810f6b60d2e73.@0: input is bad", "input is bad"},
		{"one hop", "@0xbf3810f6b60d2e73.@0: input is bad", "input is bad"},
		{"plain", "input is bad", "input is bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Decode(errors.New(tt.in)).Error())
			assert.Equal(t, Code(""), CodeOf(errors.New(tt.in)))
		})
	}
	assert.Nil(t, Decode(nil))
}
