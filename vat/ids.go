package vat

import (
	"fmt"
	"sync"
)

// idRange hands out blocks of host ids, one per vat, so that no two vats share a host uid
// (per-uid kernel state — rlimit counts, keyrings — is then per vat). Each block is two ids:
// the helper's (root inside the namespace) and the program's.
type idRange struct {
	base  uint32
	count uint32 // number of blocks

	mu   sync.Mutex // guards the fields that follow
	used map[uint32]bool
	next uint32
}

const idsPerVat = 2

func newIDRange(base, ids uint32) *idRange {
	return &idRange{base: base, count: ids / idsPerVat, used: make(map[uint32]bool)}
}

// take returns the first host id of a free block.
func (r *idRange) take() (uint32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for range r.count {
		b := r.next
		r.next = (r.next + 1) % r.count
		if !r.used[b] {
			r.used[b] = true
			return r.base + b*idsPerVat, nil
		}
	}
	return 0, fmt.Errorf("%w: all %d host uids in use", ErrExhausted, r.count*idsPerVat)
}

// give returns a block taken with take.
func (r *idRange) give(id uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.used, (id-r.base)/idsPerVat)
}
