package factory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/access"
	"github.com/factoryd/factoryd/audit"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
)

// directory is the daemon's namespace seen with one token: a client's (Daemon.directory, and
// the session's own opens) or a yield's confined token (a client's directory handed to a yield
// as a create argument). Every open runs AccessCheck with that token.
type directory struct {
	d   *Daemon
	tok *access.Token
	p   Principal // who acts: the client, or the instance holding a confined directory
}

func (d *Daemon) directoryFor(p Principal, tok *access.Token) schema.Directory {
	return schema.Directory_ServerToClient(&directory{d: d, tok: tok, p: p})
}

// lookup finds the named factory and what the token is granted on it.
func (dir *directory) lookup(name string, nameErr error) (*Factory, *store.Factory, access.AccessMask, error) {
	if nameErr != nil {
		return nil, nil, 0, nameErr
	}
	f, err := dir.d.reg.byNameOrErr(name)
	if err != nil {
		return nil, nil, 0, err
	}
	rec := f.Snapshot()
	granted, err := accessTo(dir.tok, rec)
	return f, rec, granted, err
}

// openBuilder opens a factory's builder facet, limited to the builder rights granted.
func (dir *directory) openBuilder(name string, nameErr error) (schema.Builder, error) {
	f, rec, granted, err := dir.lookup(name, nameErr)
	if err != nil {
		return schema.Builder{}, err
	}
	if granted&builderRights == 0 {
		return schema.Builder{}, denied(rec, "builder", granted)
	}
	return dir.d.builderFacet(f, dir.p, granted&builderRights), nil
}

// openRequestor opens a sealed factory's requestor facet, limited to the requestor rights
// granted.
func (dir *directory) openRequestor(name string, nameErr error) (schema.Requestor, error) {
	f, rec, granted, err := dir.lookup(name, nameErr)
	if err != nil {
		return schema.Requestor{}, err
	}
	if granted&requestorRights == 0 {
		return schema.Requestor{}, denied(rec, "requestor", granted)
	}
	if !rec.Sealed {
		return schema.Requestor{}, fmt.Errorf("factory %q: %w", rec.Name, ErrNotSealed)
	}
	return dir.d.requestorFacet(f, dir.p, granted&requestorRights), nil
}

// openVerifier opens a factory's verifier facet: it needs the audit right.
func (dir *directory) openVerifier(name string, nameErr error) (schema.Verifier, error) {
	f, rec, granted, err := dir.lookup(name, nameErr)
	if err != nil {
		return schema.Verifier{}, err
	}
	if granted&RightAudit == 0 {
		return schema.Verifier{}, denied(rec, "audit", granted)
	}
	return dir.d.verifierFacet(f, dir.p), nil
}

// answerOpen answers a call that opens a facet: the facet as its result, or the open's error.
func answerOpen[C interface{ Release() }, R any](c C, err error, alloc func() (R, error), set func(R, C) error) error {
	if err != nil {
		return toWire(err)
	}
	res, err := alloc()
	if err != nil {
		c.Release()
		return err
	}
	return set(res, c)
}

// denied is the error of an open that the descriptor refuses.
func denied(rec *store.Factory, what string, granted access.AccessMask) error {
	return fmt.Errorf("%w: factory %q grants you no %s rights (you hold: %s)", ErrPermission, rec.Name, what, RightsText(granted))
}

// visible lists the factories on which the token holds any right, with what it holds.
func (dir *directory) visible() ([]*store.Factory, []access.AccessMask) {
	var recs []*store.Factory
	var rights []access.AccessMask
	for _, rec := range dir.d.reg.records() {
		granted, err := accessTo(dir.tok, rec)
		if err != nil {
			dir.d.log.Warn("access check failed", "factory", rec.Name, "error", err)
			continue
		}
		if granted != 0 {
			recs, rights = append(recs, rec), append(rights, granted)
		}
	}
	return recs, rights
}

func (dir *directory) List(ctx context.Context, call schema.Directory_list) error {
	recs, rights := dir.visible()
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	list, err := res.NewEntries(int32(len(recs)))
	if err != nil {
		return err
	}
	for i, rec := range recs {
		e := list.At(i)
		if err := e.SetName(rec.Name); err != nil {
			return err
		}
		if err := e.SetKind("factory"); err != nil {
			return err
		}
		e.SetGranted(uint32(rights[i]))
		if err := e.SetRights(RightsText(rights[i])); err != nil {
			return err
		}
		e.SetSealed(rec.Sealed)
	}
	return nil
}

func (dir *directory) Requestor(ctx context.Context, call schema.Directory_requestor) error {
	c, err := dir.openRequestor(call.Args().Name())
	return answerOpen(c, err, call.AllocResults, schema.Directory_requestor_Results.SetRequestor)
}

