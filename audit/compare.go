package audit

// Verdict is the answer of Compare.
type Verdict int

// The verdicts, as in the KeyKOS factory's compare.
const (
	Subset      Verdict = iota // every hole of the candidate is a hole of the policy
	ExtraHoles                 // the candidate has a hole the policy does not accept
	NotAFactory                // the candidate is not a sealed factory of this daemon
)

func (v Verdict) String() string {
	return [...]string{"subset", "extraHoles", "notAFactory"}[v]
}

// Compare decides whether a candidate's hole set is within a policy's: a factory used as "the
// holes I accept". It is a preorder on hole sets — reflexive and transitive — and a discreet
// candidate (no holes) is within every policy.
func Compare(policy, candidate []string) Verdict {
	accepted := make(map[string]bool, len(policy))
	for _, h := range policy {
		accepted[h] = true
	}
	for _, h := range candidate {
		if !accepted[h] {
			return ExtraHoles
		}
	}
	return Subset
}
