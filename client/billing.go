package client

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/factoryd/factoryd/billing"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire"
)

// DeclareCharges declares what the factory's instances may charge for, replacing an earlier
// declaration. The factory must not be sealed.
func (b *Builder) DeclareCharges(ctx context.Context, kinds ...billing.Kind) error {
	return call(b.cap.DeclareCharges(ctx, func(p schema.Builder_declareCharges_Params) error {
		return fillChargeKinds(p.NewKinds, kinds)
	}))
}

func fillChargeKinds(newList func(int32) (schema.ChargeKind_List, error), kinds []billing.Kind) error {
	list, err := newList(int32(len(kinds)))
	if err != nil {
		return err
	}
	for i, k := range kinds {
		if err := list.At(i).SetName(k.Name); err != nil {
			return err
		}
		list.At(i).SetQuantum(k.Quantum)
	}
	return nil
}

func readChargeKinds(list schema.ChargeKind_List, err error) ([]billing.Kind, error) {
	if err != nil || list.Len() == 0 {
		return nil, err
	}
	out := make([]billing.Kind, list.Len())
	for i := range out {
		name, err := list.At(i).Name()
		if err != nil {
			return nil, err
		}
		out[i] = billing.Kind{Name: name, Quantum: list.At(i).Quantum()}
	}
	return out, nil
}

// fillBilling writes a requestor's billing limits; nil writes nothing (no charges allowed).
func fillBilling(newLimits func() (schema.BillingLimits, error), lim *billing.Limits) error {
	if lim == nil {
		return nil
	}
	out, err := newLimits()
	if err != nil {
		return err
	}
	out.SetPeriodMs(uint32(lim.Period / time.Millisecond))
	list, err := out.NewCeilings(int32(len(lim.Ceilings)))
	if err != nil {
		return err
	}
	i := 0
	for kind, c := range lim.Ceilings {
		if err := list.At(i).SetKind(kind); err != nil {
			return err
		}
		list.At(i).SetPerPeriod(c.PerPeriod)
		list.At(i).SetTotal(c.Total)
		i++
	}
	return nil
}

// Capacity is the billing channel of an instance: how much its yield can tell the builder.
type Capacity struct {
	Period        time.Duration  `json:"period"`
	BitsPerPeriod float64        `json:"bits_per_period"`
	BitsPerSecond float64        `json:"bits_per_second"`
	Rating        string         `json:"rating"`
	Kinds         []KindCapacity `json:"kinds"`
}

// KindCapacity is one charge kind's share of the channel.
type KindCapacity struct {
	Kind          string  `json:"kind"`
	Quantum       uint64  `json:"quantum"`
	Ceiling       uint64  `json:"ceiling"`
	Values        uint64  `json:"values"`
	BitsPerPeriod float64 `json:"bits_per_period"`
	BitsPerSecond float64 `json:"bits_per_second"`
}

func readCapacity(c schema.ChannelCapacity) (*Capacity, error) {
	out := &Capacity{Period: time.Duration(c.PeriodMs()) * time.Millisecond, BitsPerPeriod: c.BitsPerPeriod(),
		BitsPerSecond: c.BitsPerSecond()}
	var err error
	if out.Rating, err = c.Rating(); err != nil {
		return nil, err
	}
	list, err := c.Kinds()
	if err != nil {
		return nil, err
	}
	for i := 0; i < list.Len(); i++ {
		k := list.At(i)
		name, err := k.Kind()
		if err != nil {
			return nil, err
		}
		out.Kinds = append(out.Kinds, KindCapacity{Kind: name, Quantum: k.Quantum(), Ceiling: k.Ceiling(),
			Values: k.Values(), BitsPerPeriod: k.BitsPerPeriod(), BitsPerSecond: k.BitsPerSecond()})
	}
	return out, nil
}

