package program

import (
	"context"
	"sync"

	"github.com/factoryd/factoryd/schema"
)

// Meter charges the requestor, on the builder's behalf, for what the program does. It is safe
// for concurrent use: charges of the same kind and units made while others are on their way
// travel together, as one Meter.chargeMany call, so that a program charging from many
// goroutines costs the daemon one message per batch rather than one per charge. A batch is
// exactly the charges made one by one (the daemon accepts as many as fit and refuses the rest),
// so batching changes nothing a requestor or builder can observe.
type Meter struct {
	cap schema.Meter
	err error

	mu      sync.Mutex
	waiting map[batchKey][]*batch // batches gathering charges, oldest first
	sending map[batchKey]int      // chargeMany calls in flight
}

// batchKey groups charges that can travel together.
type batchKey struct {
	kind  string
	units uint64
}

// batch is charges sent in one call; each waiter knows its place in it.
type batch struct {
	n        uint32
	done     chan struct{}
	accepted uint32
	err      error
}

const (
	// maxBatch is the most charges in one call (the daemon's bound).
	maxBatch = 1 << 16
	// maxSending bounds the calls in flight per kind and units: enough that a new batch need
	// not wait for a period to end, few enough to stay far below the connection's limit on
	// calls in progress.
	maxSending = 8
)

func newMeter(c schema.Meter) *Meter {
	return &Meter{cap: c, waiting: map[batchKey][]*batch{}, sending: map[batchKey]int{}}
}

// Charge charges units of a kind the factory declared, rounded up to the kind's quantum. It
// returns once the charge is durable in the ledger — at the end of the charge's billing
// period, so up to a period later; charge from several goroutines to keep working meanwhile —
// or at once with false when it is refused: an undeclared kind, or beyond the ceilings the
// requestor granted. Nothing else about the ledger reaches the program. If ctx ends first,
// Charge returns its error; the charge may still have been counted.
func (m *Meter) Charge(ctx context.Context, kind string, units uint64) (accepted bool, err error) {
	if m.err != nil {
		return false, m.err
	}
	key := batchKey{kind, units}
	m.mu.Lock()
	q := m.waiting[key]
	if len(q) == 0 || q[len(q)-1].n == maxBatch {
		q = append(q, &batch{done: make(chan struct{})})
		m.waiting[key] = q
	}
	b := q[len(q)-1]
	place := b.n
	b.n++
	if m.sending[key] < maxSending {
		m.sendLocked(key)
	}
	m.mu.Unlock()
	select {
	case <-b.done:
		return place < b.accepted, b.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// sendLocked sends the oldest waiting batch of key.
func (m *Meter) sendLocked(key batchKey) {
	q := m.waiting[key]
	b := q[0]
	if len(q) == 1 {
		delete(m.waiting, key)
	} else {
		m.waiting[key] = q[1:]
	}
	m.sending[key]++
	go m.send(key, b)
}

// send makes one chargeMany call for b, then sends what gathered meanwhile.
func (m *Meter) send(key batchKey, b *batch) {
	fut, release := m.cap.ChargeMany(context.Background(), func(p schema.Meter_chargeMany_Params) error {
		p.SetUnits(key.units)
		p.SetCount(b.n)
		return p.SetKind(key.kind)
	})
	res, err := fut.Struct()
	if err == nil {
		b.accepted = res.Accepted()
	}
	b.err = err
	release()
	close(b.done)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sending[key]--
	if m.sending[key] == 0 {
		delete(m.sending, key)
	}
	if len(m.waiting[key]) > 0 && m.sending[key] < maxSending {
		m.sendLocked(key)
	}
}