func (dir *directory) Verifier(ctx context.Context, call schema.Directory_verifier) error {
	c, err := dir.openVerifier(call.Args().Name())
	return answerOpen(c, err, call.AllocResults, schema.Directory_verifier_Results.SetVerifier)
}

func (dir *directory) Builder(ctx context.Context, call schema.Directory_builder) error {
	c, err := dir.openBuilder(call.Args().Name())
	return answerOpen(c, err, call.AllocResults, schema.Directory_builder_Results.SetBuilder)
}

func (dir *directory) Access(ctx context.Context, call schema.Directory_access) error {
	_, _, granted, err := dir.lookup(call.Args().Name())
	if err != nil {
		return toWire(err)
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	res.SetGranted(uint32(granted))
	return res.SetRights(RightsText(granted))
}

func (dir *directory) Token(ctx context.Context, call schema.Directory_token) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetToken(dir.d.describeToken(dir.tok))
}

// describeToken prints a token, naming the capability SIDs the daemon knows.
func (d *Daemon) describeToken(tok *access.Token) string {
	text := tok.String()
	for sid, name := range d.capabilityNames() {
		text = strings.ReplaceAll(text, sid.String(), sid.String()+" (capability "+name+")")
	}
	return text
}

// capabilityNames maps the capability SIDs the daemon knows of to their names: those the
// factories declare and those the operator's positive confinement grants.
func (d *Daemon) capabilityNames() map[access.SID]string {
	out := map[access.SID]string{}
	add := func(name string) {
		if sid, err := access.CapabilitySID(name); err == nil {
			out[sid] = name
		}
	}
	for _, rec := range d.reg.records() {
		for _, n := range rec.Capabilities {
			add(n)
		}
	}
	for _, n := range d.opts.Access.CapabilityNames() {
		add(n)
	}
	return out
}

// sidNames names, for people, the SIDs only the daemon knows: capabilities (capabilityNames)
// and each factory's confinement SID.
func (d *Daemon) sidNames() map[access.SID]string {
	out := map[access.SID]string{}
	for sid, name := range d.capabilityNames() {
		out[sid] = "capability " + name
	}
	for _, rec := range d.reg.records() {
		out[access.ConfinementSID(rec.ID[:])] = "yields of factory " + rec.Name
	}
	return out
}

// trustee names a SID for people: one of known (sidNames), a well-known SID or a unix user or
// group, else the SID itself.
func trustee(sid access.SID, known map[access.SID]string) string {
	if name, ok := known[sid]; ok {
		return name
	}
	if name := access.WellKnownName(sid); name != "" {
		return name
	}
	return sid.String()
}

// Acl answers getAcl and setAcl: the descriptor, explained, and what the caller holds.
func (d *Daemon) fillACL(out schema.Acl, rec *store.Factory, granted access.AccessMask) error {
	sd, err := descriptorOf(rec)
	if err != nil {
		return err
	}
	text, err := access.FormatSDDL(sd)
	if err != nil {
		return err
	}
	if err := out.SetName(rec.Name); err != nil {
		return err
	}
	if err := out.SetSddl(text); err != nil {
		return err
	}
	known := d.sidNames()
	if err := out.SetOwner(fmt.Sprintf("%v (%s)", sd.Owner, trustee(sd.Owner, known))); err != nil {
		return err
	}
	out.SetGranted(uint32(granted))
	if err := out.SetRights(RightsText(granted)); err != nil {
		return err
	}
	var aces []access.ACE
	if sd.DACL != nil {
		aces = sd.DACL.ACEs
	}
	list, err := out.NewEntries(int32(len(aces)))
	if err != nil {
		return err
	}
	for i, ace := range aces {
		e := list.At(i)
		if err := e.SetType(aceTypeText(ace.Type)); err != nil {
			return err
		}
		if err := e.SetSid(ace.SID.String()); err != nil {
			return err
		}
		if err := e.SetTrustee(trustee(ace.SID, known)); err != nil {
			return err
		}
		mask, _ := factoryMapping.Map(ace.Mask)
		e.SetMask(uint32(ace.Mask))
		if err := e.SetRights(RightsText(mask)); err != nil {
			return err
		}
		e.SetInheritOnly(ace.Flags&access.InheritOnly != 0)
		if ace.Type.IsCallback() {
			cond, err := access.FormatCondition(ace.Condition)
			if err != nil {
				cond = "(unreadable condition)"
			}
			if err := e.SetCondition(cond); err != nil {
				return err
			}
		}
	}
	return nil
}