// Capacity returns the billing channel an instance created with lim would have, exactly. The
// daemon refuses limits create would refuse.
func (r *Requestor) Capacity(ctx context.Context, lim *billing.Limits) (*Capacity, error) {
	fut, release := r.cap.Capacity(ctx, func(p schema.Requestor_capacity_Params) error {
		return fillBilling(p.NewBilling, lim)
	})
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	c, err := res.Capacity()
	if err != nil {
		return nil, err
	}
	return readCapacity(c)
}

// LedgerQuery selects billing ledger entries. The daemon returns only entries the caller may
// see: of the factories it owns, and of the instances it requested.
type LedgerQuery struct {
	Factory  string // a factory's name (or a destroyed factory's name or id); "" for all
	Instance string // "" for all
	// After resumes a listing after the last entry of the previous page.
	After *LedgerEntry
	// Limit caps the entries of one page; 0 means the daemon's page size.
	Limit int
}

// LedgerEntry is one recorded charge.
type LedgerEntry struct {
	Seq         uint64    `json:"seq"`
	Factory     string    `json:"factory"`
	FactoryID   string    `json:"factory_id"`
	Instance    string    `json:"instance"`
	Payer       string    `json:"payer"`
	PayerUID    uint32    `json:"payer_uid"`
	Kind        string    `json:"kind"`
	Units       uint64    `json:"units"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	Time        time.Time `json:"time"`
	Prev        string    `json:"prev"`
	Hash        string    `json:"hash"`
}

// Ledger returns one page of ledger entries, ordered by factory id then sequence.
func (c *Client) Ledger(ctx context.Context, q LedgerQuery) ([]LedgerEntry, error) {
	fut, release := c.daemon.Ledger(ctx, func(p schema.Daemon_ledger_Params) error {
		lq, err := p.NewQuery()
		if err != nil {
			return err
		}
		if err := lq.SetFactory(q.Factory); err != nil {
			return err
		}
		if err := lq.SetInstance(q.Instance); err != nil {
			return err
		}
		if q.After != nil {
			if err := lq.SetAfterFactory(q.After.FactoryID); err != nil {
				return err
			}
			lq.SetAfterSeq(q.After.Seq)
		}
		lq.SetLimit(uint32(max(q.Limit, 0)))
		return nil
	})
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	list, err := res.Entries()
	if err != nil {
		return nil, err
	}
	out := make([]LedgerEntry, 0, list.Len())
	for i := 0; i < list.Len(); i++ {
		e, err := readLedgerEntry(list.At(i))
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// LedgerAll returns every entry q selects, page after page.
func (c *Client) LedgerAll(ctx context.Context, q LedgerQuery) ([]LedgerEntry, error) {
	var out []LedgerEntry
	for {
		page, err := c.Ledger(ctx, q)
		if err != nil {
			return out, err
		}
		out = append(out, page...)
		if len(page) == 0 || (q.Limit > 0 && len(page) < q.Limit) {
			return out, nil
		}
		q.After = &out[len(out)-1]
	}
}

func readLedgerEntry(e schema.LedgerEntry) (LedgerEntry, error) {
	out := LedgerEntry{Seq: e.Seq(), PayerUID: e.PayerUid(), Units: e.Units(),
		PeriodStart: time.Unix(0, e.PeriodStart()).UTC(), PeriodEnd: time.Unix(0, e.PeriodEnd()).UTC(),
		Time: time.Unix(0, e.Time()).UTC()}
	var err error
	for _, f := range []struct {
		dst *string
		get func() (string, error)
	}{{&out.Factory, e.Factory}, {&out.FactoryID, e.FactoryId}, {&out.Instance, e.Instance},
		{&out.Payer, e.Payer}, {&out.Kind, e.Kind}} {
		if *f.dst, err = f.get(); err != nil {
			return out, err
		}
	}
	prev, err := e.Prev()
	if err != nil {
		return out, err
	}
	hash, err := e.Hash()
	if err != nil {
		return out, err
	}
	out.Prev, out.Hash = hex.EncodeToString(prev), hex.EncodeToString(hash)
	return out, nil
}

// Checkpoint is a chain head remembered from an earlier verify: a later verify proves the
// chain still holds it (a truncated or rewritten chain does not).
type Checkpoint struct {
	FactoryID string `json:"factory_id"`
	Seq       uint64 `json:"seq"`
	Hash      string `json:"hash"`
}

// ChainVerdict is the result of verifying one factory's ledger chain.
type ChainVerdict struct {
	Factory   string `json:"factory"`
	FactoryID string `json:"factory_id"`
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
	Head      Checkpoint
	// Entries counts the caller's own entries in the chain (every entry, for the payee).
	Entries uint64 `json:"entries"`
	Payee   bool   `json:"payee"`
}

// VerifyLedger verifies the chains the caller may see (factory "" for all), each against the
// checkpoints given for it.
func (c *Client) VerifyLedger(ctx context.Context, factory string, checkpoints []Checkpoint) ([]ChainVerdict, error) {
	fut, release := c.daemon.VerifyLedger(ctx, func(p schema.Daemon_verifyLedger_Params) error {
		if err := p.SetFactory(factory); err != nil {
			return err
		}
		list, err := p.NewCheckpoints(int32(len(checkpoints)))
		if err != nil {
			return err
		}
		for i, cp := range checkpoints {
			h, err := hex.DecodeString(cp.Hash)
			if err != nil {
				return fmt.Errorf("checkpoint of %s: hash: %w", cp.FactoryID, err)
			}
			if err := list.At(i).SetFactoryId(cp.FactoryID); err != nil {
				return err
			}
			list.At(i).SetSeq(cp.Seq)
			if err := list.At(i).SetHash(h); err != nil {
				return err
			}
		}
		return nil
	})
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	list, err := res.Chains()
	if err != nil {
		return nil, err
	}
	out := make([]ChainVerdict, 0, list.Len())
	for i := 0; i < list.Len(); i++ {
		v := list.At(i)
		cv := ChainVerdict{OK: v.Ok(), Entries: v.Entries(), Payee: v.Payee()}
		cv.Factory, _ = v.Factory()
		cv.FactoryID, _ = v.FactoryId()
		cv.Error, _ = v.Error()
		h, _ := v.HeadHash()
		cv.Head = Checkpoint{FactoryID: cv.FactoryID, Seq: v.HeadSeq(), Hash: hex.EncodeToString(h)}
		out = append(out, cv)
	}
	return out, nil
}

// Usage is what an instance consumed, from the kernel's counters: the requestor's alone.
type Usage struct {
	Instance   string        `json:"instance"`
	Factory    string        `json:"factory"`
	Live       bool          `json:"live"`
	CPU        time.Duration `json:"cpu_ns"`
	PeakMemory uint64        `json:"peak_memory_bytes"`
	Wall       time.Duration `json:"wall_ns"`
	Created    time.Time     `json:"created"`
	Ended      *time.Time    `json:"ended,omitempty"`
	EndReason  string        `json:"end_reason,omitempty"`
	Measured   bool          `json:"measured"`
}

// Usage returns what one of the caller's instances consumed, so far or in all.
func (c *Client) Usage(ctx context.Context, instance string) (*Usage, error) {
	fut, release := c.daemon.Usage(ctx, func(p schema.Daemon_usage_Params) error { return p.SetInstance(instance) })
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return nil, wire.Decode(err)
	}
	u, err := res.Usage()
	if err != nil {
		return nil, err
	}
	out := &Usage{Live: u.Live(), CPU: time.Duration(u.CpuNanos()), PeakMemory: u.PeakMemoryBytes(),
		Wall: time.Duration(u.WallNanos()), Created: time.Unix(0, u.CreatedAt()).UTC(), Measured: u.Measured()}
	out.Instance, _ = u.Instance()
	out.Factory, _ = u.Factory()
	out.EndReason, _ = u.EndReason()
	if u.EndedAt() != 0 {
		t := time.Unix(0, u.EndedAt()).UTC()
		out.Ended = &t
	}
	return out, nil
}
