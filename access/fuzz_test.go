package access_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/access"
)

// Fuzz targets for every decoder of untrusted input (SDDL, conditional
// bytecode) and for AccessCheck itself. They are seeded from the vector
// files, so `go test` also runs the seeds as regression tests.

var packageErrors = []error{
	access.ErrAccessDenied, access.ErrInvalidParameter, access.ErrInvalidDescriptor, access.ErrMissingOwner,
	access.ErrInvalidToken, access.ErrInvalidSID, access.ErrInvalidSDDL, access.ErrInvalidCondition,
}

// requirePackageError fails unless err wraps one of the package's errors.
func requirePackageError(t *testing.T, err error) {
	t.Helper()
	for _, e := range packageErrors {
		if errors.Is(err, e) {
			return
		}
	}
	t.Fatalf("error outside the package's set: %v", err)
}

// seedVectors returns the requests of all vector files in testdata.
func seedVectors(f *testing.F) []access.Request {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(f, err)
	var reqs []access.Request
	for _, path := range files {
		vf := loadVectorFile(f, path)
		for _, v := range vf.Vectors {
			if req, err := buildRequest(vf, v); err == nil && req.Descriptor != nil {
				reqs = append(reqs, req)
			}
		}
	}
	require.NotEmpty(f, reqs)
	return reqs
}

var sddlSeeds = []string{
	"O:S-1-22-1-1000G:S-1-22-2-1000D:(A;;0x1f0003;;;S-1-22-1-1000)(A;;0x20001;;;WD)S:(ML;;NW;;;ME)",
	"O:BAG:SYD:PAI(A;OICI;GAGR;;;BA)(XA;;0x1;;;WD;(Member_of {SID(BA), SID(S-1-5-11)}))",
	"O:BAD:(XD;IO;RCWD;;;AU;((Member_of SID(BA)) && !(Not_Member_of_Any {SID(AC)})))",
	"O:SYD:NO_ACCESS_CONTROL",
	"O:BAD:S:(AU;SAFA;GA;;;WD)(ML;IO;NRNWNX;;;LW)",
	"O:BAD:(OA;;0x10;bf967aba-0de6-11d0-a285-00aa003049e2;;AU)",
	"D:(A;;GA;;;WD)O:BA",
}

func FuzzSDDL(f *testing.F) {
	for _, s := range sddlSeeds {
		f.Add(s)
	}
	for _, req := range seedVectors(f) {
		if s, err := access.FormatSDDL(req.Descriptor); err == nil {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		sd, err := access.ParseSDDL(s)
		if err != nil {
			require.ErrorIs(t, err, access.ErrInvalidSDDL)
			var se *access.SyntaxError
			require.ErrorAs(t, err, &se)
			require.True(t, se.Offset >= 0 && se.Offset <= len(s), "offset %d outside input", se.Offset)
			return
		}
		out, err := access.FormatSDDL(sd)
		require.NoError(t, err, "a parsed descriptor must format")
		again, err := access.ParseSDDL(out)
		require.NoError(t, err, "formatted %q does not parse", out)
		require.True(t, sd.Equal(again), "%q -> %q changes the descriptor", s, out)
		out2, err := access.FormatSDDL(again)
		require.NoError(t, err)
		require.Equal(t, out, out2, "formatting is not stable")
	})
}

func FuzzConditional(f *testing.F) {
	for _, req := range seedVectors(f) {
		if req.Descriptor.DACL == nil {
			continue
		}
		for _, ace := range req.Descriptor.DACL.ACEs {
			if len(ace.Condition) > 0 {
				f.Add(ace.Condition)
			}
		}
	}
	for _, text := range []string{"Member_of SID(WD)", "!(Member_of_Any {SID(BA), SID(AU)}) || Device_Member_of {SID(WD)}"} {
		code, err := access.CompileCondition(text)
		require.NoError(f, err)
		f.Add(code)
	}
	f.Add([]byte("artx\xf9\x08\x00\x00\x00d\x00e\x00p\x00t\x00\x10\x02\x00\x00\x00x\x00\x80"))
	f.Add([]byte("artx\x04\x01\x00\x00\x00\x00\x00\x00\x00\x03\x02\x87\x00\x00"))
	f.Fuzz(func(t *testing.T, code []byte) {
		valid := access.ValidateCondition(code) == nil
		checkFormatCondition(t, code, valid)
		grants, denies := evaluateThroughACEs(t, code)
		if grants {
			require.True(t, denies, "TRUE must make a callback deny apply")
		}
		if !valid {
			require.False(t, grants, "malformed bytecode must not grant")
			require.True(t, denies, "malformed bytecode must deny")
		}
	})
}