// aceTypeText names an ACE type for people.
func aceTypeText(t access.ACEType) string {
	name := strings.ToLower(strings.TrimPrefix(t.String(), "ACCESS_"))
	return strings.ReplaceAll(name, "_", "-")
}

func (s *session) GetAcl(ctx context.Context, call schema.Daemon_getAcl) error {
	_, rec, granted, err := s.dir().lookup(call.Args().Name())
	if err != nil {
		return toWire(err)
	}
	if granted&access.ReadControl == 0 {
		return toWire(fmt.Errorf("%w: factory %q: reading its descriptor needs the read-acl right (you hold: %s)",
			ErrPermission, rec.Name, RightsText(granted)))
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	acl, err := res.NewAcl()
	if err != nil {
		return err
	}
	return toWire(s.d.fillACL(acl, rec, granted))
}

func (s *session) SetAcl(ctx context.Context, call schema.Daemon_setAcl) error {
	text, err := call.Args().Sddl()
	if err != nil {
		return err
	}
	sd, err := parseDescriptor(text)
	if err != nil {
		return toWire(err)
	}
	f, rec, granted, err := s.dir().lookup(call.Args().Name())
	if err != nil {
		return toWire(err)
	}
	old, err := descriptorOf(rec)
	if err != nil {
		return toWire(err)
	}
	if granted&access.WriteDAC == 0 {
		return toWire(fmt.Errorf("%w: factory %q: changing its descriptor needs the write-acl right (you hold: %s)",
			ErrPermission, rec.Name, RightsText(granted)))
	}
	if sd.Owner != old.Owner && granted&access.WriteOwner == 0 {
		return toWire(fmt.Errorf("%w: factory %q: changing its owner needs the take-ownership right (you hold: %s)",
			ErrPermission, rec.Name, RightsText(granted)))
	}
	canonical, err := access.FormatSDDL(sd)
	if err != nil {
		return toWire(err)
	}
	if err := f.setDescriptor(canonical); err != nil {
		return toWire(err)
	}
	s.d.log.Info("descriptor changed", "factory", rec.Name, "by", s.p.String(), "sddl", canonical)
	s.d.recordFactory(s.p, audit.DescriptorChanged, f, store.AuditEntry{Detail: canonical})
	rec = f.Snapshot()
	granted, err = accessTo(s.p.Token, rec)
	if err != nil {
		return toWire(err)
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	acl, err := res.NewAcl()
	if err != nil {
		return err
	}
	return toWire(s.d.fillACL(acl, rec, granted))
}

func (s *session) Directory(ctx context.Context, call schema.Daemon_directory) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetDirectory(s.d.directoryFor(s.p, s.p.Token))
}

// dir is the namespace as the session's client sees it.
func (s *session) dir() *directory { return &directory{d: s.d, tok: s.p.Token, p: s.p} }

// confineArgs replaces every directory among a create's capability arguments by the same
// namespace seen with the yield's confined token: its factory's confinement SID and declared
// capabilities (specs/access-check.md). The yield never holds the requestor's own directory.
func (d *Daemon) confineArgs(ctx context.Context, rec *store.Factory, args []argValue) error {
	for i := range args {
		a := &args[i]
		if !a.isCap {
			continue
		}
		dir, ok := d.classify(ctx, a.cap).Object.(*directory)
		if !ok {
			continue
		}
		tok := dir.tok
		if !tok.Confined() {
			var err error
			if tok, err = confinedToken(dir.tok, rec); err != nil {
				return err
			}
		}
		confined := dir.d.directoryFor(dir.p, tok)
		a.cap.Release()
		a.cap = capnp.Client(confined)
	}
	return nil
}

// confinedToken is base confined to rec's yields.
func confinedToken(base *access.Token, rec *store.Factory) (*access.Token, error) {
	caps, err := capabilitySIDs(rec.Capabilities)
	if err != nil {
		return nil, err
	}
	tok, err := access.ConfinedToken(base, access.ConfinementSID(rec.ID[:]), caps, rec.Strict)
	if err != nil {
		return nil, fmt.Errorf("%w: confining a directory to factory %q: %v", ErrInvalid, rec.Name, err)
	}
	return tok, nil
}

// capabilitySIDs returns the SIDs of capability names.
func capabilitySIDs(names []string) ([]access.SID, error) {
	out := make([]access.SID, 0, len(names))
	for _, n := range names {
		sid, err := access.CapabilitySID(n)
		if err != nil {
			return nil, fmt.Errorf("%w: capability %q: %v", ErrInvalid, n, err)
		}
		if !slices.Contains(out, sid) {
			out = append(out, sid)
		}
	}
	return out, nil
}
