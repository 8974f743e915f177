package access

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// String formats the token for people, one field per line, as
// `factoryctl whoami` prints it:
//
//	user          S-1-22-1-1000 (Unix User 1000)
//	groups        S-1-1-0 (Everyone) ENABLED
//	              S-1-22-2-1000 (Unix Group 1000) ENABLED
//	privileges    none
//	integrity     Medium (S-1-16-8192), policy NO_WRITE_UP
//	restricted    none
//	confinement   none
//	type          impersonation, level impersonation
func (t *Token) String() string {
	var b strings.Builder
	line := func(label, value string) { fmt.Fprintf(&b, "%-13s %s\n", label, value) }
	line("user", t.userLine())
	label := "groups"
	for _, l := range t.groupLines() {
		line(label, l)
		label = ""
	}
	line("privileges", t.privilegeLine())
	line("integrity", fmt.Sprintf("%v (%v), policy %v", t.Integrity, t.Integrity.SID(), t.MandatoryPolicy))
	line("restricted", t.restrictedLine())
	line("confinement", t.confinementLine())
	if !t.ConfinementSID.IsZero() {
		line("capabilities", sidList(t.Capabilities))
	}
	line("type", fmt.Sprintf("%v, level %v", t.Type, t.ImpersonationLevel))
	return b.String()
}

// describeSID writes a SID with its display name, if it has one.
func describeSID(s SID) string {
	if name := WellKnownName(s); name != "" {
		return fmt.Sprintf("%v (%s)", s, name)
	}
	return s.String()
}

func (t *Token) userLine() string {
	if t.UserDenyOnly {
		return describeSID(t.User) + " USE_FOR_DENY_ONLY"
	}
	return describeSID(t.User)
}

func (t *Token) groupLines() []string {
	if len(t.Groups) == 0 {
		return []string{"none"}
	}
	lines := make([]string, len(t.Groups))
	for i, g := range t.Groups {
		lines[i] = describeSID(g.SID) + " " + g.Attributes.String()
	}
	return lines
}

func (t *Token) privilegeLine() string {
	if t.Privileges.Present == 0 {
		return "none"
	}
	var parts []string
	for rest := t.Privileges.Present; rest != 0; rest &= rest - 1 {
		p := rest & -rest // lowest privilege left
		state := "disabled"
		if t.Privileges.Enabled&p != 0 {
			state = "enabled"
		}
		parts = append(parts, p.String()+" ("+state+")")
	}
	return strings.Join(parts, ", ")
}

func (t *Token) restrictedLine() string {
	if len(t.RestrictedSIDs) == 0 {
		return "none"
	}
	s := sidList(t.RestrictedSIDs)
	if t.WriteRestricted {
		s += " (write-restricted)"
	}
	return s
}

func (t *Token) confinementLine() string {
	switch {
	case t.ConfinementSID.IsZero():
		return "none"
	case t.ConfinementExempt:
		return t.ConfinementSID.String() + " (exempt)"
	}
	return t.ConfinementSID.String()
}

func sidList(sids []SID) string {
	if len(sids) == 0 {
		return "none"
	}
	parts := make([]string, len(sids))
	for i, s := range sids {
		parts[i] = describeSID(s)
	}
	return strings.Join(parts, ", ")
}

// tokenJSON is the JSON form of a Token. Field names are stable; SIDs are
// strings, privileges names, type and level lower-case words.
type tokenJSON struct {
	User               SID             `json:"user"`
	UserDenyOnly       bool            `json:"user_deny_only,omitempty"`
	Groups             []groupJSON     `json:"groups"`
	Privileges         privilegesJSON  `json:"privileges"`
	Integrity          IntegrityLevel  `json:"integrity_level"`
	MandatoryPolicy    MandatoryPolicy `json:"mandatory_policy"`
	RestrictedSIDs     []SID           `json:"restricted_sids,omitempty"`
	WriteRestricted    bool            `json:"write_restricted,omitempty"`
	ConfinementSID     *SID            `json:"confinement_sid,omitempty"`
	Capabilities       []SID           `json:"capabilities,omitempty"`
	ConfinementExempt  bool            `json:"confinement_exempt,omitempty"`
	Type               string          `json:"type"`
	ImpersonationLevel string          `json:"impersonation_level"`
}

