package factory

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	capnp "capnproto.org/go/capnp/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/factoryd/factoryd/access"
	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/internal/testbin"
	"github.com/factoryd/factoryd/wire"
)

// dialAs connects to the daemon as a client with the given uid and gids, whose token the
// daemon builds as it does from a socket's credentials.
func (h *harness) dialAs(uid uint32, gids ...uint32) *client.Client {
	t := h.t
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	conn := func(fd int) net.Conn {
		f := os.NewFile(uintptr(fd), "pair")
		defer f.Close()
		c, err := net.FileConn(f)
		require.NoError(t, err)
		return c
	}
	if len(gids) == 0 {
		gids = []uint32{uid}
	}
	tok, err := access.TokenForUnixPeer(uid, gids, h.d.peers)
	require.NoError(t, err)
	h.d.serveAs(conn(fds[0]), Principal{UID: uid, GID: gids[0], PID: int32(os.Getpid()), Token: tok})
	c := client.New(conn(fds[1]))
	t.Cleanup(func() { c.Close() })
	return c
}

// newFactory creates an unsealed factory of the probe through c.
func (h *harness) newFactory(c *client.Client, name string) *client.Builder {
	t := h.t
	ctx := ctxT(t)
	prog, err := testbin.Build(probe)
	require.NoError(t, err)
	b, err := c.NewFactory(ctx, name)
	require.NoError(t, err)
	t.Cleanup(b.Release)
	d, err := c.UploadFile(ctx, prog)
	require.NoError(t, err)
	require.NoError(t, b.SetProgram(ctx, d))
	return b
}

func requireCode(t *testing.T, err error, code wire.Code) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, code, wire.CodeOf(err), "%v", err)
}

const (
	owner = 61001
	alice = 61002
	bob   = 61003
)

func TestDefaultDescriptor(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	own, other := h.dialAs(owner), h.dialAs(alice)
	b := h.newFactory(own, "tax")
	r, err := b.Seal(ctx)
	require.NoError(t, err)
	r.Release()

	// The owner holds everything; everyone else may request and audit.
	acl, err := own.GetACL(ctx, "tax")
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("O:S-1-22-1-%dG:S-1-22-2-%dD:(A;;GA;;;S-1-22-1-%d)(A;;0x3;;;WD)", owner, owner, owner), acl.SDDL)
	assert.Equal(t, "create audit install seal manage destroy read-acl write-acl take-ownership", acl.Rights)
	infos, err := other.Factories(ctx)
	require.NoError(t, err)
	require.Len(t, infos, 1)
	assert.Equal(t, "create audit", infos[0].Rights)

	// Another user: no builder facet, no descriptor, but a requestor facet that works.
	_, err = other.Builder(ctx, "tax")
	requireCode(t, err, wire.CodePermission)
	assert.ErrorContains(t, err, "grants you no builder rights (you hold: create audit)")
	_, err = other.GetACL(ctx, "tax")
	requireCode(t, err, wire.CodePermission)
	_, err = other.SetACL(ctx, "tax", "O:WDD:(A;;GA;;;WD)")
	requireCode(t, err, wire.CodePermission)
	rr, err := other.Requestor(ctx, "tax")
	require.NoError(t, err)
	defer rr.Release()
	out, err := rr.RunOnce(ctx, nil, []byte("echo:hello"))
	require.NoError(t, err)
	assert.Equal(t, "hello", string(out))
	_, err = rr.Holes(ctx)
	require.NoError(t, err)
}

