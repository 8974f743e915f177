package audit

// Confinement is what a factory's yields reach by name when a requestor hands one a directory:
// everything their confined token can be granted, whoever the requestor (the confinement pass
// of AccessCheck alone, an upper bound).
type Confinement struct {
	SID          string               `json:"sid"` // the factory's confinement SID
	Strict       bool                 `json:"strict"`
	Capabilities []DeclaredCapability `json:"capabilities"`
	Reach        []Reached            `json:"reach"`
	// Mutable: something reached now is mutable; MutableAtSeal: it was at seal, and the
	// corresponding holes are in the frozen hole set.
	Mutable       bool `json:"mutable"`
	MutableAtSeal bool `json:"mutable_at_seal"`
}

// DeclaredCapability is one capability SID the factory declared.
type DeclaredCapability struct {
	Name   string `json:"name"`
	SID    string `json:"sid"`
	Hole   bool   `json:"hole"`
	Reason string `json:"reason"`
}

// Reached is one named object a confined yield can open, with the most it can be granted.
type Reached struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Granted uint32   `json:"granted"`
	Rights  string   `json:"rights"`
	Via     []string `json:"via"` // capability names, "confinement SID" or "all application packages"
	Mutable bool     `json:"mutable"`
	Reason  string   `json:"reason"`
}
