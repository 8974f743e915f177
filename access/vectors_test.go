package access_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/access"
)

// The vector file format is described in the spec's "Vector file format"
// section. TestVectors runs every vector of testdata/*.json and of each file
// named in ACCESS_VECTORS (colon-separated).

type vectorFile struct {
	Mapping *vectorMapping    `json:"mapping"`
	Privs   map[string]uint64 `json:"privs"`
	Vectors []vector          `json:"vectors"`
}

type vectorMapping struct {
	Read    uint32 `json:"read"`
	Write   uint32 `json:"write"`
	Execute uint32 `json:"execute"`
	All     uint32 `json:"all"`
}

type vector struct {
	ID      string         `json:"id"`
	Src     string         `json:"src"`
	Desc    string         `json:"desc"`
	Token   vectorToken    `json:"token"`
	SD      *vectorSD      `json:"sd"`
	Desired uint32         `json:"desired"`
	Intent  uint8          `json:"intent"`
	SelfSID *string        `json:"self_sid"`
	Mapping *vectorMapping `json:"mapping"`
	Expect  vectorExpect   `json:"expect"`
}

type vectorToken struct {
	User            string            `json:"user"`
	UserDenyOnly    bool              `json:"user_deny_only"`
	Groups          []json.RawMessage `json:"groups"`
	Privs           []string          `json:"privs"`
	IL              uint32            `json:"il"`
	Policy          uint32            `json:"policy"`
	Restricted      []string          `json:"restricted"`
	WriteRestricted bool              `json:"write_restricted"`
	CSID            *string           `json:"csid"`
	Caps            []json.RawMessage `json:"caps"`
	Exempt          bool              `json:"exempt"`
	TType           string            `json:"ttype"`
	Imp             string            `json:"imp"`
}

type vectorSD struct {
	Owner *string     `json:"owner"`
	Group *string     `json:"group"`
	DACL  []vectorACE `json:"dacl"`
	SACL  []vectorACE `json:"sacl"`
}

type vectorACE struct {
	T string `json:"t"`
	F uint8  `json:"f"`
	M uint32 `json:"m"`
	S string `json:"s"`
	C string `json:"c"`
}

type vectorExpect struct {
	Allowed *bool   `json:"allowed"`
	Granted *uint32 `json:"granted"`
	Error   *string `json:"error"`
}

// defaultVectorMapping is the spec's default when a file has no mapping.
var defaultVectorMapping = vectorMapping{Read: 0x20001, Write: 0x2, Execute: 0x20, All: 0xF0023}

// vectorErrors maps the error names of expect.error to package errors.
var vectorErrors = map[string]error{
	"AccessDenied":                   access.ErrAccessDenied,
	"InvalidParameter":               access.ErrInvalidParameter,
	"NullSecurityDescriptor":         access.ErrInvalidParameter,
	"MissingSecurityDescriptorOwner": access.ErrMissingOwner,
	"InvalidSecurityDescriptor":      access.ErrInvalidDescriptor,
	"InvalidDescriptor":              access.ErrInvalidDescriptor,
	"InvalidToken":                   access.ErrInvalidToken,
}

var vectorACETypes = map[string]access.ACEType{
	"A":  access.ACEAccessAllowed,
	"D":  access.ACEAccessDenied,
	"OA": access.ACEAccessAllowedObject,
	"OD": access.ACEAccessDeniedObject,
	"XA": access.ACEAccessAllowedCallback,
	"XD": access.ACEAccessDeniedCallback,
	"AU": access.ACESystemAudit,
	"L":  access.ACEMandatoryLabel,
}

func TestVectors(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	for _, path := range strings.Split(os.Getenv("ACCESS_VECTORS"), ":") {
		if path != "" {
			files = append(files, path)
		}
	}
	require.NotEmpty(t, files)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f := loadVectorFile(t, path)
			for _, v := range f.Vectors {
				t.Run(v.ID, func(t *testing.T) { runVector(t, f, v) })
			}
		})
	}
}

func TestShippedVectorCount(t *testing.T) {
	f := loadVectorFile(t, filepath.Join("testdata", "access-vectors.json"))
	require.Len(t, f.Vectors, 49)
}