func TestDescriptorLimitsFacets(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	own, al, bo := h.dialAs(owner), h.dialAs(alice), h.dialAs(bob)
	sealed := h.newFactory(own, "tax")
	r, err := sealed.Seal(ctx)
	require.NoError(t, err)
	r.Release()
	h.newFactory(own, "draft")

	// tax: alice may create but not audit; nobody else anything. draft: alice may install
	// but not seal.
	_, err = own.SetACL(ctx, "tax", fmt.Sprintf("O:uid:%dD:(A;;GA;;;uid:%d)(A;;0x1;;;uid:%d)", owner, owner, alice))
	require.NoError(t, err)
	_, err = own.SetACL(ctx, "draft", fmt.Sprintf("O:uid:%dD:(A;;GA;;;uid:%d)(A;;0x4;;;uid:%d)", owner, owner, alice))
	require.NoError(t, err)

	// A denied open: bob holds nothing on tax, and does not even see it listed.
	_, err = bo.Requestor(ctx, "tax")
	requireCode(t, err, wire.CodePermission)
	infos, err := bo.Factories(ctx)
	require.NoError(t, err)
	assert.Empty(t, infos)

	// Alice's requestor facet creates, and can do nothing else.
	rr, err := al.Requestor(ctx, "tax")
	require.NoError(t, err)
	defer rr.Release()
	out, err := rr.RunOnce(ctx, nil, []byte("echo:ok"))
	require.NoError(t, err)
	assert.Equal(t, "ok", string(out))
	_, err = rr.Holes(ctx)
	requireCode(t, err, wire.CodePermission)
	_, err = rr.IsDiscreet(ctx)
	requireCode(t, err, wire.CodePermission)
	_, err = al.Verifier(ctx, "tax")
	requireCode(t, err, wire.CodePermission)

	// Alice's builder facet of draft installs but cannot seal or destroy.
	bb, err := al.Builder(ctx, "draft")
	require.NoError(t, err)
	defer bb.Release()
	require.NoError(t, bb.AllowSyscalls(ctx, "openat"))
	_, err = bb.Seal(ctx)
	requireCode(t, err, wire.CodePermission)
	assert.ErrorContains(t, err, "lacks the seal right")
	requireCode(t, bb.Destroy(ctx), wire.CodePermission)

	// A facet is a capability: taking alice's right away later does not shrink the one she
	// holds, but she cannot open another.
	_, err = own.SetACL(ctx, "draft", fmt.Sprintf("O:uid:%dD:(A;;GA;;;uid:%d)", owner, owner))
	require.NoError(t, err)
	require.NoError(t, bb.AllowSyscalls(ctx, "getdents64"))
	_, err = al.Builder(ctx, "draft")
	requireCode(t, err, wire.CodePermission)
}

func TestSetACL(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	own, al := h.dialAs(owner), h.dialAs(alice)
	h.newFactory(own, "tax")

	// Bad SDDL, and SDDL without an owner, are refused with a clear error.
	_, err := own.SetACL(ctx, "tax", "D:(A;;GA;;;WD")
	requireCode(t, err, wire.CodeInvalid)
	_, err = own.SetACL(ctx, "tax", "D:(A;;GA;;;WD)")
	requireCode(t, err, wire.CodeInvalid)
	assert.ErrorContains(t, err, "names no owner")
	_, err = own.SetACL(ctx, "tax", "O:uid:x")
	requireCode(t, err, wire.CodeInvalid)
	// Everyone's opens walk the descriptor: its size is bounded.
	_, err = own.SetACL(ctx, "tax", fmt.Sprintf("O:uid:%dD:", owner)+strings.Repeat("(A;;0x1;;;WD)", 1025))
	requireCode(t, err, wire.CodeInvalid)
	assert.ErrorContains(t, err, "at most 1024")

	// Giving alice write-acl lets her change the DACL but not the owner.
	_, err = own.SetACL(ctx, "tax", fmt.Sprintf("O:uid:%dD:(A;;GA;;;uid:%d)(A;;0x40000;;;uid:%d)", owner, owner, alice))
	require.NoError(t, err)
	_, err = al.SetACL(ctx, "tax", fmt.Sprintf("O:uid:%dD:(A;;GA;;;uid:%d)", alice, alice))
	requireCode(t, err, wire.CodePermission)
	assert.ErrorContains(t, err, "take-ownership")
	acl, err := al.SetACL(ctx, "tax", fmt.Sprintf("O:uid:%dD:(A;;GA;;;uid:%d)(A;;GA;;;uid:%d)", owner, owner, alice))
	require.NoError(t, err)
	assert.Contains(t, acl.Rights, "install seal")
	require.Len(t, acl.Entries, 2)
	assert.Equal(t, fmt.Sprintf("Unix User %d", alice), acl.Entries[1].Trustee)
	assert.Equal(t, "allowed", acl.Entries[1].Type)

	// The descriptor outlives a restart, and its change is in the audit log.
	h.restart(nil)
	own = h.dialAs(owner)
	got, err := own.GetACL(ctx, "tax")
	require.NoError(t, err)
	assert.Equal(t, acl.SDDL, got.SDDL)
	entries, err := own.AuditLog(ctx, "tax", 0)
	require.NoError(t, err)
	var changes int
	for _, e := range entries {
		if e.Action == "descriptor.changed" {
			changes++
		}
	}
	assert.Equal(t, 2, changes)
}

// probeCreate runs one probe command in a new instance of r, handing it dir as argument "dir".
func probeWithDirectory(t *testing.T, c *client.Client, r *client.Requestor, input string) string {
	t.Helper()
	ctx := ctxT(t)
	dir := c.Directory(ctx)
	defer dir.Release()
	cap := capnp.Client(dir.Cap())
	out, err := r.RunOnce(ctx, &client.CreateOptions{Args: []client.Arg{{Name: "dir", Cap: &cap}}}, []byte(input))
	require.NoError(t, err)
	return string(out)
}