// checkFormatCondition checks that formattable bytecode is valid and
// compiles back to itself.
func checkFormatCondition(t *testing.T, code []byte, valid bool) {
	text, err := access.FormatCondition(code)
	if err != nil {
		require.ErrorIs(t, err, access.ErrInvalidCondition)
		return
	}
	require.True(t, valid, "formattable bytecode must validate")
	again, err := access.CompileCondition(text)
	require.NoError(t, err, "formatted %q does not compile", text)
	require.Equal(t, bytes.TrimRight(code, "\x00"), again)
}

// evaluateThroughACEs reports whether a callback allow ACE with the
// condition grants, and whether a callback deny ACE with it, placed before
// an unconditional allow, denies.
func evaluateThroughACEs(t *testing.T, code []byte) (grants, denies bool) {
	allowed := func(aces ...access.ACE) bool {
		sd := &access.SecurityDescriptor{Owner: access.LocalSystem, DACL: &access.ACL{ACEs: aces}}
		res, err := access.AccessCheck(access.Request{Token: fuzzDefaultToken(), Descriptor: sd, Desired: 0x1, Mapping: fuzzMapping})
		require.NoError(t, err)
		return res.Allowed
	}
	if len(code) > 0xFFFF {
		return false, true // rejected as a descriptor; AccessCheck is not reached
	}
	grants = allowed(access.ACE{Type: access.ACEAccessAllowedCallback, Mask: 0x1, SID: access.Everyone, Condition: code})
	denies = !allowed(
		access.ACE{Type: access.ACEAccessDeniedCallback, Mask: 0x1, SID: access.Everyone, Condition: code},
		access.ACE{Type: access.ACEAccessAllowed, Mask: 0x1, SID: access.Everyone})
	return grants, denies
}

var fuzzMapping = access.GenericMapping{Read: 0x20001, Write: 0x2, Execute: 0x20, All: 0xF0023}