// loadVectorFile decodes a vector file strictly and checks that its
// privilege bits agree with the package's.
func loadVectorFile(t testing.TB, path string) vectorFile {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f vectorFile
	require.NoError(t, dec.Decode(&f), "decode %s", path)
	require.NotEmpty(t, f.Vectors, "%s holds no vectors", path)
	for name, bit := range f.Privs {
		p, err := access.ParsePrivilege(name)
		require.NoError(t, err, "%s: privilege %s", path, name)
		require.Equal(t, bit, uint64(p), "%s: bit of privilege %s", path, name)
	}
	return f
}

func runVector(t *testing.T, f vectorFile, v vector) {
	req, err := buildRequest(f, v)
	require.NoError(t, err, "vector %s does not build", v.ID)
	res, err := access.AccessCheck(req)
	if v.Expect.Error != nil {
		want, ok := vectorErrors[*v.Expect.Error]
		require.True(t, ok, "vector %s expects unknown error %q", v.ID, *v.Expect.Error)
		require.ErrorIs(t, err, want, "vector %s (%s): got error %v, want %s", v.ID, v.Desc, err, *v.Expect.Error)
		return
	}
	require.NoError(t, err, "vector %s (%s)", v.ID, v.Desc)
	require.NotNil(t, v.Expect.Allowed, "vector %s has no expect.allowed", v.ID)
	require.NotNil(t, v.Expect.Granted, "vector %s has no expect.granted", v.ID)
	require.Equal(t, *v.Expect.Allowed, res.Allowed, "vector %s (%s): allowed: got %v, want %v",
		v.ID, v.Desc, res.Allowed, *v.Expect.Allowed)
	require.Equal(t, access.AccessMask(*v.Expect.Granted), res.Granted, "vector %s (%s): granted: got %#x, want %#x",
		v.ID, v.Desc, uint32(res.Granted), *v.Expect.Granted)
}

func buildRequest(f vectorFile, v vector) (access.Request, error) {
	tok, err := buildToken(v.Token)
	if err != nil {
		return access.Request{}, fmt.Errorf("token: %w", err)
	}
	sd, err := buildDescriptor(v.SD)
	if err != nil {
		return access.Request{}, fmt.Errorf("sd: %w", err)
	}
	m := defaultVectorMapping
	if f.Mapping != nil {
		m = *f.Mapping
	}
	if v.Mapping != nil {
		m = *v.Mapping
	}
	req := access.Request{
		Token:      tok,
		Descriptor: sd,
		Desired:    access.AccessMask(v.Desired),
		Mapping: access.GenericMapping{Read: access.AccessMask(m.Read), Write: access.AccessMask(m.Write),
			Execute: access.AccessMask(m.Execute), All: access.AccessMask(m.All)},
		Intent: access.Intent(v.Intent),
	}
	if v.SelfSID != nil {
		if req.Self, err = access.ParseSID(*v.SelfSID); err != nil {
			return access.Request{}, err
		}
	}
	return req, nil
}

func buildToken(vt vectorToken) (*access.Token, error) {
	var err error
	tok := &access.Token{
		UserDenyOnly:      vt.UserDenyOnly,
		Integrity:         access.IntegrityLevel(vt.IL),
		MandatoryPolicy:   access.MandatoryPolicy(vt.Policy),
		WriteRestricted:   vt.WriteRestricted,
		ConfinementExempt: vt.Exempt,
	}
	if tok.User, err = access.ParseSID(vt.User); err != nil {
		return nil, err
	}
	for _, raw := range vt.Groups {
		g, err := decodeGroup(raw)
		if err != nil {
			return nil, err
		}
		tok.Groups = append(tok.Groups, g)
	}
	for _, name := range vt.Privs {
		p, err := access.ParsePrivilege(name)
		if err != nil {
			return nil, err
		}
		tok.Privileges.Present |= p
		tok.Privileges.Enabled |= p
	}
	if tok.RestrictedSIDs, err = parseSIDs(vt.Restricted); err != nil {
		return nil, err
	}
	if vt.CSID != nil {
		if tok.ConfinementSID, err = access.ParseSID(*vt.CSID); err != nil {
			return nil, err
		}
	}
	for _, raw := range vt.Caps {
		g, err := decodeGroup(raw)
		if err != nil {
			return nil, err
		}
		tok.Capabilities = append(tok.Capabilities, g.SID)
	}
	if err := setTokenKind(tok, vt.TType, vt.Imp); err != nil {
		return nil, err
	}
	return tok, nil
}