func TestConfinedDirectory(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	own, al := h.dialAs(owner), h.dialAs(alice)

	reader := h.newFactory(own, "reader")
	require.NoError(t, reader.DeclareCapabilities(ctx, false, "printers"))
	rr, err := reader.Seal(ctx)
	require.NoError(t, err)
	defer rr.Release()
	for _, name := range []string{"printer", "secret"} {
		b := h.newFactory(own, name)
		r, err := b.Seal(ctx)
		require.NoError(t, err)
		r.Release()
	}
	_, err = own.SetACL(ctx, "printer", fmt.Sprintf("O:uid:%dD:(A;;GA;;;uid:%d)(A;;0x3;;;cap:printers)(A;;0x3;;;WD)", owner, owner))
	require.NoError(t, err)

	// Alice herself may open both (Everyone may); a yield she hands her directory reaches
	// only what grants its capability SID.
	ar, err := al.Requestor(ctx, "reader")
	require.NoError(t, err)
	defer ar.Release()
	assert.Equal(t, "opened printer", probeWithDirectory(t, al, ar, "open:dir:printer"))
	refused := probeWithDirectory(t, al, ar, "open:dir:secret")
	assert.True(t, strings.HasPrefix(refused, "refused: "), refused)
	assert.Contains(t, refused, "permission")
	assert.Equal(t, "printer create audit\n", probeWithDirectory(t, al, ar, "list:dir"))
	tok := probeWithDirectory(t, al, ar, "token:dir")
	assert.Contains(t, tok, fmt.Sprintf("S-1-22-1-%d", alice), "the confined token keeps its requestor's user")
	assert.Contains(t, tok, "capability printers")
	assert.Contains(t, tok, access.ConfinementSID(mustFactoryID(t, h, "reader")).String())

	// The audit shows the reach; read-only reach is not a hole.
	rep, err := rr.Holes(ctx)
	require.NoError(t, err)
	conf := rep.Factories[rep.Root].Confinement
	require.NotNil(t, conf)
	require.Len(t, conf.Reach, 1)
	assert.Equal(t, "printer", conf.Reach[0].Name)
	assert.Equal(t, []string{"printers"}, conf.Reach[0].Via)
	assert.False(t, conf.Mutable)
	require.Len(t, conf.Capabilities, 1)
	assert.False(t, conf.Capabilities[0].Hole)
	assert.True(t, rep.Discreet)

	// Granting the capability a builder right makes it a hole, even after seal.
	_, err = own.SetACL(ctx, "printer", fmt.Sprintf("O:uid:%dD:(A;;GA;;;uid:%d)(A;;0x7;;;cap:printers)", owner, owner))
	require.NoError(t, err)
	rep, err = rr.Holes(ctx)
	require.NoError(t, err)
	conf = rep.Factories[rep.Root].Confinement
	assert.True(t, conf.Mutable)
	assert.False(t, conf.MutableAtSeal)
	assert.True(t, conf.Capabilities[0].Hole)
	assert.False(t, rep.Discreet)
	require.Len(t, rep.Holes, 1)
	assert.Contains(t, rep.Holes[0].Reason, "since seal")
	discreet, err := rr.IsDiscreet(ctx)
	require.NoError(t, err)
	assert.False(t, discreet)
	// What a yield opens is the intersection of what its requestor and its confinement may:
	// alice herself holds no builder right on printer, so neither does her yield...
	refused = probeWithDirectory(t, al, ar, "build:dir:printer")
	assert.Contains(t, refused, "grants you no builder rights (you hold: none)")
	// ... until she does.
	_, err = own.SetACL(ctx, "printer", fmt.Sprintf("O:uid:%dD:(A;;GA;;;uid:%d)(A;;0x7;;;cap:printers)(A;;0x7;;;WD)", owner, owner))
	require.NoError(t, err)
	assert.Equal(t, "opened printer", probeWithDirectory(t, al, ar, "build:dir:printer"))
	refused = probeWithDirectory(t, al, ar, "build:dir:secret")
	assert.True(t, strings.HasPrefix(refused, "refused: "), refused)
}

