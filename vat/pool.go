package vat

import (
	"sync"
	"time"
)

// pool keeps helpers started ahead of demand, so that starting a vat costs only what depends on
// its program. Each waiting helper holds its namespaces, a host id block and a cgroup.
//
// mu guards closed; ready is the pool itself.
type pool struct {
	s     *Spawner
	ready chan *helperProc
	wake  chan struct{}
	stop  chan struct{}
	wg    sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

func newPool(s *Spawner, size int) *pool {
	p := &pool{s: s, ready: make(chan *helperProc, max(size, 0)), wake: make(chan struct{}, 1),
		stop: make(chan struct{})}
	if size > 0 {
		p.wg.Add(1)
		go p.fill()
	}
	return p
}

// take returns a ready helper, or nil when none is.
func (p *pool) take() *helperProc {
	for {
		select {
		case h := <-p.ready:
			p.signal()
			if !h.p.exited() {
				return h
			}
			h.discard()
		default:
			p.signal()
			return nil
		}
	}
}

func (p *pool) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// fill keeps the pool full. A failure to start a helper (the machine refusing) is retried with
// back-off; the Spawn that finds the pool empty starts its own and reports the error.
func (p *pool) fill() {
	defer p.wg.Done()
	backoff := 10 * time.Millisecond
	for {
		for len(p.ready) < cap(p.ready) {
			h, err := p.s.prepare()
			if err != nil {
				break
			}
			backoff = 10 * time.Millisecond
			select {
			case p.ready <- h:
			case <-p.stop:
				h.discard()
				return
			}
		}
		wait := time.Hour
		if len(p.ready) < cap(p.ready) {
			wait, backoff = backoff, min(2*backoff, 5*time.Second)
		}
		select {
		case <-p.wake:
		case <-time.After(wait):
		case <-p.stop:
			return
		}
		// Let the vat that took a helper start first, since starting the next one competes for
		// the same CPUs — unless none is left.
		if len(p.ready) > 0 {
			select {
			case <-time.After(refillDelay):
			case <-p.stop:
				return
			}
		}
	}
}

// refillDelay is how long the pool waits after a helper is taken before starting another.
const refillDelay = 5 * time.Millisecond

// close stops filling and ends every waiting helper. It is idempotent.
func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.stop)
	p.mu.Unlock()
	p.wg.Wait()
	for {
		select {
		case h := <-p.ready:
			h.discard()
		default:
			return
		}
	}
}