// decodeGroup reads [sid, attrs] or a bare "sid" (attributes 0).
func decodeGroup(raw json.RawMessage) (access.Group, error) {
	var pair []json.RawMessage
	var s string
	var attrs uint32
	if err := json.Unmarshal(raw, &pair); err == nil {
		if len(pair) != 2 {
			return access.Group{}, fmt.Errorf("group %s is not [sid, attrs]", raw)
		}
		if err := json.Unmarshal(pair[0], &s); err != nil {
			return access.Group{}, err
		}
		if err := json.Unmarshal(pair[1], &attrs); err != nil {
			return access.Group{}, err
		}
	} else if err := json.Unmarshal(raw, &s); err != nil {
		return access.Group{}, fmt.Errorf("group %s: %w", raw, err)
	}
	sid, err := access.ParseSID(s)
	return access.Group{SID: sid, Attributes: access.GroupAttributes(attrs)}, err
}

func parseSIDs(ss []string) ([]access.SID, error) {
	var sids []access.SID
	for _, s := range ss {
		sid, err := access.ParseSID(s)
		if err != nil {
			return nil, err
		}
		sids = append(sids, sid)
	}
	return sids, nil
}

func setTokenKind(tok *access.Token, ttype, imp string) error {
	switch ttype {
	case "primary", "":
		tok.Type = access.TokenPrimary
	case "impersonation":
		tok.Type = access.TokenImpersonation
	default:
		return fmt.Errorf("token type %q", ttype)
	}
	levels := map[string]access.ImpersonationLevel{
		"anonymous": access.LevelAnonymous, "identification": access.LevelIdentification,
		"impersonation": access.LevelImpersonation, "delegation": access.LevelDelegation,
	}
	level, ok := levels[imp]
	if !ok {
		return fmt.Errorf("impersonation level %q", imp)
	}
	tok.ImpersonationLevel = level
	return nil
}

func buildDescriptor(vsd *vectorSD) (*access.SecurityDescriptor, error) {
	if vsd == nil {
		return nil, nil
	}
	sd := &access.SecurityDescriptor{}
	var err error
	if vsd.Owner != nil {
		if sd.Owner, err = access.ParseSID(*vsd.Owner); err != nil {
			return nil, err
		}
	}
	if vsd.Group != nil {
		if sd.Group, err = access.ParseSID(*vsd.Group); err != nil {
			return nil, err
		}
	}
	if sd.DACL, err = buildACL(vsd.DACL); err != nil {
		return nil, err
	}
	if sd.SACL, err = buildACL(vsd.SACL); err != nil {
		return nil, err
	}
	return sd, nil
}

// buildACL keeps the distinction between null (nil ACL) and [] (empty ACL).
func buildACL(aces []vectorACE) (*access.ACL, error) {
	if aces == nil {
		return nil, nil
	}
	acl := &access.ACL{ACEs: []access.ACE{}}
	for _, va := range aces {
		ace, err := buildACE(va)
		if err != nil {
			return nil, err
		}
		acl.ACEs = append(acl.ACEs, ace)
	}
	return acl, nil
}

func buildACE(va vectorACE) (access.ACE, error) {
	typ, ok := vectorACETypes[va.T]
	if !ok {
		return access.ACE{}, errors.New("unknown ACE type " + va.T)
	}
	sid, err := access.ParseSID(va.S)
	if err != nil {
		return access.ACE{}, err
	}
	cond, err := hex.DecodeString(va.C)
	if err != nil {
		return access.ACE{}, fmt.Errorf("condition: %w", err)
	}
	if len(cond) == 0 {
		cond = nil
	}
	return access.ACE{Type: typ, Flags: access.ACEFlags(va.F), Mask: access.AccessMask(va.M), SID: sid, Condition: cond}, nil
}