// A factory sealed while its capability reaches something mutable has the hole frozen.
func TestCapabilityHoleFrozenAtSeal(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	own := h.dialAs(owner)
	h.newFactory(own, "printer")
	_, err := own.SetACL(ctx, "printer", fmt.Sprintf("O:uid:%dD:(A;;GA;;;uid:%d)(A;;0x4;;;cap:printers)", owner, owner))
	require.NoError(t, err)
	b := h.newFactory(own, "reader")
	require.NoError(t, b.DeclareCapabilities(ctx, true, "printers"))
	r, err := b.Seal(ctx)
	require.NoError(t, err)
	defer r.Release()
	info, err := b.Info(ctx)
	require.NoError(t, err)
	assert.False(t, info.Discreet)
	assert.Equal(t, uint32(1), info.Holes)
	assert.Equal(t, []string{"printers"}, info.Capabilities)
	assert.True(t, info.Strict)
	rep, err := r.Holes(ctx)
	require.NoError(t, err)
	conf := rep.Factories[rep.Root].Confinement
	assert.True(t, conf.MutableAtSeal)
	require.Len(t, rep.Holes, 1)
	assert.Contains(t, rep.Holes[0].ID, "/@capability:printers")

	// A factory with this one as a component does not inherit the hole: its yields create
	// the reader's instances with their own confined directory.
	outer := h.newFactory(own, "outer")
	require.NoError(t, outer.InstallFactory(ctx, "reader", r))
	or, err := outer.Seal(ctx)
	require.NoError(t, err)
	defer or.Release()
	discreet, err := or.IsDiscreet(ctx)
	require.NoError(t, err)
	assert.True(t, discreet)
}

// Positive confinement widens a client's normal pass; a confined token of the same client
// keeps its confinement.
func TestPositiveConfinement(t *testing.T) {
	const backup = 61010
	h := newHarness(t, &Options{Access: AccessOptions{Grants: []CapabilityGrant{{Capability: "backup", Users: []uint32{backup}}}}})
	ctx := ctxT(t)
	own, svc, al := h.dialAs(owner), h.dialAs(backup), h.dialAs(alice)
	b := h.newFactory(own, "tax")
	r, err := b.Seal(ctx)
	require.NoError(t, err)
	r.Release()
	reader := h.newFactory(own, "reader")
	rr, err := reader.Seal(ctx)
	require.NoError(t, err)
	defer rr.Release()
	_, err = own.SetACL(ctx, "tax", fmt.Sprintf("O:uid:%dD:(A;;GA;;;uid:%d)(A;;0x3;;;WD)(A;;RC;;;cap:backup)", owner, owner))
	require.NoError(t, err)

	p, err := svc.Whoami(ctx)
	require.NoError(t, err)
	sid, err := access.CapabilitySID("backup")
	require.NoError(t, err)
	assert.Contains(t, p.Groups, sid.String())
	assert.Contains(t, p.Token, "(capability backup)")
	_, err = svc.GetACL(ctx, "tax")
	require.NoError(t, err, "the backup service reads the descriptor")
	_, err = al.GetACL(ctx, "tax")
	requireCode(t, err, wire.CodePermission)

	// The backup service's directory, handed to a yield, is confined like anyone's.
	sr, err := svc.Requestor(ctx, "reader")
	require.NoError(t, err)
	defer sr.Release()
	assert.Equal(t, "", probeWithDirectory(t, svc, sr, "list:dir"))
}

func TestPeerToken(t *testing.T) {
	h := newHarness(t, nil)
	p, err := h.c.Whoami(ctxT(t))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("S-1-22-1-%d", os.Getuid()), p.User)
	groups, err := os.Getgroups()
	require.NoError(t, err)
	for _, g := range append(groups, os.Getgid()) {
		assert.Contains(t, p.Groups, fmt.Sprintf("S-1-22-2-%d", g), "SO_PEERGROUPS")
	}
}

func mustFactoryID(t *testing.T, h *harness, name string) []byte {
	f, err := h.d.reg.byNameOrErr(name)
	require.NoError(t, err)
	id := f.ID()
	return id[:]
}

// A report larger than the bound on what clients send (1 MiB) still reaches the client.
func TestLargeAuditReport(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds a 6,000-component graph")
	}
	h := newHarness(t, nil)
	ctx := ctxT(t)
	d, err := h.c.Upload(ctx, strings.NewReader("rates"))
	require.NoError(t, err)
	root := h.newFactory(h.c, "root")
	for i := range 60 {
		sub := h.newFactory(h.c, fmt.Sprintf("sub%d", i))
		for j := range 100 {
			require.NoError(t, sub.InstallData(ctx, fmt.Sprintf("data%d", j), d))
		}
		r, err := sub.Seal(ctx)
		require.NoError(t, err)
		require.NoError(t, root.InstallFactory(ctx, fmt.Sprintf("sub%d", i), r))
		r.Release()
	}
	r, err := root.Seal(ctx)
	require.NoError(t, err)
	defer r.Release()
	rep, err := r.Holes(ctx)
	require.NoError(t, err)
	assert.Len(t, rep.Factories, 61)
	assert.True(t, rep.Discreet)
	n := 0
	for _, f := range rep.Factories {
		n += len(f.Components)
	}
	assert.Equal(t, 6060, n)
}