var (
	fuzzUser  = access.MustParseSID("S-1-5-21-1-2-3-1001")
	fuzzGroup = access.MustParseSID("S-1-5-21-1-2-3-513")
	fuzzRSID  = access.MustParseSID("S-1-5-21-1-2-3-2001")
	fuzzCSID  = access.MustParseSID("S-1-15-2-111-222")
	fuzzCap   = access.MustParseSID("S-1-15-3-4242")
	fuzzPool  = []access.SID{
		access.Everyone, access.AuthenticatedUsers, access.Administrators, fuzzUser, fuzzGroup, fuzzRSID,
		fuzzCSID, fuzzCap, access.AllApplicationPackages, access.AllRestrictedApplicationPackages,
		access.OwnerRights, access.PrincipalSelf, access.LowIntegrity, access.HighIntegrity, access.Anonymous,
	}
	fuzzConditions = [][]byte{
		mustHex("617274785021000000511c0000000105000000000005150000000100000002000000030000000102000089"),
		mustHex("617274785011000000510c00000001010000000000050a00000089"),
		mustHex("617274785011000000510c00000001010000000000030400000089"),
		mustHex("61727478ff"),
		nil,
	}
	fuzzACETypes = []access.ACEType{
		access.ACEAccessAllowed, access.ACEAccessDenied, access.ACEAccessAllowedObject, access.ACEAccessDeniedObject,
		access.ACEAccessAllowedCallback, access.ACEAccessDeniedCallback, access.ACEAccessAllowedCallbackObject,
		access.ACEAccessDeniedCallbackObject, access.ACESystemAudit, access.ACEMandatoryLabel, 0x7f,
	}
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func fuzzDefaultToken() *access.Token {
	return &access.Token{
		User: fuzzUser,
		Groups: []access.Group{
			{SID: fuzzGroup, Attributes: access.GroupEnabled},
			{SID: access.Everyone, Attributes: access.GroupEnabled},
			{SID: access.AuthenticatedUsers, Attributes: access.GroupEnabled},
		},
		Integrity:       access.IntegrityMedium,
		MandatoryPolicy: access.PolicyNoWriteUp,
	}
}

func FuzzAccessCheck(f *testing.F) {
	for _, req := range seedVectors(f) {
		s, err := access.FormatSDDL(req.Descriptor)
		if err != nil {
			continue
		}
		tok, err := json.Marshal(req.Token)
		require.NoError(f, err)
		f.Add(s, []byte{}, tok, uint64(0), uint32(req.Desired), uint8(req.Intent), req.Self.String())
	}
	f.Add("O:SYD:(A;;GA;;;WD)", []byte{4, 0, 1, 0, 0, 0, 0, 0, 5, 8, 2, 0, 0, 0, 7}, []byte{}, uint64(0x1fff), uint32(0x2000000), uint8(3), "")
	f.Add("O:SYD:(A;;GA;;;WD)(A;;0x3;;;AC)", []byte{4, 0, 1, 0, 0, 0, 0, 0, 5, 8, 2, 0, 0, 0, 7}, []byte{}, uint64(0xb000), uint32(0x2000000), uint8(0), "")
	f.Fuzz(func(t *testing.T, sddl string, raw, tokJSON []byte, tweak uint64, desired uint32, intent uint8, self string) {
		sd, err := access.ParseSDDL(sddl)
		if err != nil {
			return
		}
		appendRawACEs(sd, raw)
		req := access.Request{Token: fuzzToken(tokJSON, tweak), Descriptor: sd, Desired: access.AccessMask(desired),
			Mapping: fuzzMapping, Intent: access.Intent(intent)}
		req.Self, _ = access.ParseSID(self)
		checkAccessInvariants(t, req)
	})
}

// fuzzToken decodes a token (or takes the default one) and flips fields by
// the bits of tweak.
func fuzzToken(data []byte, tweak uint64) *access.Token {
	tok := &access.Token{}
	if json.Unmarshal(data, tok) != nil {
		tok = fuzzDefaultToken()
	}
	privs := []access.Privileges{access.SeSecurityPrivilege, access.SeTakeOwnershipPrivilege,
		access.SeBackupPrivilege, access.SeRestorePrivilege, access.SeRelabelPrivilege}
	for i, p := range privs {
		if tweak&(1<<i) != 0 {
			tok.Privileges.Present |= p
			tok.Privileges.Enabled |= p
		}
	}
	levels := []access.IntegrityLevel{tok.Integrity, access.IntegrityUntrusted, access.IntegrityLow, access.IntegrityHigh, access.IntegritySystem}
	tok.Integrity = levels[int(tweak>>6&7)%len(levels)]
	tok.UserDenyOnly = tok.UserDenyOnly != (tweak&(1<<5) != 0)
	tok.MandatoryPolicy ^= access.MandatoryPolicy(tweak >> 9 & 1)
	if tweak&(1<<10) != 0 {
		tok.RestrictedSIDs = append(tok.RestrictedSIDs, fuzzRSID)
	}
	tok.WriteRestricted = tok.WriteRestricted != (tweak&(1<<11) != 0)
	if tweak&(1<<12) != 0 && tok.ConfinementSID.IsZero() {
		tok.ConfinementSID = fuzzCSID
	}
	if tweak&(1<<13) != 0 && !tok.ConfinementSID.IsZero() {
		tok.Capabilities = append(tok.Capabilities, fuzzCap)
	}
	tok.ConfinementExempt = tok.ConfinementExempt != (tweak&(1<<14) != 0)
	if tweak&(1<<15) != 0 && !tok.ConfinementSID.IsZero() {
		tok.Capabilities = append(tok.Capabilities, access.AllRestrictedApplicationPackages)
	}
	for i := range tok.Groups {
		if i < 24 && tweak&(1<<(16+2*i)) != 0 {
			tok.Groups[i].Attributes ^= access.GroupEnabled
		}
		if i < 24 && tweak&(1<<(17+2*i)) != 0 {
			tok.Groups[i].Attributes ^= access.GroupUseForDenyOnly
		}
	}
	return tok
}

// appendRawACEs adds ACEs built from raw, 7 bytes each, to a non-NULL DACL.
func appendRawACEs(sd *access.SecurityDescriptor, raw []byte) {
	if sd.DACL == nil {
		return
	}
	for ; len(raw) >= 7; raw = raw[7:] {
		typ := fuzzACETypes[int(raw[0])%len(fuzzACETypes)]
		ace := access.ACE{Type: typ, Flags: access.ACEFlags(raw[1]) & access.InheritOnly,
			Mask: access.AccessMask(binary.LittleEndian.Uint32(raw[2:6])), SID: fuzzPool[int(raw[6])%len(fuzzPool)]}
		if typ.IsCallback() {
			ace.Condition = fuzzConditions[int(raw[1])%len(fuzzConditions)]
		}
		sd.DACL.ACEs = append(sd.DACL.ACEs, ace)
	}
}

// checkAccessInvariants runs the check and verifies what must hold for any
// input: errors from the closed set, no impossible bits, Allowed consistent
// with Granted, determinism, and narrowing: a restricted or confined result
// is within the result without the restriction or confinement.
func checkAccessInvariants(t *testing.T, req access.Request) {
	res, err := access.AccessCheck(req)
	if err != nil {
		requirePackageError(t, err)
		return
	}
	again, err := access.AccessCheck(req)
	require.NoError(t, err)
	require.Equal(t, res, again, "not deterministic")

	m := req.Mapping
	desired, err := m.Map(req.Desired &^ access.MaximumAllowed)
	require.NoError(t, err)
	const impossible = access.GenericAll | access.GenericRead | access.GenericWrite | access.GenericExecute |
		access.MaximumAllowed | access.ReservedBits
	require.Zero(t, res.Granted&impossible, "granted %v", res.Granted)
	require.Zero(t, res.Granted&^grantable(m, desired), "granted %v beyond what any step may grant", res.Granted)
	require.Equal(t, desired == 0 || res.Granted&desired == desired, res.Allowed)

	if req.Token.Confined() || req.Token.ConfinementExempt {
		wider := req
		wider.Token = req.Token.Clone()
		wider.Token.ConfinementSID, wider.Token.Capabilities, wider.Token.ConfinementExempt = access.SID{}, nil, false
		requireNarrower(t, req, wider, !req.Token.Confined())
	}
	if tok := req.Token; tok.Confined() && slices.Contains(tok.Capabilities, access.AllRestrictedApplicationPackages) {
		requireWithinBound(t, req, res)
	}
	if len(req.Token.RestrictedSIDs) > 0 {
		wider := req
		wider.Token = req.Token.Clone()
		wider.Token.RestrictedSIDs, wider.Token.WriteRestricted = nil, false
		requireNarrower(t, req, wider, false)
	}
}

// grantable is every right some step of the check may grant: the valid
// rights (ACEs under MAXIMUM_ALLOWED, a NULL DACL), the mapped desired
// rights (ACEs otherwise), the owner's implicit rights and the privileges'
// grants.
func grantable(m access.GenericMapping, desired access.AccessMask) access.AccessMask {
	return m.All | desired | access.ReadControl | access.WriteDAC | access.WriteOwner | access.Delete |
		access.AccessSystemSecurity | m.Read | m.Write
}

// requireNarrower checks that narrow grants no more than wide, and exactly
// as much when equal is set.
func requireNarrower(t *testing.T, narrow, wide access.Request, equal bool) {
	n, err := access.AccessCheck(narrow)
	require.NoError(t, err)
	w, err := access.AccessCheck(wide)
	require.NoError(t, err)
	require.Zero(t, n.Granted&^w.Granted, "narrowed %v is not within %v", n.Granted, w.Granted)
	if n.Allowed {
		require.True(t, w.Allowed)
	}
	if equal {
		require.Equal(t, w, n)
	}
}

// requireWithinBound checks that a confined token (one ConfinedToken could have made: it
// carries ALL_RESTRICTED_APPLICATION_PACKAGES) is granted no more than ConfinementBound says
// any token of that confinement can be.
func requireWithinBound(t *testing.T, req access.Request, res access.Result) {
	tok := req.Token
	strict := !slices.Contains(tok.Capabilities, access.AllApplicationPackages)
	bound, err := access.ConfinementBound(req.Descriptor, req.Mapping, tok.ConfinementSID, tok.Capabilities, strict)
	if err != nil {
		requirePackageError(t, err)
		return
	}
	require.Zero(t, res.Granted&req.Mapping.All&^bound, "granted %v beyond the confinement bound %v", res.Granted, bound)
}