type groupJSON struct {
	SID        SID             `json:"sid"`
	Attributes GroupAttributes `json:"attributes"`
}

type privilegesJSON struct {
	Present []string `json:"present"`
	Enabled []string `json:"enabled"`
}

// MarshalJSON encodes the token in its JSON form.
func (t *Token) MarshalJSON() ([]byte, error) {
	j := tokenJSON{
		User:               t.User,
		UserDenyOnly:       t.UserDenyOnly,
		Groups:             make([]groupJSON, len(t.Groups)),
		Privileges:         privilegesJSON{Present: nonNil(t.Privileges.Present.Names()), Enabled: nonNil(t.Privileges.Enabled.Names())},
		Integrity:          t.Integrity,
		MandatoryPolicy:    t.MandatoryPolicy,
		RestrictedSIDs:     t.RestrictedSIDs,
		WriteRestricted:    t.WriteRestricted,
		Capabilities:       t.Capabilities,
		ConfinementExempt:  t.ConfinementExempt,
		Type:               t.Type.String(),
		ImpersonationLevel: t.ImpersonationLevel.String(),
	}
	for i, g := range t.Groups {
		j.Groups[i] = groupJSON(g)
	}
	if !t.ConfinementSID.IsZero() {
		j.ConfinementSID = &t.ConfinementSID
	}
	return json.Marshal(j)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// UnmarshalJSON decodes the JSON form strictly (unknown fields are errors)
// and validates the result.
func (t *Token) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j tokenJSON
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("token JSON: %v: %w", err, ErrInvalidToken)
	}
	tok, err := j.token()
	if err != nil {
		return err
	}
	if err := tok.Validate(); err != nil {
		return err
	}
	*t = *tok
	return nil
}

func (j *tokenJSON) token() (*Token, error) {
	t := &Token{
		User: j.User, UserDenyOnly: j.UserDenyOnly, Integrity: j.Integrity, MandatoryPolicy: j.MandatoryPolicy,
		RestrictedSIDs: j.RestrictedSIDs, WriteRestricted: j.WriteRestricted, Capabilities: j.Capabilities,
		ConfinementExempt: j.ConfinementExempt,
	}
	for _, g := range j.Groups {
		t.Groups = append(t.Groups, Group(g))
	}
	if j.ConfinementSID != nil {
		t.ConfinementSID = *j.ConfinementSID
	}
	var err error
	if t.Privileges.Present, err = parsePrivileges(j.Privileges.Present); err != nil {
		return nil, err
	}
	if t.Privileges.Enabled, err = parsePrivileges(j.Privileges.Enabled); err != nil {
		return nil, err
	}
	if t.Type, err = parseTokenType(j.Type); err != nil {
		return nil, err
	}
	t.ImpersonationLevel, err = parseImpersonationLevel(j.ImpersonationLevel)
	return t, err
}

func parsePrivileges(names []string) (Privileges, error) {
	var p Privileges
	for _, n := range names {
		v, err := ParsePrivilege(n)
		if err != nil {
			return 0, err
		}
		p |= v
	}
	return p, nil
}

func parseTokenType(s string) (TokenType, error) {
	for _, t := range []TokenType{TokenPrimary, TokenImpersonation} {
		if t.String() == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("token type %q: %w", s, ErrInvalidToken)
}

func parseImpersonationLevel(s string) (ImpersonationLevel, error) {
	for l := LevelAnonymous; l <= LevelDelegation; l++ {
		if l.String() == s {
			return l, nil
		}
	}
	return 0, fmt.Errorf("impersonation level %q: %w", s, ErrInvalidToken)
}
