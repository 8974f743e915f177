package billing

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Concurrency: every method of Meter may be called from any goroutine. One mutex guards the
// state; it is held only for arithmetic: never while reading the Clock, never while waiting.
//
// Life of a meter, as the daemon drives it:
//
//	m := NewMeter(policy, clock)          // at create
//	ok := m.Charge(kind, units)           // from the yield's RPC; the yield sees only ok
//	entries, through := m.Flush()         // at every m.NextFlush(); append entries to the ledger,
//	m.Recorded(through)                   // then say they are durable (wakes ChargeDurable)
//	m.Close()                             // when the instance ends; keep flushing until Drained
//
// If recording fails, the entries are the caller's to retry (store.LedgerWriter.Submit writes
// nothing when it fails, so a retry cannot record them twice) or to give up on with Fail.
// Never emit the entries of an unfinished period because of something the yield did (such as
// exiting): that would tie the ledger to the moment of the yield's choosing. Drain is for the
// daemon's own shutdown only.

// Entry is one coalesced charge: the sum of one kind's accepted units over one ended period.
// The ledger entry made from it should carry Time = PeriodEnd.
type Entry struct {
	Kind        string    `json:"kind"`
	Units       uint64    `json:"units"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
}

// Meter applies a Policy to one instance's charges and coalesces them per period.
type Meter struct {
	policy *Policy
	clock  Clock
	period int64 // nanoseconds

	mu        sync.Mutex    // guards the fields that follow
	cur       int64         // grid index of the current period
	sums      []uint64      // by kind: units accepted in period cur; ≤ its per-period ceiling
	totals    []uint64      // by kind: units accepted over the meter's life; ≤ its total ceiling
	pending   []Entry       // entries of ended periods not yet flushed, oldest first
	closed    bool          // no more charges
	err       error         // set by Fail: waiters get it
	recorded  int64         // periods with a grid index below this are durable
	recordedC chan struct{} // closed and replaced when recorded or err changes
}

// NewMeter returns a meter applying p, reading the time from clock (nil means SystemClock).
func NewMeter(p *Policy, clock Clock) *Meter {
	if clock == nil {
		clock = SystemClock{}
	}
	m := &Meter{policy: p, clock: clock, period: int64(p.period),
		sums: make([]uint64, len(p.kinds)), totals: make([]uint64, len(p.kinds)), recordedC: make(chan struct{})}
	m.cur = m.index(clock.Now())
	m.recorded = m.cur
	return m
}

// Policy returns the meter's policy.
func (m *Meter) Policy() *Policy { return m.policy }

// Charge counts units of kind against the current period and reports whether it was accepted.
// The units are rounded up to a multiple of the kind's quantum; the charge is refused, and
// nothing changes, if the kind is undeclared, the meter is closed, or the rounded units do not
// fit under the kind's per-period or total ceiling. Charging 0 units is accepted and records
// nothing. The answer is all a yield may learn.
func (m *Meter) Charge(kind string, units uint64) (accepted bool) {
	_, accepted = m.charge(kind, units)
	return accepted
}

// ChargeDurable is Charge followed, if accepted, by waiting until the period that counted the
// charge has been recorded (Recorded), so that a yield's charge can be acknowledged only once
// durable. It returns ctx's error if ctx ends first, and ErrClosed wrapped with Fail's error
// if the meter fails first; the charge stays counted either way.
func (m *Meter) ChargeDurable(ctx context.Context, kind string, units uint64) (accepted bool, err error) {
	p, ok := m.charge(kind, units)
	if !ok {
		return false, nil
	}
	return true, m.waitRecorded(ctx, p)
}

// MaxBatch bounds the charges of one ChargeManyDurable.
const MaxBatch = 1 << 16

// ChargeManyDurable is count calls of Charge with the same kind and units, made at once, then
// a wait until their period is recorded (as ChargeDurable). Since the ceilings only fill, the
// accepted charges are the first accepted of them; it returns how many.
func (m *Meter) ChargeManyDurable(ctx context.Context, kind string, units uint64, count uint32) (accepted uint32, err error) {
	if count > MaxBatch {
		return 0, fmt.Errorf("%d charges at once, at most %d", count, MaxBatch)
	}
	p, n := m.chargeMany(kind, units, count)
	if n == 0 {
		return 0, nil
	}
	return n, m.waitRecorded(ctx, p)
}

func (m *Meter) charge(kind string, units uint64) (period int64, accepted bool) {
	p, n := m.chargeMany(kind, units, 1)
	return p, n == 1
}

// chargeMany counts up to count charges of units of kind, as many as fit, and returns the
// period they were counted in and how many.
func (m *Meter) chargeMany(kind string, units uint64, count uint32) (period int64, accepted uint32) {
	i := m.policy.index(kind)
	if i < 0 {
		return 0, 0
	}
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, 0
	}
	m.advanceLocked(now)
	c := m.policy.ceilings[i]
	if units > c.PerPeriod { // also keeps the rounding below from overflowing
		return 0, 0
	}
	q := m.policy.kinds[i].Quantum
	r := ceilDiv(units, q) * q
	n := uint64(count)
	if r > 0 {
		n = min(n, (c.PerPeriod-m.sums[i])/r, (c.Total-m.totals[i])/r)
	}
	if n == 0 {
		return 0, 0
	}
	m.sums[i] += n * r
	m.totals[i] += n * r
	return m.cur, uint32(n)
}

// Flush returns the entries of every period that has ended and was not flushed yet, oldest
// period first and kinds in declaration order, and through: the start of the current period.
// Every period ending at or before through has been handed out by this or an earlier Flush.
// The caller owns the returned slice. Call Recorded(through) once the entries are durable.
func (m *Meter) Flush() (entries []Entry, through time.Time) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advanceLocked(now)
	entries, m.pending = m.pending, nil
	return entries, m.start(m.cur)
}

// Accepted returns the units accepted so far, by kind in declaration order: the requestor's
// view of what its instance has charged, recorded or not. Never show it to the builder: it
// changes the moment the yield charges.
func (m *Meter) Accepted() []uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]uint64(nil), m.totals...)
}

// NextFlush returns when the current period ends: the next time Flush can return anything.
func (m *Meter) NextFlush() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.start(m.cur + 1)
}

// Recorded tells the meter that the entries of every period ending at or before through are
// durable, waking the ChargeDurable calls waiting for them.
func (m *Meter) Recorded(through time.Time) {
	p := m.index(through)
	m.mu.Lock()
	defer m.mu.Unlock()
	if p > m.recorded {
		m.recorded = p
		m.broadcastLocked()
	}
}

// Close stops accepting charges. What was accepted is still flushed at its period's end; the
// meter is Drained after that. Close is idempotent.
func (m *Meter) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
}

// Drained reports whether the meter is closed and has nothing left to flush.
func (m *Meter) Drained() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed || len(m.pending) > 0 {
		return false
	}
	for _, s := range m.sums {
		if s != 0 {
			return false
		}
	}
	return true
}

// Drain closes the meter and returns every remaining entry at once, including the unfinished
// current period's (stamped, like every entry, with its grid boundaries). It is for the
// daemon's own shutdown: never call it because of something the yield did.
func (m *Meter) Drain() []Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.endPeriodLocked()
	out := m.pending
	m.pending = nil
	return out
}

// Fail closes the meter and makes every ChargeDurable waiting now or later return an error
// wrapping ErrClosed and err: use it when the ledger cannot record the entries, or when the
// daemon stops without recording them.
func (m *Meter) Fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.err == nil {
		m.err = fmt.Errorf("%w: %w", ErrClosed, err)
		m.broadcastLocked()
	}
}

func (m *Meter) waitRecorded(ctx context.Context, p int64) error {
	for {
		m.mu.Lock()
		done, err, c := m.recorded > p, m.err, m.recordedC
		m.mu.Unlock()
		switch {
		case done:
			return nil
		case err != nil:
			return err
		}
		select {
		case <-c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// advanceLocked moves to the period holding now, ending the current one if now is past it. A
// clock that goes backwards leaves the current period as it is.
func (m *Meter) advanceLocked(now time.Time) {
	if p := m.index(now); p > m.cur {
		m.endPeriodLocked()
		m.cur = p
	}
}

// endPeriodLocked turns the current period's sums into pending entries.
func (m *Meter) endPeriodLocked() {
	for i, s := range m.sums {
		if s == 0 {
			continue
		}
		m.pending = append(m.pending, Entry{Kind: m.policy.kinds[i].Name, Units: s,
			PeriodStart: m.start(m.cur), PeriodEnd: m.start(m.cur + 1)})
		m.sums[i] = 0
	}
}

func (m *Meter) broadcastLocked() {
	close(m.recordedC)
	m.recordedC = make(chan struct{})
}

// index returns the grid index of the period holding t.
func (m *Meter) index(t time.Time) int64 {
	ns := t.UnixNano()
	p := ns / m.period
	if ns%m.period < 0 {
		p--
	}
	return p
}

// start returns when grid period p starts.
func (m *Meter) start(p int64) time.Time { return time.Unix(0, p*m.period).UTC() }
